"""Kubernetes screen: Pods, Services, Deployments and Nodes, live from watches, with a
namespace switch, describe/YAML, logs (tail and follow) and delete."""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, RichLog, Select, Static, TabPane

from kubeha_tui.errors import ServiceError
from kubeha_tui.kube import actions
from kubeha_tui.kube.actions import DeletePlan, Ref
from kubeha_tui.kube.client import KubeClient
from kubeha_tui.kube.service import KubeSnapshot

from .dialogs import ConfirmScreen, OutputScreen
from .kube_logs import LogScreen
from .kube_rows import (
    COLUMNS,
    RowCache,
    deployment_cells,
    node_cells,
    pod_cells,
    service_cells,
)
from .messages import ActionFinished, PlanReady
from .plain import plain, plain_text
from .tabbed import SteadyTabbedContent, TabbedTableScreen
from .tables import FastTable, selected_key, table
from .widgets import BackendLine

ALL = "(all namespaces)"


class DescribeScreen(OutputScreen):
    """Describe opens at the top, on the newest events (actions.describe lists them first):
    a RichLog that scrolls to each write's end would open on the last YAML lines."""

    def compose(self) -> ComposeResult:
        for widget in super().compose():
            if isinstance(widget, RichLog):
                widget.auto_scroll = False
            yield widget


