"""2,000 RBD images through a Ceph pod (the sandbox Kubernetes API's exec into a mon
pod, the pod backend's one long-lived session): time until the names are on screen
(aim < 1 s) and until every row's size and lockers are filled (aim <= 1.0x `rbd ls -l`
run through the same exec into the same pod by the pod backend's helper, measured in
the same run before and after the app, while nothing else loads the cluster), then
every row's WATCHERS (aim <= 0.4x the same `rbd ls -l`)."""

from __future__ import annotations

import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path

from bench.bench_ceph import IMAGES, RUNS, make_images
from bench.common import report
from kubeha_tui.ceph.pod import PodCeph
from kubeha_tui.config import Settings
from kubeha_tui.errors import ServiceError
from kubeha_tui.kube.client import KubeClient
from kubeha_tui.sandbox.ceph import CephSandbox
from kubeha_tui.sandbox.kube.cluster import start
from kubeha_tui.sandbox.procs import stop
from kubeha_tui.screens.app import KubehaApp
from kubeha_tui.screens.tables import FastTable


def rbd_ls_l(pod: PodCeph) -> float:
    started = time.perf_counter()
    rc, out, err = pod.run(["rbd", "ls", "-l", "rbd"], timeout=120)
    elapsed = time.perf_counter() - started
    assert rc == 0 and out.count("img-") == IMAGES, (rc, err[-200:])
    return elapsed


async def app_times(url: str, tmp: Path) -> tuple[list[float], list[float], list[float]]:
    settings = Settings(fleet_endpoint=f"unix://{tmp}/none.sock", kube_server=url,
                        ceph_via="pod", screen="ceph")  # fmt: skip
    app = KubehaApp(settings)
    names: list[float] = []
    details: list[float] = []
    watchers: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one("#ceph-images", FastTable)
        while table.row_count < IMAGES:  # warm: the first poll finds the pod and starts the helper
            await pilot.pause(0.01)
        arrived = asyncio.Event()
        app.watch(app, "data", lambda _: arrived.set(), init=False)
        for _ in range(RUNS):
            while not (app.data.get("ceph") and all(i.complete for i in app.data["ceph"].images)):
                await pilot.pause(0.1)
            await pilot.pause(0.5)
            table.clear()
            started = time.perf_counter()
            app.poll("ceph")
            while table.row_count < IMAGES:
                await pilot.pause(0.005)
            names.append(time.perf_counter() - started)
            while not all(i.loaded for i in app.data["ceph"].images):
                arrived.clear()
                await arrived.wait()
            while "…" in {r.cells[i] for r in table.shown for i in (1, 3)}:
                await pilot.pause(0.01)
            await pilot.pause(0)
            details.append(time.perf_counter() - started)
            while "…" in {r.cells[4] for r in table.shown}:
                await pilot.pause(0.05)
            watchers.append(time.perf_counter() - started)
    return names, details, watchers


def _found(pod: PodCeph) -> bool:
    try:
        pod.find_pod()
    except ServiceError:
        return False
    return True


def main() -> int:
    logging.disable(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="kh-bench-cephpod-") as name:
        tmp = Path(name)
        cluster = CephSandbox(tmp / "ceph")
        try:
            cluster.start()
            make_images(cluster.conf)
            kube = start("modern", start_delay=0.05, tick=0.05, ceph_conf=cluster.conf,
                         keyring=cluster.admin_keyring)  # fmt: skip
            pod = PodCeph(KubeClient(server=kube.server.url), timeout=10)
            deadline = time.monotonic() + 60
            while not _found(pod) and time.monotonic() < deadline:  # the mon pods start
                time.sleep(0.1)
            try:
                baseline = [rbd_ls_l(pod) for _ in range(RUNS)]
                names, details, watchers = asyncio.run(app_times(kube.server.url, tmp))
                baseline += [rbd_ls_l(pod) for _ in range(RUNS)]
            finally:
                pod.close()
                kube.close()
        finally:
            stop(cluster.records)
    med = statistics.median
    ls_l = med(baseline)
    print(f"ceph through the pod: {IMAGES} images: names on screen in {med(names) * 1000:.0f} ms "
          f"(aim < 1000 ms: {'meets' if med(names) < 1 else 'MISSES'}); "
          f"rbd ls -l through the pod's exec {ls_l * 1000:.0f} ms")  # fmt: skip
    ok = report("ceph pod details", med(details), ls_l, 1.0,
                f"{IMAGES} images through the pod, every row's size and lockers filled")  # fmt: skip
    watched = report("ceph pod watchers", med(watchers), ls_l, 0.4,
                     f"{IMAGES} images through the pod, every row's WATCHERS filled too")  # fmt: skip
    return 0 if ok and watched and med(names) < 1 else 1


if __name__ == "__main__":
    raise SystemExit(main())
