"""KubeService: live pods, services, deployments, nodes and namespaces for the screens.

One reflector (list + watch) per kind; ``poll`` yields a fresh KubeSnapshot whenever
something changed, at most every UPDATE_EVERY seconds, for as long as the app runs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from kubeha_tui.errors import ServiceError
from kubeha_tui.polling import Poll

from .client import UNEXPECTED, KubeClient, KubeError, ServerInfo
from .models import Deployment, Namespace, Node, Pod, Service
from .reflector import Kind, Reflector

log = logging.getLogger(__name__)

UPDATE_EVERY = 0.2  # seconds: coalesce bursts of events into one redraw
PROBE_EVERY = 2.0  # seconds between two liveness probes (GET /version)
PROBE_TIMEOUT = 3.0  # a probe slower than this is no answer
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
    """Live objects from the reflectors, and a probe that notices an API that stops
    answering: a watch that hears nothing cannot tell a quiet cluster from a frozen
    server, so a cheap GET /version every PROBE_EVERY seconds does."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client
        self._stop = threading.Event()
        self._changed = threading.Event()
        self._listed = threading.Event()  # every kind listed once
        self._reflectors: dict[str, Reflector] = {}
        self._lock = threading.Lock()
        self._last_answer = time.monotonic()
        self._silence: str | None = None  # why the last probe got no answer

    def _start(self, info: ServerInfo) -> dict[str, Reflector]:
        with self._lock:
            if not self._reflectors:
                self._reflectors.update(
                    (name, Reflector(self.client, kind, info, self._reflected, self._stop))
                    for name, kind in KINDS.items()
                )
                for reflector in self._reflectors.values():
                    reflector.start()
                self._last_answer = time.monotonic()
                threading.Thread(target=self._probe_loop, name="kube-probe", daemon=True).start()
            return self._reflectors

    def _probe_loop(self) -> None:
        while not self._stop.wait(PROBE_EVERY):
            try:
                self.client.request("GET", "/version", timeout=PROBE_TIMEOUT)
            except KubeError as exc:
                if not exc.code and exc.reason != UNEXPECTED:  # an error answer is an answer
                    if self._silence is None:
                        log.info("Kubernetes API stopped answering: %s", exc)
                    self._silence = str(exc).removeprefix(
                        f"cannot reach the Kubernetes API at {self.client.host}: "
                    )
                    self._changed.set()
                    continue
            self._last_answer = time.monotonic()
            if self._silence is not None:
                log.info("Kubernetes API answers again; restarting the watches")
                self._silence = None
                # Their connections may have died without a word: watch again now.
                for reflector in list(self._reflectors.values()):
                    reflector.restart_watch()
                self._changed.set()

    def _not_answering(self) -> str | None:
        why = self._silence
        if why is None:
            return None
        silent = time.monotonic() - self._last_answer
        return f"Kubernetes API at {self.client.host} not answering for {silent:.0f} s ({why})"

    def snapshot(self) -> KubeSnapshot:
        info = self.client.info()
        refl = self._reflectors
        items = {name: r.snapshot() for name, r in refl.items()}
        namespaces = sorted({n.name for n in items.get("namespaces", {}).values()})
        if not namespaces:  # not allowed to list them: the ones we can see
            namespaces = sorted({p.namespace for p in items.get("pods", {}).values()})
        notes = [self.client.note] if self.client.note else []
        notes += [r.note for r in refl.values() if r.note]
        notes += [f"{name}: {r.error}" for name, r in refl.items() if r.error and r.error.code]
        return KubeSnapshot(
            info,
            self.client.host,
            items.get("pods", {}),
            items.get("services", {}),
            items.get("deployments", {}),
            items.get("nodes", {}),
            tuple(namespaces),
            self._synced(),
            tuple(notes),
        )

    def _reflected(self) -> None:
        """A reflector's objects changed (from its thread)."""
        self._changed.set()
        if not self._listed.is_set() and self._synced():
            self._listed.set()

    def _synced(self) -> bool:
        """Every kind listed at least once (or forbidden)."""
        return all(
            r.synced or bool(r.error and r.error.code == 403) for r in self._reflectors.values()
        )

    def poll(self) -> Iterator[Poll]:
        """Live: yields on every change (coalesced) until closed; raises while unreachable."""
        info = self.client.info()
        reflectors = self._start(info)
        self._changed.set()
        last, shown_synced = float("-inf"), False
        while not self._stop.is_set():
            if not self._changed.wait(1.0):
                continue
            wait = last + UPDATE_EVERY - time.monotonic()
            if wait > 0:  # events are coalesced; the end of the first lists is shown at once
                until = self._stop if shown_synced else self._listed
                if until.wait(wait) and self._stop.is_set():
                    return
            self._changed.clear()
            silent = self._not_answering()
            if silent:
                raise ServiceError(silent)
            down = [r.error for r in reflectors.values() if r.error and not r.error.code]
            if down:
                raise ServiceError(str(down[0]))
            snap = self.snapshot()
            last, shown_synced = time.monotonic(), snap.synced
            yield Poll(snap.summary(), snap, final=snap.synced)

    def close(self) -> None:
        self._stop.set()
        self._changed.set()
        self._listed.set()
        for reflector in list(self._reflectors.values()):
            reflector.restart_watch()  # a reflector blocked in a read ends now
        self.client.close()
