"""Fleet screen: Units, Machines and Unit files as fleetctl lists them, live,
with status/journal views and the start/stop/unload/destroy verbs."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, TabPane

from kubeha_tui.errors import ServiceError
from kubeha_tui.fleet.actions import Plan
from kubeha_tui.fleet.client import FleetSnapshot
from kubeha_tui.fleet.models import Machine
from kubeha_tui.fleet.render import (
    MACHINE_COLUMNS,
    UNIT_COLUMNS,
    UNIT_FILE_COLUMNS,
    UNIT_WIDE_COLUMNS,
    machine_row,
    problem_level,
    unit_file_row,
    unit_row,
)
from kubeha_tui.fleet.service import FleetService

from .dialogs import ConfirmScreen, OutputScreen
from .messages import ActionFinished, PlanReady
from .rows import Row
from .tabbed import SteadyTabbedContent, TabbedTableScreen
from .tables import FastTable, selected_key, table
from .widgets import BackendLine

SEP = "\t"  # row keys of the Units table: "<unit>\t<machine id>" (unit names may hold '@')
UNIT_VERBS = ("start", "stop", "unload", "destroy")


def unit_rows(snap: FleetSnapshot, wide: bool = False) -> list[Row]:
    level = {"failed": "failed", "inactive": "warn", "": ""}
    return [
        Row(
            f"{s.name}{SEP}{s.machine_id}",
            unit_row(s, snap.machines, wide),
            level[problem_level(s)],
        )
        for s in snap.states
    ]


def machine_rows(snap: FleetSnapshot) -> list[Row]:
    return [Row(m.id, machine_row(m)) for m in sorted(snap.machines.values(), key=lambda m: m.id)]


def unit_file_rows(snap: FleetSnapshot) -> list[Row]:
    rows = []
    for u in snap.units:
        lagging = u.desired_state != (
            u.desired_state if u.is_global else u.current_state or "inactive"
        )
        rows.append(Row(u.name, unit_file_row(u, snap.machines), "warn" if lagging else ""))
    return rows


class FleetScreen(TabbedTableScreen):
    TITLE_TEXT = "Fleet"
    AREA = "fleet"
    SNAPSHOT = FleetSnapshot
    TABS = ("units", "machines", "files")
    HELP = (
        "fleet's units (as `fleetctl list-units`), machines and unit files, refreshed live. "
        "Failed units are red, units not running yellow. Status and journal run "
        "`systemctl status` / `journalctl` on the unit's machine over SSH. Start, stop, unload "
        "and destroy ask first; the stack restarts pidalio units within about a minute."
    )
    HELP_READ_ONLY = (
        "fleet's units (as `fleetctl list-units`), machines and unit files, refreshed live. "
        "Failed units are red, units not running yellow. Status and journal run "
        "`systemctl status` / `journalctl` on the unit's machine over SSH. Read-only mode: "
        "units cannot be started, stopped, unloaded or destroyed here."
    )
    DESTRUCTIVE = frozenset(f"unit_{v}" for v in UNIT_VERBS)
    BINDINGS = [
        Binding(
            "w",
            "wide",
            "Wide",
            id="fleet.wide",
            tooltip="Show LOAD and HASH in the Units table",
            show=False,
        ),
        Binding(
            "s",
            "status",
            "Status",
            id="fleet.status",
            tooltip="systemctl status of the unit (also Enter on Units)",
        ),
        Binding("j", "journal", "Journal", id="fleet.journal", tooltip="journalctl of the unit"),
        Binding(
            "c",
            "cat",
            "Unit file",
            id="fleet.cat",
            tooltip="The unit file (fleetctl cat; also Enter on Unit files)",
            show=False,
        ),
        Binding(
            "S", "unit_start", "Start", id="fleet.start", tooltip="Start the unit (fleetctl start)"
        ),
        Binding("X", "unit_stop", "Stop", id="fleet.stop", tooltip="Stop the unit (fleetctl stop)"),
        Binding(
            "U",
            "unit_unload",
            "Unload",
            id="fleet.unload",
            tooltip="Unload the unit (fleetctl unload)",
            show=False,
        ),
        Binding(
            "ctrl+d",
            "unit_destroy",
            "Destroy",
            id="fleet.destroy",
            tooltip="Destroy the unit (fleetctl destroy)",
        ),
    ]

    @property
    def service(self) -> FleetService:
        return self.kubeha.services.fleet

    def compose_body(self) -> ComposeResult:
        yield BackendLine("fleet")
        with SteadyTabbedContent(id="fleet-tabs"):
            with TabPane("Units", id="units"):
                yield table("fleet-units", UNIT_COLUMNS)
            with TabPane("Machines", id="machines"):
                yield table("fleet-machines", MACHINE_COLUMNS)
            with TabPane("Unit files", id="files"):
                yield table("fleet-files", UNIT_FILE_COLUMNS)
        yield self.filter_box()

    # -- rendering -----------------------------------------------------------

    def render_tables(self) -> None:
        """Refill the visible tab's table (the others catch up when shown)."""
        snap = self.snapshot
        if not isinstance(snap, FleetSnapshot):
            return
        tab = self.tab
        view = self.views[tab]
        columns: tuple[str, ...]
        if tab == "units":
            view.rows = unit_rows(snap, view.wide)
            columns = UNIT_WIDE_COLUMNS if view.wide else UNIT_COLUMNS
        elif tab == "machines":
            view.rows, columns = machine_rows(snap), MACHINE_COLUMNS
        else:
            view.rows, columns = unit_file_rows(snap), UNIT_FILE_COLUMNS
        self.query_one(f"#fleet-{tab}", FastTable).show(view.visible(), columns)

    def action_wide(self) -> None:
        self.views["units"].wide = not self.views["units"].wide
        self.render_tables()

    # -- the selected unit ---------------------------------------------------

    def selected(self) -> tuple[str, Machine | None] | None:
        """The unit under the cursor and the machine of that row (None for files of global units)."""
        key = selected_key(self.active_table())
        snap = self.snapshot
        if key is None or self.tab == "machines" or not isinstance(snap, FleetSnapshot):
            return None
        machines = snap.machines
        if self.tab == "units":
            name, _, machine_id = key.partition(SEP)
        else:
            name = key
            unit = next((u for u in snap.units if u.name == name), None)
            machine_id = unit.machine_id if unit and not unit.is_global else ""
        machine = machines.get(machine_id) or (Machine(machine_id) if machine_id else None)
        return name, machine

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        unit_action = action in {"status", "journal", "cat", *self.DESTRUCTIVE}
        if allowed and unit_action and self.query("#fleet-tabs") and self.tab == "machines":
            return None  # shown greyed: these act on a unit, not a machine
        return allowed

    def _output(self, kind: str) -> None:
        picked = self.selected()
        if picked is None:
            return
        name, machine = picked
        if machine is None:
            self.notify(
                f"{name} runs on several machines: pick its row in the Units tab",
                severity="warning",
            )
            return
        where = machine.primary_ip or machine.short_id
        fetch = lambda: self.service.unit_output(kind, name, machine)  # noqa: E731
        self.app.push_screen(
            OutputScreen(f"{kind}: {name} on {where}", fetch, end=kind == "journal")
        )

    def action_status(self) -> None:
        self._output("status")

    def action_cat(self) -> None:
        picked = self.selected()
        if picked is not None:
            name = picked[0]
            fetch = lambda: self.service.unit_file(name)  # noqa: E731
            self.app.push_screen(OutputScreen(f"unit file: {name}", fetch))

    @on(DataTable.RowSelected)
    def _row_chosen(self) -> None:
        if self.tab == "files":
            self.action_cat()
        elif self.tab == "units":
            self._output("status")

    def action_journal(self) -> None:
        self._output("journal")

    # -- verbs: plan (worker) -> confirm -> execute (worker) -------------------------

    def _verb(self, verb: str) -> None:
        picked = self.selected()
        if picked is not None:
            self._plan(verb, picked[0])

    def action_unit_start(self) -> None:
        self._verb("start")

    def action_unit_stop(self) -> None:
        self._verb("stop")

    def action_unit_unload(self) -> None:
        self._verb("unload")

    def action_unit_destroy(self) -> None:
        self._verb("destroy")

    @work(thread=True, exclusive=True, exit_on_error=False, group="fleet-action")
    def _plan(self, verb: str, name: str) -> None:
        try:
            self.post_message(PlanReady(plan=self.service.plan(verb, name)))
        except ServiceError as exc:
            self.post_message(ActionFinished(f"{verb} {name}: {exc}", ok=False))

    @on(PlanReady)
    def _plan_ready(self, message: PlanReady) -> None:
        plan = message.plan
        assert isinstance(plan, Plan)
        if plan.refused:
            self.notify(plan.refused, title=f"Not {plan.verb}ing", severity="warning")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._execute(plan)

        title = f"{plan.verb.capitalize()} {plan.unit}?"
        self.app.push_screen(
            ConfirmScreen(title, plan.summary, plan.request, plan.warnings, plan.verb), confirmed
        )

    @work(thread=True, exclusive=True, exit_on_error=False, group="fleet-action")
    def _execute(self, plan: Plan) -> None:
        try:
            self.post_message(ActionFinished(self.service.execute(plan), ok=True))
        except ServiceError as exc:
            self.post_message(ActionFinished(f"{plan.verb} {plan.unit} failed: {exc}", ok=False))
