"""Pilot tests of the Fleet screen against the sandbox fleet server."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import DataTable, RichLog, TabbedContent, TabPane

from kubeha_tui.config import Settings, SSHTarget
from kubeha_tui.fleet.actions import PIDALIO_WARNING
from kubeha_tui.sandbox.fleet_server import FleetServer
from kubeha_tui.sandbox.sshd import Sshd
from kubeha_tui.screens.app import KubehaApp
from kubeha_tui.screens.dialogs import ConfirmScreen, OutputScreen
from kubeha_tui.screens.pane_table import PaneTable
from kubeha_tui.screens.poll_messages import BackendPolled

from .support.ui import text_of, until


@pytest.fixture
def app(fleet: FleetServer, tmp_path: Path) -> KubehaApp:
    return make_app(fleet, tmp_path)


def make_app(fleet: FleetServer, tmp_path: Path, **kw: Any) -> KubehaApp:
    settings = Settings(
        fleet_endpoint=fleet.endpoint, kube_server="http://127.0.0.1:9", ceph_conf=str(tmp_path / "none.conf"),
        screen="fleet", **kw,
    )  # fmt: skip
    return KubehaApp(settings)


def table(app: KubehaApp, tab: str) -> DataTable[Any]:
    found: DataTable[Any] = app.screen.query_one(f"#fleet-{tab}", DataTable)
    return found


def desired(fleet: FleetServer, name: str) -> str:
    unit = fleet.registry.get(name)
    return unit.desired_state if unit else ""


def cells(t: DataTable[Any]) -> list[list[str]]:
    return [[str(c) for c in t.get_row_at(i)] for i in range(t.row_count)]


def select(t: DataTable[Any], unit: str) -> None:
    """Focus the table and put the cursor on the unit's (first) row."""
    t.focus()
    t.move_cursor(row=[r[0] for r in cells(t)].index(unit))


async def loaded(pilot: Any, app: KubehaApp) -> None:
    await until(pilot, lambda: table(app, "units").row_count == 10, what="ten unit rows")


async def test_three_tables_as_fleetctl_lists_them(app: KubehaApp) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, app)
        units = cells(table(app, "units"))
        assert [str(c.label) for c in table(app, "units").columns.values()] == [
            "UNIT",
            "MACHINE",
            "ACTIVE",
            "SUB",
        ]
        assert {(r[2], r[3]) for r in units} == {("active", "running")}
        assert all(
            r[1].endswith(tuple(f"/127.0.1.{n}" for n in (1, 2, 3))) and "..." in r[1]
            for r in units
        )
        app.screen.query_one(TabbedContent).active = "machines"
        await until(pilot, lambda: table(app, "machines").row_count == 3)
        machines = cells(table(app, "machines"))
        assert sorted(r[2] for r in machines) == ["region=fr1", "region=fr1", "region=fr2"]
        app.screen.query_one(TabbedContent).active = "files"
        await until(pilot, lambda: table(app, "files").row_count == 6)
        files = {r[0]: r for r in cells(table(app, "files"))}
        assert files["pidalio-node.service"][2:] == ["launched", "-", "global"]
        assert files["pidalio.service"][3] == "launched"
        app.screen.query_one(TabbedContent).active = "units"
        await pilot.press("w")
        assert [str(c.label) for c in table(app, "units").columns.values()][-2:] == ["LOAD", "HASH"]


async def test_over_ssh_fleet_polls_from_the_start_on_the_one_connection(
    fleet: FleetServer, sshd: Sshd, tmp_path: Path
) -> None:
    """With --ssh, fleet connects as the app starts, before the first frame; the other
    backends, built after it, share that connection (one login at the sshd)."""
    app = make_app(fleet, tmp_path, ssh=SSHTarget("127.0.0.1", "root", sshd.port),
                   identity=str(sshd.user_key), known_hosts=str(sshd.known_hosts))  # fmt: skip
    at_first_frame: set[str] = set()
    seen: list[Message] = []

    def hook(message: Message) -> None:
        seen.append(message)
        if isinstance(message, events.Ready):
            at_first_frame.update(t.name for t in threading.enumerate())

    async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
        await loaded(pilot, app)
        await until(
            pilot,
            lambda: {m.status.name for m in seen if isinstance(m, BackendPolled)} >= {"kube"},
            what="kube polled",
        )
        services = app.services
        assert services.ssh is not None
        assert (
            services.fleet.client.ssh is services.ssh and services.kube.client.ssh is services.ssh
        )
    assert "poll fleet" in at_first_frame and "poll kube" not in at_first_frame
    logins = (sshd.root / "sshd.log").read_text().count("Accepted publickey")
    assert logins == 1


async def test_live_update_keeps_cursor_and_marks_failed_units(
    app: KubehaApp, fleet: FleetServer
) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, app)
        units = table(app, "units")
        units.focus()
        units.move_cursor(row=6)
        key = list(units.rows)[6].value
        assert key is not None
        name, _, machine = key.partition("\t")
        fleet.registry.fail_unit(name, machine)
        await until(pilot, lambda: str(units.get_row(key)[2]) == "failed", what="failed row")
        assert list(units.rows)[units.cursor_row].value == key
        cell = units.get_row(key)[2]
        assert isinstance(cell, Text) and "red" in str(cell.style)
        cluster_mode = app.current_mode
        await pilot.press("1")
        cluster = app.screen.query_one("#cluster-units", PaneTable)
        await until(pilot, lambda: cluster.row_count == 10, what="cluster pane")
        row = next(r for r in cluster.shown if r.key == key)
        assert "failed" in [str(c) for c in row.cells]
        assert row.style == "failed"
        assert cluster_mode == "fleet"


