"""What the operator sees of the stack's health: fleet counted against what the stack
should run, Ceph's HEALTH_WARN not shown green."""

from __future__ import annotations

from kubeha_tui.fleet.models import Machine, UnitState
from kubeha_tui.fleet.stack import stack_summary
from kubeha_tui.sandbox.fleet_registry import FleetRegistry, seed_stack, settle
from kubeha_tui.screens.widgets import status_text
from kubeha_tui.status import BackendStatus


def summary(registry: FleetRegistry) -> str:
    """The product's summary of what the sandbox serves (through the API's JSON shapes)."""
    machines = {m.id: Machine.from_json(m.to_json()) for m in registry.live_machines()}
    return stack_summary(
        [UnitState.from_json(s.to_json()) for s in registry.list_states()], machines
    )


def test_fleet_counts_against_the_six_pidalio_units() -> None:
    registry = FleetRegistry()
    seed_stack(registry)
    assert summary(registry) == "stack 10/10 running"
    registry.destroy("pidalio-scheduler.service")
    registry.fail_unit("pidalio-node.service", sorted(m.id for m in registry.live_machines())[0])
    settle(registry)
    said = summary(registry)
    assert said.startswith("stack 8/10 running (pidalio-scheduler.service not running; ")
    assert "pidalio-node.service not running on 127.0.1." in said


def test_a_fleet_without_the_stack_says_nothing_of_it() -> None:
    assert stack_summary([], {}) == ""


def test_health_warn_and_a_missing_unit_are_not_green() -> None:
    for status, icon in (
        (BackendStatus("ceph", "connected", "HEALTH_OK, 3 OSDs"), ("●", "green")),
        (BackendStatus("ceph", "connected", "HEALTH_WARN, 3 OSDs (2 up, 3 in)"), ("▲", "yellow")),
        (BackendStatus("ceph", "connected", "HEALTH_ERR, 3 OSDs"), ("▲", "red")),
        (
            BackendStatus("fleet", "connected", "x, stack 9/10 running (a not running)"),
            ("▲", "yellow"),
        ),
    ):
        text = status_text(status, detail=False)
        assert (text.plain[0], str(text.spans[0].style)) == icon, status
