"""Instructions from exec to the first frame, under callgrind: bench_start's two programs.

Wall-clock ratios on a loaded machine are noisy; instruction counts are not (repeat runs
agree within 0.1%). Each program runs in a pty of bench_start's size with its backends
unreachable, as there, and exits (``os._exit``) as soon as the text its frame must show
has been handed to Textual's writer, or (``--until run``) as ``App.run`` is entered, which
splits the count into imports and set-up before the app runs, and the app's own work after.
Not part of ``make bench`` (about a minute a run); ``python -m bench.count_start``.
"""

from __future__ import annotations

import argparse
import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import tempfile
import termios
from pathlib import Path

from bench.bench_start import CLUSTER_MARKERS, ONE_LABEL, SIZE, private_env

# Run in the measured process before the program: stop it at the point being counted.
STOPPER = """
import os, re, sys
UNTIL, MARKERS = {until!r}, {markers!r}
if UNTIL == "run":
    import textual.app
    textual.app.App.run = lambda *args, **kwargs: os._exit(0)
else:
    from textual.drivers import linux_driver
    ESCAPES = re.compile({escapes!r})
    written = []
    write = linux_driver.LinuxDriver.write

    def stop_at_frame(self, data):
        written.append(data)
        text = ESCAPES.sub("", "".join(written))
        if all(m in text for m in MARKERS):
            os._exit(0)
        write(self, data)

    linux_driver.LinuxDriver.write = stop_at_frame
"""
ESCAPES = r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78])"
OURS = """
import runpy
sys.argv = ["kubeha-tui", "--screen", {screen!r}, "--fleet-endpoint", "http://127.0.0.1:9",
            "--kube-server", "http://127.0.0.1:9", "--ceph-conf", {conf!r}]
runpy.run_module("kubeha_tui", run_name="__main__")
"""
SCREEN_MARKERS = {"cluster": [m.decode() for m in CLUSTER_MARKERS]}


def count(code: str, env: dict[str, str], out: Path) -> int:
    """Instructions callgrind counted for ``python -c code`` in a pty, after one run
    without it (so that every module's .pyc is written: a first import compiles it)."""
    run_in_pty([sys.executable, "-c", code], env)
    run_in_pty(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                sys.executable, "-c", code], env)  # fmt: skip
    match = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no total in {out}")
    return int(match.group(1))


def run_in_pty(argv: list[str], env: dict[str, str]) -> None:
    """Run ``argv`` in a pty of bench_start's size until it exits, its output drained."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *SIZE, 0, 0))
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=subprocess.DEVNULL,
                            env=env, start_new_session=True, close_fds=True)  # fmt: skip
    os.close(slave)
    while proc.poll() is None:
        if select.select([master], [], [], 0.5)[0]:
            try:
                os.read(master, 65536)
            except OSError:
                break
    proc.wait(timeout=600)
    os.close(master)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--until", choices=("run", "frame"), default="frame")
    parser.add_argument("--screen", default="cluster", help="ours: the --screen to open")
    parser.add_argument("--markers", help="ours: comma-separated text the frame shows")
    parser.add_argument("which", nargs="*", help="label, ours (default: both)")
    args = parser.parse_args()
    args.which = args.which or ["label", "ours"]
    if set(args.which) - {"label", "ours"}:
        parser.error("which: label or ours")
    with tempfile.TemporaryDirectory(prefix="kh-count-start-") as name:
        tmp = Path(name)
        env = private_env(tmp)
        markers = args.markers.split(",") if args.markers else SCREEN_MARKERS.get(args.screen)
        if "ours" in args.which and not markers and args.until == "frame":
            parser.error(f"--markers: what does the {args.screen} screen's frame show?")
        programs = {
            "label": (ONE_LABEL, ["one label drawn"]),
            "ours": (OURS.format(screen=args.screen, conf=str(tmp / "none.conf")), markers),
        }
        for which in args.which:
            program, shows = programs[which]
            stopper = STOPPER.format(until=args.until, markers=shows, escapes=ESCAPES)
            n = count(stopper + program, env, tmp / f"callgrind.{which}")
            print(f"count_start: {which} ({args.screen if which == 'ours' else 'one label'}), "
                  f"exec to {'App.run' if args.until == 'run' else 'the first frame'}: "
                  f"{n / 1e6:.0f}M instructions", flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
