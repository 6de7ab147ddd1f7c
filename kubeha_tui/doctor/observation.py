"""What the Doctor reads: the three layers' poll snapshots (or why each could not be
read), and the few extra facts the rules need that the polls do not carry."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeha_tui.ceph.images import Image
from kubeha_tui.ceph.service import CephSnapshot
from kubeha_tui.fleet.client import FleetSnapshot
from kubeha_tui.kube.service import KubeSnapshot

PodKey = tuple[str, str]  # namespace, name
ImageKey = tuple[str, str]  # pool, image


@dataclass(frozen=True)
class KubeEvent:
    namespace: str
    kind: str  # the involved object's kind
    name: str  # the involved object's name
    reason: str
    message: str
    type: str = "Warning"
    count: int = 1
    last: str = ""  # lastTimestamp

    @classmethod
    def from_obj(cls, o: Mapping[str, Any]) -> KubeEvent:
        involved = o.get("involvedObject") or {}
        return cls(
            str(involved.get("namespace") or (o.get("metadata") or {}).get("namespace", "")),
            str(involved.get("kind", "")),
            str(involved.get("name", "")),
            str(o.get("reason", "")),
            str(o.get("message", "")),
            str(o.get("type", "")),
            int(o.get("count") or 1),
            str(o.get("lastTimestamp") or o.get("eventTime") or ""),
        )

    def line(self) -> str:
        return f"event {self.type} {self.reason} x{self.count} on {self.kind.lower()} {self.namespace}/{self.name}: {self.message}"


@dataclass(frozen=True)
class VolumeRef:
    volume: str  # the volume's name in the pod
    pool: str
    image: str


@dataclass(frozen=True)
class Observation:
    fleet: FleetSnapshot | None = None
    fleet_error: str = ""  # why fleet could not be read
    kube: KubeSnapshot | None = None
    kube_error: str = ""
    ceph: CephSnapshot | None = None
    ceph_error: str = ""
    ceph_summary: tuple[str, ...] = ()  # Jewel's health summary strings (no check codes)
    events: tuple[KubeEvent, ...] = ()  # Warning events
    endpoints: Mapping[PodKey, int] | None = None  # ready addresses per service; None: unknown
    pod_volumes: Mapping[PodKey, tuple[VolumeRef, ...]] = field(default_factory=dict)
    images: Mapping[ImageKey, Image] = field(default_factory=dict)  # lockers and watchers
    image_errors: Mapping[ImageKey, str] = field(default_factory=dict)
    pending: frozenset[str] = frozenset()  # layers still connecting: no verdict on them yet

    def events_for(self, namespace: str, name: str, kind: str = "Pod") -> list[KubeEvent]:
        return [
            e for e in self.events if e.namespace == namespace and e.name == name and e.kind == kind
        ]
