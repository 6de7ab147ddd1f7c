"""Pilot tests of the Ceph screen's delete on the session's real cluster: progress to the
end, Cancel (the image is left half-deleted and shown so), and a delete run in the
background while the screen stays usable."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.message import Message
from textual.widgets import DataTable, ProgressBar, TabbedContent

from kubeha_tui.ceph.connection import CephService
from kubeha_tui.ceph.images import (
    CreateRequest,
    check_create,
    create,
    delete,
    list_names,
    load_details,
)
from kubeha_tui.config import Settings
from kubeha_tui.errors import ServiceError
from kubeha_tui.sandbox.ceph import CephSandbox
from kubeha_tui.screens.app import KubehaApp
from kubeha_tui.screens.ceph import CephScreen
from kubeha_tui.screens.ceph_dialogs import DeleteImageScreen
from kubeha_tui.screens.dialogs import ConfirmScreen
from kubeha_tui.screens.messages import DeleteProgressed

from .support.ceph_backends import VIAS, kube_with_mons
from .support.ui import text_of, until
from .support.waiting import wait_for

pytestmark = pytest.mark.ceph

BIG = 128 << 30  # thin: 32,768 objects for librbd to remove, seconds of work


@pytest.fixture
def ceph(ceph_cluster: CephSandbox) -> Iterator[CephService]:
    service = CephService(str(ceph_cluster.conf))
    yield service
    for name in ("del-small", "del-big"):
        with contextlib.suppress(ServiceError):  # gone when the test passed
            delete(service, "rbd", name)
    service.close()


@contextlib.contextmanager
def console(via: str, cluster: CephSandbox, tmp_path: Path) -> Iterator[KubehaApp]:
    """The console on ``cluster`` through librados, or through a mon pod's exec."""
    fleet = f"unix://{tmp_path}/none.sock"
    if via == "rados":
        yield KubehaApp(Settings(fleet_endpoint=fleet, kube_server="http://127.0.0.1:9",
                                 ceph_conf=str(cluster.conf), ceph_via="rados", screen="ceph"))  # fmt: skip
        return
    with kube_with_mons(cluster) as kube:
        yield KubehaApp(Settings(fleet_endpoint=fleet, kube_server=kube.server.url, ceph_via="pod",
                                 screen="ceph"))  # fmt: skip


def images(app: KubehaApp) -> dict[str, list[str]]:
    screen = app.screen if isinstance(app.screen, CephScreen) else app.screen_stack[-2]
    t: DataTable[Any] = screen.query_one("#ceph-images", DataTable)
    return {str(t.get_row_at(i)[0]): [str(c) for c in t.get_row_at(i)] for i in range(t.row_count)}


def state(app: KubehaApp, name: str) -> str:
    return images(app).get(name, [""])[-1]


async def start_delete(pilot: Any, app: KubehaApp, name: str, what: str) -> DeleteImageScreen:
    """Select ``name``, Ctrl+D, check the confirmation says ``what``, confirm: its dialog."""
    grid: DataTable[Any] = app.screen.query_one("#ceph-images", DataTable)
    grid.move_cursor(row=list(images(app)).index(name))
    await pilot.press("ctrl+d")
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
    assert text_of(app.screen.query_one("#confirm-request")).strip() == f"rbd rm rbd/{name}"
    assert what in " ".join(text_of(w) for w in app.screen.query("Static"))
    await pilot.click("#confirm")
    await until(pilot, lambda: isinstance(app.screen, DeleteImageScreen), what="its dialog")
    dialog = app.screen
    assert isinstance(dialog, DeleteImageScreen)
    return dialog


async def close(pilot: Any, app: KubehaApp, dialog: DeleteImageScreen) -> None:
    """Click Close as an operator does once it shows (it is laid out in the frame after the
    end), then wait for the Ceph screen."""
    button = dialog.query_one("#close")
    await until(pilot, lambda: button.display and button.region.width > 0, what="Close shown")
    await pilot.click("#close")
    await until(pilot, lambda: isinstance(app.screen, CephScreen), what="the dialog closed")


def ceph_names(ceph: CephService) -> list[str]:
    return [i.name for i in list_names(ceph, "rbd")]


