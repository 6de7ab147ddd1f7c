"""The Doctor screen: findings across fleet, Kubernetes and Ceph, worst first, live.
Enter opens a finding's evidence; ``a`` runs its next step (the fenced unlock with the
Ceph screen's dialogs, the guided removal of a lost host's OSDs, an empty bucket's removal)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Static

from kubeha_tui.ceph.images import Image, Locker
from kubeha_tui.ceph.osds import Step
from kubeha_tui.doctor import ceph_calls
from kubeha_tui.doctor.findings import (
    LAYER_LABELS,
    REMOVE_BUCKET,
    REMOVE_OSDS,
    UNLOCK,
    Finding,
    headline,
)
from kubeha_tui.errors import ServiceError

from .ceph_dialogs import DIALOG_CSS, OSDRemovalScreen, UnlockScreen
from .diagnosing import DiagnosingScreen, FindingsUpdated, verdict_text
from .dialogs import ConfirmScreen
from .messages import ActionFinished, ImageRead
from .plain import plain, plain_text
from .rows import Row
from .tables import FastTable, selected_key, table
from .workers import ReportsWorkerErrors

COLUMNS = ("SEVERITY", "LAYER", "OBJECT", "WHAT IS WRONG")
ROW_STYLE = {"critical": "failed", "error": "failed", "warning": "warn"}


class EvidenceScreen(ReportsWorkerErrors, ModalScreen[bool]):
    """One finding in full: what, the evidence, the likely cause, the next step."""

    BINDINGS = [
        Binding("escape", "close", "Close", id="evidence.close"),
        Binding("a", "act", "Next step", id="evidence.act", tooltip="Run the next step"),
    ]
    DEFAULT_CSS = (
        DIALOG_CSS.format(name="EvidenceScreen") + "EvidenceScreen .label { color: $accent; }"
    )

    def __init__(self, finding: Finding, can_act: bool) -> None:
        super().__init__()
        self.finding, self.can_act = finding, can_act

    def compose(self) -> ComposeResult:
        f = self.finding
        with VerticalScroll() as box:
            box.border_title = plain(f"{f.severity.upper()} {LAYER_LABELS[f.layer]}: {f.object}")
            yield Static(plain_text(f.problem, style="bold"), id="evidence-problem")
            yield Static(Text("Evidence", style="bold"), classes="label")
            yield Static(plain_text("\n".join(f.evidence)), id="evidence-lines")
            yield Static(Text("Likely cause", style="bold"), classes="label")
            yield Static(plain_text(f.cause), id="evidence-cause")
            yield Static(Text("Next step", style="bold"), classes="label")
            step = f.next_step.text + (f"\n$ {f.next_step.command}" if f.next_step.command else "")
            yield Static(plain_text(step), id="evidence-next")
            with Horizontal():
                yield Button("Close", id="close")
                if self.can_act:
                    yield Button("Run next step (a)", variant="warning", id="act")

    def action_close(self) -> None:
        self.dismiss(False)

    def action_act(self) -> None:
        if self.can_act:
            self.dismiss(True)

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "act")


class HostRemovalScreen(OSDRemovalScreen):
    """The OSD removal dialog, for every OSD of a lost host in turn and then its bucket."""

    def __init__(
        self, host: str, ids: list[int], flow: Callable[[bool, threading.Event], Iterator[Step]]
    ) -> None:
        super().__init__(ids[0] if ids else -1, flow)
        self.host, self.ids = host, ids

    def on_mount(self) -> None:
        names = ", ".join(f"osd.{i}" for i in self.ids)
        self.query_one(Vertical).border_title = f"Removing {names} and host {self.host}"
        super().on_mount()


class DoctorScreen(DiagnosingScreen):
    TITLE_TEXT = "Doctor"
    HELP = (
        "Findings across fleet, Kubernetes and Ceph, worst first, kept live: a finding goes "
        "away when its cause does. The start-up chain (fleet, etcd, machines, the six pidalio "
        "units, the Kubernetes API, nodes, system pods, Ceph), locked RBD volumes traced from "
        "the pod's FailedMount event to the lock's node, lost Ceph nodes, and popeye-class "
        "checks. Enter shows a finding's evidence; a runs its next step: the fenced unlock, "
        "the guided removal of a lost host's OSDs and then its empty bucket. Steps that are "
        "commands to run elsewhere are shown, not run."
    )
    DESTRUCTIVE = frozenset({"next_step"})
    DEFAULT_CSS = """
    #doctor-verdict, #doctor-headline, #doctor-note { padding: 0 1; }
    #doctor-headline { margin-bottom: 1; }
    #doctor-findings { height: 1fr; }
    """
    BINDINGS = [
        Binding("enter", "evidence", "Evidence", id="doctor.evidence", tooltip="Show the finding's evidence"),
        Binding("a", "next_step", "Next step", id="doctor.act", tooltip="Run the finding's next step"),
    ]  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.findings: list[Finding] = []

    def compose_body(self) -> ComposeResult:
        yield Static(Text("diagnosing..."), id="doctor-verdict")
        yield Static(Text(""), id="doctor-headline")
        yield table("doctor-findings", COLUMNS)
        yield Static(Text(""), id="doctor-note")

    def on_mount(self) -> None:
        self.watch(self.app, "data", lambda _: self.schedule_diagnosis())
        self.watch(self.app, "backends", lambda _: self.schedule_diagnosis())

    def on_screen_resume(self) -> None:
        self.schedule_diagnosis()
        self.query_one("#doctor-findings").focus()

    @on(FindingsUpdated)
    def _updated(self, message: FindingsUpdated) -> None:
        self.diagnosis_done()
        self.findings = message.findings
        self.query_one("#doctor-verdict", Static).update(verdict_text(self.findings, self.pending))
        top = headline(self.findings)
        self.query_one("#doctor-headline", Static).update(
            Text(f"headline: {top.problem}", style="bold")
            if top
            else Text("no findings", style="green")
        )
        rows = [
            Row("\x1f".join(f.key), (Text(f.severity), Text(LAYER_LABELS[f.layer]), Text(f.object), Text(f.problem)),
                ROW_STYLE[f.severity])
            for f in self.findings
        ]  # fmt: skip
        self.query_one("#doctor-findings", FastTable).show(rows)

    def selected(self) -> Finding | None:
        key = selected_key(self.query_one("#doctor-findings", DataTable))
        return next((f for f in self.findings if "\x1f".join(f.key) == key), None)

    def action_evidence(self) -> None:
        finding = self.selected()
        if finding is None:
            return
        can_act = bool(finding.next_step.action) and bool(self.check_action("next_step", ()))

        def closed(act: bool | None) -> None:
            if act:
                self.run_step(finding)

        self.app.push_screen(EvidenceScreen(finding, can_act), closed)

    @on(DataTable.RowSelected, "#doctor-findings")
    def _row_selected(self) -> None:
        self.action_evidence()  # Enter on the table

    def action_next_step(self) -> None:
        finding = self.selected()
        if finding is not None:
            self.run_step(finding)

    def run_step(self, finding: Finding) -> None:
        step = finding.next_step
        if step.action == UNLOCK:
            pool, image = step.target[0], step.target[1]
            self._read_for_unlock(pool, image)
        elif step.action == REMOVE_OSDS:
            self._remove_host(step.target[0], [int(i) for i in step.target[1:]])
        elif step.action == REMOVE_BUCKET:
            self._remove_bucket(step.target[0])
        else:
            self.note(
                f"not run from here: {step.text}" + (f": {step.command}" if step.command else ""),
                ok=True,
            )

    # -- the fenced unlock, as the Ceph screen does it -------------------------------------

    @work(thread=True, exclusive=True, exit_on_error=False, group="doctor-action")
    def _read_for_unlock(self, pool: str, name: str) -> None:
        try:
            self.post_message(
                ImageRead(ceph_calls.read_image(self.kubeha.services.ceph.ceph, pool, name))
            )
        except ServiceError as exc:
            self.post_message(ActionFinished(f"{pool}/{name}: {exc}", ok=False))

    @on(ImageRead)
    def _unlock_dialog(self, message: ImageRead) -> None:
        image = message.image
        assert isinstance(image, Image)
        if not image.lockers:
            self.note(f"{image.pool}/{image.name} has no locks any more", ok=True)
            self.kubeha.poll("kube")
            return
        ceph = self.kubeha.services.ceph.ceph

        def unlock(locker: Locker, force: bool) -> Callable[[], object]:
            return lambda: (
                ceph_calls.fenced_unlock(
                    ceph, image.pool, image.name, locker.client, locker.cookie, force=force
                ).text
            )

        def chosen(choice: tuple[Locker, bool] | None) -> None:
            if choice is None:
                return
            locker, force = choice
            if not force:
                self._act(unlock(locker, False))
                return
            self.app.push_screen(
                ConfirmScreen(
                    f"Force-break {locker.client}'s lock?",
                    f"{locker.client} at {locker.address} is alive. It will be blocklisted for an hour and lose {image.name}.",
                    f"ceph osd blocklist add {locker.address}; rbd lock rm {image.pool}/{image.name} {locker.cookie!r} {locker.client}",
                    ("If that client is really writing, this can corrupt what it was doing.",),
                    "force",
                ),
                lambda yes: self._act_if(yes, unlock(locker, True)),
            )  # fmt: skip

        self.app.push_screen(UnlockScreen(image), chosen)

    # -- the guided removal of a lost host's OSDs, then of its bucket ------------------------

    def _remove_host(self, host: str, ids: list[int]) -> None:
        ceph = self.kubeha.services.ceph.ceph
        names = ", ".join(f"osd.{i}" for i in ids)

        def flow(force: bool, cancel: threading.Event) -> Iterator[Step]:
            return ceph_calls.remove_host_osds(ceph, host, ids, force=force, cancel=cancel)

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.app.push_screen(
                    HostRemovalScreen(host, ids, flow), lambda _: self.kubeha.poll("ceph")
                )

        self.app.push_screen(
            ConfirmScreen(
                f"Remove {names} and host {host}?",
                f"One OSD at a time: mark it out, wait until every PG is active+clean, check safe-to-destroy, "
                f"purge it (CRUSH item, auth key, id); then remove the emptied host bucket {host}.",
                "; ".join(f"ceph osd out {i}; ceph osd purge {i}" for i in ids) + f"; ceph osd crush remove {host}",
                ("Only for a node that is gone for good: its OSDs' data is rebuilt from the other copies.",),
                "remove",
            ),
            confirmed,
        )  # fmt: skip

    def _remove_bucket(self, host: str) -> None:
        ceph = self.kubeha.services.ceph.ceph

        def run() -> object:
            return "; ".join(s.text for s in ceph_calls.remove_bucket(ceph, host))

        self.app.push_screen(
            ConfirmScreen(f"Remove host bucket {host}?", f"{host} holds no OSDs; it leaves the CRUSH map.",
                          f"ceph osd crush remove {host}", (), "remove"),
            lambda yes: self._act_if(yes, run),
        )  # fmt: skip

    # -- running a step ---------------------------------------------------------------

    def _act_if(self, yes: bool | None, run: Callable[[], object]) -> None:
        if yes:
            self._act(run)

    @work(thread=True, exit_on_error=False, group="doctor-action")
    def _act(self, run: Callable[[], object]) -> None:
        try:
            self.post_message(ActionFinished(str(run()), ok=True))
        except ServiceError as exc:
            self.post_message(ActionFinished(str(exc), ok=False))

    @on(ActionFinished)
    def _finished(self, message: ActionFinished) -> None:
        self.note(message.text, message.ok)
        self.kubeha.poll("ceph")
        self.kubeha.poll("kube")

    def note(self, text: str, ok: bool) -> None:
        self.query_one("#doctor-note", Static).update(Text(text, style="" if ok else "bold red"))
        self.notify(text, severity="information" if ok else "error", markup=False)
