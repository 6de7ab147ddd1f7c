"""KubeService: live pods, services, deployments, nodes and namespaces for the screens.

One reflector (list + watch) per kind; ``poll`` yields a fresh KubeSnapshot whenever
something changed, at most every UPDATE_EVERY seconds, for as long as the app runs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from kubeha_tui.errors import ServiceError
from kubeha_tui.polling import Poll

from .client import KubeClient, ServerInfo
from .models import Deployment, Namespace, Node, Pod, Service
from .reflector import Kind, Reflector

UPDATE_EVERY = 0.2  # seconds: coalesce bursts of events into one redraw
KINDS = {
    "nodes": Kind("nodes", False, Node.from_obj),
    "namespaces": Kind("namespaces", False, Namespace.from_obj),
    "pods": Kind("pods", True, Pod.from_obj),
    "services": Kind("services", True, Service.from_obj),
    "deployments": Kind("deployments", True, Deployment.from_obj),
}


@dataclass(frozen=True)
class KubeSnapshot:
    info: ServerInfo
    host: str
    pods: dict[str, Pod] = field(default_factory=dict)
    services: dict[str, Service] = field(default_factory=dict)
    deployments: dict[str, Deployment] = field(default_factory=dict)
    nodes: dict[str, Node] = field(default_factory=dict)
    namespaces: tuple[str, ...] = ()
    synced: bool = False  # every kind listed at least once
    notes: tuple[str, ...] = ()  # permission limits, kinds that failed

    @property
    def node_ips(self) -> list[str]:
        return [n.ip for n in self.nodes.values()]

    def summary(self) -> str:
        text = (
            f"Kubernetes {self.info.git_version} at {self.host}: "
            f"{len(self.pods)} pods, {len(self.services)} services"
        )
        return text if self.synced else text + " (loading)"


class KubeService:
    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self._stop = threading.Event()
        self._changed = threading.Event()
        self._reflectors: dict[str, Reflector] = {}
        self._lock = threading.Lock()

    def _start(self, info: ServerInfo) -> dict[str, Reflector]:
        with self._lock:
            if not self._reflectors:
                for name, kind in KINDS.items():
                    reflector = Reflector(self.client, kind, info, self._changed.set, self._stop)
                    self._reflectors[name] = reflector
                    reflector.start()
            return self._reflectors

    def snapshot(self) -> KubeSnapshot:
        info = self.client.info()
        refl = self._reflectors
        items = {name: r.snapshot() for name, r in refl.items()}
        namespaces = sorted({n.name for n in items.get("namespaces", {}).values()})
        if not namespaces:  # not allowed to list them: the ones we can see
            namespaces = sorted({p.namespace for p in items.get("pods", {}).values()})
        notes = [r.note for r in refl.values() if r.note]
        notes += [f"{name}: {r.error}" for name, r in refl.items() if r.error and r.error.code]
        return KubeSnapshot(
            info,
            self.client.host,
            items.get("pods", {}),
            items.get("services", {}),
            items.get("deployments", {}),
            items.get("nodes", {}),
            tuple(namespaces),
            all(r.synced or (r.error and r.error.code == 403) for r in refl.values()),
            tuple(notes),
        )

    def poll(self) -> Iterator[Poll]:
        """Live: yields on every change (coalesced) until closed; raises while unreachable."""
        info = self.client.info()
        reflectors = self._start(info)
        self._changed.set()
        last = 0.0
        while not self._stop.is_set():
            if not self._changed.wait(1.0):
                continue
            wait = last + UPDATE_EVERY - time.monotonic()
            if wait > 0 and self._stop.wait(wait):
                return
            self._changed.clear()
            down = [r.error for r in reflectors.values() if r.error and not r.error.code]
            if down:
                raise ServiceError(str(down[0]))
            snap = self.snapshot()
            last = time.monotonic()
            yield Poll(snap.summary(), snap, final=snap.synced)

    def close(self) -> None:
        self._stop.set()
        self._changed.set()  # reflectors blocked in a read end with the connection
        self.client.close()
