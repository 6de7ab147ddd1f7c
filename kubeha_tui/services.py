"""Build the backend services from Settings: the one place that wires them together."""

from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from kubeha_tui.ceph import CephService, CephStatusService
from kubeha_tui.ceph.choice import AutoCeph, build_ceph
from kubeha_tui.ceph.secret import NAME, NAMESPACE, CombinedConf, fetch_combined, runtime_dir
from kubeha_tui.config import Settings
from kubeha_tui.errors import ServiceError
from kubeha_tui.fleet.service import FleetLink, FleetService, build_fleet
from kubeha_tui.kube.client import KubeClient
from kubeha_tui.kube.service import KubeService
from kubeha_tui.polling import CLOSE_TIMEOUT, Closeable, Pollable, close_within
from kubeha_tui.ssh import SSHSession, StateCallback

log = logging.getLogger(__name__)

# The private copies of the admin keyring (the Ceph screen's `k`) are named after the
# process that owns them, so that what a killed process left is found and removed at the
# next start. The directories are the state: no list is shared between threads.
SECRET_PREFIX = "kubeha-ceph-"
_OWNED = re.compile(rf"^{SECRET_PREFIX}(\d+)-")


def claim_secret_dir(combined: CombinedConf, pid: int | None = None) -> CombinedConf:
    """Rename a fresh secret directory to carry its owner's pid."""
    pid = os.getpid() if pid is None else pid
    tail = combined.directory.name.removeprefix(SECRET_PREFIX)
    owned = combined.directory.with_name(f"{SECRET_PREFIX}{pid}-{tail}")
    combined.directory.rename(owned)
    return CombinedConf(owned, owned / combined.conf.name, owned / combined.keyring.name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def _owned_dirs(root: Path) -> list[tuple[Path, int]]:
    found = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return []
    for path in entries:
        m = _OWNED.match(path.name)
        try:
            mine = path.is_dir() and not path.is_symlink() and path.stat().st_uid == os.getuid()
        except OSError:
            continue
        if m and mine:
            found.append((path, int(m.group(1))))
    return found


def remove_secret_dirs(pid: int | None = None, root: Path | None = None) -> list[Path]:
    """Remove the secret directories of process ``pid`` (this one by default)."""
    pid = os.getpid() if pid is None else pid
    gone = [path for path, owner in _owned_dirs(root or runtime_dir()) if owner == pid]
    for path in gone:
        shutil.rmtree(path, ignore_errors=True)
    return gone


def remove_stale_secret_dirs(root: Path | None = None) -> list[Path]:
    """Remove what processes that are gone (killed, crashed) left; logged, never the key."""
    stale = [path for path, owner in _owned_dirs(root or runtime_dir()) if not _alive(owner)]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
        log.warning("removed %s, left by a kubeha-tui that is gone", path)
    return stale


@dataclass
class Services:
    ssh: SSHSession | None
    fleet: FleetService
    kube: KubeService
    ceph: CephStatusService

    def by_name(self) -> dict[str, Pollable]:
        return {"fleet": self.fleet, "kube": self.kube, "ceph": self.ceph}

    def ceph_from_secret(self) -> str:
        """Connect Ceph with the cluster's ceph-conf-combined secret (a blocking call)."""
        try:
            combined = claim_secret_dir(fetch_combined(self.kube.client))
        except OSError as exc:
            remove_secret_dirs()
            raise ServiceError(f"cannot keep the Ceph config private: {exc.strerror}") from None
        backend = self.ceph.ceph
        rados = backend.rados if isinstance(backend, AutoCeph) else backend
        if isinstance(rados, CephService):
            rados.switch(str(combined.conf), str(combined.keyring))
            if isinstance(backend, AutoCeph):
                backend.forget()  # auto chooses again, librados first
        else:  # through a pod until now: librados with the secret from here on
            self.ceph.ceph = CephService(str(combined.conf), keyring=str(combined.keyring))
            backend.close()
        return f"Ceph now uses the secret {NAMESPACE}/{NAME} (copied to {combined.directory})"

    def remove_secrets(self) -> None:
        """Remove this process's private copies (also safe from a signal handler's thread)."""
        remove_secret_dirs()

    def close(self, timeout: float = CLOSE_TIMEOUT, keep: Services | None = None) -> bool:
        """Close every connection (see ``close_within``) and remove the private copies.
        With ``keep``, the services in use: what they share with these (fleet and its SSH
        connection) stays open, and so do the copies."""
        kept = [] if keep is None else [keep.fleet, keep.ssh, keep.kube, keep.ceph]
        parts: dict[str, Closeable] = {**self.by_name()}
        if self.ssh:
            parts["ssh"] = self.ssh
        closed = close_within(
            {name: p for name, p in parts.items() if not any(p is k for k in kept)}, timeout
        )
        if keep is None:
            self.remove_secrets()
        return closed


def build_services(
    settings: Settings, on_ssh_state: StateCallback | None = None, fleet: FleetLink | None = None
) -> Services:
    """Every backend; ``fleet``: the fleet link built (and maybe polled) already, whose SSH
    connection Kubernetes shares, instead of a new one."""
    remove_stale_secret_dirs()
    link = fleet or build_fleet(settings, on_ssh_state)
    ssh = link.ssh
    kube = KubeService(KubeClient(settings.kubeconfig, settings.context, settings.kube_server, ssh))
    return Services(
        ssh=ssh,
        fleet=link.fleet,
        kube=kube,
        ceph=CephStatusService(
            build_ceph(
                settings.ceph_via,
                settings.ceph_conf,
                settings.ceph_id,
                kube.client,
                pod=settings.ceph_pod,
                remote=bool(ssh),
            )
        ),
    )
