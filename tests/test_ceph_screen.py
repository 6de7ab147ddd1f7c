"""Pilot tests of the Ceph screen on the session's real cluster."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Input, OptionList, Select, TabbedContent

from kubeha_tui.ceph.connection import CephService, import_binding
from kubeha_tui.ceph.images import KUBELET_COOKIE, check_create, create, delete, list_names
from kubeha_tui.config import Settings
from kubeha_tui.errors import ServiceError
from kubeha_tui.sandbox.ceph import CephSandbox
from kubeha_tui.screens.app import KubehaApp
from kubeha_tui.screens.ceph import CephScreen
from kubeha_tui.screens.ceph_dialogs import CreateImageScreen, UnlockScreen
from kubeha_tui.screens.dialogs import ConfirmScreen
from kubeha_tui.screens.help import HelpScreen

from .support.ui import text_of, until

pytestmark = pytest.mark.ceph


@pytest.fixture
def ceph(ceph_cluster: CephSandbox) -> Iterator[CephService]:
    service = CephService(str(ceph_cluster.conf))
    yield service
    for name in ("ui-a", "ui-b", "ui-new", "ui-locked"):
        with contextlib.suppress(ServiceError):  # not every test makes every image
            delete(service, "rbd", name)
    service.close()


def make_app(cluster: CephSandbox, tmp_path: Path, **kw: Any) -> KubehaApp:
    return KubehaApp(Settings(fleet_endpoint=f"unix://{tmp_path}/none.sock", kube_server="http://127.0.0.1:9",
                              ceph_conf=str(cluster.conf), screen="ceph", **kw))  # fmt: skip


def error_shown(app: KubehaApp, text: str) -> Callable[[], bool]:
    return lambda: text in text_of(app.screen.query_one("#create-error"))


def images(app: KubehaApp) -> dict[str, list[str]]:
    """The Images table's rows, also while a dialog is open over the Ceph screen."""
    screen = next(s for s in reversed(app.screen_stack) if isinstance(s, CephScreen))
    t: DataTable[Any] = screen.query_one("#ceph-images", DataTable)
    return {str(t.get_row_at(i)[0]): [str(c) for c in t.get_row_at(i)] for i in range(t.row_count)}


async def test_images_table_and_osds(
    ceph_cluster: CephSandbox, ceph: CephService, tmp_path: Path
) -> None:
    create(ceph, check_create(ceph, "rbd", "ui-a", "1G", ["layering"]))
    create(ceph, check_create(ceph, "rbd", "ui-b", "512M", ["layering", "exclusive-lock"]))
    app = make_app(ceph_cluster, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: images(app).get("ui-b", [""])[-1] == "free", what="details")
        assert images(app)["ui-a"] == ["ui-a", "1 GiB", "layering", "-", "0", "free"]
        assert images(app)["ui-b"][1:3] == ["512 MiB", "layering,exclusive-lock"]
        assert "HEALTH_OK" in text_of(app.screen.query_one("#ceph-health"))
        app.screen.query_one(TabbedContent).active = "osds"
        osds: DataTable[Any] = app.screen.query_one("#ceph-osds", DataTable)
        await until(pilot, lambda: osds.row_count == 3)
        hosts = {
            o["name"]: o for o in ceph.json({"prefix": "osd tree"})["nodes"] if o["type"] == "host"
        }
        first = [str(c) for c in osds.get_row_at(0)][:4]
        assert first[0] == "osd.0" and first[2:] == ["up", "in"]
        assert first[1] in hosts and 0 in hosts[first[1]]["children"]  # its host, from Ceph
        await pilot.press("x")  # an up OSD is refused, nothing asked
        await until(pilot, lambda: any("is up" in str(n.message) for n in app._notifications))
        assert not isinstance(app.screen, ConfirmScreen)


