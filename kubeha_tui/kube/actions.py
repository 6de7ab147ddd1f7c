"""What the operator does to one object: describe it (YAML + events), read or follow a
pod's log, delete it after a plan that says exactly what goes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from .client import KubeClient, KubeError
from .format import age

LOG_TAIL = 500  # lines fetched when a log opens
LOG_CAP = 10_000  # lines a log view keeps while following
FOLLOW_READ_TIMEOUT = 3600.0  # a quiet pod may log nothing for long; stop does not wait
STOP_CHECK = 0.2  # seconds between looks at a follow's stop flag


@dataclass(frozen=True)
class Ref:
    kind: str  # plural: pods, services, deployments, nodes
    namespace: str
    name: str

    def __str__(self) -> str:
        return (
            f"{self.kind.rstrip('s')} {self.namespace}/{self.name}"
            if self.namespace
            else f"{self.kind.rstrip('s')} {self.name}"
        )


def object_path(client: KubeClient, ref: Ref) -> str:
    return client.info().path(ref.kind, ref.namespace, ref.name)


def describe(client: KubeClient, ref: Ref) -> str:
    """The object's events, newest first, then the object as YAML (without managedFields).

    ``kubectl describe`` lists events oldest first at the very end; here the view opens
    on the latest ones (a FailedMount warning), which an operator reads first."""
    obj = client.request("GET", object_path(client, ref))
    obj.get("metadata", {}).pop("managedFields", None)
    text = yaml.safe_dump(obj, sort_keys=False, default_flow_style=False)
    events = _events(client, ref, obj)
    return "# Events, newest first\n" + (events or "# <none>\n") + f"\n# {ref}\n" + text


def _when(event: dict[str, Any]) -> str:
    """When an event last happened (events.k8s.io-style ones carry only eventTime)."""
    return str(
        event.get("lastTimestamp")
        or event.get("eventTime")
        or event.get("firstTimestamp")
        or event.get("metadata", {}).get("creationTimestamp")
        or ""
    )


def _events(client: KubeClient, ref: Ref, obj: dict[str, Any]) -> str:
    ns = ref.namespace or "default"
    selector = f"involvedObject.name={ref.name},involvedObject.uid={obj['metadata'].get('uid', '')}"
    try:
        doc = client.request("GET", f"/api/v1/namespaces/{ns}/events", {"fieldSelector": selector})
    except KubeError as exc:
        return f"# cannot list events: {exc}\n"
    items = sorted(doc.get("items") or [], key=_when, reverse=True)
    return "".join(
        f"# {age(_when(e) or None):>6} {e.get('type', ''):<8} {e.get('reason', ''):<18} "
        f"x{e.get('count', 1)}  {e.get('message', '')}\n"
        for e in items
    )


def containers(client: KubeClient, ref: Ref) -> list[str]:
    pod = client.request("GET", object_path(client, ref))
    return [c["name"] for c in pod.get("spec", {}).get("containers") or []]


def log_query(container: str, tail: int | None, follow: bool) -> dict[str, Any]:
    return {"container": container, "tailLines": tail, "follow": "true" if follow else None}


def logs(client: KubeClient, ref: Ref, container: str, tail: int = LOG_TAIL) -> str:
    return str(
        client.request("GET", object_path(client, ref) + "/log", log_query(container, tail, False))
    )


def follow_logs(
    client: KubeClient, ref: Ref, container: str, stop: threading.Event, tail: int = LOG_TAIL
) -> Iterator[list[str]]:
    """The last ``tail`` lines, then new ones as they come (in the batches the network
    delivers them), until ``stop`` or the pod ends.

    A quiet pod sends nothing for hours, so ``stop`` cannot wait for the next line: a
    watcher closes the stream within STOP_CHECK of it, which ends the read and frees
    the connection and this thread.
    """
    path = object_path(client, ref) + "/log"
    stream = client.open_stream(path, log_query(container, tail, True), FOLLOW_READ_TIMEOUT)
    done = threading.Event()

    def close_on_stop() -> None:
        while not done.wait(STOP_CHECK):
            if stop.is_set():
                stream.close()
                return

    threading.Thread(target=close_on_stop, name=f"log-stop-{ref.name}", daemon=True).start()
    try:
        for lines in stream.batches():
            if stop.is_set():
                return
            yield [line.decode(errors="replace") for line in lines]
    finally:
        done.set()
        stream.close()


@dataclass(frozen=True)
class DeletePlan:
    ref: Ref
    summary: str
    request: str
    warnings: tuple[str, ...]
    uid: str = ""  # delete only this very object, not one recreated under the same name
    refused: str = ""


def plan_delete(client: KubeClient, ref: Ref) -> DeletePlan:
    """Look at the live object and say exactly what deleting it does."""
    path = object_path(client, ref)
    obj = client.request("GET", path)
    meta = obj.get("metadata", {})
    warnings: list[str] = []
    owners = meta.get("ownerReferences") or []
    if ref.kind == "pods" and owners:
        owner = owners[0]
        warnings.append(f"owned by {owner['kind']} {owner['name']}: a new pod replaces it")
    if ref.kind == "deployments":
        replicas = obj.get("spec", {}).get("replicas", 1)
        warnings.append(f"its replica sets and {replicas} pod(s) are deleted with it")
    if ref.kind == "services" and obj.get("spec", {}).get("type") in ("NodePort", "LoadBalancer"):
        ports = [
            str(p.get("nodePort")) for p in obj["spec"].get("ports") or [] if p.get("nodePort")
        ]
        warnings.append(f"node port(s) {', '.join(ports)} stop answering")
    if ref.kind == "namespaces":
        warnings.append("everything in the namespace is deleted with it")
    if ref.kind == "nodes":
        return DeletePlan(
            ref, "", "", (), refused="nodes are not deleted from here (drain them with kubectl)"
        )
    uid = str(meta.get("uid", ""))
    return DeletePlan(
        ref,
        f"Delete {ref}",
        f"DELETE {path}\n  propagationPolicy=Background, precondition uid={uid}",
        tuple(warnings),
        uid,
    )


def delete(client: KubeClient, plan: DeletePlan) -> str:
    body: dict[str, Any] = {
        "kind": "DeleteOptions",
        "apiVersion": "v1",
        "propagationPolicy": "Background",
    }
    if plan.uid:
        body["preconditions"] = {"uid": plan.uid}
    client.request(
        "DELETE", object_path(client, plan.ref), body=body, content_type="application/json"
    )
    return f"deleted {plan.ref}"
