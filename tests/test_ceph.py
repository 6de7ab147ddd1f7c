"""The Ceph service on real clusters: the session's, and a scratch one for fencing
and for killing OSDs (ceph-ops.md: those want a cluster of their own). Every test that
takes ``ceph`` or ``scratch_service`` runs twice: on librados here, and through the pod
backend (exec into a sandbox mon pod, which reaches the same cluster)."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from kubeha_tui.ceph import librbd, pod, watchlist
from kubeha_tui.ceph.backend import CephBackend, Stopped
from kubeha_tui.ceph.connection import CephService, import_binding
from kubeha_tui.ceph.headers import header_object
from kubeha_tui.ceph.images import (
    KUBELET_COOKIE,
    Image,
    Locker,
    blocklisted,
    check_create,
    create,
    delete,
    image_details,
    list_names,
    load_details,
    parse_size,
    unlock,
)
from kubeha_tui.ceph.models import plain_addr
from kubeha_tui.ceph.osds import Cancelled, health, osd_tree, pg_summary, remove_osd
from kubeha_tui.ceph.pod import PodCeph
from kubeha_tui.ceph.service import CephSnapshot, CephStatusService
from kubeha_tui.errors import ServiceError
from kubeha_tui.sandbox.ceph import CephSandbox
from kubeha_tui.sandbox.procs import stop

from .support.ceph_backends import VIAS, backend
from .support.waiting import wait_for

pytestmark = pytest.mark.ceph


@pytest.fixture(scope="module", params=VIAS)
def via(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def ceph(via: str, ceph_cluster: CephSandbox) -> Iterator[CephBackend]:
    with backend(via, ceph_cluster) as service:
        yield service


def scratch_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CephSandbox]:
    """Four OSDs; osd.3 alone in its own host bucket, named like the stack's OSD pods."""
    cluster = CephSandbox(tmp_path_factory.mktemp("scratch"), osds=4)
    try:
        cluster.start()
        service = CephService(str(cluster.conf))
        service.command(
            {"prefix": "osd crush add-bucket", "name": "ceph-osd-x1y2z", "type": "host"}
        )
        service.command(
            {"prefix": "osd crush move", "name": "ceph-osd-x1y2z", "args": ["root=default"]}
        )
        service.command(
            {
                "prefix": "osd crush create-or-move",
                "id": 3,
                "weight": 0.01,
                "args": ["host=ceph-osd-x1y2z", "root=default"],
            }
        )
        cluster.wait_healthy(service.cluster(), 60)
        service.close()
        yield cluster
    finally:
        stop(cluster.records)


@pytest.fixture(scope="module")
def scratch(via: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CephSandbox]:
    """One per backend: the OSD tests remove and kill OSDs."""
    yield from scratch_cluster(tmp_path_factory)


@pytest.fixture
def stoppable(via: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CephSandbox]:
    """A cluster of its own for a test that stops or loses OSDs for good: their PGs may
    still be recovering afterwards (the mgr's PG stats lag), and killing another OSD of
    the same cluster then would lose PGs."""
    yield from scratch_cluster(tmp_path_factory)


@pytest.fixture(scope="module")
def scratch_service(via: str, scratch: CephSandbox) -> Iterator[CephBackend]:
    with backend(via, scratch) as service:
        yield service


# -- images ----------------------------------------------------------------------


def test_create_list_delete(ceph: CephBackend) -> None:
    request = check_create(ceph, "rbd", "db", "10G", ["layering"])
    image = create(ceph, request)
    try:
        assert (image.size, image.features, image.state) == (10 << 30, ("layering",), "free")
        assert "db" in [i.name for i in list_names(ceph, "rbd")]
    finally:
        delete(ceph, "rbd", "db")
    assert "db" not in [i.name for i in list_names(ceph, "rbd")]


