"""Table rows of the Kubernetes objects, cached per object so a watch event on one pod
rebuilds one row, not ten thousand."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import compress
from operator import is_not
from typing import Any

from kubeha_tui.kube.format import age_since
from kubeha_tui.kube.models import Deployment, Node, Pod, Service

from .rows import Row

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
    """Rows of one table by object key; a row is rebuilt only when its object changed.

    The objects that changed are found by identity, with C-level iterators over the
    previous and the new list of objects in key order: with 10,000 pods and a few
    changed, a loop in Python over every key cost ~20 ms at each snapshot (five a second
    under churn), most of a key press's wait.
    """

    def __init__(self, cells: Callable[..., tuple[object, ...]]) -> None:
        self.cells = cells
        self._context: tuple[Any, ...] = ()
        self._keys: frozenset[str] = frozenset()
        self._order: list[str] = []  # the keys, sorted
        self._models: list[Any] = []  # the object of each key in _order, as last built
        self._rows: list[Row] = []  # the row of each

    def _row(self, key: str, model: Any) -> Row:
        cells = self.cells(model, Age(model.created), *self._context)
        return Row(key, cells, str(getattr(model, "problem", "")))

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
            self._context, self._keys = context, frozenset()
            self._order, self._models, self._rows = [], [], []
        if models.keys() != self._keys:
            self._rekey(models)
        current = list(map(models.__getitem__, self._order))
        rows = self._rows
        for i in compress(range(len(current)), map(is_not, current, self._models)):
            rows[i] = self._row(self._order[i], current[i])
        self._models = current
        if keep is None:
            return list(rows)
        return [row for row, model in zip(rows, current, strict=True) if keep(model)]

    def _rekey(self, models: dict[str, Any]) -> None:
        """Objects added or removed: the new key order, keeping the rows already built
        (the changed ones are rebuilt by the caller)."""
        built = dict(zip(self._order, self._rows, strict=True))
        was = dict(zip(self._order, self._models, strict=True))
        self._keys, self._order = frozenset(models), sorted(models)
        self._rows = [built.get(key) or self._row(key, models[key]) for key in self._order]
        self._models = [was.get(key) if key in built else models[key] for key in self._order]
