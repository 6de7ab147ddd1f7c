"""FleetService: what the app polls and acts through."""

from __future__ import annotations

from dataclasses import dataclass, field

from kubeha_tui.fleet.actions import (
    MachineShell,
    Plan,
    execute,
    journal_command,
    plan,
    status_command,
)
from kubeha_tui.fleet.client import FleetClient, FleetSnapshot
from kubeha_tui.fleet.models import Machine
from kubeha_tui.polling import Poll
from kubeha_tui.ssh import SSHOptions, SSHSession


@dataclass
class FleetService:
    client: FleetClient
    shell: MachineShell
    last: FleetSnapshot | None = field(default=None, init=False)

    @classmethod
    def build(cls, endpoint: str, ssh: SSHSession | None, machine_ssh: SSHOptions) -> FleetService:
        return cls(FleetClient(endpoint, ssh), MachineShell(machine_ssh, via=ssh))

    def poll(self) -> Poll:
        snap = self.client.snapshot()
        self.last = snap
        via = f" via {self.client.ssh.options.target}" if self.client.ssh else ""
        running = sum(1 for s in snap.states if s.active_state == "active")
        detail = (
            f"{snap.server or 'fleetd'} at {self.client.endpoint}{via}: {len(snap.machines)} machines, "
            f"{running}/{len(snap.states)} unit states active"
        )
        return Poll(detail, snap)

    def plan(self, verb: str, unit_name: str) -> Plan:
        """Plan against the unit as fleet has it now, not as the table last showed it."""
        machines = self.last.machines if self.last else {}
        return plan(verb, self.client.unit(unit_name), machines)

    def execute(self, p: Plan) -> str:
        return execute(self.client, p)

    def unit_output(self, kind: str, unit_name: str, machine: Machine) -> str:
        command = status_command(unit_name) if kind == "status" else journal_command(unit_name)
        result = self.shell.run(machine, command)
        text = result.stdout + (f"\n{result.stderr}" if result.stderr.strip() else "")
        # systemctl status exits 3 for an inactive unit: still a useful answer.
        return text or f"(no output; exit status {result.exit_status})"

    def close(self) -> None:
        self.client.close()
        self.shell.close()
