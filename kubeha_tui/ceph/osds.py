"""OSD tree and the guided removal of a lost OSD (shared/reference/ceph-ops.md,
"Removing a lost OSD"): refuse if up, out, wait for active+clean, check
safe-to-destroy, purge (or Jewel's chain), drop the emptied host bucket."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kubeha_tui.ceph.backend import CephBackend
from kubeha_tui.ceph.shapes import health_lines
from kubeha_tui.errors import ServiceError


@dataclass(frozen=True)
class OSD:
    id: int
    host: str
    up: bool
    inn: bool  # "in" is a keyword
    weight: float  # CRUSH weight
    reweight: float

    @property
    def name(self) -> str:
        return f"osd.{self.id}"


@dataclass(frozen=True)
class Tree:
    osds: tuple[OSD, ...]
    hosts: dict[str, tuple[int, ...]]  # host bucket -> OSD ids in it

    def get(self, osd_id: int) -> OSD | None:
        return next((o for o in self.osds if o.id == osd_id), None)


def osd_tree(service: CephBackend) -> Tree:
    doc = service.json({"prefix": "osd tree"}) or {}
    nodes = {n["id"]: n for n in doc.get("nodes", [])}
    hosts: dict[str, tuple[int, ...]] = {}
    host_of: dict[int, str] = {}
    for node in nodes.values():
        if node.get("type") == "host":
            hosts[node["name"]] = tuple(node.get("children", []))
            for child in node.get("children", []):
                host_of[child] = node["name"]
    osds = []
    for node in list(nodes.values()) + doc.get("stray", []):
        if node.get("type") == "osd":
            osds.append(
                OSD(
                    node["id"],
                    host_of.get(node["id"], "-"),
                    node.get("status") == "up",
                    float(node.get("reweight", 0)) > 0,
                    float(node.get("crush_weight", 0)),
                    float(node.get("reweight", 0)),
                )
            )
    return Tree(tuple(sorted(osds, key=lambda o: o.id)), hosts)


@dataclass(frozen=True)
class PGSummary:
    total: int
    clean: int
    states: dict[str, int]

    @property
    def all_clean(self) -> bool:
        return self.total > 0 and self.clean == self.total

    def text(self) -> str:
        return ", ".join(f"{n} {s}" for s, n in sorted(self.states.items())) or "no PGs"


def pg_summary(service: CephBackend) -> PGSummary:
    doc = service.json({"prefix": "pg stat"}) or {}
    summary = doc.get("pg_summary", doc)  # Jewel answers the summary at the top level
    states = {s["name"]: int(s["num"]) for s in summary.get("num_pg_by_state", [])}
    total = int(summary.get("num_pgs", sum(states.values())))
    return PGSummary(total, states.get("active+clean", 0), states)


def health(service: CephBackend) -> tuple[str, list[str]]:
    """HEALTH_OK/WARN/ERR and one line per check (its summary; Jewel's summary strings)."""
    doc = service.json({"prefix": "health"}) or {}
    return str(doc.get("status", doc.get("overall_status", "?"))), health_lines(doc)


@dataclass(frozen=True)
class Step:
    """One line of the removal flow's progress. ``needs_force`` stops the flow for a decision;
    ``failed`` ends it without the OSD removed (an error, or the operator's cancel)."""

    text: str
    done: bool = False
    needs_force: bool = False
    failed: bool = False


class Cancelled(ServiceError):
    pass


def safe_to_destroy(service: CephBackend, osd_id: int) -> tuple[bool, str]:
    caps = service.capabilities()
    if "osd safe-to-destroy" not in caps.mgr_commands | caps.mon_commands:
        pgs = pg_summary(service)
        return pgs.all_clean, f"this release has no safe-to-destroy; PGs: {pgs.text()}"
    mgr = "osd safe-to-destroy" in caps.mgr_commands
    ret, doc, errs = service.command(
        {"prefix": "osd safe-to-destroy", "ids": [str(osd_id)]}, mgr=mgr, check=False
    )
    if ret == 0 and isinstance(doc, dict):
        if osd_id in doc.get("safe_to_destroy", []):
            return True, f"osd.{osd_id} is safe to destroy"
        why = []
        for key in ("active", "missing_stats", "stored_pgs"):
            if doc.get(key):
                why.append(f"{key.replace('_', ' ')}: {doc[key]}")
        return False, "; ".join(why) or errs.strip() or "Ceph says it is not safe yet"
    return False, errs.strip() or f"safe-to-destroy answered {ret}"


def removal_warning(tree: Tree, pool_sizes: dict[str, int], osd_id: int) -> str:
    """Why recovery could not finish without ``osd_id`` (too few OSDs left for a pool's
    copies), or "". OSDs are counted; with copies on separate hosts, hosts count."""
    left = sum(1 for o in tree.osds if o.id != osd_id and o.up and o.inn)
    short = sorted((n, p) for p, n in pool_sizes.items() if n > left)
    if not short:
        return ""
    size = short[-1][0]
    pools = ", ".join(p for _, p in short)
    return (
        f"without osd.{osd_id} only {left} OSD(s) are up and in, fewer than the {size} copies "
        f"of pool(s) {pools}: recovery cannot finish until an OSD is added or the pool's size is "
        f"lowered (ceph osd pool set POOL size N)"
    )


def pool_sizes(service: CephBackend) -> dict[str, int]:
    pools = service.json({"prefix": "osd pool ls", "detail": "detail"}) or []
    return {str(p["pool_name"]): int(p.get("size", 0)) for p in pools}


def remove_osd(
    service: CephBackend, osd_id: int, *, force: bool = False, cancel: threading.Event | None = None,
    wait: float = 600.0, interval: float = 1.0,
) -> Iterator[Step]:  # fmt: skip
    """The guided removal, step by step. Stops with ``needs_force`` when safe-to-destroy says
    no (run again with ``force=True`` to go on); raises ServiceError when it must refuse.
    A call that fails may still have been applied: the state read back decides."""
    cancel = cancel or threading.Event()
    tree = osd_tree(service)
    osd = tree.get(osd_id)
    if osd is None:
        raise ServiceError(f"osd.{osd_id} does not exist")
    if osd.up:
        raise ServiceError(
            f"osd.{osd_id} is up: stop its daemon (or wait until Ceph marks it down) before removing it"
        )
    yield Step(f"osd.{osd_id} on host {osd.host} is down")
    short = removal_warning(tree, pool_sizes(service), osd_id)
    if osd.inn:
        yield Step(_mark_out(service, osd_id))
    deadline = time.monotonic() + wait
    said = ""
    while True:
        pgs = pg_summary(service)
        if pgs.all_clean:
            yield Step(f"all {pgs.total} PGs are active+clean")
            break
        if cancel.is_set():
            raise Cancelled(f"stopped by the operator; osd.{osd_id} stays out (PGs: {pgs.text()})")
        if time.monotonic() > deadline:
            why = f": {short}" if short else ""
            raise ServiceError(
                f"PGs still not clean after {wait:.0f}s ({pgs.text()}); osd.{osd_id} stays out{why}"
            )
        text = f"waiting for recovery: {pgs.clean}/{pgs.total} PGs active+clean ({pgs.text()})"
        if short:
            text = f"recovery cannot finish: {short}. {pgs.clean}/{pgs.total} PGs active+clean"
        if text != said:  # a new line only when something changed
            yield Step(text)
            said = text
        cancel.wait(interval)
    safe, why = safe_to_destroy(service, osd_id)
    if not safe and not force:
        yield Step(f"Ceph says osd.{osd_id} is not safe to destroy: {why}", needs_force=True)
        return
    yield Step(why if safe else f"forced past safe-to-destroy: {why}")
    yield from _purge_checked(service, osd_id)
    host_left = tuple(i for i in tree.hosts.get(osd.host, ()) if i != osd_id)
    if osd.host in tree.hosts and not host_left:
        yield Step(_remove_host(service, osd.host))
    try:
        status, checks = health(service)
    except ServiceError as exc:
        yield Step(f"done: osd.{osd_id} is removed; health unknown ({exc})", done=True)
        return
    yield Step(f"done: {status}" + (f" ({'; '.join(checks)})" if checks else ""), done=True)


def _mark_out(service: CephBackend, osd_id: int) -> str:
    text = f"marked osd.{osd_id} out; Ceph now moves its data to the other OSDs"
    try:
        service.command({"prefix": "osd out", "ids": [str(osd_id)]})
    except ServiceError as exc:
        osd = _read_back(service, osd_id, exc)
        if osd is None or osd.inn:
            raise ServiceError(f"marking osd.{osd_id} out failed ({exc}); it is still in") from None
        return f"{text} (the call reported {exc}, but osd.{osd_id} is out)"
    return text


def _read_back(service: CephBackend, osd_id: int, exc: ServiceError) -> OSD | None:
    try:
        return osd_tree(service).get(osd_id)
    except ServiceError:
        raise ServiceError(f"{exc}; and the OSD tree cannot be read to see what was done") from None


def _purge_checked(service: CephBackend, osd_id: int) -> Iterator[Step]:
    try:
        yield from _purge(service, osd_id)
    except ServiceError as exc:
        if _read_back(service, osd_id, exc) is not None:
            raise ServiceError(
                f"removing osd.{osd_id} failed ({exc}); it is still in the OSD map"
            ) from None
        yield Step(f"purged osd.{osd_id} (the call reported {exc}, but the OSD is gone)")


def _remove_host(service: CephBackend, host: str) -> str:
    try:
        service.command({"prefix": "osd crush remove", "name": host})
    except ServiceError as exc:
        try:
            gone = host not in osd_tree(service).hosts
        except ServiceError:
            gone = False
        if not gone:
            return f"could not remove the empty host bucket {host} ({exc}): ceph osd crush remove {host}"
    return f"removed the empty host bucket {host}"


def _purge(service: CephBackend, osd_id: int) -> Iterator[Step]:
    where = service.capabilities().purge
    if where is not None:
        cmd: dict[str, Any] = {"prefix": "osd purge", "id": osd_id}
        cmd.update(
            {"yes_i_really_mean_it": True} if where == "mgr" else {"sure": "--yes-i-really-mean-it"}
        )
        service.command(cmd, mgr=where == "mgr")
        yield Step(f"purged osd.{osd_id} (CRUSH item, auth key and OSD id)")
        return
    for cmd, text in (
        ({"prefix": "osd crush remove", "name": f"osd.{osd_id}"}, "removed from the CRUSH map"),
        ({"prefix": "auth del", "entity": f"osd.{osd_id}"}, "auth key deleted"),
        ({"prefix": "osd rm", "ids": [str(osd_id)]}, "OSD id removed"),
    ):
        service.command(cmd)
        yield Step(f"osd.{osd_id}: {text}")
