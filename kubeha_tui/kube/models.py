"""Compact, immutable summaries of Kubernetes objects: what the tables show, nothing more.

Built straight from the API's JSON (kubectl's rules for READY, STATUS, RESTARTS and
PORT(S)); the full object is fetched again when the operator asks for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .format import epoch

Obj = dict[str, Any]
PROBLEM_STATUSES = {
    "Failed", "Unknown", "CrashLoopBackOff", "Error", "ImagePullBackOff", "ErrImagePull",
    "CreateContainerConfigError", "OOMKilled", "Evicted", "InvalidImageName",
}  # fmt: skip


def pod_ready(pod: Obj) -> str:
    """kubectl's READY: containers both ready and running, of the spec's containers."""
    statuses = pod.get("status", {}).get("containerStatuses") or []
    total = len(pod.get("spec", {}).get("containers") or [])
    ready = sum(1 for s in statuses if s.get("ready") and "running" in (s.get("state") or {}))
    return f"{ready}/{total}"


def _terminated(term: Obj, prefix: str = "") -> str:
    if term.get("reason"):
        return f"{prefix}{term['reason']}"
    if term.get("signal"):
        return f"{prefix}Signal:{term['signal']}"
    return f"{prefix}ExitCode:{term.get('exitCode', 0)}"


def _init_status(pod: Obj) -> str:
    """The first unfinished init container's reason (``Init:0/1``...), or ""."""
    inits = pod.get("status", {}).get("initContainerStatuses") or []
    for i, cs in enumerate(inits):
        state = cs.get("state") or {}
        term, waiting = state.get("terminated"), state.get("waiting") or {}
        if term is not None and not term.get("exitCode"):
            continue
        if term is not None:
            return _terminated(term, "Init:")
        if waiting.get("reason") and waiting["reason"] != "PodInitializing":
            return f"Init:{waiting['reason']}"
        return f"Init:{i}/{len(pod.get('spec', {}).get('initContainers') or [])}"
    return ""


def pod_status(pod: Obj) -> str:
    """kubectl's STATUS (printPod): init progress, else the first container's waiting or
    terminated reason, else the pod's reason or phase; Terminating while being deleted."""
    status = pod.get("status", {})
    phase = str(status.get("phase") or "")
    reason = _init_status(pod) or str(status.get("reason") or phase)
    if not reason.startswith("Init:"):
        running = False
        for cs in reversed(status.get("containerStatuses") or []):
            state = cs.get("state") or {}
            if (state.get("waiting") or {}).get("reason"):
                reason = str(state["waiting"]["reason"])
            elif state.get("terminated") is not None:
                reason = _terminated(state["terminated"])
            elif cs.get("ready") and "running" in state:
                running = True
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        if reason == "Completed" and running:
            reason = "Running" if ready else "NotReady"
    if pod["metadata"].get("deletionTimestamp"):
        if status.get("reason") == "NodeLost":
            return "Unknown"
        if phase not in {"Succeeded", "Failed"}:
            return "Terminating"
    return reason


def pod_restarts(pod: Obj) -> int:
    statuses = pod.get("status", {}).get("containerStatuses") or []
    return sum(int(cs.get("restartCount", 0)) for cs in statuses)


