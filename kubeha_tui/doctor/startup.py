"""The cluster does not start: the start-up chain, link by link (fleet answers, its
machines, the six pidalio units in order, the Kubernetes API, a Ready node for every
machine, the kube-system and ceph pods, then Ceph). Each broken link is a finding
whose ``chain`` says where it sits; the first one is the headline."""

from __future__ import annotations

from collections.abc import Iterator

from kubeha_tui.fleet.client import FleetSnapshot
from kubeha_tui.fleet.models import Machine, UnitState

from .findings import Finding, NextStep
from .observation import Observation

ONE_OF = (
    "pidalio.service",
    "pidalio-apiserver.service",
    "pidalio-controller.service",
    "pidalio-scheduler.service",
)
ON_EVERY_MACHINE = ("pidalio-node.service", "pidalio-proxy.service")
UNITS = ONE_OF + ON_EVERY_MACHINE
CHAIN = {
    "fleet": 1,
    "machines": 2,
    **{unit: 3 + n for n, unit in enumerate(UNITS)},  # 3 .. 8
    "kube": 9,
    "nodes": 10,
    "system-pods": 11,
    "ceph": 12,
}
SYSTEM_NAMESPACES = ("kube-system", "ceph")


def machine_label(machine_id: str, machines: dict[str, Machine]) -> str:
    m = machines.get(machine_id)
    if m is None:
        return f"{machine_id[:8]}... (gone from fleet)" if machine_id else "no machine"
    region = m.metadata.get("region", "")
    return f"{m.short_id} {m.primary_ip}" + (f" ({region})" if region else "")


def state_row(state: UnitState, machines: dict[str, Machine]) -> str:
    return (
        f"fleet: {state.name} on {machine_label(state.machine_id, machines)}: "
        f"{state.load_state or '-'} {state.active_state or '-'} {state.sub_state or '-'}"
    )


def check_fleet(obs: Observation) -> Iterator[Finding]:
    if obs.fleet is None and "fleet" in obs.pending:
        return
    if obs.fleet is None:
        reason = obs.fleet_error or "not read yet"
        etcd = "503" in reason or "etcd" in reason
        yield Finding(
            "critical", "fleet", "fleet API",
            "fleet answers 503: etcd is unreachable" if etcd else "fleet does not answer",
            (f"fleet: {reason}",),
            "etcd is down or partitioned from this node; fleet cannot read or schedule units"
            if etcd else "fleetd is not running here, or the endpoint/SSH target is wrong",
            NextStep(
                "check etcd on the nodes" if etcd else "check fleet on the node",
                command="systemctl status etcd2 fleet; etcdctl cluster-health" if etcd
                else "systemctl status fleet.socket fleet.service",
            ),
            "fleet.etcd" if etcd else "fleet.unreachable", CHAIN["fleet"],
        )  # fmt: skip
        return
    snap = obs.fleet
    yield from _machines(snap)
    yield from _units(snap)


def _machines(snap: FleetSnapshot) -> Iterator[Finding]:
    if not snap.machines:
        yield Finding(
            "critical", "fleet", "fleet machines", "fleet has no machines",
            ("fleet: 0 machines",),
            "no fleet agent is heartbeating: fleet.service stopped on every node, or etcd lost their keys",
            NextStep("start fleet on the nodes", command="sudo systemctl start fleet"),
            "fleet.no-machines", CHAIN["machines"],
        )  # fmt: skip
        return
    gone = sorted({s.machine_id for s in snap.states if s.machine_id not in snap.machines})
    for mid in gone:
        rows = [state_row(s, snap.machines) for s in snap.states if s.machine_id == mid]
        yield Finding(
            "error", "fleet", f"machine {mid[:8]}", f"machine {mid[:8]} left fleet; its units still show there",
            tuple(rows),
            "the node stopped heartbeating (powered off, crashed or cut off); fleet keeps its unit states until their TTL",
            NextStep("bring the node back, or scale it down and remove what it hosted (Ceph OSDs)",
                     command="fleetctl list-machines"),
            "fleet.machine-gone", CHAIN["machines"],
        )  # fmt: skip


