"""The Ceph backends the Ceph tests run on: librados here, or the pod backend through
the sandbox Kubernetes API's exec into a mon pod (which reaches the same real Ceph)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from kubeha_tui.ceph.backend import CephBackend
from kubeha_tui.ceph.connection import CephService
from kubeha_tui.ceph.pod import PodCeph
from kubeha_tui.kube.client import KubeClient
from kubeha_tui.sandbox.ceph import CephSandbox
from kubeha_tui.sandbox.kube.cluster import Sandbox

from .kube import kube_sandbox
from .waiting import wait_for

VIAS = ("rados", "pod")


def mon_pods_running(kube: Sandbox, count: int = 3) -> list[str]:
    running = [p["metadata"]["name"] for p in kube.api.store.items("pods", "ceph")
               if p["status"].get("phase") == "Running" and p["metadata"]["labels"].get("daemon") == "mon"]  # fmt: skip
    return running if len(running) >= count else []


@contextmanager
def kube_with_mons(cluster: CephSandbox, pose: str = "modern") -> Iterator[Sandbox]:
    """The sandbox Kubernetes API seeded with ``cluster``'s secret, its mon pods running."""
    with kube_sandbox(pose, ceph=cluster) as kube:
        wait_for(lambda: mon_pods_running(kube), timeout=30, what="ceph mon pods running")
        yield kube


@contextmanager
def backend(via: str, cluster: CephSandbox, timeout: int = 10) -> Iterator[CephBackend]:
    if via == "rados":
        service = CephService(str(cluster.conf), timeout=timeout)
        try:
            yield service
        finally:
            service.close()
        return
    with kube_with_mons(cluster) as kube:
        pod = PodCeph(KubeClient(server=kube.server.url), timeout=timeout)
        try:
            yield pod
        finally:
            pod.close()
