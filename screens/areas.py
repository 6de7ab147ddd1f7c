"""The Cluster landing screen and one screen per area.

The tables start empty with their backend's connection state; the fleet,
Kubernetes, Ceph and wizard work fills them.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.widgets import DataTable, Static

from kubeha_tui.fleet.client import FleetSnapshot

from .base import AreaScreen
from .fleet import unit_rows
from .tables import FastTable, Row, table
from .widgets import BackendLine

CLUSTER_UNIT_COLUMNS = ("UNIT", "MACHINE", "SUB")
POD_COLUMNS = ("NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "NODE", "IP")
SERVICE_COLUMNS = ("NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "PORTS")
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
        "The first look after SSH: fleet units, Kubernetes pods and services side by side "
        "(stacked on narrow terminals), each with its backend's connection state. "
        "Press 2, 3 or 4 for the full Fleet, Kubernetes and Ceph screens."
    )

    def compose_body(self) -> ComposeResult:
        with Container(id="panes"):
            yield Pane("Fleet units", "fleet", table("cluster-units", CLUSTER_UNIT_COLUMNS))
            yield Pane("Pods", "kube", table("cluster-pods", ("NAMESPACE", "NAME", "STATUS")))
            yield Pane("Services", "kube", table("cluster-services", ("NAME", "TYPE", "PORTS")))

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

    def on_resize(self, event: events.Resize) -> None:
        self.query_one("#panes").set_class(event.size.width >= WIDE_AT, "wide")


class KubeScreen(AreaScreen):
    TITLE_TEXT = "Kubernetes"
    HELP = "Kubernetes pods across namespaces."

    def compose_body(self) -> ComposeResult:
        yield Pane("Pods", "kube", table("kube-pods", POD_COLUMNS))


class WizardScreen(AreaScreen):
    TITLE_TEXT = "Wizard"
    HELP = "Deploys the stack's examples (nginx, MariaDB on RBD); needs Kubernetes and Ceph."

    def compose_body(self) -> ComposeResult:
        with Vertical(classes="pane") as pane:
            pane.border_title = "Deploy an example"
            yield BackendLine("kube")
            yield BackendLine("ceph")
            yield Static("The examples are not available in this version yet.", id="wizard-body")
