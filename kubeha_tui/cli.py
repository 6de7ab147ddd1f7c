"""Entry point ``kubeha-tui``: flags, the ``sandbox`` subcommand, then the TUI.

This is the composition root: the only core module that reaches into
``kubeha_tui.screens``, lazily, when the TUI is started.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from kubeha_tui import __version__
from kubeha_tui.config import OPTIONS, SCREENS, ConfigError, Settings, resolve

PROG = "kubeha-tui"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Terminal console for the Kubernetes-HA stack: fleet, Kubernetes and Ceph.",
        epilog=f"Subcommands: {PROG} sandbox up|down --dir DIR (a local cluster for trying it "
        f"out); {PROG} node-install [--ssh USER@HOST] (the node image and /opt/bin/{PROG}).",
    )
    for opt in OPTIONS:
        flag = "--" + opt.key.replace("_", "-")
        env = f" [env {opt.env}]" if opt.env else ""
        if opt.is_flag:
            parser.add_argument(flag, action="store_true", default=None, help=opt.help + env)
        elif opt.key == "screen":
            parser.add_argument(flag, choices=SCREENS, help=opt.help)
        else:
            parser.add_argument(flag, metavar=opt.metavar, help=opt.help + env)
    parser.add_argument("--profile", metavar="NAME", help="profile from the profiles file")
    parser.add_argument(
        "--sandbox", action="store_true", help="start a local sandbox cluster, run on it, stop it"
    )
    parser.add_argument(
        "--sandbox-dir", metavar="DIR", type=Path, help="directory for --sandbox (kept)"
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    return parser


def build_sandbox_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"{PROG} sandbox", description="Local sandbox cluster.")
    parser.add_argument("action", choices=("up", "down"))
    parser.add_argument("--dir", required=True, type=Path, help="directory holding the cluster")
    return parser


def with_env(settings: Settings, env: Mapping[str, str]) -> Settings:
    """Settings with the options that ``env`` names replaced (the sandbox's own endpoints)."""
    values = {}
    for opt in OPTIONS:
        if opt.env and opt.env in env:
            values[opt.key] = opt.parse(env[opt.env])
    return dataclasses.replace(
        settings, **values, sources={**settings.sources, **dict.fromkeys(values, "sandbox")}
    )


def sandbox_main(argv: Sequence[str]) -> int:
    from kubeha_tui.sandbox import launcher  # noqa: PLC0415 - not on the product path

    args = build_sandbox_parser().parse_args(argv)
    try:
        if args.action == "up":
            state = launcher.up(args.dir, attached=False)
            sys.stdout.write(state.shell_lines())
        else:
            forced = launcher.down(args.dir)
            if forced:
                print(f"{PROG}: had to kill {', '.join(forced)}", file=sys.stderr)
    except (launcher.SandboxError, OSError, RuntimeError) as exc:
        print(f"{PROG} sandbox {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


def run_tui(settings: Settings, cleanup: Callable[[], None] | None = None) -> int:
    """Run the TUI. On a hangup (the terminal closed) ``cleanup`` runs and we exit at once."""
    from kubeha_tui.screens.app import KubehaApp  # noqa: PLC0415 - the UI loads only here

    def hangup() -> None:
        if cleanup:
            cleanup()
        os._exit(129)

    KubehaApp(settings, hangup=hangup).run()
    return 0


def run_with_sandbox(settings: Settings, sandbox_dir: Path | None) -> int:
    from kubeha_tui.sandbox import launcher  # noqa: PLC0415

    root = sandbox_dir or Path(tempfile.mkdtemp(prefix="kubeha-sandbox-"))
    print(f"{PROG}: starting the sandbox cluster in {root} ...", file=sys.stderr)
    try:
        state = launcher.up(root, attached=True)
    except Exception as exc:
        print(f"{PROG}: the sandbox did not start: {exc}", file=sys.stderr)
        if sandbox_dir is None:
            shutil.rmtree(root, ignore_errors=True)
        return 1

    def cleanup() -> None:
        launcher.down(root)
        if sandbox_dir is None:
            shutil.rmtree(root, ignore_errors=True)

    try:
        return run_tui(with_env(settings, state.env), cleanup)
    finally:
        if launcher.read_state(root) is not None:
            cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sandbox"]:
        return sandbox_main(argv[1:])
    if argv[:1] == ["node-install"]:
        from kubeha_tui import node_install  # noqa: PLC0415 - paramiko only when used

        return node_install.main(argv[1:], PROG, __version__)
    parser = build_parser()
    args = parser.parse_args(argv)
    flags = {o.key: getattr(args, o.key) for o in OPTIONS}
    try:
        settings = resolve(flags, os.environ, args.profile)
    except ConfigError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    from kubeha_tui.logs import setup_logging  # noqa: PLC0415

    setup_logging()
    if args.sandbox:
        return run_with_sandbox(settings, args.sandbox_dir)
    return run_tui(settings)


if __name__ == "__main__":
    raise SystemExit(main())
