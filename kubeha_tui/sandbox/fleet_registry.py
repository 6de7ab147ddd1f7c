"""The sandbox fleet's state: units, machines with heartbeats, and an engine that
moves units one step per tick (inactive -> loaded -> launched), as fleet's engine
and agents do. Seeded with the stack (six pidalio units on three machines)."""

from __future__ import annotations

import fnmatch
import hashlib
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

from kubeha_tui.sandbox.fleet_units import (
    Machine,
    Unit,
    UnitOption,
    UnitState,
    before_1_0,
    grouped,
)

STEP_UP = {"": "loaded", "inactive": "loaded", "loaded": "launched"}
RANK = {"": 0, "inactive": 0, "loaded": 1, "launched": 2}


def machine_id(seed: str) -> str:
    return hashlib.sha1(seed.encode()).hexdigest()[:32]


@dataclass
class _Machine:
    machine: Machine
    last_beat: float
    beating: bool = True


@dataclass
class _Agent:
    """What systemd on one machine reports for one unit."""

    job: str  # loaded or launched
    active: str = "inactive"
    sub: str = "dead"


@dataclass
class FleetRegistry:
    tick: float = 0.2
    machine_ttl: float = 30.0
    version: str = "0.11.8"
    clock: Callable[[], float] = time.monotonic
    etcd_down: bool = False
    units: dict[str, Unit] = field(default_factory=dict)
    machines: dict[str, _Machine] = field(default_factory=dict)
    agents: dict[tuple[str, str], _Agent] = field(default_factory=dict)
    failed: set[tuple[str, str]] = field(default_factory=set)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _stop: threading.Event = field(default_factory=threading.Event)

    # -- machines ------------------------------------------------------------

    def add_machine(self, ip: str, metadata: dict[str, str], mid: str | None = None) -> str:
        with self.lock:
            mid = mid or machine_id(f"{ip}-{len(self.machines)}")
            self.machines[mid] = _Machine(Machine(mid, ip, dict(metadata)), self.clock())
            return mid

    def stop_machine(self, mid: str) -> None:
        """Its agent stops heartbeating; the machine leaves after the TTL."""
        with self.lock:
            self.machines[mid].beating = False

    def start_machine(self, mid: str) -> None:
        with self.lock:
            self.machines[mid].beating = True
            self.machines[mid].last_beat = self.clock()

    def live_machines(self) -> list[Machine]:
        with self.lock:
            now = self.clock()
            return sorted(
                (
                    m.machine
                    for m in self.machines.values()
                    if now - m.last_beat <= self.machine_ttl
                ),
                key=lambda m: m.id,
            )

    # -- units ---------------------------------------------------------------

    def get(self, name: str) -> Unit | None:
        with self.lock:
            return self.units.get(name)

    def create(self, unit: Unit) -> None:
        """Store the unit as fleetd does: its file text, read back when asked for, so
        fleetd 1.0 answers with the options grouped by section."""
        options = unit.options if before_1_0(self.version) else grouped(unit.options)
        with self.lock:
            self.units[unit.name] = replace(
                unit, options=options, current_state="", machine_id="", version=self.version
            )

    def set_desired(self, name: str, state: str) -> None:
        with self.lock:
            self.units[name] = replace(self.units[name], desired_state=state)
            self.failed = {f for f in self.failed if f[0] != name}

    def destroy(self, name: str) -> None:
        with self.lock:
            del self.units[name]
            self.agents = {k: v for k, v in self.agents.items() if k[0] != name}

    def fail_unit(self, name: str, mid: str = "") -> None:
        """Make systemd report the unit failed (on ``mid``, or wherever it runs)."""
        with self.lock:
            for key in self.agents:
                if key[0] == name and (not mid or key[1] == mid):
                    self.failed.add(key)

    def list_units(self) -> list[Unit]:
        with self.lock:
            return [self.units[n] for n in sorted(self.units)]

    def list_states(self) -> list[UnitState]:
        with self.lock:
            out = []
            for (name, mid), agent in self.agents.items():
                unit = self.units.get(name)
                if unit is None:
                    continue
                active, sub = (
                    ("failed", "failed")
                    if (name, mid) in self.failed
                    else (agent.active, agent.sub)
                )
                out.append(UnitState(name, mid, unit.hash, "loaded", active, sub))
            return sorted(out, key=lambda s: (s.name, s.machine_id))

    # -- engine --------------------------------------------------------------

    def step(self) -> None:
        """One engine and agent round."""
        with self.lock:
            now = self.clock()
            for m in self.machines.values():
                if m.beating:
                    m.last_beat = now
            live = {machine.id: machine for machine in self.live_machines()}
            for (name, mid), _agent in list(self.agents.items()):
                if mid not in live:
                    del self.agents[(name, mid)]
            for current in list(self.units.values()):
                self.units[current.name] = self._engine_step(current, live)

    def _engine_step(self, unit: Unit, live: dict[str, Machine]) -> Unit:
        if unit.is_global:
            for machine in live.values():
                if self._fits(unit, machine):
                    self._agent_step(unit.name, machine.id, unit.desired_state)
            return unit
        if unit.machine_id and unit.machine_id not in live:
            unit = replace(unit, machine_id="", current_state="")
        if RANK.get(unit.desired_state, 0) == 0:
            if unit.machine_id:
                self.agents.pop((unit.name, unit.machine_id), None)
            return replace(unit, machine_id="", current_state="")
        if not unit.machine_id:
            target = self._schedule(unit, live)
            return replace(unit, machine_id=target, current_state="inactive") if target else unit
        return self._converge(unit)

    def _converge(self, unit: Unit) -> Unit:
        want, have = RANK[unit.desired_state], RANK.get(unit.current_state, 0)
        if have < want:
            unit = replace(unit, current_state=STEP_UP[unit.current_state])
        elif have > want:
            unit = replace(unit, current_state="loaded")
        self._agent_step(unit.name, unit.machine_id, unit.current_state, converged=True)
        return unit

    def _agent_step(self, name: str, mid: str, job: str, converged: bool = False) -> None:
        key = (name, mid)
        if RANK.get(job, 0) == 0:
            self.agents.pop(key, None)
            return
        agent = self.agents.get(key)
        if agent is None:
            # A new global unit or a freshly scheduled one: loaded first.
            self.agents[key] = _Agent("loaded")
            return
        if job == "loaded":
            self.agents[key] = _Agent("loaded")
        elif agent.job == "loaded" or agent.active == "inactive":
            self.agents[key] = _Agent("launched", "activating", "start")
        else:
            self.agents[key] = _Agent("launched", "active", "running")

    def _fits(self, unit: Unit, machine: Machine) -> bool:
        return all(machine.metadata.get(k) in vals for k, vals in unit.machine_metadata.items())

    def _schedule(self, unit: Unit, live: dict[str, Machine]) -> str:
        """The least loaded live machine that fits and hosts nothing it conflicts with."""
        load: dict[str, int] = dict.fromkeys(live, 0)
        on: dict[str, list[Unit]] = {mid: [] for mid in live}
        for other in self.units.values():
            if other.machine_id in on and other.name != unit.name:
                on[other.machine_id].append(other)
                load[other.machine_id] += 1
        for mid in sorted(live, key=lambda m: (load[m], m)):
            if not self._fits(unit, live[mid]):
                continue
            if any(_conflict(unit, other) for other in on[mid]):
                continue
            return mid
        return ""

    # -- running -------------------------------------------------------------

    def start(self) -> threading.Thread:
        def loop() -> None:
            while not self._stop.wait(self.tick):
                self.step()

        thread = threading.Thread(target=loop, name="fleet-engine", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()


def _conflict(a: Unit, b: Unit) -> bool:
    return any(fnmatch.fnmatchcase(b.name, c) for c in a.conflicts) or any(
        fnmatch.fnmatchcase(a.name, c) for c in b.conflicts
    )


def _options(
    description: str, exec_start: str, fleet: Iterable[tuple[str, str]] = ()
) -> tuple[UnitOption, ...]:
    opts = [
        UnitOption("Unit", "Description", description),
        UnitOption("Unit", "After", "docker.service weave.service"),
        UnitOption("Service", "Restart", "always"),
        UnitOption("Service", "ExecStart", exec_start),
    ]
    opts += [UnitOption("X-Fleet", k, v) for k, v in fleet]
    return tuple(opts)


STACK_UNITS = (
    Unit(
        "pidalio.service",
        _options("Pidalio certificates and cluster resources", "/opt/bin/pidalio"),
    ),
    Unit(
        "pidalio-apiserver.service",
        _options(
            "Pidalio Master API Service",
            "/opt/bin/pidalio-apiserver",
            [("Conflicts", "pidalio-apiserver.service")],
        ),
    ),
    Unit(
        "pidalio-controller.service",
        _options("Pidalio Controller Manager", "/opt/bin/pidalio-controller"),
    ),
    Unit("pidalio-scheduler.service", _options("Pidalio Scheduler", "/opt/bin/pidalio-scheduler")),
    Unit(
        "pidalio-proxy.service",
        _options("Pidalio Proxy", "/opt/bin/pidalio-proxy", [("Global", "true")]),
    ),
    Unit(
        "pidalio-node.service",
        _options("Pidalio Node (kubelet)", "/opt/bin/pidalio-node", [("Global", "true")]),
    ),
)
# Loopback aliases: a sandbox machine's IP is never a real host.
STACK_MACHINES = (("127.0.1.1", "fr1"), ("127.0.1.2", "fr1"), ("127.0.1.3", "fr2"))


def settle(registry: FleetRegistry, rounds: int = 6) -> None:
    """Run engine rounds at once so a seeded cluster starts fully running."""
    for _ in range(rounds):
        registry.step()


def seed_stack(registry: FleetRegistry, ips: Iterable[tuple[str, str]] = STACK_MACHINES) -> None:
    """The stack's healthy cluster: ten `active running` rows in list-units."""
    for n, (ip, region) in enumerate(ips):
        registry.add_machine(ip, {"region": region}, machine_id(f"stack-node-{n}"))
    for unit in STACK_UNITS:
        registry.create(replace(unit, desired_state="launched"))
    settle(registry)


def seed_large(registry: FleetRegistry, units: int, machines: int) -> None:
    """A generated cluster: ``machines`` machines in two regions, ``units`` launched units."""
    for n in range(machines):
        registry.add_machine(
            f"127.2.{n // 250}.{n % 250 + 1}", {"region": f"fr{n % 2 + 1}"}, machine_id(f"big-{n}")
        )
    for n in range(units):
        registry.create(
            Unit(f"app-{n:05d}.service", _options(f"Generated app {n}", "/bin/true"), "launched")
        )
    settle(registry)