async def test_create_dialog_reports_errors_and_creates(
    ceph_cluster: CephSandbox, ceph: CephService, tmp_path: Path
) -> None:
    create(ceph, check_create(ceph, "rbd", "ui-a", "1M", ["layering"]))
    app = make_app(ceph_cluster, tmp_path)
    async with app.run_test(size=(120, 50)) as pilot:
        await until(pilot, lambda: "ui-a" in images(app))
        await pilot.press("f1")  # the Images tab's help also names the OSDs tab's x
        keys = text_of(app.screen.query_one("#help-keys"))
        assert (
            "Remove a lost (down) OSD (not on this tab)" in keys and "Create an RBD image" in keys
        )
        await pilot.press("escape")
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, CreateImageScreen))
        await pilot.press(*"typed")  # the name field has the focus: nothing typed is lost
        assert app.screen.query_one("#image-name", Input).value == "typed"
        await pilot.press("escape")
        for name, size, error in (
            ("ui-a", "1G", "already exists"),
            ("bad/name", "1G", "not allowed"),
            ("ui-new", "ten", "expected a number"),
        ):
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, CreateImageScreen))
            app.screen.query_one("#image-name", Input).value = name
            app.screen.query_one("#image-size", Input).value = size
            await pilot.click("#create")
            await until(pilot, error_shown(app, error), what=error)
            await pilot.press("escape")
        assert "ui-new" not in images(app)
        await pilot.press("n")
        await until(pilot, lambda: isinstance(app.screen, CreateImageScreen))
        app.screen.query_one("#image-name", Input).value = "ui-new"
        app.screen.query_one("#image-size", Input).value = "2G"  # the cluster has 1.5 GiB raw
        await pilot.click("#create")
        await until(
            pilot, lambda: isinstance(app.screen, ConfirmScreen), what="a second confirmation"
        )
        notes = " ".join(text_of(w) for w in app.screen.query("Static"))
        assert "more than the cluster's raw capacity (1.5 GiB)" in notes
        await pilot.click("#confirm")
        await until(
            pilot, lambda: images(app).get("ui-new", [""])[-1] == "free", what="created image"
        )
        assert images(app)["ui-new"][1:3] == ["2 GiB", "layering"]


async def test_unlock_shows_lockers_and_live_needs_force(
    ceph_cluster: CephSandbox, ceph: CephService, tmp_path: Path
) -> None:
    create(ceph, check_create(ceph, "rbd", "ui-locked", "4M", ["layering"]))
    rbd = import_binding("rbd")
    with (
        ceph.ioctx("rbd") as io,
        rbd.Image(io, "ui-locked") as img,
    ):  # alive: this client watches it
        img.lock_exclusive(f"{KUBELET_COOKIE}node7")
        app = make_app(ceph_cluster, tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await until(
                pilot, lambda: images(app).get("ui-locked", [""])[-1] == "locked", what="locked row"
            )
            grid: DataTable[Any] = app.screen.query_one("#ceph-images", DataTable)
            grid.move_cursor(row=list(images(app)).index("ui-locked"))
            await pilot.press("u")
            await until(pilot, lambda: isinstance(app.screen, UnlockScreen))
            listed = str(app.screen.query_one(OptionList).get_option_at_index(0).prompt)
            assert (
                "kubelet_lock_magic_node7" in listed
                and "node7's lock" in listed
                and "alive" in listed
            )
            assert (
                app.screen.query_one("#break").disabled
                and not app.screen.query_one("#force").disabled
            )
            await pilot.click("#force")
            await until(
                pilot, lambda: isinstance(app.screen, ConfirmScreen), what="second confirmation"
            )
            await pilot.press("enter")  # Cancel is focused
            await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), what="closed")
            await pilot.press("ctrl+d")  # delete is refused while locked/in use
            await until(
                pilot, lambda: any("not deleting" in str(n.message) for n in app._notifications)
            )
            refusal = next(n.message for n in app._notifications if "not deleting" in n.message)
            assert refusal.endswith("not deleting; u shows its locks and breaks a stale one")
        assert (
            img.list_lockers()["lockers"][0][1] == f"{KUBELET_COOKIE}node7"
        )  # cancelled: untouched
        img.unlock(f"{KUBELET_COOKIE}node7")