def _units(snap: FleetSnapshot) -> Iterator[Finding]:
    machines = snap.machines
    submitted = {u.name for u in snap.units}
    loaded = bool(snap.units)  # the unit files come in the poll's second part
    for unit in UNITS:
        states = [s for s in snap.states if s.name == unit]
        chain = CHAIN[unit]
        if not states and (unit not in submitted) and loaded:
            yield Finding(
                "error", "fleet", f"unit {unit}", f"{unit} is not submitted to fleet",
                (f"fleet: no unit file and no state for {unit}",),
                "the unit was destroyed, or the cluster bootstrap never submitted it",
                NextStep(f"submit and start {unit} again", command=f"fleetctl start {unit}"),
                "fleet.unit-missing", chain,
            )  # fmt: skip
            continue
        bad = [s for s in states if s.active_state != "active" and s.machine_id in machines]
        for s in bad:
            failed = s.active_state == "failed"
            yield Finding(
                "error", "fleet", f"unit {unit} on {machine_label(s.machine_id, machines)}",
                f"{unit} is {s.active_state or 'not running'} on {machine_label(s.machine_id, machines)}",
                (state_row(s, machines),),
                "systemd reports the unit failed: its process exited with an error" if failed
                else "the unit is loaded but not running (starting, or stopped)",
                NextStep(f"read {unit}'s journal on its machine (Fleet screen, j), then restart it",
                         command=f"fleetctl journal {unit}; fleetctl stop {unit} && fleetctl start {unit}"),
                "fleet.unit-failed" if failed else "fleet.unit-inactive", chain,
            )  # fmt: skip
        if unit in ON_EVERY_MACHINE:
            having = {s.machine_id for s in states}
            for mid, m in sorted(machines.items()):
                if mid not in having and (states or unit in submitted):
                    yield Finding(
                        "error", "fleet", f"unit {unit} on {machine_label(mid, machines)}",
                        f"{unit} does not run on {machine_label(mid, machines)}",
                        tuple(state_row(s, machines) for s in states) or (f"fleet: no state for {unit}",),
                        "a global unit runs on every machine; this machine's agent has not started it "
                        "(it just joined, or its metadata does not match the unit's)",
                        NextStep(f"look at {unit} on {m.primary_ip}", command=f"fleetctl list-units | grep {unit}"),
                        "fleet.unit-missing-on-machine", chain,
                    )  # fmt: skip
        elif not [s for s in states if s.machine_id in machines] and states:
            yield Finding(
                "error", "fleet", f"unit {unit}", f"{unit} runs on no live machine",
                tuple(state_row(s, machines) for s in states),
                "its machine left fleet and the unit was not rescheduled yet",
                NextStep(f"restart {unit} so fleet schedules it elsewhere",
                         command=f"fleetctl stop {unit} && fleetctl start {unit}"),
                "fleet.unit-orphaned", chain,
            )  # fmt: skip


def apiserver_cause(obs: Observation) -> str:
    """Why the Kubernetes API may be down, as fleet sees pidalio-apiserver."""
    if obs.fleet is None:
        return "fleet cannot be read either, so the state of pidalio-apiserver is unknown"
    states = [s for s in obs.fleet.states if s.name == "pidalio-apiserver.service"]
    live = [s for s in states if s.machine_id in obs.fleet.machines]
    if not live:
        return "pidalio-apiserver.service runs on no live fleet machine"
    bad = [s for s in live if s.active_state != "active"]
    if bad:
        return f"pidalio-apiserver.service is {bad[0].active_state} on {machine_label(bad[0].machine_id, obs.fleet.machines)}"
    return "pidalio-apiserver.service is active in fleet: the API may be starting, or unreachable from here (SSH forward, Weave DNS)"


def check_kube(obs: Observation) -> Iterator[Finding]:
    if obs.kube is None and "kube" in obs.pending:
        return
    if obs.kube is None:
        yield Finding(
            "critical", "kube", "Kubernetes API", "the Kubernetes API does not answer",
            (f"kubernetes: {obs.kube_error or 'not read yet'}",),
            apiserver_cause(obs),
            NextStep("read pidalio-apiserver's journal (Fleet screen, j) and restart it",
                     command="fleetctl journal pidalio-apiserver.service; curl -s http://pidalio-apiserver:8080/healthz"),
            "kube.unreachable", CHAIN["kube"],
        )  # fmt: skip
        return
    yield from _nodes(obs)
    yield from _system_pods(obs)


