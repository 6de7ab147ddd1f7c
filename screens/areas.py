"""The Cluster landing screen: fleet units, pods and services side by side, live."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.widgets import DataTable

from kubeha_tui.fleet.client import FleetSnapshot
from kubeha_tui.kube.models import Pod, Service
from kubeha_tui.kube.service import KubeSnapshot

from .base import AreaScreen
from .fleet import unit_rows
from .kube_rows import RowCache
from .tables import FastTable, Row, table
from .widgets import BackendLine

CLUSTER_UNIT_COLUMNS = ("UNIT", "MACHINE", "SUB")
CLUSTER_POD_COLUMNS = ("NAMESPACE", "NAME", "STATUS")
CLUSTER_SERVICE_COLUMNS = ("NAME", "TYPE", "PORTS")
WIDE_AT = 120  # columns from which the Cluster panes sit side by side


class Pane(Vertical):
    """A titled box: a backend's status line above a table."""

    def __init__(self, title: str, backend: str, body: DataTable[str]) -> None:
        super().__init__(classes="pane")
        self.border_title = title
        self._backend, self._body = backend, body

    def compose(self) -> ComposeResult:
        yield BackendLine(self._backend)
        yield self._body


class ClusterScreen(AreaScreen):
    TITLE_TEXT = "Cluster"
    HELP = (
        "The first look after SSH: Ceph's health on top, then fleet units (with what of the "
        "stack is not running), Kubernetes pods and services side by side "
        "(stacked on narrow terminals), each with its backend's connection state. "
        "Press 2, 3 or 4 for the full Fleet, Kubernetes and Ceph screens."
    )

    def compose_body(self) -> ComposeResult:
        ceph = BackendLine("ceph")  # health (HEALTH_WARN in yellow) and OSDs, in one line
        ceph.id = "cluster-ceph"
        yield ceph
        with Container(id="panes"):
            yield Pane("Fleet units", "fleet", table("cluster-units", CLUSTER_UNIT_COLUMNS))
            yield Pane("Pods", "kube", table("cluster-pods", CLUSTER_POD_COLUMNS))
            yield Pane("Services", "kube", table("cluster-services", CLUSTER_SERVICE_COLUMNS))

    def __init__(self) -> None:
        super().__init__()
        self._pods = RowCache(lambda p, _: (p.namespace, p.name, p.status))
        self._services = RowCache(lambda s, _: (s.name, s.type, s.ports_text))

    def on_mount(self) -> None:
        self.watch(self.app, "data", self._data_changed)

    def on_screen_resume(self) -> None:
        self._data_changed(getattr(self.app, "data", {}))

    def _data_changed(self, data: dict[str, object]) -> None:
        snap = data.get("fleet")
        if isinstance(snap, FleetSnapshot) and self.is_current:
            rows = [
                Row(r.key, (r.cells[0], r.cells[1], r.cells[3]), r.style) for r in unit_rows(snap)
            ]
            self.query_one("#cluster-units", FastTable).show(rows)
        kube = data.get("kube")
        if isinstance(kube, KubeSnapshot) and self.is_current:
            pods: dict[str, Pod] = kube.pods
            services: dict[str, Service] = kube.services
            self.query_one("#cluster-pods", FastTable).show(self._pods.rows(pods))
            self.query_one("#cluster-services", FastTable).show(self._services.rows(services))

    def on_resize(self, event: events.Resize) -> None:
        super().on_resize(event)
        self.query_one("#panes").set_class(event.size.width >= WIDE_AT, "wide")