@pytest.mark.parametrize("via", VIAS)
async def test_progress_reaches_the_end_and_the_image_is_gone(
    via: str, ceph_cluster: CephSandbox, ceph: CephService, tmp_path: Path
) -> None:
    create(ceph, check_create(ceph, "rbd", "del-small", "1G", ["layering"]))  # 256 objects
    seen: list[Message] = []
    with console(via, ceph_cluster, tmp_path) as app:
        async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
            await until(
                pilot, lambda: state(app, "del-small") == "free", timeout=60, what="the row"
            )
            dialog = await start_delete(
                pilot, app, "del-small", "Delete image rbd/del-small (1 GiB)"
            )
            await until(pilot, lambda: dialog.end is not None, timeout=60, what="the delete's end")
            assert dialog.end == ("deleted rbd/del-small", True, False)
            assert "deleted rbd/del-small" in text_of(dialog.query_one("#delete-status"))
            bar = dialog.query_one(ProgressBar)
            assert (bar.total, bar.progress) == (256, 256)  # the total comes from librbd
            fed = [m for m in seen if isinstance(m, DeleteProgressed)]
            assert fed and {(m.key, m.total) for m in fed} == {("rbd/del-small", 256)}
            assert dialog.query_one("#cancel").has_class("hidden")
            await close(pilot, app, dialog)
            await until(pilot, lambda: "del-small" not in images(app), what="the row gone")
    assert "del-small" not in ceph_names(ceph)


@pytest.mark.parametrize("via", VIAS)
async def test_cancel_leaves_it_half_deleted_and_a_background_delete_finishes_it(
    via: str, ceph_cluster: CephSandbox, ceph: CephService, tmp_path: Path
) -> None:
    create(ceph, CreateRequest("rbd", "del-big", BIG, ("layering",)))
    with console(via, ceph_cluster, tmp_path) as app:
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: state(app, "del-big") == "free", timeout=60, what="the row")
            dialog = await start_delete(pilot, app, "del-big", "Delete image rbd/del-big (128 GiB)")
            await until(
                pilot, lambda: dialog.progress[1] > 0, timeout=30, what="the first progress"
            )
            await pilot.click("#cancel")
            await until(pilot, lambda: dialog.end is not None, timeout=60, what="the stop")
            assert dialog.end is not None
            text, ok, stopped = dialog.end
            assert stopped and not ok
            assert "rbd/del-big is half-deleted" in text and "delete it again to finish" in text
            done, total = dialog.progress
            assert total == BIG >> 22 and done < total
            assert "Ctrl+D on its row finishes" in text_of(dialog.query_one("#delete-note"))
            await close(pilot, app, dialog)
            await until(
                pilot, lambda: state(app, "del-big").startswith("half-deleted"), what="half-deleted"
            )
            assert state(app, "del-big").endswith("delete it again to finish")
            assert "del-big" in ceph_names(ceph)  # still listed by Ceph

            dialog = await start_delete(
                pilot, app, "del-big", "rbd/del-big is half-deleted (a delete stopped part-way)"
            )
            await pilot.click("#background")
            await until(pilot, lambda: isinstance(app.screen, CephScreen), what="the screen back")
            await until(
                pilot,
                lambda: state(app, "del-big").startswith("deleting"),
                what="the row's progress",
            )
            app.screen.query_one(TabbedContent).active = "osds"  # the screen is usable meanwhile
            osds: DataTable[Any] = app.screen.query_one("#ceph-osds", DataTable)
            await until(pilot, lambda: osds.row_count == 3, what="the OSD tab")
            app.screen.query_one(TabbedContent).active = "images"
            await until(
                pilot,
                lambda: any(n.message == "deleted rbd/del-big" for n in app._notifications),
                timeout=180,
                what="the background delete's end",
            )
            await until(pilot, lambda: "del-big" not in images(app), what="the row gone")
    assert "del-big" not in ceph_names(ceph)


async def test_quitting_stops_a_delete_left_running(
    ceph_cluster: CephSandbox, ceph: CephService, tmp_path: Path
) -> None:
    create(ceph, CreateRequest("rbd", "del-big", BIG, ("layering",)))
    with console("rados", ceph_cluster, tmp_path) as app:
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: state(app, "del-big") == "free", timeout=60, what="the row")
            dialog = await start_delete(pilot, app, "del-big", "Delete image rbd/del-big")
            assert "quitting stops it" in text_of(dialog.query_one("#delete-help"))
            await until(
                pilot, lambda: dialog.progress[1] > 0, timeout=30, what="the first progress"
            )
            await pilot.click("#background")
            await until(pilot, lambda: isinstance(app.screen, CephScreen), what="the screen back")
            assert isinstance(app.screen, CephScreen)
            backend = app.screen.service.ceph
            assert isinstance(backend, CephService)
            worker = next(w for w in app.workers if w.group == "ceph-delete")
            assert not worker.is_cancelled
            await pilot.press("q")
        assert worker.is_cancelled  # what the progress callback checks
    # The remove let go of Ceph, and stopped part-way rather than running to the end:
    wait_for(lambda: backend._users == 0, timeout=30, what="the remove's end")
    assert "del-big" in ceph_names(ceph)
    assert load_details(ceph, list_names(ceph, "rbd"))[0].state == "half-deleted"