class KubeScreen(TabbedTableScreen):
    TITLE_TEXT = "Kubernetes"
    AREA = "kube"
    SNAPSHOT = KubeSnapshot
    TABS = ("pods", "services", "deployments", "nodes")
    HELP = (
        "Pods, services, deployments and nodes, kept live by watches (no re-listing). "
        "Pods that failed are red, pods not ready yet or restarting often yellow. "
        "Services list the URLs a NodePort answers on, http://<node-ip>:<nodePort>. "
        "n picks a namespace (all by default); d or Enter describes the selected object "
        "(its events newest first, then YAML); l shows a pod's log (f follows it); Ctrl+D deletes after "
        "showing exactly what goes."
    )
    HELP_READ_ONLY = (
        "Pods, services, deployments and nodes, kept live by watches (no re-listing). "
        "Pods that failed are red, pods not ready yet or restarting often yellow. "
        "Services list the URLs a NodePort answers on, http://<node-ip>:<nodePort>. "
        "n picks a namespace (all by default); d or Enter describes the selected object "
        "(its events newest first, then YAML); l shows a pod's log (f follows it). Read-only mode: nothing "
        "can be deleted here."
    )
    DESTRUCTIVE = frozenset({"kube_delete"})
    BINDINGS = [
        Binding("n", "namespace", "Namespace", id="kube.namespace", tooltip="Pick a namespace"),
        Binding("d", "describe", "Describe", id="kube.describe", tooltip="Events (newest first) and YAML of the selected object (also Enter)"),
        Binding("l", "logs", "Logs", id="kube.logs", tooltip="The selected pod's log (f follows)"),
        Binding("ctrl+d", "kube_delete", "Delete", id="kube.delete", tooltip="Delete the selected object"),
    ]  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.namespace = ""  # "" = all
        self._caches = {
            "pods": RowCache(pod_cells),
            "services": RowCache(service_cells),
            "deployments": RowCache(deployment_cells),
            "nodes": RowCache(node_cells),
        }
        self._namespaces: tuple[str, ...] = ()
        self._notes: tuple[str, ...] = ()

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        """Ages grow with time alone: redraw the visible rows of the shown table."""
        if self.is_current:
            self.query_one(f"#kube-{self.tab}", FastTable).redraw()

    @property
    def client(self) -> KubeClient:
        return self.kubeha.services.kube.client

    def compose_body(self) -> ComposeResult:
        yield BackendLine("kube")
        with Horizontal(id="kube-bar"):
            yield Select([], prompt=ALL, allow_blank=True, id="kube-ns", compact=True)
            yield Static("", id="kube-notes")
        with SteadyTabbedContent(id="kube-tabs"):
            for tab, title in zip(
                self.TABS, ("Pods", "Services", "Deployments", "Nodes"), strict=True
            ):
                with TabPane(title, id=tab):
                    yield table(f"kube-{tab}", COLUMNS[tab])
        yield self.filter_box()

    # -- rendering -----------------------------------------------------------------

    def render_tables(self) -> None:
        snap = self.snapshot
        if not isinstance(snap, KubeSnapshot):
            return
        if snap.namespaces != self._namespaces:
            self._namespaces = snap.namespaces
            select = self.query_one("#kube-ns", Select)
            with select.prevent(Select.Changed):
                select.set_options([(plain_text(ns), ns) for ns in snap.namespaces])
                if self.namespace in snap.namespaces:
                    select.value = self.namespace
        if snap.notes != self._notes:  # an update lays the screen out again (~6 ms)
            self._notes = snap.notes
            self.query_one("#kube-notes", Static).update(plain("  ".join(snap.notes)))
        tab = self.tab
        models: dict[str, Any] = getattr(snap, tab)
        ns = self.namespace
        keep = (lambda m: m.namespace == ns) if ns and tab != "nodes" else None
        context = (snap.node_ips,) if tab == "services" else ()
        view = self.views[tab]
        view.rows = self._caches[tab].rows(models, keep, context)
        self.query_one(f"#kube-{tab}", FastTable).show(view.visible(), COLUMNS[tab])

    def action_namespace(self) -> None:
        self.query_one("#kube-ns", Select).focus()

    @on(Select.Changed, "#kube-ns")
    def _namespace_changed(self, event: Select.Changed) -> None:
        self.namespace = event.value if isinstance(event.value, str) else ""
        self.render_tables()
        self.active_table().focus()

    # -- the selected object -----------------------------------------------------------

    def selected(self) -> Ref | None:
        key = selected_key(self.active_table())
        if key is None:
            return None
        namespace, _, name = key.partition("/")
        return Ref(self.tab, namespace, name)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        allowed = super().check_action(action, parameters)
        if allowed and action == "logs" and self.query("#kube-tabs") and self.tab != "pods":
            return None
        return allowed

    def action_describe(self) -> None:
        ref = self.selected()
        if ref is not None:
            client = self.client
            self.app.push_screen(
                DescribeScreen(f"describe {ref}", lambda: actions.describe(client, ref))
            )

    @on(DataTable.RowSelected)
    def _row_chosen(self) -> None:
        self.action_describe()

    def action_logs(self) -> None:
        ref = self.selected()
        if ref is not None and ref.kind == "pods":
            self.app.push_screen(LogScreen(self.client, ref))

    # -- delete: plan (worker) -> confirm -> delete (worker) ------------------------

    def action_kube_delete(self) -> None:
        ref = self.selected()
        if ref is not None:
            self._plan(ref)

    @work(thread=True, exclusive=True, exit_on_error=False, group="kube-action")
    def _plan(self, ref: Ref) -> None:
        try:
            self.post_message(PlanReady(plan=actions.plan_delete(self.client, ref)))
        except ServiceError as exc:
            self.post_message(ActionFinished(f"delete {ref}: {exc}", ok=False))

    @on(PlanReady)
    def _plan_ready(self, message: PlanReady) -> None:
        plan = message.plan
        assert isinstance(plan, DeletePlan)
        if plan.refused:
            self.notify(plan.refused, title="Not deleting", severity="warning")
            return

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._delete(plan)

        self.app.push_screen(
            ConfirmScreen(f"{plan.summary}?", plan.summary, plan.request, plan.warnings, "delete"),
            confirmed,
        )

    @work(thread=True, exclusive=True, exit_on_error=False, group="kube-action")
    def _delete(self, plan: DeletePlan) -> None:
        try:
            self.post_message(ActionFinished(actions.delete(self.client, plan), ok=True))
        except ServiceError as exc:
            self.post_message(ActionFinished(f"delete {plan.ref} failed: {exc}", ok=False))
