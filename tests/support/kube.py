"""The sandbox Kubernetes API for tests: a fast controller, the session's Ceph when given."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kubeha_tui.sandbox.ceph import CephSandbox
from kubeha_tui.sandbox.kube.cluster import Sandbox, start


@contextmanager
def kube_sandbox(
    pose: str = "modern", ceph: CephSandbox | None = None, **kw: Any
) -> Iterator[Sandbox]:
    extra: dict[str, Any] = {"ceph_conf": ceph.conf, "keyring": ceph.admin_keyring} if ceph else {}
    sandbox = start(pose, start_delay=0.05, tick=0.05, **extra, **kw)
    try:
        yield sandbox
    finally:
        sandbox.close()
