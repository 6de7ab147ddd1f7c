"""Ceph: one seam (backend.CephBackend) with two backends, librados here
(connection.CephService) or a helper inside a Ceph pod (pod.PodCeph); RBD volumes and
OSD removal above it."""

from __future__ import annotations

from kubeha_tui.ceph.backend import CephBackend
from kubeha_tui.ceph.connection import CephService, import_binding
from kubeha_tui.ceph.models import Capabilities
from kubeha_tui.ceph.service import CephSnapshot, CephStatusService

__all__ = [
    "Capabilities",
    "CephBackend",
    "CephService",
    "CephSnapshot",
    "CephStatusService",
    "import_binding",
]
