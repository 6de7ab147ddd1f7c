"""Ceph: the librados connection, RBD volumes and OSD removal."""

from __future__ import annotations

from kubeha_tui.ceph.connection import Capabilities, CephService, import_binding
from kubeha_tui.ceph.service import CephSnapshot, CephStatusService

__all__ = ["Capabilities", "CephService", "CephSnapshot", "CephStatusService", "import_binding"]
