"""Kubernetes at scale on the sandbox API (its own process): 10,000 pods in 200 namespaces
and 30,000 in 500.

Measures, in one run:
- load: app start until its Pods table holds every pod, against one bare
  ``list_pod_for_all_namespaces`` of the ``kubernetes`` package (a fresh process each).
  Targets: <= 0.7x at 10,000 pods, <= 0.8x at 30,000.
- memory: the app's RSS with the table full, in a process of its own like the bare list
  (target at 30,000 pods: under 400 MB), and after each of ten full relists (the API
  server killed and started again): flat.
- latency: key press (cursor down) to the next frame, p50/p95/p99, at 10,000 pods with no
  events, 100 and 1,000 pod events a second (targets p95 < 50 ms at 100/s, < 100 ms at
  1,000/s), and while the API server is being killed and restarted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import percentiles
from kubeha_tui.config import Settings
from kubeha_tui.screens.app import KubehaApp

SIZES = ((10_000, 200, 0.7), (30_000, 500, 0.8))  # pods, namespaces, target ratio
RUNS, PRESSES, RELISTS = 3, 100, 10
PAUSE = 2.0  # seconds without keys before each RSS reading
BARE = """
import json, sys, time
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
v1 = client.CoreV1Api()
start = time.perf_counter()
pods = v1.list_pod_for_all_namespaces(_request_timeout=300)
took = time.perf_counter() - start
rss = int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1])
print(json.dumps({"seconds": took, "items": len(pods.items), "rss_kb": rss}))
"""


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS")).split()[1]) / 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """The sandbox Kubernetes API in its own process, on a port that survives restarts."""

    def __init__(self, tmp: Path, pods: int, namespaces: int, churn: float) -> None:
        self.kubeconfig = tmp / f"kubeconfig-{pods}-{churn}"
        self.pods, self.port = pods, free_port()
        self.argv = [sys.executable, "-m", "kubeha_tui.sandbox.kube.cluster",
                     "--kubeconfig", str(self.kubeconfig), "--port", str(self.port),
                     "--pods", str(pods), "--namespaces", str(namespaces), "--churn", str(churn)]  # fmt: skip
        self.proc = self.start()

    def start(self) -> subprocess.Popen[bytes]:
        self.kubeconfig.unlink(missing_ok=True)
        proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while not self.kubeconfig.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the sandbox Kubernetes API did not start")
            time.sleep(0.1)
        return proc

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def restart(self) -> None:
        self.kill()
        self.proc = self.start()


def bare(kubeconfig: Path, pods: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", BARE, str(kubeconfig)],
                         capture_output=True, text=True, check=True)  # fmt: skip
    doc: dict[str, Any] = json.loads(out.stdout)
    assert doc["items"] == pods + 4, doc
    return doc


def app_for(kubeconfig: Path, tmp: Path) -> KubehaApp:
    settings = Settings(kubeconfig=str(kubeconfig), fleet_endpoint="http://127.0.0.1:9",
                        ceph_conf=str(tmp / "none.conf"), screen="kube")  # fmt: skip
    return KubehaApp(settings)


async def load(kubeconfig: Path, tmp: Path, pods: int) -> tuple[float, float]:
    """Seconds from app start until the Pods table is complete, and the RSS then (MB)."""
    start = time.perf_counter()
    app = app_for(kubeconfig, tmp)
    async with app.run_test(size=(160, 50)) as pilot:
        grid = app.screen.query_one("#kube-pods")
        while getattr(grid, "row_count", 0) < pods + 4:
            await pilot.pause(0.01)
        return time.perf_counter() - start, rss_mb()


def load_alone(kubeconfig: Path, tmp: Path, pods: int) -> tuple[float, float]:
    """``load`` in a process of its own, as the bare list runs: the RSS of a process that
    ran apps before counts what those left in its heap."""
    out = subprocess.run([sys.executable, "-m", "bench.bench_kube", "--load", str(kubeconfig),
                          str(tmp), str(pods)], capture_output=True, text=True, check=True)  # fmt: skip
    took, rss = json.loads(out.stdout.splitlines()[-1])
    return float(took), float(rss)


class Keys:
    """Cursor-down presses, each timed to the first frame written with the cursor on its new
    row, spaced like a person scrolling.

    Each frame is stamped with the cursor row it drew: a loop that polled the cursor and
    then waited for the next frame missed the frame that drew the move whenever that
    frame came before the poll saw the move, and counted the one after (up to a second
    later, the age tick) instead.
    """

    def __init__(self, app: KubehaApp) -> None:
        self.app = app
        self.grid: Any = app.screen.query_one("#kube-pods")
        self.frames: list[tuple[float, int]] = []  # (when, cursor row drawn)
        display = app._display

        def timed_display(screen: Any, renderable: Any) -> None:
            display(screen, renderable)
            self.frames.append((time.perf_counter(), self.grid.cursor_row))

        app._display = timed_display

    async def press(self) -> float:
        grid = self.grid
        if grid.cursor_row >= grid.row_count - 2:
            grid.move_cursor(row=0, animate=False)
            await asyncio.sleep(0.05)
        row, seen = grid.cursor_row, len(self.frames)
        start = time.perf_counter()
        self.app.simulate_key("down")
        while not any(drawn != row for _, drawn in self.frames[seen:]):
            await asyncio.sleep(0.001)
        took: float = next(t for t, drawn in self.frames[seen:] if drawn != row) - start
        await asyncio.sleep(0.05)
        return took

    async def until(self, done: Callable[[], bool], what: str) -> list[float]:
        times, deadline = [], time.monotonic() + 600
        while not done():
            if time.monotonic() > deadline:
                raise RuntimeError(f"bench_kube: gave up waiting for {what}")
            times.append(await self.press())
        return times


async def latency(kubeconfig: Path, tmp: Path, pods: int) -> list[float]:
    app = app_for(kubeconfig, tmp)
    async with app.run_test(size=(160, 50)) as pilot:
        keys = Keys(app)
        while keys.grid.row_count < pods + 4:
            await pilot.pause(0.05)
        keys.grid.focus()
        await pilot.pause(1.0)
        return [await keys.press() for _ in range(PRESSES)]


async def relists(server: Server, tmp: Path) -> tuple[list[float], list[float]]:
    """RSS after the first load and after each full relist (the API server killed and
    started again), each taken after a pause of PAUSE seconds without keys, as the
    operator looks at the result (the app's full garbage collections wait for one), and
    the key latencies while the relists happened."""
    app = app_for(server.kubeconfig, tmp)
    memory, times = [], []
    async with app.run_test(size=(160, 50)) as pilot:
        keys = Keys(app)
        while keys.grid.row_count < server.pods + 4:
            await pilot.pause(0.05)
        keys.grid.focus()
        await pilot.pause(PAUSE)
        memory.append(rss_mb())
        for _ in range(RELISTS):
            pods: Any = app.data["kube"].pods
            key = next(k for k in pods if "/web-" in k)  # a generated pod: it comes back
            pod = pods[key]  # as a new object: a relist parses every object anew
            del pods  # the old snapshot's 10,000 pods are not the app's to keep
            restart = asyncio.get_running_loop().run_in_executor(None, server.restart)
            times += await keys.until(restart.done, "the API server to restart")
            await restart

            def relisted(key: str = key, pod: object = pod) -> bool:
                snap: Any = app.data.get("kube")
                return app.backends["kube"].state == "connected" and bool(snap.synced) \
                    and snap.pods.get(key, pod) is not pod and len(snap.pods) == server.pods + 4  # fmt: skip

            times += await keys.until(relisted, "the relist")
            await asyncio.sleep(PAUSE)
            memory.append(rss_mb())
    return memory, times


def load_only(sizes: list[int], runs: int) -> None:
    """The load part alone (``--only load [PODS...]``), bare and ours interleaved run by
    run so a change in the machine's load hits both alike."""
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for pods, namespaces, target in SIZES:
            if sizes and pods not in sizes:
                continue
            server = Server(tmp, pods, namespaces, 0)
            try:
                bare_runs, ours = [], []
                for _ in range(runs):
                    bare_runs.append(bare(server.kubeconfig, pods))
                    ours.append(load_alone(server.kubeconfig, tmp, pods))
            finally:
                server.kill()
            report_load(pods, namespaces, target, bare_runs, ours)


def report_load(
    pods: int, namespaces: int, target: float, bare_runs: list[dict[str, Any]],
    ours: list[tuple[float, float]],
) -> None:  # fmt: skip
    base = statistics.median(b["seconds"] for b in bare_runs)
    took = statistics.median(t for t, _ in ours)
    ratio = took / base
    print(f"bench_kube: Pods table complete ({pods} pods, {namespaces} namespaces): ours "
          f"{took * 1000:.0f} ms, bare list_pod_for_all_namespaces {base * 1000:.0f} ms, "
          f"ratio {ratio:.2f}x ({'meets' if ratio <= target else 'MISSES'} target <= {target}x)")  # fmt: skip
    app_rss = max(r for _, r in ours)
    bare_rss = statistics.median(b["rss_kb"] for b in bare_runs) / 1024
    print(f"bench_kube: RSS with the table full ({pods} pods): ours {app_rss:.0f} MB, a "
          f"process holding only the bare list {bare_rss:.0f} MB"
          + (f" ({'meets' if app_rss < 400 else 'MISSES'} target < 400 MB)" if pods >= 30_000 else ""))  # fmt: skip


def main() -> None:
    logging.disable(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for pods, namespaces, target in SIZES:
            server = Server(tmp, pods, namespaces, 0)
            try:
                bare_runs = [bare(server.kubeconfig, pods) for _ in range(RUNS)]
                ours = [load_alone(server.kubeconfig, tmp, pods) for _ in range(RUNS)]
                if pods == SIZES[0][0]:
                    still = asyncio.run(latency(server.kubeconfig, tmp, pods))
                    memory, restarting = asyncio.run(relists(server, tmp))
            finally:
                server.kill()
            report_load(pods, namespaces, target, bare_runs, ours)
        busy = {}
        for churn in (100, 1000):
            server = Server(tmp, SIZES[0][0], SIZES[0][1], churn)
            try:
                busy[churn] = asyncio.run(latency(server.kubeconfig, tmp, SIZES[0][0]))
            finally:
                server.kill()
    p95 = {c: sorted(t)[int(len(t) * 0.95)] for c, t in busy.items()}
    print(f"bench_kube: key press to frame, {SIZES[0][0]} pods: no events {percentiles(still)}")
    for churn, limit in ((100, 0.05), (1000, 0.1)):
        print(f"bench_kube: key press to frame, {churn} pod events/s: {percentiles(busy[churn])} "
              f"({'meets' if p95[churn] < limit else 'MISSES'} target p95 < {limit * 1000:.0f} ms)")  # fmt: skip
    print(
        f"bench_kube: key press to frame while the API server was killed and restarted "
        f"{RELISTS} times: {percentiles(restarting)} ({len(restarting)} presses)"
    )
    print(
        f"bench_kube: RSS after the first load and each of {RELISTS} full relists (MB): "
        f"{', '.join(f'{m:.0f}' for m in memory)}; growth {memory[-1] - memory[0]:+.0f} MB"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--load"]:
        logging.disable(logging.CRITICAL)
        result = asyncio.run(load(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])))
        print(json.dumps(result))
    elif sys.argv[1:2] == ["--only"] and sys.argv[2:3] == ["load"]:
        # --only load [PODS...]: the load part alone, e.g. while working on it
        logging.disable(logging.CRITICAL)
        load_only([int(a) for a in sys.argv[3:]], RUNS)
    else:
        main()
