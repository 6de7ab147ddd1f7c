"""FleetService: what the app polls and acts through."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from kubeha_tui.config import Settings, SSHTarget
from kubeha_tui.errors import ServiceError
from kubeha_tui.fleet.actions import (
    MachineShell,
    Plan,
    execute,
    journal_command,
    plan,
    status_command,
)
from kubeha_tui.fleet.client import FleetClient, FleetSnapshot
from kubeha_tui.fleet.models import Machine, serialize_unit_file
from kubeha_tui.fleet.stack import stack_summary
from kubeha_tui.polling import CLOSE_TIMEOUT, Poll, close_within
from kubeha_tui.ssh import SSHOptions, SSHSession, StateCallback, ssh_options


@dataclass
class FleetService:
    client: FleetClient
    shell: MachineShell
    last: FleetSnapshot | None = field(default=None, init=False)
    _pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, "fleet-machines"), init=False
    )
    _machine_client: FleetClient = field(init=False)

    def __post_init__(self) -> None:
        # machines take three pages, read while the states take twenty: no read-ahead
        self._machine_client = FleetClient(
            self.client.endpoint, self.client.ssh, self.client.timeout, parallel=1
        )

    @classmethod
    def build(cls, endpoint: str, ssh: SSHSession | None, machine_ssh: SSHOptions) -> FleetService:
        return cls(FleetClient(endpoint, ssh), MachineShell(machine_ssh, via=ssh))

    @property
    def timeout(self) -> float:
        return self.client.timeout

    @timeout.setter
    def timeout(self, seconds: float) -> None:
        self.client.timeout = self._machine_client.timeout = seconds

    def poll(self) -> Iterator[Poll]:
        """Unit states and machines first (the Units table), then the unit files."""
        # Later polls read the machines over a second stream while the states page in on
        # the first. The first poll reads both on the one stream it opens, states first:
        # each new stream is a new session on the node (sshd, the user's shell, fleetctl
        # fd-forward), which takes longer than the machines' few pages.
        if self.last is None:
            states = tuple(self.client.states())
            machines = self.client.machines()
        else:
            pending = self._pool.submit(self._machine_client.machines)
            states = tuple(self.client.states())
            machines = pending.result()
        machines_by_id = {m.id: m for m in machines}
        previous = self.last.units if self.last else ()
        self.last = FleetSnapshot(states, previous, machines_by_id, self.client.server)
        yield Poll(self._detail(self.last), self.last, final=False)
        self.last = replace(self.last, units=tuple(self.client.units()))
        self.client.open_page_streams()  # after the first poll, for the next ones
        yield Poll(self._detail(self.last), self.last)

    def _detail(self, snap: FleetSnapshot) -> str:
        via = f" via {self.client.ssh.options.target}" if self.client.ssh else ""
        running = sum(1 for s in snap.states if s.active_state == "active")
        stack = stack_summary(snap.states, snap.machines)
        return (
            f"{snap.server or 'fleetd'} at {self.client.endpoint}{via}: {len(snap.machines)} machines, "
            f"{running}/{len(snap.states)} unit states active" + (f", {stack}" if stack else "")
        )

    def plan(self, verb: str, unit_name: str) -> Plan:
        """Plan against the unit as fleet has it now, not as the table last showed it."""
        machines = self.last.machines if self.last else {}
        return plan(verb, self.client.unit(unit_name), machines)

    def execute(self, p: Plan) -> str:
        return execute(self.client, p)

    def unit_file(self, unit_name: str) -> str:
        """The unit file as fleet holds it now (what ``fleetctl cat`` prints)."""
        unit = self.client.unit(unit_name)
        if unit is None:
            raise ServiceError(f"{unit_name} is not in fleet any more (destroyed meanwhile?)")
        return serialize_unit_file(unit.options).decode(errors="replace")

    def unit_output(self, kind: str, unit_name: str, machine: Machine) -> str:
        command = status_command(unit_name) if kind == "status" else journal_command(unit_name)
        result = self.shell.run(machine, command)
        text = result.stdout + (f"\n{result.stderr}" if result.stderr.strip() else "")
        # systemctl status exits 3 for an inactive unit: still a useful answer.
        return text or f"(no output; exit status {result.exit_status})"

    def close(self) -> None:
        self.client.close()
        self._machine_client.close()
        self._pool.shutdown(wait=False)
        self.shell.close()


@dataclass
class FleetLink:
    """fleet and the SSH connection (if any) it is reached over, which the other
    backends then share: built on its own, without their imports, so that fleet's first
    poll can start with the app."""

    ssh: SSHSession | None
    fleet: FleetService

    def close(self, timeout: float = CLOSE_TIMEOUT) -> bool:
        """Close fleet, then the SSH connection (see ``close_within``)."""
        return close_within(
            {"fleet": self.fleet, "ssh": self.ssh} if self.ssh else {"fleet": self.fleet}, timeout
        )


def build_fleet(settings: Settings, on_ssh_state: StateCallback | None = None) -> FleetLink:
    """The SSH session of ``--ssh`` and the fleet service over it; nothing connects yet."""
    ssh = None
    if settings.ssh:
        ssh = SSHSession(ssh_options(settings, settings.ssh), on_state=on_ssh_state)
    # fleet machines are reached as the same user with the same keys (fleetctl: core@IP:22);
    # without --ssh the SSH config may name the user, else it is core.
    machine_template = ssh_options(settings, settings.ssh or SSHTarget("localhost"))
    return FleetLink(ssh, FleetService.build(settings.fleet_endpoint, ssh, machine_template))
