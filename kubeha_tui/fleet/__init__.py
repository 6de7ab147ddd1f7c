"""fleet: client, models, fleetctl formatting and unit actions."""

from __future__ import annotations

from kubeha_tui.fleet.client import FleetAPIError, FleetClient, FleetSnapshot
from kubeha_tui.fleet.models import Machine, Unit, UnitOption, UnitState

__all__ = [
    "FleetAPIError",
    "FleetClient",
    "FleetSnapshot",
    "Machine",
    "Unit",
    "UnitOption",
    "UnitState",
]