def test_hundred_images_names_then_details(ceph: CephBackend) -> None:
    names = [f"vol-{n:03d}" for n in range(100)]
    for name in names:
        create(ceph, check_create(ceph, "rbd", name, "1M", ["layering", "exclusive-lock"]))
    try:
        listed = [i for i in list_names(ceph, "rbd") if i.name.startswith("vol-")]
        assert [i.name for i in listed] == names and not any(i.loaded for i in listed)
        detailed = load_details(ceph, listed)
        assert {(i.size, i.features, i.state) for i in detailed} == {
            (1 << 20, ("layering", "exclusive-lock"), "free")
        }
    finally:
        for name in names:
            delete(ceph, "rbd", name)


@pytest.mark.parametrize(
    ("name", "size", "pool", "error"),
    [
        ("", "1G", "rbd", "name is empty"),
        ("a/b", "1G", "rbd", "'/' and '@' are not allowed"),
        ("a@snap", "1G", "rbd", "'/' and '@' are not allowed"),
        ("ok", "0", "rbd", "must be more than 0"),
        ("ok", "-5G", "rbd", "expected a number"),
        ("ok", "ten", "rbd", "expected a number"),
        ("ok", "1G", "nopool", "pool 'nopool' does not exist"),
    ],
)
def test_bad_create_input_creates_nothing(
    ceph: CephBackend, name: str, size: str, pool: str, error: str
) -> None:
    before = [i.name for i in list_names(ceph, "rbd")]
    with pytest.raises(ServiceError, match=error):
        create(ceph, check_create(ceph, pool, name, size, ["layering"]))
    assert [i.name for i in list_names(ceph, "rbd")] == before


def test_existing_name_and_bad_features_are_refused(ceph: CephBackend) -> None:
    create(ceph, check_create(ceph, "rbd", "taken", "1M", ["layering"]))
    try:
        with pytest.raises(ServiceError, match="already exists"):
            check_create(ceph, "rbd", "taken", "1M", ["layering"])
        with pytest.raises(ServiceError, match="object-map needs exclusive-lock"):
            check_create(ceph, "rbd", "other", "1M", ["layering", "object-map"])
    finally:
        delete(ceph, "rbd", "taken")


def test_a_long_delete_shows_progress_and_stops_half_deleted(ceph: CephBackend) -> None:
    create(ceph, check_create(ceph, "rbd", "long", "64G", ["layering"]))  # 16,384 objects to go
    heard: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> bool:
        heard.append((done, total))
        return len(heard) < 3  # the operator cancels at the third word

    with pytest.raises(
        Stopped, match=r"stopped after \d+ of 16384 objects: rbd/long is half-deleted"
    ):
        delete(ceph, "rbd", "long", progress)
    assert len(heard) == 3 and all(total == 16384 for _, total in heard)
    image = image_details(ceph, "rbd", "long")  # still listed, its header gone
    assert image.state == "half-deleted" and "delete it again to finish" in image.error
    delete(ceph, "rbd", "long")
    assert "long" not in [i.name for i in list_names(ceph, "rbd")]


def test_sizes() -> None:
    assert [parse_size(s) for s in ("10G", "512M", "1T", "4096", "1.5G", "2GiB")] == [
        10 << 30, 512 << 20, 1 << 40, 4096, 3 << 29, 2 << 30,
    ]  # fmt: skip
    assert parse_size(str((1 << 64) - 1)) == (1 << 64) - 1  # librbd makes that (layering)
    for too_big in ("99999999T", str(1 << 64)):  # the binding raised OverflowError
        with pytest.raises(ServiceError, match="more than librbd's limit of 16 EiB"):
            parse_size(too_big)


def test_sizes_librbd_and_the_cluster_cannot_hold(ceph: CephBackend) -> None:
    with pytest.raises(ServiceError, match="object-map takes at most 256,000,000 objects"):
        check_create(ceph, "rbd", "huge", "2P", ["layering", "exclusive-lock", "object-map"])
    request = check_create(ceph, "rbd", "huge", "1P", ["layering"])
    assert request.warnings == ("1 PiB is more than the cluster's raw capacity (1.5 GiB): writes will fail long before it is full",)  # fmt: skip
    assert check_create(ceph, "rbd", "small", "1G", ["layering"]).warnings == ()
    assert "huge" not in [i.name for i in list_names(ceph, "rbd")]  # checking makes nothing