async def test_read_only_hides_every_change(ceph_cluster: CephSandbox, tmp_path: Path) -> None:
    app = make_app(ceph_cluster, tmp_path, read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("n", "u", "ctrl+d", "x")
        await pilot.pause()  # the keys are handled: no fixed sleep
        assert app.screen.__class__.__name__ == "CephScreen"
        shown = {b.binding.action for b in app.active_bindings.values() if b.enabled}
        assert not shown & {"create_image", "unlock_image", "delete_image", "remove_osd"}
        assert "RO" in text_of(app.screen.query_one("#status-bar"))
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), what="the help")
        said = text_of(app.screen.query_one("#help-text")) + text_of(
            app.screen.query_one("#help-keys")
        )
        assert "Read-only mode" in said
        for gone in ("n creates", "Ctrl+D deletes", "u breaks", "x removes", "Use secret"):
            assert gone not in said


@pytest.fixture
def second_pool(ceph: CephService) -> Iterator[str]:
    """A second RBD pool holding one image, ui-other; removed again afterwards."""
    pool = "ui-pool"
    ceph.command({"prefix": "osd pool create", "pool": pool, "pg_num": 8})
    try:
        ceph.command({"prefix": "osd pool application enable", "pool": pool, "app": "rbd"})
        rbd = import_binding("rbd")  # librbd directly: a new pool has no stats for the checks yet
        with ceph.ioctx(pool) as io:
            rbd.RBD().create(io, "ui-other", 8 << 20, old_format=False, features=1)
        yield pool
    finally:
        ceph.command({"prefix": "osd pool rm", "pool": pool, "pool2": pool,
                      "yes_i_really_really_mean_it": True})  # fmt: skip


async def test_pool_selector_shows_that_pools_images(
    ceph_cluster: CephSandbox, ceph: CephService, second_pool: str, tmp_path: Path
) -> None:
    create(ceph, check_create(ceph, "rbd", "ui-a", "4M", ["layering"]))
    app = make_app(ceph_cluster, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: "ui-a" in images(app), what="rbd's images")
        assert "ui-other" not in images(app)
        select = app.screen.query_one("#ceph-pool", Select)
        await until(pilot, lambda: second_pool in [v for _, v in select._options], what="pools")
        assert select.value == "rbd"
        select.focus()
        await pilot.press("enter")  # the pool list opens, as for an operator
        options = [v for _, v in select._options]
        await pilot.press(*["down"] * (options.index(second_pool) - options.index("rbd")), "enter")
        await until(pilot, lambda: list(images(app)) == ["ui-other"], what="ui-pool's image")
        assert select.value == second_pool
        await until(pilot, lambda: images(app)["ui-other"][1] == "8 MiB", what="its details")
        select.value = "rbd"
        await until(pilot, lambda: "ui-a" in images(app) and "ui-other" not in images(app),
                    what="rbd's images again")  # fmt: skip


async def test_delete_through_the_ui_names_the_image_and_removes_it(
    ceph_cluster: CephSandbox, ceph: CephService, tmp_path: Path
) -> None:
    create(ceph, check_create(ceph, "rbd", "ui-a", "4M", ["layering"]))
    create(ceph, check_create(ceph, "rbd", "ui-b", "4M", ["layering"]))
    app = make_app(ceph_cluster, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: images(app).get("ui-a", [""])[-1] == "free", what="details")
        grid: DataTable[Any] = app.screen.query_one("#ceph-images", DataTable)
        grid.focus()
        grid.move_cursor(row=list(images(app)).index("ui-a"))
        await pilot.press("ctrl+d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        summary = text_of(app.screen.query_one("#confirm-summary"))
        assert "Delete image rbd/ui-a (4 MiB) and all its data." in summary
        assert "rbd rm rbd/ui-a" in text_of(app.screen.query_one("#confirm-request"))
        await pilot.press("enter")  # Cancel has the focus: nothing happens
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), what="closed")
        await pilot.pause()
        assert "ui-a" in [i.name for i in list_names(ceph, "rbd")] and "ui-a" in images(app)

        await pilot.press("ctrl+d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.click("#confirm")
        await until(pilot, lambda: "ui-a" not in images(app), timeout=30, what="the row gone")
        names = [i.name for i in list_names(ceph, "rbd")]
        assert "ui-a" not in names and "ui-b" in names  # that image, and only that one
        assert "ui-b" in images(app)
