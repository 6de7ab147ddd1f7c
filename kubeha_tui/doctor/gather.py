"""Reading what the Doctor needs: the layers' poll snapshots, then the extra facts the
polls do not carry (Warning events, endpoints, the RBD volumes of pods that cannot
mount, the lockers of those images). Blocking: run it in a thread. Every call is
bounded by its client's timeout, and ``collect`` by an overall deadline."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from kubeha_tui.ceph.backend import CephBackend
from kubeha_tui.ceph.images import Image
from kubeha_tui.ceph.service import CephSnapshot
from kubeha_tui.errors import ServiceError
from kubeha_tui.fleet.client import FleetSnapshot
from kubeha_tui.kube.client import KubeClient
from kubeha_tui.kube.service import KubeSnapshot
from kubeha_tui.polling import Poll
from kubeha_tui.services import Services
from kubeha_tui.status import BackendStatus

from . import ceph_calls
from .observation import ImageKey, KubeEvent, Observation, PodKey, VolumeRef
from .volumes import MOUNT_REASONS, WAITING, images_named, is_lock_event

log = logging.getLogger(__name__)


# -- Kubernetes extras ------------------------------------------------------------


def warning_events(client: KubeClient) -> tuple[KubeEvent, ...]:
    doc = client.request("GET", "/api/v1/events", {"fieldSelector": "type=Warning"})
    return tuple(KubeEvent.from_obj(e) for e in doc.get("items") or [])


def ready_endpoints(client: KubeClient) -> dict[PodKey, int]:
    doc = client.request("GET", "/api/v1/endpoints")
    out = {}
    for e in doc.get("items") or []:
        meta = e.get("metadata") or {}
        count = sum(len(s.get("addresses") or []) for s in e.get("subsets") or [])
        out[(str(meta.get("namespace", "")), str(meta.get("name", "")))] = count
    return out


def rbd_volumes(client: KubeClient, namespace: str, pod: str) -> tuple[VolumeRef, ...]:
    """The pod's RBD images: in-tree ``rbd`` volumes, and claims bound to an rbd or
    ceph-csi PersistentVolume."""
    obj = client.request("GET", client.info().path("pods", namespace, pod))
    out = []
    for vol in (obj.get("spec") or {}).get("volumes") or []:
        name = str(vol.get("name", ""))
        if vol.get("rbd"):
            out.append(VolumeRef(name, vol["rbd"].get("pool", "rbd"), vol["rbd"].get("image", "")))
            continue
        claim = (vol.get("persistentVolumeClaim") or {}).get("claimName")
        if not claim:
            continue
        pvc = client.request("GET", client.info().path("persistentvolumeclaims", namespace, claim))
        pv_name = (pvc.get("spec") or {}).get("volumeName")
        if not pv_name:
            continue
        spec = (
            client.request("GET", client.info().path("persistentvolumes", None, pv_name)).get(
                "spec"
            )
            or {}
        )
        if spec.get("rbd"):
            out.append(
                VolumeRef(name, spec["rbd"].get("pool", "rbd"), spec["rbd"].get("image", ""))
            )
        elif (spec.get("csi") or {}).get("driver", "").endswith("rbd.csi.ceph.com"):
            attrs = spec["csi"].get("volumeAttributes") or {}
            image = attrs.get("imageName") or spec["csi"].get("volumeHandle", "")
            out.append(VolumeRef(name, attrs.get("pool", "rbd"), image))
    return tuple(out)


def _waiting_on_mounts(snap: KubeSnapshot, events: tuple[KubeEvent, ...]) -> list[PodKey]:
    """Pods still waiting that have a mount event: whose RBD volumes the rules need."""
    status = {(p.namespace, p.name): p.status for p in snap.pods.values()}
    keys = {(e.namespace, e.name) for e in events if e.kind == "Pod" and e.reason in MOUNT_REASONS}
    return sorted(k for k in keys if status.get(k) in WAITING)


# -- putting it together ------------------------------------------------------------


def observe(
    base: Observation, kube_client: KubeClient | None, ceph_service: CephBackend | None
) -> Observation:
    """``base`` (the snapshots, or why not) plus the extras read now; a failed extra is left out."""
    kube, ceph = base.kube, base.ceph
    events: tuple[KubeEvent, ...] = ()
    endpoints: dict[PodKey, int] | None = None
    volumes: dict[PodKey, tuple[VolumeRef, ...]] = {}
    if kube is not None and kube_client is not None:
        try:
            events = warning_events(kube_client)
            endpoints = ready_endpoints(kube_client)
            for ns, name in _waiting_on_mounts(kube, events):
                volumes[(ns, name)] = rbd_volumes(kube_client, ns, name)
        except ServiceError as exc:
            log.info("doctor: Kubernetes extras: %s", exc)
    wanted: set[ImageKey] = set()
    for (ns, name), refs in volumes.items():
        for e in events:
            if (e.namespace, e.name) == (ns, name) and is_lock_event(e):
                wanted.update((r.pool, r.image) for r in images_named(e, refs))
    images: dict[ImageKey, Image] = {}
    errors: dict[ImageKey, str] = {}
    summary: tuple[str, ...] = ()
    if ceph is not None and ceph_service is not None:
        for pool, image in sorted(wanted):
            try:
                images[(pool, image)] = ceph_calls.read_image(ceph_service, pool, image)
            except ServiceError as exc:
                errors[(pool, image)] = str(exc)
        if ceph.health != "HEALTH_OK" and not ceph.checks:
            try:
                summary = ceph_calls.health_summary(ceph_service)
            except ServiceError as exc:
                log.info("doctor: Ceph health summary: %s", exc)
    return replace(
        base, ceph_summary=summary, events=events, endpoints=endpoints,
        pod_volumes=volumes, images=images, image_errors=errors,
    )  # fmt: skip


def _last_final(polls: Iterator[Poll], deadline: float, first: bool) -> Any:
    """The first final Poll's data (the kube service polls forever: stop there), or the
    first Poll's when ``first`` (Ceph's: the image details that follow are not needed)."""
    data = None
    for result in polls:
        data = result.data
        if first or result.final or time.monotonic() > deadline:
            break
    return data


def _read_layer(
    poll: Callable[[], Iterator[Poll]], deadline: float, out: dict[str, Any], name: str
) -> None:
    try:
        out[name] = (_last_final(poll(), deadline, name == "ceph"), "")
    except ServiceError as exc:
        out[name] = (None, str(exc))
    except Exception as exc:  # a bug, not an outage: this layer's reason, logged in full
        log.exception("doctor: reading %s failed", name)
        out[name] = (None, f"unexpected error: {type(exc).__name__}: {exc}")


def collect(services: Services, timeout: float = 30.0) -> Observation:
    """Poll the three layers in parallel, each within ``timeout`` seconds, then the extras.
    A layer still silent at the deadline is reported as not answering (its thread, which
    cannot be cancelled, ends with its own client timeout)."""
    deadline = time.monotonic() + timeout
    results: dict[str, tuple[Any, str]] = {}
    threads = [
        threading.Thread(
            target=_read_layer,
            args=(service.poll, deadline, results, name),
            name=f"doctor-{name}",
            daemon=True,
        )
        for name, service in services.by_name().items()
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    silent = (None, f"no answer within {timeout:.0f}s")
    fleet, fleet_error = results.get("fleet", silent)
    kube, kube_error = results.get("kube", silent)
    ceph, ceph_error = results.get("ceph", silent)
    base = Observation(
        fleet if isinstance(fleet, FleetSnapshot) else None, fleet_error,
        kube if isinstance(kube, KubeSnapshot) else None, kube_error,
        ceph if isinstance(ceph, CephSnapshot) else None, ceph_error,
    )  # fmt: skip
    return observe(base, services.kube.client, services.ceph.ceph)


def from_polls(data: Mapping[str, object], states: Mapping[str, BackendStatus]) -> Observation:
    """The snapshots the app's polls last gave: a layer unreachable now is None with its
    reason; one still connecting is ``pending`` (no verdict on it yet)."""
    layers: dict[str, Any] = {}
    errors: dict[str, str] = {}
    pending = set()
    for name in ("fleet", "kube", "ceph"):
        status = states.get(name)
        if status is not None and status.state == "unreachable":
            layers[name], errors[name] = None, status.detail or "unreachable"
        elif name in data and getattr(data[name], "synced", True):
            layers[name], errors[name] = data[name], ""
        else:
            layers[name], errors[name] = None, ""
            pending.add(name)
    fleet, kube, ceph = layers["fleet"], layers["kube"], layers["ceph"]
    return Observation(
        fleet if isinstance(fleet, FleetSnapshot) else None, errors["fleet"],
        kube if isinstance(kube, KubeSnapshot) else None, errors["kube"],
        ceph if isinstance(ceph, CephSnapshot) else None, errors["ceph"],
        pending=frozenset(pending),
    )  # fmt: skip
