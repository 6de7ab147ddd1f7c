"""fleetctl's unit verbs, planned before they run, and unit status/journal on the
unit's machine. See shared/reference/fleet-api.md ("States and commands")."""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from kubeha_tui.config import SSHTarget
from kubeha_tui.errors import ServiceError
from kubeha_tui.fleet.client import FleetClient
from kubeha_tui.fleet.models import Machine, Unit
from kubeha_tui.fleet.render import machine_legend
from kubeha_tui.ssh import CommandResult, SSHOptions, SSHSession, run_local

PIDALIO_WARNING = (
    "The stack reruns `fleetctl start` on the pidalio units every 60 s from every node "
    "(pidalio-launch.service), so this is undone within about a minute."
)
PIDALIO_START_NOTE = (
    "The stack starts the pidalio units itself every 60 s (pidalio-launch.service); "
    "starting one by hand only makes it sooner."
)
TARGET = {"start": "launched", "stop": "loaded", "unload": "inactive"}
VERBS = ("start", "stop", "unload", "destroy")


@dataclass(frozen=True)
class Plan:
    """What a verb will do to one unit, shown for confirmation; ``refused`` says why not."""

    verb: str
    unit: str
    summary: str
    request: str
    warnings: tuple[str, ...] = ()
    refused: str | None = None


def _state(unit: Unit) -> str:
    """The state that matters for a verb: global units have no currentState."""
    return (unit.desired_state if unit.is_global else unit.current_state) or "inactive"


def plan(verb: str, unit: Unit | None, machines: dict[str, Machine]) -> Plan:
    if verb not in VERBS:
        raise ValueError(f"unknown verb {verb!r}")
    name = unit.name if unit else "?"
    if unit is None:
        return Plan(verb, name, "", "", refused="the unit does not exist in fleet (any more)")
    where = (
        "on every machine" if unit.is_global else f"on {machine_legend(unit.machine_id, machines)}"
    )
    warnings: list[str] = []
    if unit.name.startswith("pidalio"):
        warnings.append(PIDALIO_START_NOTE if verb == "start" else PIDALIO_WARNING)
    path = f"/fleet/v1/units/{unit.name}"
    if verb == "destroy":
        if _state(unit) == "launched":
            warnings.insert(0, f"It is running {where}; destroying stops it there.")
        return Plan(verb, unit.name, f"Destroy {unit.name}: remove the unit from the cluster.",
                    f"DELETE {path}", tuple(warnings))  # fmt: skip
    target = TARGET[verb]
    state = _state(unit)
    refused = None
    if "@." in unit.name and verb != "unload":
        refused = f"{unit.name} is a template; only its instances can be {target}"
    elif verb == "stop" and state == "inactive":
        refused = f"{unit.name} is not loaded on any machine; there is nothing to stop"
    elif state == target and unit.desired_state == target:
        refused = f"{unit.name} is already {target}"
    summaries = {
        "start": f"Start {unit.name} ({'every machine' if unit.is_global else 'fleet picks the machine'}).",
        "stop": f"Stop {unit.name} {where}; it stays loaded.",
        "unload": f"Unload {unit.name} {where}: stop it and unschedule it.",
    }
    body = f'{{"desiredState": "{target}"}}'
    return Plan(verb, unit.name, summaries[verb], f"PUT {path} {body}", tuple(warnings), refused)


def execute(
    client: FleetClient,
    p: Plan,
    *,
    wait: float = 30.0,
    progress: Callable[[str], None] | None = None,
) -> str:
    """Carry out a plan as fleetctl does, waiting (bounded) for fleet to converge."""
    if p.refused:
        raise ServiceError(p.refused)
    if p.verb == "destroy":
        existed = client.destroy(p.unit)
        return f"destroyed {p.unit}" if existed else f"{p.unit} was already gone"
    target = TARGET[p.verb]
    client.set_desired_state(p.unit, target)
    deadline = time.monotonic() + wait
    while True:
        unit = client.unit(p.unit)
        if unit is None:
            raise ServiceError(f"{p.unit} vanished while it was being changed")
        if _state(unit) == target or (target == "inactive" and not unit.current_state):
            return f"{p.unit} is {target}"
        if progress:
            progress(f"{p.unit}: {_state(unit)}, waiting for {target}")
        if time.monotonic() >= deadline:
            return f"{p.unit}: asked for {target}; still {_state(unit)} after {wait:g}s"
        time.sleep(0.25)


def status_command(unit: str) -> str:
    return f"systemctl status -l {shlex.quote(unit)}"


def journal_command(unit: str, lines: int = 200) -> str:
    return f"journalctl --unit {shlex.quote(unit)} --no-pager -n {int(lines)} --output short"


def local_machine_id() -> str:
    try:
        return Path("/etc/machine-id").read_text().strip()
    except OSError:
        return ""


@dataclass
class MachineShell:
    """Runs a command on a fleet machine: locally when it is this machine, else over
    SSH to its primary IP, through ``via`` (the first SSH host) when remote."""

    template: SSHOptions  # user, keys and known_hosts for the machines; the host is replaced
    via: SSHSession | None = None
    port: int | None = None  # None: the SSH config's Port for the machine, else 22
    local_id: str = field(default_factory=local_machine_id)
    _sessions: dict[str, SSHSession] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def session(self, machine: Machine) -> SSHSession:
        with self._lock:
            if machine.id not in self._sessions:
                target = SSHTarget(machine.primary_ip, self.template.target.user, self.port)
                self._sessions[machine.id] = SSHSession(
                    replace(self.template, target=target), via=self.via
                )
            return self._sessions[machine.id]

    def run(self, machine: Machine, command: str, timeout: float = 15.0) -> CommandResult:
        if machine.id and machine.id == self.local_id and self.via is None:
            return run_local(command, timeout)
        if not machine.primary_ip:
            raise ServiceError(
                f"machine {machine.short_id}... has no IP; it may have left the cluster"
            )
        return self.session(machine).run(command, timeout)

    def close(self) -> None:
        with self._lock:
            for s in self._sessions.values():
                s.close()
            self._sessions.clear()
