"""Build the backend services from Settings: the one place that wires them together."""

from __future__ import annotations

from dataclasses import dataclass, field

from kubeha_tui.ceph import CephService, CephStatusService
from kubeha_tui.ceph.choice import AutoCeph, build_ceph
from kubeha_tui.ceph.secret import NAME, NAMESPACE, CombinedConf, fetch_combined
from kubeha_tui.config import Settings, SSHTarget
from kubeha_tui.fleet.service import FleetService
from kubeha_tui.kube.client import KubeClient
from kubeha_tui.kube.service import KubeService
from kubeha_tui.polling import Pollable
from kubeha_tui.ssh import SSHOptions, SSHSession, StateCallback


@dataclass
class Services:
    ssh: SSHSession | None
    fleet: FleetService
    kube: KubeService
    ceph: CephStatusService
    secrets: list[CombinedConf] = field(default_factory=list)  # removed on close

    def by_name(self) -> dict[str, Pollable]:
        return {"fleet": self.fleet, "kube": self.kube, "ceph": self.ceph}

    def ceph_from_secret(self) -> str:
        """Connect Ceph with the cluster's ceph-conf-combined secret (a blocking call)."""
        combined = fetch_combined(self.kube.client)
        self.secrets.append(combined)
        backend = self.ceph.ceph
        rados = backend.rados if isinstance(backend, AutoCeph) else backend
        if isinstance(rados, CephService):
            rados.switch(str(combined.conf), str(combined.keyring))
            backend.forget()  # auto chooses again, librados first
        else:  # through a pod until now: librados with the secret from here on
            self.ceph.ceph = CephService(str(combined.conf), keyring=str(combined.keyring))
            backend.close()
        return f"Ceph now uses the secret {NAMESPACE}/{NAME} (copied to {combined.directory})"

    def remove_secrets(self) -> None:
        while self.secrets:
            self.secrets.pop().remove()

    def close(self) -> None:
        for service in self.by_name().values():
            service.close()
        if self.ssh:
            self.ssh.close()
        self.remove_secrets()


def ssh_options(settings: Settings, target: SSHTarget) -> SSHOptions:
    return SSHOptions(
        target=target,
        identity=settings.identity,
        known_hosts=settings.known_hosts,
        accept_new_host_key=settings.accept_new_host_key,
    )


def build_services(settings: Settings, on_ssh_state: StateCallback | None = None) -> Services:
    ssh = None
    if settings.ssh:
        ssh = SSHSession(ssh_options(settings, settings.ssh), on_state=on_ssh_state)
    # fleet machines are reached as the same user with the same keys (fleetctl: core@IP:22).
    machine_template = ssh_options(settings, settings.ssh or SSHTarget("localhost", "core"))
    kube = KubeService(KubeClient(settings.kubeconfig, settings.context, settings.kube_server, ssh))
    return Services(
        ssh=ssh,
        fleet=FleetService.build(settings.fleet_endpoint, ssh, machine_template),
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
