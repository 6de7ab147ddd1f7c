"""The guided OSD removal through the UI: the dialog's buttons follow the flow (Force
only when it stops for a decision, Close at the end, Cancel stops the wait), and the
whole path from the Ceph screen's OSDs tab removes a killed OSD of a real cluster."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.app import App
from textual.widgets import Button, DataTable, Log, TabbedContent

from kubeha_tui.ceph.connection import CephService
from kubeha_tui.ceph.osds import Cancelled, Step, osd_tree
from kubeha_tui.config import Settings
from kubeha_tui.errors import ServiceError
from kubeha_tui.sandbox.ceph import CephSandbox
from kubeha_tui.sandbox.procs import stop
from kubeha_tui.screens.app import KubehaApp
from kubeha_tui.screens.ceph_dialogs import OSDRemovalScreen
from kubeha_tui.screens.dialogs import ConfirmScreen

from .support.ui import text_of, until
from .support.waiting import wait_for


def visible(screen: Any, button: str) -> bool:
    return not screen.query_one(f"#{button}", Button).has_class("hidden")


def lines(screen: Any) -> list[str]:
    return [str(line) for line in screen.query_one(Log).lines]


class Flow:
    """A removal that stops for Force once, unless forced; and can wait for Cancel."""

    def __init__(self, wait: bool = False, fail: str = "") -> None:
        self.calls: list[bool] = []
        self.wait, self.fail = wait, fail

    def __call__(self, force: bool, cancel: threading.Event) -> Iterator[Step]:
        self.calls.append(force)
        yield Step("osd.2 on host h2 is down")
        if self.fail:
            raise ServiceError(self.fail)
        if self.wait:
            yield Step("waiting for PGs: 4 degraded")
            if cancel.wait(10):
                raise Cancelled("stopped by the operator; osd.2 stays out")
        if not force:
            yield Step("osd.2 is not safe to destroy: 4 PGs have no other copy", needs_force=True)
            return
        yield Step("purged osd.2 (CRUSH item, auth key and OSD id)", done=True)


async def run_dialog(flow: Flow, *presses: str) -> tuple[list[str], list[bool | None], str]:
    app: App[None] = App()
    results: list[bool | None] = []
    async with app.run_test(size=(100, 30)) as pilot:
        dialog = OSDRemovalScreen(2, flow)
        await app.push_screen(dialog, results.append)
        await until(pilot, lambda: bool(lines(dialog)), what="the first step")
        for press in presses:
            kind, _, target = press.partition(":")
            if kind == "wait":
                await until(pilot, lambda t=target: any(t in x for x in lines(dialog)), what=target)  # type: ignore[misc]
            else:
                await until(pilot, lambda b=target: visible(dialog, b), what=f"the {target} button")  # type: ignore[misc]
                dialog.query_one(f"#{target}", Button).press()
        await until(pilot, lambda: visible(dialog, "close"), what="the Close button")
        shown, note = lines(dialog), text_of(dialog.query_one("#removal-note"))
        dialog.query_one("#close", Button).press()
        await until(pilot, lambda: bool(results), what="the dialog closed")
    return shown, results, note


async def test_force_appears_only_when_the_flow_asks_and_runs_it_forced() -> None:
    flow = Flow()
    shown, results, note = await run_dialog(flow, "wait:not safe", "click:force", "wait:purged")
    assert flow.calls == [False, True]
    assert shown[1] == "osd.2 is not safe to destroy: 4 PGs have no other copy"
    assert shown[-1] == "purged osd.2 (CRUSH item, auth key and OSD id)"
    assert "lose data that has no other copy" in note
    assert results == [True]


async def test_cancel_stops_the_wait_and_reports_it() -> None:
    flow = Flow(wait=True)
    shown, results, _ = await run_dialog(
        flow, "wait:waiting for PGs", "click:cancel", "wait:stopped"
    )
    assert "cancelling: the OSD stays out, nothing is removed ..." in shown
    assert shown[-1] == "stopped: stopped by the operator; osd.2 stays out"
    assert flow.calls == [False] and results == [False]


async def test_a_failing_step_is_shown_and_the_dialog_can_be_closed() -> None:
    shown, results, _ = await run_dialog(Flow(fail="Ceph 'osd out' failed: EACCES"), "wait:stopped")
    assert shown == ["osd.2 on host h2 is down", "stopped: Ceph 'osd out' failed: EACCES"]
    assert results == [False]


@pytest.fixture
def four_osds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CephSandbox]:
    cluster = CephSandbox(tmp_path_factory.mktemp("removal"), osds=4)
    try:
        cluster.start()
        yield cluster
    finally:
        stop(cluster.records)


@pytest.mark.ceph
async def test_a_killed_osd_is_removed_from_the_osds_tab(
    four_osds: CephSandbox, tmp_path: Path
) -> None:
    service = CephService(str(four_osds.conf))
    try:
        four_osds.procs["osd.3"].kill()
        four_osds.procs["osd.3"].wait()
        wait_for(lambda: not osd_tree(service).get(3).up, timeout=60, what="osd.3 down")  # type: ignore[union-attr]
        app = KubehaApp(Settings(fleet_endpoint=f"unix://{tmp_path}/none.sock", kube_server="http://127.0.0.1:9",
                                 ceph_conf=str(four_osds.conf), screen="ceph"))  # fmt: skip
        async with app.run_test(size=(120, 50)) as pilot:
            app.screen.query_one(TabbedContent).active = "osds"
            osds: DataTable[Any] = app.screen.query_one("#ceph-osds", DataTable)
            await until(pilot, lambda: osds.row_count == 4 and "down" in [str(c) for c in osds.get_row_at(3)], timeout=30, what="osd.3 down on screen")  # fmt: skip
            osds.focus()
            osds.move_cursor(row=3)
            await pilot.press("x")
            await until(
                pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation"
            )
            assert "ceph osd out 3; ceph osd purge 3" in text_of(
                app.screen.query_one("#confirm-request")
            )
            await pilot.click("#confirm")
            await until(pilot, lambda: isinstance(app.screen, OSDRemovalScreen), what="the removal")
            dialog = app.screen
            await until(pilot, lambda: visible(dialog, "close"), timeout=120, what="the end of the removal")  # fmt: skip
            assert any(line.startswith("purged osd.3") for line in lines(dialog)), lines(dialog)
            await pilot.click("#close")
            await until(
                pilot, lambda: osds.row_count == 3, timeout=30, what="osd.3 gone from the table"
            )
        assert osd_tree(service).get(3) is None
    finally:
        service.close()
