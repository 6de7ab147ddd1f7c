"""The Cluster landing screen: fleet units, pods and services side by side, live."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import Static

from .compositor import render_alike
from .diagnosing import DiagnosingScreen, FindingsUpdated, verdict_text
from .pane_table import PaneTable
from .rows import Row
from .widgets import BackendLine

if TYPE_CHECKING:
    from kubeha_tui.kube.models import Pod, Service

    from .kube_rows import RowCache

CLUSTER_UNIT_COLUMNS = ("UNIT", "MACHINE", "SUB")
CLUSTER_POD_COLUMNS = ("NAMESPACE", "NAME", "STATUS")
CLUSTER_SERVICE_COLUMNS = ("NAME", "TYPE", "PORTS")
WIDE_AT = 120  # columns from which the Cluster panes sit side by side
SMALL_HEIGHT = 30  # rows below which a healthy verdict is left out on stacked panes


class Pane(Vertical):
    """A titled box: a backend's status line above a table."""

    def __init__(self, title: str, backend: str, body: PaneTable) -> None:
        super().__init__(classes="pane")
        self.border_title = title
        self._backend, self._body = backend, body

    def compose(self) -> ComposeResult:
        yield BackendLine(self._backend)
        yield self._body

    def render_lines(self, crop: Region) -> list[Strip]:
        # Between the top and bottom borders every line is the same: the two sides.
        return render_alike(super().render_lines, crop, range(1, self.region.height - 1))


class ClusterScreen(DiagnosingScreen):
    TITLE_TEXT = "Cluster"
    DEFAULT_CSS = "#cluster-verdict { padding: 0 1; }"
    HELP = (
        "The first look after SSH: the Doctor's verdict, one line per layer (healthy, or its "
        "headline finding; 6 opens the Doctor; on a small terminal an all-healthy verdict is "
        "left out), Ceph's health, then fleet units (with what of the stack is not running), "
        "Kubernetes pods and services side by side "
        "(stacked on narrow terminals), each with its backend's connection state. "
        "Press 2, 3 or 4 for the full Fleet, Kubernetes and Ceph screens."
    )

    def compose_body(self) -> ComposeResult:
        yield Static(Text("diagnosing..."), id="cluster-verdict")
        ceph = BackendLine("ceph")  # health (HEALTH_WARN in yellow) and OSDs, in one line
        ceph.id = "cluster-ceph"
        yield ceph
        # Laid out for the terminal's width at once: a class set later restyles every pane.
        wide = "wide" if self.app.size.width >= WIDE_AT else ""
        with Container(id="panes", classes=wide):
            yield Pane("Fleet units", "fleet", PaneTable(CLUSTER_UNIT_COLUMNS, id="cluster-units"))
            yield Pane("Pods", "kube", PaneTable(CLUSTER_POD_COLUMNS, id="cluster-pods"))
            yield Pane(
                "Services", "kube", PaneTable(CLUSTER_SERVICE_COLUMNS, id="cluster-services")
            )

    # Built with the first pods: kube_rows imports the Kubernetes models.
    _pods: RowCache | None = None
    _services: RowCache | None = None

    def on_mount(self) -> None:
        self.watch(self.app, "data", self._data_changed)
        self.watch(self.app, "backends", self._backends_changed)

    def on_screen_resume(self) -> None:
        self._data_changed(getattr(self.app, "data", {}))

    def _backends_changed(self) -> None:
        self.schedule_diagnosis()

    @on(FindingsUpdated)
    def _verdict(self, message: FindingsUpdated) -> None:
        self.diagnosis_done()
        compact = self.size.width < WIDE_AT  # stacked panes: every line counts
        line = self.query_one("#cluster-verdict", Static)
        line.update(verdict_text(message.findings, self.pending, compact=compact))
        # On a small terminal a verdict of all healthy is left out: its line would cost the
        # panes their rows, and the Doctor screen (6) still says it.
        line.display = not self.has_class("-short") and not (
            compact
            and self.size.height < SMALL_HEIGHT
            and not message.findings
            and not self.pending
        )

    def _data_changed(self, data: dict[str, object]) -> None:
        self.schedule_diagnosis()
        if not data or not self.is_current:
            return
        # Imported with each backend's first data, not before the first frame (the services
        # that make the snapshots have loaded these modules by then; fleet's data can come
        # before the kube modules are loaded: over SSH fleet polls from the app's start).
        if "fleet" in data:
            self._fleet_changed(data["fleet"])
        if "kube" in data:
            self._kube_changed(data["kube"])

    def _fleet_changed(self, snap: object) -> None:
        from kubeha_tui.fleet.client import FleetSnapshot  # noqa: PLC0415

        from .fleet import unit_rows  # noqa: PLC0415

        if isinstance(snap, FleetSnapshot):
            rows = [
                Row(r.key, (r.cells[0], r.cells[1], r.cells[3]), r.style) for r in unit_rows(snap)
            ]
            self.query_one("#cluster-units", PaneTable).show(rows)

    def _kube_changed(self, kube: object) -> None:
        from kubeha_tui.kube.service import KubeSnapshot  # noqa: PLC0415

        from .kube_rows import RowCache  # noqa: PLC0415 - with the kube models behind it

        if isinstance(kube, KubeSnapshot):
            if self._pods is None or self._services is None:
                self._pods = RowCache(lambda p, _: (p.namespace, p.name, p.status))
                self._services = RowCache(lambda s, _: (s.name, s.type, s.ports_text))
            pods: dict[str, Pod] = kube.pods
            services: dict[str, Service] = kube.services
            self.query_one("#cluster-pods", PaneTable).show(self._pods.rows(pods))
            self.query_one("#cluster-services", PaneTable).show(self._services.rows(services))

    def on_resize(self, event: events.Resize) -> None:  # AreaScreen's _on_resize runs too
        self.query_one("#panes").set_class(event.size.width >= WIDE_AT, "wide")