async def test_filter_and_sort(app: KubehaApp) -> None:
    async with app.run_test(size=(100, 30)) as pilot:
        await loaded(pilot, app)
        await pilot.press("slash", *"node")
        await until(pilot, lambda: table(app, "units").row_count == 3)
        assert {r[0] for r in cells(table(app, "units"))} == {"pidalio-node.service"}
        box = app.screen.query_one("#fleet-filter")
        assert box.border_title == "3 of 10 rows"
        await pilot.press(*"[(*")
        await until(pilot, lambda: table(app, "units").row_count == 0)
        assert box.border_title == "no row matches (10 rows)"
        await pilot.press("escape")
        await until(pilot, lambda: table(app, "units").row_count == 10)
        await pilot.press("o", "o")  # sort by MACHINE
        machines = [r[1] for r in cells(table(app, "units"))]
        assert machines == sorted(machines)


async def test_stop_asks_first_and_cancel_changes_nothing(
    app: KubehaApp, fleet: FleetServer
) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, app)
        select(table(app, "units"), "pidalio-apiserver.service")
        await pilot.press("X")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        shown = " ".join(text_of(w) for w in app.screen.query("Static"))
        assert 'PUT /fleet/v1/units/pidalio-apiserver.service {"desiredState": "loaded"}' in shown
        assert PIDALIO_WARNING in shown and "Stop pidalio-apiserver.service on" in shown
        await pilot.press("enter")  # Cancel has the focus
        assert not isinstance(app.screen, ConfirmScreen)
        unit = fleet.registry.get("pidalio-apiserver.service")
        assert unit is not None and unit.desired_state == "launched"

        await pilot.press("X")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.click("#confirm")
        await until(pilot, lambda: desired(fleet, "pidalio-apiserver.service") == "loaded")
        await until(
            pilot,
            lambda: any("is loaded" in str(n.message) for n in app._notifications),
            what="result note",
        )


async def test_refused_action_says_why_without_asking(app: KubehaApp, fleet: FleetServer) -> None:
    fleet.registry.set_desired("pidalio-scheduler.service", "inactive")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: table(app, "units").row_count == 9)
        app.screen.query_one(TabbedContent).active = "files"
        await until(pilot, lambda: table(app, "files").row_count == 6)
        select(table(app, "files"), "pidalio-scheduler.service")
        await pilot.press("X")
        await until(
            pilot, lambda: any("nothing to stop" in str(n.message) for n in app._notifications)
        )
        assert not isinstance(app.screen, ConfirmScreen)


async def test_read_only_hides_unit_verbs(fleet: FleetServer, tmp_path: Path) -> None:
    app = make_app(fleet, tmp_path, read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, app)
        table(app, "units").focus()
        await pilot.press("X", "ctrl+d", "S", "U")
        await pilot.pause()  # the keys are handled: no fixed sleep
        assert not isinstance(app.screen, ConfirmScreen)
        shown = {b.binding.action for b in app.active_bindings.values() if b.enabled}
        assert not shown & {"unit_start", "unit_stop", "unit_unload", "unit_destroy"}
        assert "status" in shown
        palette = {c.title for c in app.get_system_commands(app.screen)}
        assert "Fleet: Stop" not in palette and "Fleet: Journal" in palette


async def test_changed_cells_widen_their_column(app: KubehaApp, fleet: FleetServer) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, app)
        units = table(app, "units")
        assert app.focused is units  # the table has the keys from the start
        fleet.registry.set_desired("pidalio-apiserver.service", "loaded")
        active = list(units.columns)[2]
        await until(pilot, lambda: "inactive" in {str(c) for c in units.get_column(active)})
        await until(pilot, lambda: units.columns[active].content_width >= len("inactive"),
                    what="the column widened")  # fmt: skip


@pytest.mark.parametrize("late", ["activated", "focused"])
async def test_a_late_message_of_a_tab_left_keeps_the_tab_and_the_keys(
    app: KubehaApp, late: str
) -> None:
    """The first tab's activation, or its table's focus, can arrive after the operator
    switched tabs (before the first frame): the tab and the keys stay where they are (the
    two switched the tab back and forth for as long as the screen was open)."""
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, app)
        box = app.screen.query_one(TabbedContent)
        box.active = "files"
        await until(pilot, lambda: app.focused is table(app, "files"), what="the files table")
        units = box.get_pane("units")
        if late == "activated":
            box.post_message(TabbedContent.TabActivated(box, box.get_tab("units")))
        else:
            units.post_message(TabPane.Focused(units))
        for _ in range(4):
            await pilot.pause()
        assert box.active == "files" and app.focused is table(app, "files")
        table(app, "units").focus()  # a focus that stays in a pane still shows it
        await until(pilot, lambda: box.active == "units", what="the units tab")
        assert app.focused is table(app, "units")


async def test_enter_on_a_unit_file_shows_it_as_fleetctl_cat(
    app: KubehaApp, fleet: FleetServer
) -> None:
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, app)
        app.screen.query_one(TabbedContent).active = "files"
        files = table(app, "files")
        await until(pilot, lambda: files.row_count > 0, what="the unit files")
        select(files, "pidalio-apiserver.service")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, OutputScreen), what="the unit file")
        log = app.screen.query_one(RichLog)
        await until(
            pilot, lambda: any("[Unit]" in str(line.text) for line in log.lines), what="its text"
        )
        text = "\n".join(line.text for line in log.lines)
        unit = fleet.registry.get("pidalio-apiserver.service")
        assert unit is not None
        for section, name, value in [
            (o["section"], o["name"], o["value"]) for o in unit.to_json()["options"]
        ]:
            assert f"[{section}]" in text and f"{name}={value}" in text
        assert log.border_title == "unit file: pidalio-apiserver.service"
        assert "ExecStart=" in text and not text.lstrip().startswith("●")  # not systemctl status
