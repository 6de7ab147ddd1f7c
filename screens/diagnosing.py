"""What the Cluster and Doctor screens share: a diagnosis in a worker whenever a poll
brings new data, and the verdict, one line per layer. The Doctor's modules (which read
every backend's) are imported in a worker before the first diagnosis."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.message import Message

from .base import AreaScreen

if TYPE_CHECKING:
    from kubeha_tui.doctor.findings import Finding

DIAGNOSE_EVERY = 2.0  # seconds


@dataclass
class FindingsUpdated(Message):
    """A diagnosis finished: the findings, worst first."""

    findings: list[Finding]

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FindingsUpdated)


class DoctorLoaded(Message):
    """The Doctor's modules were imported (in a worker)."""


class DiagnosisFailed(Message):
    """The diagnosis raised (a bug, reported by the app); another may be scheduled."""


def verdict_text(
    findings: list[Finding], pending: frozenset[str] = frozenset(), *, compact: bool = False
) -> Text:
    """One line per layer, as plain text (cluster names are never markup). ``compact`` (a
    narrow terminal) puts the healthy and connecting layers together on one line."""
    # Imported with the first findings: the Doctor is loaded by then (not before the frame).
    from kubeha_tui.doctor.findings import LAYER_LABELS, verdict  # noqa: PLC0415

    lines: list[Text] = []
    calm: list[Text] = []
    for layer, line in verdict(findings).items():
        label = LAYER_LABELS[layer]
        if layer in pending:
            part = Text.assemble((label, "bold"), " ", ("connecting...", "yellow"))
        elif line == "healthy":
            part = Text.assemble((label, "bold"), " ", ("healthy", "green"))
        else:
            worst = next(f.severity for f in findings if f.layer == layer)
            style = "yellow" if worst == "warning" else "bold red"
            lines.append(Text.assemble((f"{label:<11}", "bold"), (line, style)))
            continue
        if compact:
            calm.append(part)
        else:
            lines.append(Text.assemble((f"{label:<11}", "bold"), part[len(label) + 1 :]))
    if calm:
        lines.insert(0, Text("  ·  ").join(calm))
    return Text("\n").join(lines)


class DiagnosingScreen(AreaScreen):
    """What the Cluster and Doctor screens share: diagnose in a thread worker whenever a
    poll brings new data (never two at once); FindingsUpdated comes back to the screen."""

    _busy = False
    _again = False
    _last = 0.0
    _loaded = False  # the Doctor's modules are imported
    pending: frozenset[str] = frozenset()

    def schedule_diagnosis(self) -> None:
        """Diagnose now, or once the one under way is done; at most every DIAGNOSE_EVERY
        seconds (it lists events and endpoints: not on every pod change of a big cluster)."""
        if not self.is_current:
            return
        if self._busy:
            self._again = True
            return
        wait = self._last + DIAGNOSE_EVERY - time.monotonic()
        if wait > 0:
            self._busy = self._again = True
            self.set_timer(wait, self.diagnosis_done)
            return
        if not self._loaded:  # the first diagnosis: its modules are imported first
            self._busy = self._again = True
            self.kubeha.after_first_frame(self._start_loading)
            return
        from kubeha_tui.doctor.diagnose import diagnose  # noqa: PLC0415 - loaded by _load
        from kubeha_tui.doctor.gather import from_polls, observe  # noqa: PLC0415

        self._busy, self._again, self._last = True, False, time.monotonic()
        base = from_polls(getattr(self.app, "data", {}), getattr(self.app, "backends", {}))
        self.pending = base.pending
        services = self.kubeha.built_services  # none before the first frame: polls only
        kube = services.kube.client if services and base.kube is not None else None
        ceph = services.ceph.ceph if services and base.ceph is not None else None

        def run() -> None:
            try:
                self.post_message(FindingsUpdated(diagnose(observe(base, kube, ceph))))
            except Exception:
                self.post_message(DiagnosisFailed())  # the next one may do better
                raise  # reaches the user through the app's one worker-error path

        # On the app, so an unexpected error takes the app's one path to the user.
        self.app.run_worker(run, name=f"doctor for {self.TITLE_TEXT}", group=f"doctor-{self.TITLE_TEXT}",
                            thread=True, exclusive=True, exit_on_error=False)  # fmt: skip

    def _start_loading(self) -> None:
        self.app.run_worker(self._load, name="load the Doctor", group="doctor-load",
                            thread=True, exit_on_error=False)  # fmt: skip

    def _load(self) -> None:
        """Thread: import the Doctor (~0.1 s with the backend modules it reads)."""
        import kubeha_tui.doctor.diagnose  # noqa: PLC0415
        import kubeha_tui.doctor.gather  # noqa: F401, PLC0415

        self.post_message(DoctorLoaded())

    @on(DoctorLoaded)
    def _doctor_loaded(self) -> None:
        self._loaded = True
        self.diagnosis_done()

    @on(DiagnosisFailed)
    def _failed(self) -> None:
        self.diagnosis_done()

    def diagnosis_done(self) -> None:
        self._busy = False
        if self._again:
            self.schedule_diagnosis()
