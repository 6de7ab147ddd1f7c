"""kubectl's server-side printers (pkg/printers/internalversion), written for the sandbox
alone: cells computed from the object as a v1.31 apiserver computes them. Columns of
priority 1 are the ones ``-o wide`` adds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]
Column = tuple[str, str, int, Callable[[Obj], Any]]  # name, type, priority, cell


def parse_time(stamp: object) -> datetime | None:
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """apimachinery's duration.HumanDuration."""
    s = int(seconds)  # Go truncates toward zero
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes, hours = s // 60, s // 3600
    if minutes < 10:
        return f"{minutes}m{s % 60}s" if s % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d{hours % 24}h" if hours % 24 else f"{hours // 24}d"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        years, days = hours // 24 // 365, (hours // 24) % 365
        return f"{years}y{days}d" if days else f"{years}y"
    return f"{hours // 24 // 365}y"


def since(stamp: object, now: datetime | None = None) -> str:
    """translateTimestampSince: ``<unknown>`` for a missing time."""
    when = parse_time(stamp)
    if when is None:
        return "<unknown>"
    return human_duration(((now or datetime.now(UTC)) - when).total_seconds())


def format_labels(labels: object) -> str:
    """labels.FormatLabels: sorted ``k=v`` pairs, ``<none>`` when empty."""
    if not isinstance(labels, dict) or not labels:
        return "<none>"
    return ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def format_selector(selector: object) -> str:
    """metav1.FormatLabelSelector for matchLabels and matchExpressions."""
    if not isinstance(selector, dict):
        return "<none>"
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op, values = expr.get("operator", ""), ",".join(expr.get("values") or [])
        key = expr.get("key", "")
        parts.append(
            {
                "In": f"{key} in ({values})",
                "NotIn": f"{key} notin ({values})",
                "Exists": key,
                "DoesNotExist": f"!{key}",
            }.get(op, f"{key} {op} ({values})")
        )
    return ",".join(parts) or "<none>"


# -- pods ------------------------------------------------------------------------


def _terminated_reason(term: Obj, prefix: str = "") -> str:
    if term.get("reason"):
        return prefix + str(term["reason"])
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode', 0)}"


def _condition_true(pod: Obj, kind: str) -> bool:
    return any(
        c.get("type") == kind and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions") or []
    )


def _restartable(spec: Obj | None) -> bool:
    return bool(spec) and (spec or {}).get("restartPolicy") == "Always"


def _finished(cs: Obj) -> datetime | None:
    return parse_time(((cs.get("lastState") or {}).get("terminated") or {}).get("finishedAt"))


def _later(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if b and (a is None or b > a) else a


@dataclass
class _Tally:
    reason: str
    ready: int = 0
    restarts: int = 0
    last_restart: datetime | None = None
    initializing: bool = False


def _init_containers(pod: Obj, tally: _Tally) -> tuple[int, datetime | None]:
    """printPod's init-container loop; returns the sidecars' restarts and last restart."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    specs = {c.get("name"): c for c in spec.get("initContainers") or []}
    sidecar_restarts, sidecar_last = 0, None
    for i, cs in enumerate(status.get("initContainerStatuses") or []):
        state, count = cs.get("state") or {}, int(cs.get("restartCount", 0))
        tally.restarts += count
        tally.last_restart = _later(tally.last_restart, _finished(cs))
        sidecar = _restartable(specs.get(cs.get("name")))
        if sidecar:
            sidecar_restarts += count
            sidecar_last = _later(sidecar_last, _finished(cs))
        term, waiting = state.get("terminated"), state.get("waiting") or {}
        if term is not None and int(term.get("exitCode", 0)) == 0:
            continue
        if sidecar and cs.get("started"):
            tally.ready += 1 if cs.get("ready") else 0
            continue
        if term is not None:
            tally.reason = _terminated_reason(term, "Init:")
        elif waiting.get("reason") and waiting["reason"] != "PodInitializing":
            tally.reason = f"Init:{waiting['reason']}"
        else:
            tally.reason = f"Init:{i}/{len(spec.get('initContainers') or [])}"
        tally.initializing = True
        break
    return sidecar_restarts, sidecar_last


def pod_columns(pod: Obj, now: datetime | None = None) -> tuple[str, str, str]:
    """READY, STATUS and RESTARTS exactly as printPod computes them."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    total = len(spec.get("containers") or []) + sum(
        1 for c in spec.get("initContainers") or [] if _restartable(c)
    )
    phase = str(status.get("phase") or "")
    tally = _Tally(str(status.get("reason") or phase))
    sidecar_restarts, sidecar_last = _init_containers(pod, tally)
    if not tally.initializing or _condition_true(pod, "Initialized"):
        tally.restarts, tally.last_restart, running = sidecar_restarts, sidecar_last, False
        for cs in reversed(status.get("containerStatuses") or []):
            state = cs.get("state") or {}
            tally.restarts += int(cs.get("restartCount", 0))
            tally.last_restart = _later(tally.last_restart, _finished(cs))
            waiting, term = state.get("waiting") or {}, state.get("terminated")
            if waiting.get("reason"):
                tally.reason = str(waiting["reason"])
            elif term is not None:
                tally.reason = _terminated_reason(term)
            elif cs.get("ready") and "running" in state:
                running = True
                tally.ready += 1
        if tally.reason == "Completed" and running:
            tally.reason = "Running" if _condition_true(pod, "Ready") else "NotReady"
    deleting = bool(pod.get("metadata", {}).get("deletionTimestamp"))
    if deleting and status.get("reason") == "NodeLost":
        tally.reason = "Unknown"
    elif deleting and phase not in {"Succeeded", "Failed"}:
        tally.reason = "Terminating"
    shown = str(tally.restarts)
    if tally.restarts and tally.last_restart is not None:
        ago = ((now or datetime.now(UTC)) - tally.last_restart).total_seconds()
        shown = f"{tally.restarts} ({human_duration(ago)} ago)"
    return f"{tally.ready}/{total}", tally.reason, shown


def _pod_ip(pod: Obj) -> str:
    status = pod.get("status") or {}
    ips = status.get("podIPs") or []
    return str((ips[0].get("ip") if ips else status.get("podIP")) or "<none>")


def _readiness_gates(pod: Obj) -> str:
    gates = (pod.get("spec") or {}).get("readinessGates") or []
    if not gates:
        return "<none>"
    conditions = {
        c.get("type"): c.get("status") for c in pod.get("status", {}).get("conditions") or []
    }
    ok = sum(1 for g in gates if conditions.get(g.get("conditionType")) == "True")
    return f"{ok}/{len(gates)}"


# -- the rest ----------------------------------------------------------------------


def _containers(o: Obj) -> list[Obj]:
    return list(o.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or [])


def _ports(svc: Obj) -> str:
    pieces = []
    for p in svc.get("spec", {}).get("ports") or []:
        node = f":{p['nodePort']}" if p.get("nodePort") else ""
        pieces.append(f"{p.get('port')}{node}/{p.get('protocol', 'TCP')}")
    return ",".join(pieces) or "<none>"


def _external_ip(svc: Obj) -> str:
    spec = svc.get("spec") or {}
    kind, external = spec.get("type", "ClusterIP"), spec.get("externalIPs") or []
    if kind in {"ClusterIP", "NodePort"}:
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        ingress = (svc.get("status") or {}).get("loadBalancer", {}).get("ingress") or []
        ips = [
            i.get("ip") or i.get("hostname") for i in ingress if i.get("ip") or i.get("hostname")
        ]
        return ",".join(ips + external) or "<pending>"
    if kind == "ExternalName":
        return str(spec.get("externalName", ""))
    return "<unknown>"


def _cluster_ip(svc: Obj) -> str:
    spec = svc.get("spec") or {}
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return str(ips[0]) if ips else "<none>"


def node_status(node: Obj) -> str:
    conditions = {
        c.get("type"): c.get("status") for c in node.get("status", {}).get("conditions") or []
    }
    states = []
    if "Ready" in conditions:
        states.append("Ready" if conditions["Ready"] == "True" else "NotReady")
    if not states:
        states.append("Unknown")
    if (node.get("spec") or {}).get("unschedulable"):
        states.append("SchedulingDisabled")
    return ",".join(states)


def _roles(node: Obj) -> str:
    labels = node.get("metadata", {}).get("labels") or {}
    roles = {k.split("/", 1)[1] for k in labels if k.startswith("node-role.kubernetes.io/")}
    if labels.get("kubernetes.io/role"):
        roles.add(labels["kubernetes.io/role"])
    return ",".join(sorted(r for r in roles if r)) or "<none>"


def _address(node: Obj, kind: str) -> str:
    for a in node.get("status", {}).get("addresses") or []:
        if a.get("type") == kind:
            return str(a.get("address"))
    return "<none>"


def _info(node: Obj, key: str) -> str:
    return str(node.get("status", {}).get("nodeInfo", {}).get(key) or "<unknown>")


def _event_time(o: Obj, key: str) -> str:
    stamp = o.get(key) or o.get("eventTime")
    if key == "lastTimestamp" and o.get("series"):
        stamp = o["series"].get("lastObservedTime")
    return since(stamp)


def _endpoints(o: Obj) -> str:
    pairs = [
        f"{a['ip']}:{p['port']}"
        for s in o.get("subsets") or []
        for a in s.get("addresses") or []
        for p in s.get("ports") or []
    ]
    if not pairs:
        return "<none>"
    shown = ",".join(pairs[:3])
    return shown + (f" + {len(pairs) - 3} more..." if len(pairs) > 3 else "")


def _slice_endpoints(o: Obj) -> str:
    addresses = [a for e in o.get("endpoints") or [] for a in e.get("addresses") or []]
    if not addresses:
        return "<unset>"
    shown = ",".join(addresses[:3])
    return shown + (f" + {len(addresses) - 3} more..." if len(addresses) > 3 else "")


def _slice_ports(o: Obj) -> str:
    ports = [str(p.get("port")) for p in o.get("ports") or [] if p.get("port") is not None]
    return ",".join(ports) or "<unset>"


def _name(o: Obj) -> str:
    return str(o["metadata"]["name"])


def _age(o: Obj) -> str:
    return since(o["metadata"].get("creationTimestamp"))


def _or_na(value: object) -> str:
    return "N/A" if value is None else str(value)


def _pod_cell(index: int) -> Callable[[Obj], str]:
    return lambda o: pod_columns(o)[index]


COLUMNS: dict[str, list[Column]] = {
    "pods": [
        ("Name", "string", 0, _name),
        ("Ready", "string", 0, _pod_cell(0)),
        ("Status", "string", 0, _pod_cell(1)),
        ("Restarts", "string", 0, _pod_cell(2)),
        ("Age", "string", 0, _age),
        ("IP", "string", 1, _pod_ip),
        ("Node", "string", 1, lambda o: o.get("spec", {}).get("nodeName") or "<none>"),
        ("Nominated Node", "string", 1, lambda o: o.get("status", {}).get("nominatedNodeName") or "<none>"),
        ("Readiness Gates", "string", 1, _readiness_gates),
    ],
    "services": [
        ("Name", "string", 0, _name),
        ("Type", "string", 0, lambda o: o["spec"].get("type", "ClusterIP")),
        ("Cluster-IP", "string", 0, _cluster_ip),
        ("External-IP", "string", 0, _external_ip),
        ("Port(s)", "string", 0, _ports),
        ("Age", "string", 0, _age),
        ("Selector", "string", 1, lambda o: format_labels(o["spec"].get("selector"))),
    ],
    "deployments": [
        ("Name", "string", 0, _name),
        ("Ready", "string", 0,
         lambda o: f"{o.get('status', {}).get('readyReplicas', 0)}/{o['spec'].get('replicas', 1)}"),
        ("Up-to-date", "integer", 0, lambda o: o.get("status", {}).get("updatedReplicas", 0)),
        ("Available", "integer", 0, lambda o: o.get("status", {}).get("availableReplicas", 0)),
        ("Age", "string", 0, _age),
        ("Containers", "string", 1, lambda o: ",".join(c["name"] for c in _containers(o))),
        ("Images", "string", 1, lambda o: ",".join(c.get("image", "") for c in _containers(o))),
        ("Selector", "string", 1, lambda o: format_selector(o["spec"].get("selector"))),
    ],
    "replicasets": [
        ("Name", "string", 0, _name),
        ("Desired", "integer", 0, lambda o: o["spec"].get("replicas", 0)),
        ("Current", "integer", 0, lambda o: o.get("status", {}).get("replicas", 0)),
        ("Ready", "integer", 0, lambda o: o.get("status", {}).get("readyReplicas", 0)),
        ("Age", "string", 0, _age),
        ("Containers", "string", 1, lambda o: ",".join(c["name"] for c in _containers(o))),
        ("Images", "string", 1, lambda o: ",".join(c.get("image", "") for c in _containers(o))),
        ("Selector", "string", 1, lambda o: format_selector(o["spec"].get("selector"))),
    ],
    "nodes": [
        ("Name", "string", 0, _name),
        ("Status", "string", 0, node_status),
        ("Roles", "string", 0, _roles),
        ("Age", "string", 0, _age),
        ("Version", "string", 0, lambda o: _info(o, "kubeletVersion")),
        ("Internal-IP", "string", 1, lambda o: _address(o, "InternalIP")),
        ("External-IP", "string", 1, lambda o: _address(o, "ExternalIP")),
        ("OS-Image", "string", 1, lambda o: _info(o, "osImage")),
        ("Kernel-Version", "string", 1, lambda o: _info(o, "kernelVersion")),
        ("Container-Runtime", "string", 1, lambda o: _info(o, "containerRuntimeVersion")),
    ],
    "namespaces": [
        ("Name", "string", 0, _name),
        ("Status", "string", 0, lambda o: o.get("status", {}).get("phase", "Active")),
        ("Age", "string", 0, _age),
    ],
    "secrets": [
        ("Name", "string", 0, _name),
        ("Type", "string", 0, lambda o: o.get("type", "Opaque")),
        ("Data", "string", 0, lambda o: len(o.get("data") or {})),
        ("Age", "string", 0, _age),
    ],
    "configmaps": [
        ("Name", "string", 0, _name),
        ("Data", "string", 0, lambda o: len(o.get("data") or {}) + len(o.get("binaryData") or {})),
        ("Age", "string", 0, _age),
    ],
    "endpoints": [
        ("Name", "string", 0, _name),
        ("Endpoints", "string", 0, _endpoints),
        ("Age", "string", 0, _age),
    ],
    "endpointslices": [
        ("Name", "string", 0, _name),
        ("AddressType", "string", 0, lambda o: o.get("addressType", "")),
        ("Ports", "string", 0, _slice_ports),
        ("Endpoints", "string", 0, _slice_endpoints),
        ("Age", "string", 0, _age),
    ],
    "poddisruptionbudgets": [
        ("Name", "string", 0, _name),
        ("Min Available", "string", 0, lambda o: _or_na(o["spec"].get("minAvailable"))),
        ("Max Unavailable", "string", 0, lambda o: _or_na(o["spec"].get("maxUnavailable"))),
        ("Allowed Disruptions", "integer", 0, lambda o: (o.get("status") or {}).get("disruptionsAllowed", 0)),
        ("Age", "string", 0, _age),
    ],
    "events": [
        ("Last Seen", "string", 0, lambda o: _event_time(o, "lastTimestamp")),
        ("Type", "string", 0, lambda o: o.get("type", "")),
        ("Reason", "string", 0, lambda o: o.get("reason", "")),
        ("Object", "string", 0,
         lambda o: f"{o['involvedObject'].get('kind', '').lower()}/{o['involvedObject'].get('name', '')}"),
        ("Subobject", "string", 1, lambda o: o["involvedObject"].get("fieldPath", "")),
        ("Source", "string", 1,
         lambda o: ", ".join(v for v in (o.get("source", {}).get("component", ""), o.get("source", {}).get("host", "")) if v)),
        ("Message", "string", 0, lambda o: str(o.get("message", "")).strip()),
        ("First Seen", "string", 1, lambda o: _event_time(o, "firstTimestamp")),
        ("Count", "integer", 1, lambda o: (o.get("series") or {}).get("count") or o.get("count", 0)),
        ("Name", "string", 1, _name),
    ],
}  # fmt: skip
DEFAULT_COLUMNS: list[Column] = [("Name", "string", 0, _name), ("Age", "string", 0, _age)]


def columns_for(plural: str) -> list[Column]:
    return COLUMNS.get(plural, DEFAULT_COLUMNS)


def table(plural: str, items: list[Obj], list_meta: Obj, include: str) -> Obj:
    """A meta.k8s.io/v1 Table; ``include`` is includeObject (None, Metadata, Object)."""
    columns = columns_for(plural)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": [
            {
                "name": name,
                "type": kind,
                "format": "name" if name == "Name" else "",
                "description": name,
                "priority": priority,
            }
            for name, kind, priority, _ in columns
        ],
        "rows": [row(plural, obj, include) for obj in items],
    }


def row(plural: str, obj: Obj, include: str) -> Obj:
    out: Obj = {"cells": [cell(obj) for _, _, _, cell in columns_for(plural)]}
    if include == "Object":
        out["object"] = obj
    elif include != "None":
        out["object"] = {
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": obj["metadata"],
        }
    return out
