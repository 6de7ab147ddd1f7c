"""Ceph: reachable, healthy, and a lost Ceph node: its down OSDs grouped by CRUSH host,
the node or machine behind that host, and the guided removal of each OSD, then of the
emptied host bucket."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from kubeha_tui.ceph.osds import OSD
from kubeha_tui.kube.models import Node, Pod

from .findings import REMOVE_BUCKET, REMOVE_OSDS, Finding, NextStep, Severity
from .observation import Observation
from .startup import CHAIN

# Health checks another rule already explains with its own finding.
EXPLAINED_BY_OSDS = {
    "OSD_DOWN",
    "OSD_HOST_DOWN",
    "PG_DEGRADED",
    "PG_AVAILABILITY",
    "OBJECT_MISPLACED",
}


def check_ceph(obs: Observation) -> Iterator[Finding]:
    if obs.ceph is None and "ceph" in obs.pending:
        return
    if obs.ceph is None:
        yield Finding(
            "critical", "ceph", "Ceph cluster", "Ceph does not answer",
            (f"ceph: {obs.ceph_error or 'not read yet'}",),
            "the mons are down or out of quorum, or this conf/keyring cannot reach them",
            NextStep("check the ceph-mon pods; on a stack node use the secret ceph/ceph-conf-combined (Ceph screen, k)",
                     command="kubectl -n ceph get pods -l daemon=mon -o wide"),
            "ceph.unreachable", CHAIN["ceph"],
        )  # fmt: skip
        return
    yield from _lost_hosts(obs)
    yield from _empty_buckets(obs)
    yield from _health(obs)


def _health(obs: Observation) -> Iterator[Finding]:
    snap = obs.ceph
    assert snap is not None
    if snap.health == "HEALTH_OK":
        return
    severity: Severity = "error" if snap.health == "HEALTH_ERR" else "warning"
    down = any(not o.up for o in snap.tree.osds)
    lines = list(snap.checks) or list(obs.ceph_summary)
    for line in lines:
        code, _, message = line.partition(": ")
        if not message:  # a Jewel summary string: no code
            code, message = "", line
        if down and code in EXPLAINED_BY_OSDS:
            continue
        yield Finding(
            severity, "ceph", f"health {code or 'summary'}", f"{snap.health}: {message}",
            (f"ceph: {line}", f"ceph: PGs {snap.pgs.text()}"),
            "Ceph's own health check" + (f" {code}" if code else ""),
            NextStep("read the check's detail", command="ceph health detail"),
            f"ceph.health.{code or 'summary'}", CHAIN["ceph"] + 1,
        )  # fmt: skip
    if not lines and not down:
        yield Finding(
            severity, "ceph", "health", f"Ceph reports {snap.health}", (f"ceph: {snap.health}",),
            "Ceph gave no check detail", NextStep("read the detail", command="ceph health detail"),
            "ceph.health", CHAIN["ceph"] + 1,
        )  # fmt: skip


@dataclass(frozen=True)
class HostPlace:
    """Where a CRUSH host bucket lives: its OSD pod, its node and its fleet machine."""

    pod: Pod | None
    node: Node | None
    node_name: str  # known even when the node object is gone
    in_fleet: bool | None  # None: fleet unreadable or no address to match

    @property
    def lost(self) -> bool:
        node_bad = self.node is None or not self.node.status.startswith("Ready")
        return bool(self.node_name) and (self.in_fleet is False or node_bad)

    def lines(self, host: str) -> list[str]:
        out = []
        if self.pod is not None:
            out.append(
                f"kubernetes: pod {self.pod.namespace}/{self.pod.name} {self.pod.status} on {self.pod.node}"
            )
        if self.node is not None:
            out.append(f"kubernetes: node {self.node.name} {self.node.status}")
        elif self.node_name:
            out.append(f"kubernetes: node {self.node_name} does not exist")
        else:
            out.append(f"kubernetes: no pod or node named {host}")
        if self.in_fleet is not None:
            out.append(
                f"fleet: machine {self.node_name} {'present' if self.in_fleet else 'gone from fleet'}"
            )
        return out


def place_of(host: str, obs: Observation) -> HostPlace:
    """The stack names an OSD's host bucket after its OSD pod; else after the node."""
    pods = obs.kube.pods.values() if obs.kube else ()
    nodes = {n.name: n for n in obs.kube.nodes.values()} if obs.kube else {}
    pod = next((p for p in pods if p.name == host and p.namespace == "ceph"), None)
    pod = pod or next((p for p in pods if p.name == host), None)
    node_name = pod.node if pod is not None and pod.node != "<none>" else ""
    if not node_name:
        by_ip = {n.ip: n.name for n in nodes.values()}
        node_name = host if host in nodes else by_ip.get(host, "")
    machines = obs.fleet.machines.values() if obs.fleet else ()
    if not node_name and any(m.primary_ip == host for m in machines):
        node_name = host
    node = nodes.get(node_name) if node_name else None
    in_fleet = None
    if obs.fleet is not None and node_name:
        ip = node.ip if node is not None else node_name
        in_fleet = any(m.primary_ip in (ip, node_name) for m in obs.fleet.machines.values())
    return HostPlace(pod, node, node_name, in_fleet)


