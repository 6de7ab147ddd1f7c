"""The stack's real Ceph config lives in the Kubernetes secret ``ceph/ceph-conf-combined``
(the node's own ceph.conf is a template with a placeholder fsid). Fetched on the
operator's word, written 0600 in a private 0700 directory, removed on exit; the key
is never printed or logged."""

from __future__ import annotations

import base64
import binascii
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kubeha_tui.errors import ServiceError
from kubeha_tui.kube.client import KubeClient, KubeError

NAMESPACE, NAME = "ceph", "ceph-conf-combined"
CONF_KEY, KEYRING_KEY = "ceph.conf", "ceph.client.admin.keyring"


@dataclass(frozen=True)
class CombinedConf:
    directory: Path
    conf: Path
    keyring: Path

    def remove(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def runtime_dir() -> Path:
    """$XDG_RUNTIME_DIR (a per-user tmpfs on systemd machines), else the temp dir."""
    run = os.environ.get("XDG_RUNTIME_DIR")
    return Path(run) if run and Path(run).is_dir() else Path(tempfile.gettempdir())


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def fetch_combined(client: KubeClient) -> CombinedConf:
    """Read the secret and write its ceph.conf and admin keyring to a private directory."""
    try:
        doc = client.request("GET", f"/api/v1/namespaces/{NAMESPACE}/secrets/{NAME}")
    except KubeError as exc:
        raise ServiceError(f"cannot read the secret {NAMESPACE}/{NAME}: {exc}") from None
    data = doc.get("data") or {}
    missing = [k for k in (CONF_KEY, KEYRING_KEY) if k not in data]
    if missing:
        raise ServiceError(f"the secret {NAMESPACE}/{NAME} has no {' or '.join(missing)}")
    try:
        conf, keyring = (base64.b64decode(data[k], validate=True) for k in (CONF_KEY, KEYRING_KEY))
    except (binascii.Error, ValueError):
        raise ServiceError(f"the secret {NAMESPACE}/{NAME} is not valid base64") from None
    directory = Path(tempfile.mkdtemp(prefix="kubeha-ceph-", dir=runtime_dir()))  # mode 0700
    combined = CombinedConf(directory, directory / CONF_KEY, directory / KEYRING_KEY)
    try:
        _write_private(combined.conf, conf)
        _write_private(combined.keyring, keyring)
    except OSError as exc:
        combined.remove()
        raise ServiceError(f"cannot write the Ceph config to {directory}: {exc.strerror}") from None
    return combined
