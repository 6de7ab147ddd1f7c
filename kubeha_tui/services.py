"""Build the backend services from Settings: the one place that wires them together."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from kubeha_tui.ceph import CephService
from kubeha_tui.config import Settings
from kubeha_tui.fleet import FleetService
from kubeha_tui.kube import KubeService
from kubeha_tui.ssh import SSHOptions, SSHSession, StateCallback


class Probed(Protocol):
    def probe(self) -> str: ...


@dataclass
class Services:
    ssh: SSHSession | None
    fleet: FleetService
    kube: KubeService
    ceph: CephService

    def by_name(self) -> dict[str, Probed]:
        return {"fleet": self.fleet, "kube": self.kube, "ceph": self.ceph}

    def close(self) -> None:
        self.kube.close()
        self.ceph.close()
        if self.ssh:
            self.ssh.close()


def build_services(settings: Settings, on_ssh_state: StateCallback | None = None) -> Services:
    ssh = None
    if settings.ssh:
        ssh = SSHSession(
            SSHOptions(
                target=settings.ssh,
                identity=settings.identity,
                known_hosts=settings.known_hosts,
                accept_new_host_key=settings.accept_new_host_key,
            ),
            on_state=on_ssh_state,
        )
    return Services(
        ssh=ssh,
        fleet=FleetService(settings.fleet_endpoint, ssh),
        kube=KubeService(settings.kubeconfig, settings.context, settings.kube_server, ssh),
        ceph=CephService(settings.ceph_conf, settings.ceph_id),
    )