def osd_line(o: OSD) -> str:
    return (
        f"ceph: {o.name} on host {o.host}: {'up' if o.up else 'down'}, {'in' if o.inn else 'out'}, "
        f"weight {o.weight:g}, reweight {o.reweight:g}"
    )


def _lost_hosts(obs: Observation) -> Iterator[Finding]:
    snap = obs.ceph
    assert snap is not None
    down: dict[str, list[OSD]] = {}
    for o in snap.tree.osds:
        if not o.up:
            down.setdefault(o.host, []).append(o)
    for host, osds in sorted(down.items()):
        place = place_of(host, obs)
        ids = [str(o.id) for o in osds]
        names = ", ".join(o.name for o in osds)
        evidence = (
            [osd_line(o) for o in osds] + place.lines(host) + [f"ceph: PGs {snap.pgs.text()}"]
        )
        left = [f"remove {o.name}" for o in osds]
        if len(snap.tree.hosts.get(host, ())) == len(osds):
            left.append(f"then remove the emptied host bucket {host}")
        evidence.append("left to do: " + "; ".join(left))
        if place.lost or not place.node_name:
            cause = (
                f"the Ceph node {place.node_name} was lost: "
                + ", ".join(
                    x for x in (
                        "gone from fleet" if place.in_fleet is False else "",
                        "NotReady in Kubernetes" if place.node is not None and not place.node.status.startswith("Ready") else "",
                        "no longer a Kubernetes node" if place.node is None and place.node_name else "",
                    ) if x
                )
                if place.node_name else f"no pod, node or machine matches host {host}: it is probably gone"
            )  # fmt: skip
            step = NextStep(
                f"remove {names} one at a time (out, wait for the PGs, purge), then the host bucket {host}",
                REMOVE_OSDS,
                " ; ".join(
                    f"ceph osd out {i}; ceph osd purge {i} --yes-i-really-mean-it" for i in ids
                )
                + f"; ceph osd crush remove {host}",
                (host, *ids),
            )
            code = "ceph.host-lost"
        else:
            pod = place.pod
            cause = (
                f"the node {place.node_name} is up but its OSD pod {pod.name} is {pod.status}"
                if pod is not None and pod.status != "Running"
                else f"the node {place.node_name} is up: the OSD daemon stopped or cannot reach the mons"
            )
            step = NextStep(
                "read the OSD pod's log and restart it; remove the OSDs only if their disk is lost",
                command=f"kubectl -n ceph logs {pod.name}"
                if pod is not None
                else f"ceph osd find {ids[0]}",
            )
            code = "ceph.osds-down"
        yield Finding(
            "error", "ceph", f"host {host}", f"{len(osds)} OSD{'s' if len(osds) > 1 else ''} down on host {host}: {names}",
            tuple(evidence), cause, step, code, CHAIN["ceph"] + 1,
        )  # fmt: skip


def _empty_buckets(obs: Observation) -> Iterator[Finding]:
    snap = obs.ceph
    assert snap is not None
    for host, children in sorted(snap.tree.hosts.items()):
        if children:
            continue
        yield Finding(
            "warning", "ceph", f"host {host}", f"CRUSH host bucket {host} is empty",
            (f"ceph: host {host} has no OSDs",),
            "its OSDs were removed; the bucket stays in the CRUSH map until removed",
            NextStep(f"remove the host bucket {host}", REMOVE_BUCKET, f"ceph osd crush remove {host}", (host,)),
            "ceph.empty-bucket", CHAIN["ceph"] + 1,
        )  # fmt: skip
