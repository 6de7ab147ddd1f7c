"""10,000 pods in 200 namespaces on the sandbox Kubernetes API (its own process).

Measures, in one run:
- load: app start until its Pods table holds every pod, against one bare
  ``list_pod_for_all_namespaces`` of the ``kubernetes`` package. Target: <= 1.3x.
- memory: the app's RSS with the table full (target: under 300 MB), against a process
  that only holds the bare list's result.
- latency: key press (cursor down) to redraw while the server streams 100 pod events
  a second, against the same presses with no events. Target: under 100 ms.
"""

from __future__ import annotations

import asyncio
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kubeha_tui.config import Settings
from kubeha_tui.screens.app import KubehaApp

PODS, NAMESPACES, RUNS, PRESSES = 10_000, 200, 3, 100
BARE = """
import json, resource, sys, time
from kubernetes import client, config
config.load_kube_config(sys.argv[1])
v1 = client.CoreV1Api()
start = time.perf_counter()
pods = v1.list_pod_for_all_namespaces(_request_timeout=120)
took = time.perf_counter() - start
print(json.dumps({"seconds": took, "items": len(pods.items), "rss_kb": rss()}))
"""
RSS = "def rss():\n    return int(next(l for l in open('/proc/self/status') if l.startswith('VmRSS')).split()[1])\n"


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return int(next(line for line in f if line.startswith("VmRSS")).split()[1]) / 1024


def server(tmp: Path, churn: float) -> tuple[subprocess.Popen[bytes], Path]:
    kubeconfig = tmp / f"kubeconfig-{churn}"
    argv = [sys.executable, "-m", "kubeha_tui.sandbox.kube.cluster", "--kubeconfig", str(kubeconfig),
            "--pods", str(PODS), "--namespaces", str(NAMESPACES), "--churn", str(churn)]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not kubeconfig.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("the sandbox Kubernetes API did not start")
        time.sleep(0.1)
    return proc, kubeconfig


def bare(kubeconfig: Path) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", RSS + BARE, str(kubeconfig)],
                         capture_output=True, text=True, check=True)  # fmt: skip
    doc: dict[str, Any] = json.loads(out.stdout)
    assert doc["items"] == PODS + 4, doc
    return doc


def app_for(kubeconfig: Path, tmp: Path) -> KubehaApp:
    settings = Settings(kubeconfig=str(kubeconfig), fleet_endpoint="http://127.0.0.1:9",
                        ceph_conf=str(tmp / "none.conf"), screen="kube")  # fmt: skip
    return KubehaApp(settings)


async def load(kubeconfig: Path, tmp: Path) -> tuple[float, float]:
    """Seconds from app start until the Pods table is complete, and the RSS then (MB)."""
    start = time.perf_counter()
    app = app_for(kubeconfig, tmp)
    async with app.run_test(size=(160, 50)) as pilot:
        grid = app.screen.query_one("#kube-pods")
        while getattr(grid, "row_count", 0) < PODS + 4:
            await pilot.pause(0.01)
        took = time.perf_counter() - start
        return took, rss_mb()


async def latency(kubeconfig: Path, tmp: Path) -> list[float]:
    """Key press to the next frame written after the cursor moved, PRESSES times, spaced
    like a person scrolling."""
    app = app_for(kubeconfig, tmp)
    frames: list[float] = []
    async with app.run_test(size=(160, 50)) as pilot:
        display = app._display

        def timed_display(screen: Any, renderable: Any) -> None:
            display(screen, renderable)
            frames.append(time.perf_counter())

        app._display = timed_display
        grid: Any = app.screen.query_one("#kube-pods")
        while grid.row_count < PODS + 4:
            await pilot.pause(0.05)
        grid.focus()
        await pilot.pause(1.0)
        times = []
        for _ in range(PRESSES):
            row = grid.cursor_row
            start = time.perf_counter()
            app.simulate_key("down")
            while grid.cursor_row == row:
                await asyncio.sleep(0.001)
            moved = time.perf_counter()
            while not frames or frames[-1] <= moved:
                await asyncio.sleep(0.001)
            times.append(next(f for f in frames if f > moved) - start)
            await asyncio.sleep(0.05)
        return times


def main() -> None:
    logging.disable(logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        quiet, quiet_config = server(tmp, 0)
        try:
            bare_runs = [bare(quiet_config) for _ in range(RUNS)]
            ours = [asyncio.run(load(quiet_config, tmp)) for _ in range(RUNS)]
            still = asyncio.run(latency(quiet_config, tmp))
        finally:
            quiet.terminate()
        busy, busy_config = server(tmp, 100)
        try:
            churning = asyncio.run(latency(busy_config, tmp))
        finally:
            busy.terminate()
    base = statistics.median(b["seconds"] for b in bare_runs)
    took = statistics.median(t for t, _ in ours)
    ratio = took / base
    print(f"bench_kube: Pods table complete ({PODS} pods, {NAMESPACES} namespaces): ours "
          f"{took * 1000:.0f} ms, bare list_pod_for_all_namespaces {base * 1000:.0f} ms, ratio "
          f"{ratio:.2f}x ({'meets' if ratio <= 1.3 else 'MISSES'} target <= 1.3x)")  # fmt: skip
    app_rss = max(r for _, r in ours)
    bare_rss = statistics.median(b["rss_kb"] for b in bare_runs) / 1024
    print(f"bench_kube: RSS with the table full: ours {app_rss:.0f} MB, a process holding only the "
          f"bare list {bare_rss:.0f} MB, ratio {app_rss / bare_rss:.2f}x "
          f"({'meets' if app_rss < 300 else 'MISSES'} target < 300 MB)")  # fmt: skip
    p50, p95 = statistics.median(churning), sorted(churning)[int(len(churning) * 0.95)]
    q50, q95 = statistics.median(still), sorted(still)[int(len(still) * 0.95)]
    print(f"bench_kube: key press to redraw under 100 pod events/s: median {p50 * 1000:.1f} ms, "
          f"p95 {p95 * 1000:.1f} ms; with no events median {q50 * 1000:.1f} ms, p95 {q95 * 1000:.1f} ms; "
          f"median ratio {p50 / q50:.2f}x ({'meets' if p95 < 0.1 else 'MISSES'} target p95 < 100 ms)")  # fmt: skip


if __name__ == "__main__":
    main()
