"""Entry point ``kubeha-tui``: flags, the ``sandbox`` subcommand, then the TUI.

This is the composition root: the only core module that reaches into
``kubeha_tui.screens``, lazily, when the TUI is started.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from kubeha_tui import __version__
from kubeha_tui.config import OPTIONS, SCREENS, ConfigError, Settings, resolve

PROG = "kubeha-tui"
log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Terminal console for the Kubernetes-HA stack: fleet, Kubernetes and Ceph.",
        epilog=(
            f"Subcommands: {PROG} doctor [FLAGS] [--json] (diagnose, no TUI); {PROG} sandbox "
            "up|down|break|heal --dir DIR (a local cluster for trying it out); "
            f"{PROG} node-install [--ssh USER@HOST] (the node image and /opt/bin/{PROG})."
        ),
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
    parser.add_argument("action", choices=("up", "down", "break", "heal"))
    parser.add_argument(
        "scenario", nargs="?", help="for break: lost-node, locked-volume, apiserver-down, "
        "etcd-down or unit-failed"
    )  # fmt: skip
    parser.add_argument("--dir", required=True, type=Path, help="directory holding the cluster")
    return parser


def scenario_main(args: argparse.Namespace) -> int:
    """``sandbox break SCENARIO`` / ``sandbox heal``: stage a case for the Doctor, undo it."""
    from kubeha_tui.sandbox import scenarios  # noqa: PLC0415 - not on the product path

    try:
        if args.action == "heal":
            lines = scenarios.heal(args.dir)
        elif not args.scenario:
            lines = [f"{PROG} sandbox break: name a scenario: {', '.join(scenarios.SCENARIOS)}"]
            print(lines[0], file=sys.stderr)
            return 2
        else:
            lines = [scenarios.break_scenario(args.dir, args.scenario)]
    except (scenarios.ScenarioError, OSError, RuntimeError) as exc:
        print(f"{PROG} sandbox {args.action}: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


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
    if args.action in ("break", "heal"):
        return scenario_main(args)
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
    """Run the TUI; its exit code (1 after a crash, 143 after SIGTERM).

    On a hangup (the terminal closed) ``cleanup`` runs and we exit at once; a crash or
    SIGTERM whose shutdown hangs ends the same way after a grace period (the app's
    watchdog)."""
    from kubeha_tui.screens.app import KubehaApp  # noqa: PLC0415 - the UI loads only here

    def hangup() -> None:
        if cleanup:
            cleanup()
        os._exit(129)

    def hard_exit(code: int) -> None:
        if cleanup:
            cleanup()
        os._exit(code)

    app = KubehaApp(settings, hangup=hangup, hard_exit=hard_exit)
    # Our own loop: asyncio.run() would then wait for every executor thread (a worker
    # blocked in a backend call) before returning.
    loop = asyncio.new_event_loop()
    try:
        app.run(loop=loop)
    except Exception as exc:  # Textual itself failed: the terminal is restored by now
        log.critical("kubeha-tui failed", exc_info=exc)
        app.crashed = app.crashed or exc
    finally:
        app.stop_polls()
        app.services.remove_secrets()
    if app.crashed is not None:
        from kubeha_tui.logs import log_path  # noqa: PLC0415

        error = app.crashed
        print(
            f"{PROG}: crashed: {type(error).__name__}: {error} (traceback in {log_path()})",
            file=sys.stderr,
        )
        return 1
    return app.return_code or 0


def end_process(code: int) -> None:
    """Exit now with ``code``, whatever threads are left (a call blocked in librados or
    a socket read cannot be interrupted; everything to clean up is done by now)."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed terminal
            stream.flush()
    os._exit(code)


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


def doctor_main(argv: Sequence[str]) -> int:
    """``kubeha-tui doctor``: the findings without the TUI; exit 0 healthy, 1 findings,
    2 could not look."""
    from kubeha_tui.doctor.cli import run_doctor  # noqa: PLC0415

    parser = build_parser()
    parser.prog = f"{PROG} doctor"
    parser.add_argument("--json", action="store_true", help="print the findings as JSON")
    parser.add_argument(
        "--timeout", type=float, default=20.0, metavar="S", help="seconds to wait for each layer"
    )
    args = parser.parse_args(argv)
    if args.sandbox:
        parser.error('run it on a running sandbox: eval "$(kubeha-tui sandbox up --dir DIR)" first')
    flags = {o.key: getattr(args, o.key) for o in OPTIONS}
    try:
        settings = resolve(flags, os.environ, args.profile)
    except ConfigError as exc:
        print(f"{PROG} doctor: error: {exc}", file=sys.stderr)
        return 2
    from kubeha_tui.logs import setup_logging  # noqa: PLC0415

    setup_logging()
    return run_doctor(settings, as_json=args.json, timeout=args.timeout)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sandbox"]:
        return sandbox_main(argv[1:])
    if argv[:1] == ["doctor"]:
        return doctor_main(argv[1:])
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
    code = run_with_sandbox(settings, args.sandbox_dir) if args.sandbox else run_tui(settings)
    end_process(code)
    return code  # not reached


if __name__ == "__main__":
    raise SystemExit(main())
