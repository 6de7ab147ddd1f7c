"""Exec to the first painted frame of the Cluster screen, in a real terminal (a pty).

Every backend is unreachable (closed loopback ports, no Ceph conf), as when the console is
opened away from the cluster. The baseline, in the same run and interleaved, is a minimal
Textual app that draws one label. Both run as fresh processes of this interpreter, with a
private HOME and XDG dirs; the clock stops when the frame's text has been written to the
terminal. Target: <= 1.3x the one-label app. The CPU time each process had used by then
(all its threads) is printed too: on a machine shared with others it varies less.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Sequence
from pathlib import Path

from bench.common import percentiles

RUNS = 15
SIZE = (40, 120)  # rows, columns
TIMEOUT = 30.0
ESCAPES = re.compile(
    rb"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][0-9A-Za-z]|[=>78])"
)
ONE_LABEL = """
from textual.app import App, ComposeResult
from textual.widgets import Label


class OneLabel(App[None]):
    def compose(self) -> ComposeResult:
        yield Label("one label drawn")


OneLabel().run()
"""
# What the Cluster screen's first frame shows: the pane titles and the tables' headers.
CLUSTER_MARKERS = (b"Fleet units", b"Services", b"NAMESPACE", b"MACHINE")


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by every live thread of ``pid`` (schedstat, in ns)."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, IndexError, ValueError):
            continue  # the thread ended meanwhile
    return total / 1e9


def first_frame(
    argv: Sequence[str], markers: Sequence[bytes], env: dict[str, str]
) -> tuple[float, float]:
    """Seconds from exec until every marker was written to the pty, and the CPU seconds
    used by then; the process is then stopped with SIGTERM (SIGKILL if it lingers)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", *SIZE, 0, 0))
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                            start_new_session=True, close_fds=True)  # fmt: skip
    os.close(slave)
    seen, text = b"", b""
    try:
        while not all(m in text for m in markers):
            if time.perf_counter() - start > TIMEOUT or proc.poll() is not None:
                raise RuntimeError(f"{argv[1:]}: no frame; the terminal shows {text[-400:]!r}")
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                seen += os.read(master, 65536)
                text = ESCAPES.sub(b"", seen)
        return time.perf_counter() - start, cpu_seconds(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        while proc.poll() is None and time.monotonic() < deadline:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    os.read(master, 65536)  # keep the pty drained so the exit can write
                except OSError:
                    break
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        os.close(master)


def private_env(tmp: Path) -> dict[str, str]:
    """The environment of a measured start: a private HOME and XDG dirs under ``tmp``, a
    120x40 xterm, and none of the variables that would point it at a cluster."""
    env = {**os.environ, "HOME": str(tmp), "TERM": "xterm-256color", "COLUMNS": "120",
           "LINES": "40", "XDG_CONFIG_HOME": str(tmp / "config"),
           "XDG_STATE_HOME": str(tmp / "state"), "XDG_RUNTIME_DIR": str(tmp / "run")}  # fmt: skip
    for var in ("KUBECONFIG", "CEPH_CONF", "FLEETCTL_ENDPOINT", "FLEETCTL_TUNNEL"):
        env.pop(var, None)
    # An installed wheel's modules are compiled at install; with this set (as in some shells
    # and CI), ours would be compiled from source at every start and the label app's not.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    (tmp / "run").mkdir(mode=0o700)
    return env


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="kh-bench-start-") as name:
        tmp = Path(name)
        env = private_env(tmp)
        label = tmp / "one_label.py"
        label.write_text(ONE_LABEL)
        ours_argv = [sys.executable, "-m", "kubeha_tui", "--screen", "cluster",
                     "--fleet-endpoint", "http://127.0.0.1:9", "--kube-server", "http://127.0.0.1:9",
                     "--ceph-conf", str(tmp / "none.conf")]  # fmt: skip
        base_argv = [sys.executable, str(label)]
        first_frame(base_argv, [b"one label drawn"], env)  # warm the page cache for both
        first_frame(ours_argv, CLUSTER_MARKERS, env)
        ours, base = [], []
        for _ in range(RUNS):  # interleaved, so that load from others hits both alike
            base.append(first_frame(base_argv, [b"one label drawn"], env))
            ours.append(first_frame(ours_argv, CLUSTER_MARKERS, env))
    wall = [w for w, _ in ours], [w for w, _ in base]
    ratio = statistics.median(wall[0]) / statistics.median(wall[1])
    print(f"bench_start: exec to the Cluster screen's first frame, no backend reachable, "
          f"{RUNS} runs: ours {percentiles(wall[0])}; one-label Textual app {percentiles(wall[1])}; "
          f"median ratio {ratio:.2f}x ({'meets' if ratio <= 1.3 else 'MISSES'} target <= 1.3x)")  # fmt: skip
    cpu = statistics.median(c for _, c in ours), statistics.median(c for _, c in base)
    print(f"bench_start: CPU time used by the first frame (median): ours {cpu[0] * 1000:.0f} ms, "
          f"one-label app {cpu[1] * 1000:.0f} ms, ratio {cpu[0] / cpu[1]:.2f}x")  # fmt: skip
    return 0 if ratio <= 1.3 else 1


if __name__ == "__main__":
    raise SystemExit(main())