def service_ports(svc: Obj) -> str:
    out = []
    for p in svc.get("spec", {}).get("ports") or []:
        node = f":{p['nodePort']}" if p.get("nodePort") else ""
        out.append(f"{p.get('port')}{node}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def labels_text(labels: dict[str, str] | None) -> str:
    return ",".join(f"{k}={v}" for k, v in (labels or {}).items()) or "<none>"


@dataclass(frozen=True, slots=True)
class Pod:
    namespace: str
    name: str
    ready: str
    status: str
    restarts: int
    created: float  # epoch seconds
    node: str
    ip: str
    owner: str  # "ReplicaSet/web-5d59d67564", or ""

    @classmethod
    def from_obj(cls, o: Obj) -> Pod:
        meta, spec, status = o["metadata"], o.get("spec", {}), o.get("status", {})
        owner = next(iter(meta.get("ownerReferences") or []), None)
        return cls(
            meta.get("namespace", ""),
            meta["name"],
            pod_ready(o),
            pod_status(o),
            pod_restarts(o),
            epoch(meta.get("creationTimestamp")),
            spec.get("nodeName") or "<none>",
            status.get("podIP") or "<none>",
            f"{owner['kind']}/{owner['name']}" if owner else "",
        )

    @property
    def problem(self) -> str:
        """ "failed", "warn" (not ready yet, restarting) or "" (healthy)."""
        reason = self.status.removeprefix("Init:")
        failed_exit = reason.startswith("Signal:") or (
            reason.startswith("ExitCode:") and reason != "ExitCode:0"
        )
        if reason in PROBLEM_STATUSES or failed_exit:
            return "failed"
        done, _, total = self.ready.partition("/")
        if self.status in {"Succeeded", "Completed"}:
            return ""
        if self.status != "Running" or done != total or self.restarts >= 5:
            return "warn"
        return ""


@dataclass(frozen=True, slots=True)
class ServicePort:
    port: int
    protocol: str
    node_port: int | None


@dataclass(frozen=True, slots=True)
class Service:
    namespace: str
    name: str
    type: str
    cluster_ip: str
    ports: tuple[ServicePort, ...]
    ports_text: str
    selector: str
    created: float  # epoch seconds

    @classmethod
    def from_obj(cls, o: Obj) -> Service:
        meta, spec = o["metadata"], o.get("spec", {})
        ports = tuple(
            ServicePort(int(p.get("port", 0)), p.get("protocol", "TCP"), p.get("nodePort"))
            for p in spec.get("ports") or []
        )
        return cls(
            meta.get("namespace", ""),
            meta["name"],
            spec.get("type", "ClusterIP"),
            spec.get("clusterIP") or "<none>",
            ports,
            service_ports(o),
            labels_text(spec.get("selector")),
            epoch(meta.get("creationTimestamp")),
        )

    def urls(self, node_ips: list[str]) -> list[str]:
        """Where a NodePort service answers: http://<node-ip>:<nodePort> on every node."""
        return [f"http://{ip}:{p.node_port}" for p in self.ports if p.node_port for ip in node_ips]


@dataclass(frozen=True, slots=True)
class Deployment:
    namespace: str
    name: str
    ready: str
    up_to_date: int
    available: int
    images: str
    created: float  # epoch seconds

    @classmethod
    def from_obj(cls, o: Obj) -> Deployment:
        meta, spec, status = o["metadata"], o.get("spec", {}), o.get("status", {})
        containers = spec.get("template", {}).get("spec", {}).get("containers") or []
        return cls(
            meta.get("namespace", ""),
            meta["name"],
            f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
            int(status.get("updatedReplicas", 0)),
            int(status.get("availableReplicas", 0)),
            ",".join(c.get("image", "") for c in containers),
            epoch(meta.get("creationTimestamp")),
        )

    @property
    def problem(self) -> str:
        done, _, want = self.ready.partition("/")
        return "warn" if done != want else ""


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    status: str
    ip: str
    labels: str
    version: str
    created: float  # epoch seconds

    @classmethod
    def from_obj(cls, o: Obj) -> Node:
        meta, status = o["metadata"], o.get("status", {})
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        addresses = {a.get("type"): a.get("address") for a in status.get("addresses") or []}
        state = "Ready" if ready else "NotReady"
        if (o.get("spec") or {}).get("unschedulable"):
            state += ",SchedulingDisabled"
        labels = meta.get("labels") or {}
        shown = {k: v for k, v in labels.items() if k in ("type", "storage")}
        return cls(
            meta["name"],
            state,
            addresses.get("ExternalIP") or addresses.get("InternalIP") or meta["name"],
            labels_text(shown),
            (status.get("nodeInfo") or {}).get("kubeletVersion", ""),
            epoch(meta.get("creationTimestamp")),
        )

    @property
    def problem(self) -> str:
        return "" if self.status.startswith("Ready") else "failed"


@dataclass(frozen=True, slots=True)
class Namespace:
    name: str
    phase: str

    @classmethod
    def from_obj(cls, o: Obj) -> Namespace:
        return cls(o["metadata"]["name"], o.get("status", {}).get("phase", "Active"))
