"""Table rows of the Kubernetes objects, cached per object so a watch event on one pod
rebuilds one row, not ten thousand."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubeha_tui.kube.format import age_since
from kubeha_tui.kube.models import Deployment, Node, Pod, Service

from .tables import Row

POD_COLUMNS = ("NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "NODE", "IP")
SERVICE_COLUMNS = ("NAMESPACE", "NAME", "TYPE", "CLUSTER-IP", "PORTS", "URLS")
DEPLOYMENT_COLUMNS = ("NAMESPACE", "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "IMAGES")
NODE_COLUMNS = ("NAME", "STATUS", "IP", "LABELS", "VERSION", "AGE")
COLUMNS = {
    "pods": POD_COLUMNS,
    "services": SERVICE_COLUMNS,
    "deployments": DEPLOYMENT_COLUMNS,
    "nodes": NODE_COLUMNS,
}


@dataclass(frozen=True, slots=True)
class Age:
    """An AGE cell: its text is computed when drawn, so rows stay equal as time passes
    (a clock tick redraws the visible rows, it does not rebuild ten thousand)."""

    created: float

    def __str__(self) -> str:
        return age_since(self.created, time.time())

    @property
    def sort_key(self) -> float:
        return -self.created  # youngest first, as ages grow


def pod_cells(p: Pod, age: Age) -> tuple[object, ...]:
    return (p.namespace, p.name, p.ready, p.status, str(p.restarts), age, p.node, p.ip)


def service_cells(s: Service, age: Age, node_ips: list[str]) -> tuple[object, ...]:
    urls = " ".join(s.urls(node_ips)) or "-"
    return (s.namespace, s.name, s.type, s.cluster_ip, s.ports_text, urls)


def deployment_cells(d: Deployment, age: Age) -> tuple[object, ...]:
    return (d.namespace, d.name, d.ready, str(d.up_to_date), str(d.available), age, d.images)


def node_cells(n: Node, age: Age) -> tuple[object, ...]:
    return (n.name, n.status, n.ip, n.labels, n.version, age)


class RowCache:
    """Rows of one table by object key; a row is rebuilt only when its object changed."""

    def __init__(self, cells: Callable[..., tuple[object, ...]]) -> None:
        self.cells = cells
        self._rows: dict[str, tuple[Any, Row]] = {}
        self._context: tuple[Any, ...] = ()
        self._order: list[str] = []
        self._keys: frozenset[str] = frozenset()

    def rows(
        self,
        models: dict[str, Any],
        keep: Callable[[Any], bool] | None = None,
        context: tuple[Any, ...] = (),
    ) -> list[Row]:
        """Rows of ``models`` that ``keep`` accepts, in key order; ``context`` (extra
        arguments of the cells function, such as the node IPs) rebuilds every row when it
        changes."""
        if context != self._context:
            self._rows, self._context = {}, context
        if models.keys() != self._keys:
            self._keys, self._order = frozenset(models), sorted(models)
        out: list[Row] = []
        fresh: dict[str, tuple[Any, Row]] = {}
        for key in self._order:
            model = models[key]
            if keep is not None and not keep(model):
                continue
            cached = self._rows.get(key)
            if cached is not None and cached[0] is model:
                row = cached[1]
            else:
                row = Row(
                    key,
                    self.cells(model, Age(model.created), *context),
                    str(getattr(model, "problem", "")),
                )
            fresh[key] = (model, row)
            out.append(row)
        self._rows = fresh
        return out
