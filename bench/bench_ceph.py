"""2,000 RBD images in one pool on the real sandbox Ceph: time until the names are on
screen (target: 0.2 s), until every row's size and lockers are filled (target: at most
half the time of `rbd ls -l` on the same pool, measured in the same run) and until every
row's WATCHERS is filled too (target: at most 0.4x `rbd ls -l`)."""

from __future__ import annotations

import asyncio
import logging
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.common import report
from kubeha_tui.ceph.connection import CephService, import_binding
from kubeha_tui.config import Settings
from kubeha_tui.sandbox.ceph import CephSandbox
from kubeha_tui.sandbox.procs import stop
from kubeha_tui.screens.app import KubehaApp
from kubeha_tui.screens.tables import FastTable

IMAGES, RUNS = 2000, 2


def make_images(conf: Path) -> None:
    rbd = import_binding("rbd")
    service = CephService(str(conf))
    with service.ioctx("rbd") as ioctx, ThreadPoolExecutor(8) as pool:
        list(
            pool.map(
                lambda n: rbd.RBD().create(
                    ioctx, f"img-{n:05d}", 1 << 20, old_format=False, features=1
                ),
                range(IMAGES),
            )
        )
    service.close()


def rbd_ls_l(conf: Path) -> float:
    start = time.perf_counter()
    out = subprocess.run(
        ["rbd", "-c", str(conf), "--id", "admin", "ls", "-l", "rbd"],
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - start
    assert out.stdout.count("img-") == IMAGES, out.stdout[:200]
    return elapsed


async def app_times(conf: Path, tmp: Path) -> tuple[list[float], list[float], list[float]]:
    settings = Settings(
        fleet_endpoint=f"unix://{tmp}/none.sock",
        kube_server="http://127.0.0.1:9",
        ceph_conf=str(conf),
        screen="ceph",
    )
    app = KubehaApp(settings)
    names, details, watchers = [], [], []
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one("#ceph-images", FastTable)
        while table.row_count < IMAGES:  # warm: the first poll connects
            await pilot.pause(0.01)
        arrived = asyncio.Event()
        app.watch(app, "data", lambda _: arrived.set(), init=False)
        for _ in range(RUNS):
            while not (app.data.get("ceph") and all(i.complete for i in app.data["ceph"].images)):
                await pilot.pause(0.1)  # the poll under way has loaded everything
            await pilot.pause(0.5)
            table.clear()  # so the names have to arrive again
            start = time.perf_counter()
            app.poll("ceph")
            while table.row_count < IMAGES:
                await pilot.pause(0.005)
            names.append(time.perf_counter() - start)
            while not all(
                i.loaded for i in app.data["ceph"].images
            ):  # waits without polling the UI
                arrived.clear()
                await arrived.wait()
            while "…" in {  # SIZE and LOCKERS on screen (the screen's handler runs next)
                r.cells[i] for r in table.shown for i in (1, 3)
            }:
                await pilot.pause(0.01)
            await pilot.pause(0)
            details.append(time.perf_counter() - start)
            while "…" in {r.cells[4] for r in table.shown}:  # WATCHERS
                await pilot.pause(0.05)
            watchers.append(time.perf_counter() - start)
    return names, details, watchers


def main() -> int:
    logging.disable(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="kh-bench-ceph-") as name:
        tmp = Path(name)
        cluster = CephSandbox(tmp / "ceph")
        try:
            cluster.start()
            make_images(cluster.conf)
            baseline = [rbd_ls_l(cluster.conf) for _ in range(RUNS)]
            names, details, watchers = asyncio.run(app_times(cluster.conf, tmp))
            baseline += [rbd_ls_l(cluster.conf) for _ in range(RUNS)]
        finally:
            stop(cluster.records)
    med = statistics.median
    ls_l = med(baseline)
    print(f"ceph: {IMAGES} images: names on screen in {med(names) * 1000:.0f} ms (target <= 200 ms: "
          f"{'meets' if med(names) <= 0.2 else 'MISSES'}); rbd ls -l {ls_l * 1000:.0f} ms")  # fmt: skip
    ok = report(
        "ceph details",
        med(details),
        ls_l,
        0.5,
        f"{IMAGES} images, every row's size and lockers filled",
    )
    watched = report("ceph watchers", med(watchers), ls_l, 0.4,
                     f"{IMAGES} images, every row's WATCHERS filled too")  # fmt: skip
    return 0 if ok and watched and med(names) <= 0.2 else 1


if __name__ == "__main__":
    raise SystemExit(main())
