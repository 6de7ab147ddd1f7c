"""The Cluster landing screen and one screen per area.

The tables start empty with their backend's connection state; the fleet,
Kubernetes, Ceph and wizard work fills them.
"""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.widgets import DataTable, Static

from .base import AreaScreen
from .widgets import BackendLine

UNIT_COLUMNS = ("UNIT", "MACHINE", "ACTIVE", "SUB")
POD_COLUMNS = ("NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "NODE", "IP")
SERVICE_COLUMNS = ("NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "PORTS")
IMAGE_COLUMNS = ("NAME", "SIZE", "FEATURES", "LOCKERS", "WATCHERS", "STATE")
WIDE_AT = 120  # columns from which the Cluster panes sit side by side


def table(table_id: str, columns: tuple[str, ...]) -> DataTable[str]:
    t: DataTable[str] = DataTable(id=table_id, cursor_type="row", zebra_stripes=True)
    t.add_columns(*columns)
    return t


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
        "(stacked on narrow terminals), each with its backend's connection state."
    )

    def compose_body(self) -> ComposeResult:
        with Container(id="panes"):
            yield Pane("Fleet units", "fleet", table("cluster-units", (*UNIT_COLUMNS[:2], "SUB")))
            yield Pane("Pods", "kube", table("cluster-pods", ("NAMESPACE", "NAME", "STATUS")))
            yield Pane("Services", "kube", table("cluster-services", ("NAME", "TYPE", "PORTS")))

    def on_resize(self, event: events.Resize) -> None:
        self.query_one("#panes").set_class(event.size.width >= WIDE_AT, "wide")


class FleetScreen(AreaScreen):
    TITLE_TEXT = "Fleet"
    HELP = "fleet units as `fleetctl list-units` shows them, through the fleet API."

    def compose_body(self) -> ComposeResult:
        yield Pane("Units", "fleet", table("fleet-units", UNIT_COLUMNS))


class KubeScreen(AreaScreen):
    TITLE_TEXT = "Kubernetes"
    HELP = "Kubernetes pods across namespaces."

    def compose_body(self) -> ComposeResult:
        yield Pane("Pods", "kube", table("kube-pods", POD_COLUMNS))


class CephScreen(AreaScreen):
    TITLE_TEXT = "Ceph"
    HELP = "Ceph health and RBD images through librados/librbd."

    def compose_body(self) -> ComposeResult:
        yield Pane("RBD images", "ceph", table("ceph-images", IMAGE_COLUMNS))


class WizardScreen(AreaScreen):
    TITLE_TEXT = "Wizard"
    HELP = "Deploys the stack's examples (nginx, MariaDB on RBD); needs Kubernetes and Ceph."

    def compose_body(self) -> ComposeResult:
        with Vertical(classes="pane") as pane:
            pane.border_title = "Deploy an example"
            yield BackendLine("kube")
            yield BackendLine("ceph")
            yield Static("The examples are not available in this version yet.", id="wizard-body")