def test_poll_gives_names_then_details(ceph: CephBackend) -> None:
    create(ceph, check_create(ceph, "rbd", "polled", "2M", ["layering"]))
    try:
        polls = list(CephStatusService(ceph).poll())
        first, last = polls[0].data, polls[-1].data
        assert first.pool == "rbd" and "polled" in [i.name for i in first.images]  # type: ignore[attr-defined]
        assert not any(i.loaded for i in first.images)  # type: ignore[attr-defined]
        assert polls[-1].final and all(i.loaded for i in last.images)  # type: ignore[attr-defined]
        assert last.health == "HEALTH_OK" and len(last.tree.osds) == 3  # type: ignore[attr-defined]
    finally:
        delete(ceph, "rbd", "polled")


# -- watchers --------------------------------------------------------------------


@contextmanager
def held_open(conf: Path, name: str) -> Iterator[tuple[str, ...]]:
    """``name`` opened read-write by another client (its watch on the header): that
    client's addresses as librbd itself lists them."""
    rbd = import_binding("rbd")
    other = CephService(str(conf))
    try:
        with other.ioctx("rbd") as io, rbd.Image(io, name) as img:
            yield tuple(sorted(plain_addr(w["addr"]) for w in img.watchers_list()))
    finally:
        other.close()


def count_opens(ceph: CephBackend, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the images the backend opens from now on (to read their watchers)."""
    opened: list[str] = []
    if isinstance(ceph, PodCeph):
        call = ceph.call

        def recording(op: str, *args: Any, **kw: Any) -> Any:
            if op == "details":
                opened.extend(name for _, name in kw["images"])
            return call(op, *args, **kw)

        monkeypatch.setattr(ceph, "call", recording)
    else:
        details = librbd._details

        def counting(service: CephService, ioctx: Any, image: Image, watchers: bool) -> Image:
            opened.append(image.name)
            return details(service, ioctx, image, watchers)

        monkeypatch.setattr(librbd, "_details", counting)
    return opened


def two_images(ceph: CephBackend) -> dict[str, Image]:
    return {i.name: i for i in load_details(ceph, [i for i in list_names(ceph, "rbd")
                                                   if i.name in ("watched", "unwatched")])}  # fmt: skip


@pytest.fixture
def watched_pair(ceph: CephBackend) -> Iterator[None]:
    for name in ("watched", "unwatched"):
        create(ceph, check_create(ceph, "rbd", name, "4M", ["layering", "exclusive-lock"]))
    try:
        yield
    finally:
        for name in ("watched", "unwatched"):
            with contextlib.suppress(ServiceError):
                delete(ceph, "rbd", name)


def test_watchers_are_listed_on_the_header_without_opening_images(
    ceph: CephBackend,
    ceph_cluster: CephSandbox,
    watched_pair: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    opened = count_opens(ceph, monkeypatch)
    with held_open(ceph_cluster.conf, "watched") as holder:
        assert holder  # librbd lists its own watch
        images = two_images(ceph)
        assert images["watched"].watchers == holder and images["watched"].state == "in use"
        assert images["unwatched"].watchers == () and images["unwatched"].state == "free"
        with pytest.raises(ServiceError, match=rf"in use by 1 client\(s\) \({holder[0]}\)"):
            delete(ceph, "rbd", "watched")  # the check at action time sees it
        assert opened == []
    delete(ceph, "rbd", "watched")  # the holder closed it: a fresh check lets it go
    assert "watched" not in [i.name for i in list_names(ceph, "rbd")]


def test_the_rows_on_screen_come_first_complete(ceph: CephBackend, watched_pair: None) -> None:
    listed = [i for i in list_names(ceph, "rbd") if i.name in ("watched", "unwatched")]
    first, *rest = ceph.read_details(listed, first=["watched"])
    assert [i.name for i in first] == ["watched"] and first[0].complete
    assert [i.name for batch in rest for i in batch] == ["unwatched"]


def test_without_the_lister_the_images_are_opened(
    ceph: CephBackend, ceph_cluster: CephSandbox, watched_pair: None,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    if isinstance(ceph, PodCeph):  # the next session's helper has a Python without ctypes
        broken = ceph_cluster.root / "no-ctypes.py"
        broken.write_text("raise ImportError(\"No module named '_ctypes'\")\n")
        monkeypatch.setattr(pod, "LISTER", broken)
        ceph.forget()
        service: CephBackend = ceph
    else:  # a librados without the C++ symbol
        monkeypatch.setattr(watchlist, "LIST_WATCHERS", "no_such_symbol")
        service = CephService(str(ceph_cluster.conf))
    try:
        opened = count_opens(service, monkeypatch)
        with held_open(ceph_cluster.conf, "watched") as holder:
            images = two_images(service)
            assert images["watched"].watchers == holder and images["unwatched"].watchers == ()
        assert sorted(opened) == ["unwatched", "watched"]
        assert "opening them instead" in caplog.text
        assert ("_ctypes" if isinstance(service, PodCeph) else "no_such_symbol") in caplog.text
    finally:
        if isinstance(service, PodCeph):
            monkeypatch.undo()
            service.forget()  # the next test's session gets its lister again
        else:
            service.close()


def test_the_lister_names_each_objects_watchers(
    ceph_cluster: CephSandbox, watched_pair: None
) -> None:
    service = CephService(str(ceph_cluster.conf))
    lister = watchlist.WatchLister(str(ceph_cluster.conf))
    try:
        ids = {i.name: i.id for i in list_names(service, "rbd")}
        with held_open(ceph_cluster.conf, "watched") as holder:
            got = lister.watchers("rbd", [header_object(ids["watched"]), header_object(ids["unwatched"]), "nothing-here"])  # fmt: skip
        assert got == {header_object(ids["watched"]): list(holder),
                       header_object(ids["unwatched"]): [], "nothing-here": -2}  # fmt: skip
        assert lister.watchers("no-such-pool", ["x"]) == {"x": -2}
    finally:
        lister.close()
        service.close()


# -- locks -----------------------------------------------------------------------

LOCKER = """
import rados, rbd, sys, time
c = rados.Rados(conffile=sys.argv[1], rados_id="admin"); c.connect()
io = c.open_ioctx("rbd"); img = rbd.Image(io, sys.argv[2])
img.lock_exclusive(sys.argv[3])
print("locked", flush=True)
time.sleep(600)
"""


def start_locker(conf: Path, image: str, cookie: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(conf), image, cookie], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_live_locker_is_alive_and_not_broken_without_force(
    scratch: CephSandbox, scratch_service: CephBackend
) -> None:
    create(scratch_service, check_create(scratch_service, "rbd", "live", "4M", ["layering"]))
    locker = start_locker(scratch.conf, "live", f"{KUBELET_COOKIE}node2")
    try:
        (lk,) = image_details(scratch_service, "rbd", "live").lockers
        assert lk.alive and lk.label == "Kubernetes node node2's lock"
        assert image_details(scratch_service, "rbd", "live").state == "locked"
        with pytest.raises(ServiceError, match="is alive"):
            unlock(scratch_service, "rbd", "live", lk.client, lk.cookie)
        assert image_details(scratch_service, "rbd", "live").lockers == (lk,)
        with pytest.raises(ServiceError, match="in use by 1 client"):
            delete(scratch_service, "rbd", "live")
    finally:
        locker.kill()
        locker.wait()


def test_stale_kubelet_lock_is_fenced_and_broken(
    scratch: CephSandbox, scratch_service: CephBackend
) -> None:
    create(scratch_service, check_create(scratch_service, "rbd", "db", "4M", ["layering"]))
    locker = start_locker(scratch.conf, "db", f"{KUBELET_COOKIE}node1")
    (lk,) = image_details(scratch_service, "rbd", "db").lockers
    assert lk.alive
    locker.send_signal(signal.SIGKILL)
    locker.wait()
    stale = wait_for(
        lambda: [x for x in image_details(scratch_service, "rbd", "db").lockers if not x.alive],
        timeout=30,
        what="watch expiry",
    )
    assert image_details(scratch_service, "rbd", "db").state == "stale lock"
    result = unlock(scratch_service, "rbd", "db", stale[0].client, stale[0].cookie)
    assert result.fenced and lk.address in blocklisted(scratch_service)
    assert image_details(scratch_service, "rbd", "db").lockers == ()
    rbd = import_binding("rbd")
    other = CephService(str(scratch.conf))
    try:
        with other.ioctx("rbd") as io, rbd.Image(io, "db") as img:  # another client can lock it now
            img.lock_exclusive("after")
            assert img.list_lockers()["lockers"][0][1] == "after"
            img.unlock("after")
    finally:
        other.close()


def test_unlocking_an_image_deleted_meanwhile_is_a_clear_error(ceph: CephBackend) -> None:
    gone = Locker("client.4100", f"{KUBELET_COOKIE}node1", "127.0.0.1:0/1", alive=False)
    with pytest.raises(
        ServiceError, match=r"rbd/no-such-image does not exist any more; nothing unlocked"
    ):
        ceph.break_lock("rbd", "no-such-image", gone)  # librbd's ImageNotFound was dropped
    with pytest.raises(ServiceError, match=r"image rbd/no-such-image does not exist"):
        unlock(ceph, "rbd", "no-such-image", gone.client, gone.cookie)


# -- OSDs ------------------------------------------------------------------------


def acting_osds(service: CephBackend, obj: str) -> list[int]:
    doc = service.json({"prefix": "osd map", "pool": "rbd", "object": obj})
    return [int(i) for i in doc["acting"]]


def test_osds_that_do_not_answer_leave_health_and_the_tree_on_screen(
    stoppable: CephSandbox, via: str
) -> None:
    """The OSDs holding the image directory stopped (SIGSTOP): the mons still answer."""
    with backend(via, stoppable, timeout=3) as service:
        stopped = acting_osds(service, "rbd_directory")
        for osd in stopped:
            stoppable.procs[f"osd.{osd}"].send_signal(signal.SIGSTOP)
        try:
            wait_for(lambda: all(not osd_tree(service).get(o).up for o in stopped), timeout=60,  # type: ignore[union-attr]
                     what="the stopped OSDs marked down")  # fmt: skip
            snap = list(CephStatusService(service).poll())[-1].data
            assert isinstance(snap, CephSnapshot)
            assert snap.health == "HEALTH_WARN" and snap.images == ()
            assert len(snap.tree.osds) == 4 and {o.id for o in snap.tree.osds if not o.up} == set(
                stopped
            )
            assert snap.problem.startswith("the images of rbd do not answer (")
            assert f"down: {', '.join(f'osd.{o}' for o in sorted(stopped))}" in snap.problem
        finally:
            for osd in stopped:
                stoppable.procs[f"osd.{osd}"].send_signal(signal.SIGCONT)
        wait_for(lambda: all(o.up for o in osd_tree(service).osds), timeout=90, what="OSDs back up")
        wait_for(lambda: pg_summary(service).all_clean, timeout=90, what="PGs clean again")


def test_removing_an_up_osd_is_refused(scratch_service: CephBackend) -> None:
    with pytest.raises(ServiceError, match=r"osd\.1 is up"):
        next(remove_osd(scratch_service, 1))
    assert osd_tree(scratch_service).get(1) is not None


def test_killed_osd_is_removed_with_its_host_bucket(
    scratch: CephSandbox, scratch_service: CephBackend
) -> None:
    scratch.procs["osd.3"].kill()
    scratch.procs["osd.3"].wait()
    wait_for(lambda: not osd_tree(scratch_service).get(3).up, timeout=30, what="osd.3 down")  # type: ignore[union-attr]
    cancel = threading.Event()
    steps = [s.text for s in remove_osd(scratch_service, 3, cancel=cancel, interval=0.2)]
    assert steps[0] == "osd.3 on host ceph-osd-x1y2z is down"
    assert any("marked osd.3 out" in s for s in steps) and any("active+clean" in s for s in steps)
    assert "purged osd.3 (CRUSH item, auth key and OSD id)" in steps
    assert "removed the empty host bucket ceph-osd-x1y2z" in steps
    assert osd_tree(scratch_service).get(3) is None
    assert "ceph-osd-x1y2z" not in osd_tree(scratch_service).hosts
    ret, _, _ = scratch_service.command({"prefix": "auth get", "entity": "osd.3"}, check=False)
    assert ret != 0
    wait_for(
        lambda: pg_summary(scratch_service).all_clean and health(scratch_service)[0] == "HEALTH_OK",
        timeout=60,
    )


def test_removal_can_be_cancelled_while_waiting(stoppable: CephSandbox, via: str) -> None:
    """On a cluster of its own: the killed osd.2 stays lost, and with another OSD killed
    later (osd.3 above) PGs with copies on both would be gone."""
    with backend(via, stoppable) as service:
        stoppable.procs["osd.2"].kill()
        stoppable.procs["osd.2"].wait()
        wait_for(lambda: not osd_tree(service).get(2).up, timeout=30)  # type: ignore[union-attr]
        cancel = threading.Event()
        flow = remove_osd(service, 2, cancel=cancel, interval=0.1)
        seen = [next(flow).text, next(flow).text]
        cancel.set()
        with pytest.raises(Cancelled):
            for step in flow:
                seen.append(step.text)
        assert seen[0].startswith("osd.2 on host ") and seen[0].endswith(" is down")
        assert seen[1].startswith("marked osd.2 out")
        osd = osd_tree(service).get(2)
        assert osd is not None and not osd.inn  # stopped after `out`, before anything was removed


CLOSE_WHILE_LOADING = """
import sys, threading
from kubeha_tui.ceph.connection import CephService
from kubeha_tui.ceph.pod import PodCeph
from kubeha_tui.ceph.service import CephSnapshot, CephStatusService
from kubeha_tui.kube.client import KubeClient
via, conf, url = sys.argv[1:4]
service = CephStatusService(CephService(conf) if via == "rados" else PodCeph(KubeClient(server=url)))
polls = service.poll()
next(polls)  # names are in; details are about to load on 16 threads
threading.Thread(target=lambda: list(polls), daemon=True).start()
service.close()  # the operator quits now
print("closed cleanly")
"""


def test_closing_while_details_load_does_not_abort(
    ceph_cluster: CephSandbox, ceph: CephBackend, via: str
) -> None:
    names = [f"quit-{n:03d}" for n in range(150)]
    for name in names:
        create(ceph, check_create(ceph, "rbd", name, "1M", ["layering"]))
    try:
        url = ceph.kube.server if isinstance(ceph, PodCeph) else ""
        done = subprocess.run([sys.executable, "-c", CLOSE_WHILE_LOADING, via, str(ceph_cluster.conf), str(url)],
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert (done.returncode, done.stdout.strip()) == (0, "closed cleanly"), done.stderr[-2000:]
    finally:
        for name in names:
            delete(ceph, "rbd", name)


def test_lost_mon_is_unreachable_then_reconnects(scratch: CephSandbox, via: str) -> None:
    """It stops the scratch cluster's only mon, and starts it again before it ends."""
    with backend(via, scratch, timeout=3) as service:
        assert health(service)[0] in {"HEALTH_OK", "HEALTH_WARN"}
        scratch.procs["mon.a"].kill()
        scratch.procs["mon.a"].wait()
        for _ in range(2):  # each call fails within the 3 s op timeout: no hang
            started = time.monotonic()
            with pytest.raises(ServiceError, match=r"timed out|cannot connect"):
                health(service)
            assert time.monotonic() - started < 8
        scratch.start_daemon("mon.a", "ceph-mon", "-f", "-c", str(scratch.conf), "-i", "a")
        wait_for(lambda: health(service)[0].startswith("HEALTH_"), timeout=60, what="reconnected")