def _nodes(obs: Observation) -> Iterator[Finding]:
    assert obs.kube is not None
    nodes = obs.kube.nodes
    by_ip = {n.ip: n for n in nodes.values()} | {n.name: n for n in nodes.values()}
    if obs.fleet is not None:
        for m in sorted(obs.fleet.machines.values(), key=lambda m: m.primary_ip):
            if m.primary_ip not in by_ip:
                yield Finding(
                    "error", "kube", f"machine {m.primary_ip}", f"fleet machine {m.primary_ip} has no Kubernetes node",
                    (f"fleet: machine {m.short_id} {m.primary_ip}", f"kubernetes: nodes {', '.join(sorted(by_ip)) or 'none'}"),
                    "pidalio-node (the kubelet) on that machine has not registered it",
                    NextStep("read pidalio-node's journal on that machine", command="fleetctl journal pidalio-node.service"),
                    "kube.node-missing", CHAIN["nodes"],
                )  # fmt: skip
    machine_ips = {m.primary_ip for m in obs.fleet.machines.values()} if obs.fleet else set()
    # A machine that left with its unit states still listed is reported from those (above).
    departed = obs.fleet is not None and any(
        s.machine_id not in obs.fleet.machines for s in obs.fleet.states
    )
    for node in sorted(nodes.values(), key=lambda n: n.name):
        if (
            obs.fleet is not None
            and obs.fleet.machines
            and not departed
            and node.ip not in machine_ips
        ):
            yield Finding(
                "error", "fleet", f"machine {node.ip}", f"machine {node.ip} is gone from fleet",
                (f"kubernetes: node {node.name} {node.status} {node.ip}",
                 f"fleet: machines {', '.join(sorted(machine_ips))}"),
                "Kubernetes still has its node, but its fleet agent stopped heartbeating: the machine is down or cut off",
                NextStep("bring the machine back, or scale it down and remove what it hosted (its Ceph OSDs)",
                         command="fleetctl list-machines"),
                "fleet.machine-gone", CHAIN["machines"],
            )  # fmt: skip
        if node.status.startswith("Ready"):
            continue
        in_fleet = (
            "fleet: unknown"
            if obs.fleet is None
            else f"fleet: machine {node.ip} {'present' if node.ip in machine_ips else 'gone from fleet'}"
        )
        yield Finding(
            "error", "kube", f"node {node.name}", f"node {node.name} is {node.status}",
            (f"kubernetes: node {node.name} {node.status} {node.ip} {node.labels}", in_fleet),
            "its kubelet stopped posting status: the machine is down, or pidalio-node failed there"
            if node.ip in machine_ips else "its machine is gone from fleet: the node was lost",
            NextStep("check pidalio-node on that machine, or remove the node if it is gone",
                     command=f"fleetctl journal pidalio-node.service; kubectl delete node {node.name}"),
            "kube.node-not-ready", CHAIN["nodes"],
        )  # fmt: skip


def _system_pods(obs: Observation) -> Iterator[Finding]:
    assert obs.kube is not None
    for pod in sorted(obs.kube.pods.values(), key=lambda p: (p.namespace, p.name)):
        if pod.namespace not in SYSTEM_NAMESPACES or pod.status in ("Running", "Succeeded"):
            continue
        events = obs.events_for(pod.namespace, pod.name)
        yield Finding(
            "error", "kube", f"pod {pod.namespace}/{pod.name}",
            f"{pod.namespace} pod {pod.name} is {pod.status}",
            (f"kubernetes: pod {pod.namespace}/{pod.name} {pod.ready} {pod.status} on {pod.node}",
             *(e.line() for e in events[-3:])),
            events[-1].message if events else "the cluster's own services (DNS, Ceph) are not all up",
            NextStep("describe the pod and read its log (Kubernetes screen, d and l)",
                     command=f"kubectl -n {pod.namespace} describe pod {pod.name}"),
            "kube.system-pod", CHAIN["system-pods"],
        )  # fmt: skip
