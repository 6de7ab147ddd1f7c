"""What the Kubernetes-HA stack should run on fleet, and what of it is missing now.

The six Pidalio units: four run once somewhere, node (kubelet) and proxy on every
machine. Counting unit states alone said "9/9 active" with a unit destroyed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .models import Machine, UnitState

SINGLE = ("pidalio.service", "pidalio-apiserver.service", "pidalio-controller.service",
          "pidalio-scheduler.service")  # fmt: skip
GLOBAL = ("pidalio-node.service", "pidalio-proxy.service")
STACK = SINGLE + GLOBAL


def stack_gaps(states: Iterable[UnitState], machines: Mapping[str, Machine]) -> list[str]:
    """What of the stack does not run, one phrase each (empty: all of it runs)."""
    active = {(s.name, s.machine_id) for s in states if s.active_state == "active"}
    gaps = [f"{name} not running" for name in SINGLE if not any(n == name for n, _ in active)]
    for name in GLOBAL:
        missing = [m for m in sorted(machines) if (name, m) not in active]
        if missing:
            where = ", ".join(machines[m].primary_ip or machines[m].short_id for m in missing)
            gaps.append(f"{name} not running on {where}")
    return gaps


def stack_summary(states: Iterable[UnitState], machines: Mapping[str, Machine]) -> str:
    """``stack: ...`` for the fleet line; "" when no Pidalio unit is there (not the stack)."""
    states = list(states)
    if not any(s.name in STACK for s in states):
        return ""
    expected = len(SINGLE) + len(GLOBAL) * len(machines)
    gaps = stack_gaps(states, machines)
    active = {(s.name, s.machine_id) for s in states if s.active_state == "active"}
    ok = sum(1 for name in SINGLE if any(n == name for n, _ in active)) + sum(
        1 for name in GLOBAL for m in machines if (name, m) in active
    )
    return f"stack {ok}/{expected} running" + (f" ({'; '.join(gaps)})" if gaps else "")
