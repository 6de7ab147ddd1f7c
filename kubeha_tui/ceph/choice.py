"""``--ceph-via``: which backend carries the Ceph calls. ``auto`` takes librados with the
conf when it connects, else a Ceph pod when the Kubernetes API answers and one is
found; the choice is made again after a failure."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubeha_tui.ceph.backend import CephBackend, Progress
from kubeha_tui.ceph.connection import CephService
from kubeha_tui.ceph.models import Capabilities, CreateRequest, Image, Locker
from kubeha_tui.ceph.pod import PodCeph
from kubeha_tui.errors import ServiceError
from kubeha_tui.kube.client import KubeClient


@dataclass
class AutoCeph:
    rados: CephService
    pod: PodCeph
    closing: bool = field(default=False, init=False)
    _chosen: CephBackend | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    @property
    def via(self) -> str:
        chosen = self._chosen
        return chosen.via if chosen is not None else "librados, else a Ceph pod"

    def backend(self) -> CephBackend:
        with self._lock:
            if self._chosen is None:
                try:
                    self.rados.cluster()
                    self._chosen = self.rados
                except ServiceError as first:
                    try:
                        self.pod.command({"prefix": "health"})
                    except ServiceError as second:
                        raise ServiceError(
                            f"librados: {first}; through a Ceph pod: {second}"
                        ) from None
                    self._chosen = self.pod
            return self._chosen

    def command(self, cmd: dict[str, Any], *, mgr: bool = False, check: bool = True) -> tuple[int, Any, str]:  # fmt: skip
        return self.backend().command(cmd, mgr=mgr, check=check)

    def json(self, cmd: dict[str, Any], *, mgr: bool = False) -> Any:
        return self.backend().json(cmd, mgr=mgr)

    def capabilities(self) -> Capabilities:
        return self.backend().capabilities()

    def list_images(self, pool: str) -> list[Image]:
        return self.backend().list_images(pool)

    def read_details(self, images: Sequence[Image], first: Iterable[str] = ()) -> Iterator[list[Image]]:  # fmt: skip
        return self.backend().read_details(images, first)

    def create_image(self, request: CreateRequest) -> None:
        self.backend().create_image(request)

    def remove_image(self, pool: str, name: str, progress: Progress | None = None) -> None:
        self.backend().remove_image(pool, name, progress)

    def break_lock(self, pool: str, name: str, locker: Locker) -> None:
        self.backend().break_lock(pool, name, locker)

    def forget(self) -> None:
        with self._lock:
            chosen, self._chosen = self._chosen, None
        if chosen is not None:
            chosen.forget()

    def close(self) -> None:
        self.closing = True
        try:
            self.rados.close()
            self.pod.close()
        finally:
            self.closing = False


def build_ceph(
    via: str, conf: str, ceph_id: str, kube: KubeClient, *, pod: str | None, remote: bool
) -> CephBackend:
    """The backend ``--ceph-via`` asks for; a named pod or ``--ssh`` (``remote``: the mons
    are only reachable inside the cluster) means the pod under ``auto``."""
    rados = CephService(conf, ceph_id)
    if via == "rados":
        return rados
    in_pod = PodCeph(kube, pod or "", ceph_id)
    if via == "pod" or remote or pod:
        return in_pod
    return AutoCeph(rados, in_pod)
