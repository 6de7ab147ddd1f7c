"""fleetctl's table formatting, as pure functions (object in, row out).

Matches fleetctl 0.11: MACHINE is ``<8 hex>.../<IP>``, ``-`` without a machine,
no ``/IP`` once the machine is gone; METADATA is sorted ``k=v`` pairs or ``-``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kubeha_tui.fleet.models import Machine, Unit, UnitState

UNIT_COLUMNS = ("UNIT", "MACHINE", "ACTIVE", "SUB")
UNIT_WIDE_COLUMNS = (*UNIT_COLUMNS, "LOAD", "HASH")
MACHINE_COLUMNS = ("MACHINE", "IP", "METADATA")
UNIT_FILE_COLUMNS = ("UNIT", "HASH", "DSTATE", "STATE", "TARGET")

Row = tuple[str, ...]


def machine_legend(machine_id: str, machines: Mapping[str, Machine], full: bool = False) -> str:
    if not machine_id:
        return "-"
    legend = machine_id if full else f"{machine_id[:8]}..."
    machine = machines.get(machine_id)
    if machine is not None and machine.primary_ip:
        legend = f"{legend}/{machine.primary_ip}"
    return legend


def metadata_text(metadata: Mapping[str, str]) -> str:
    return ",".join(f"{k}={metadata[k]}" for k in sorted(metadata)) or "-"


def unit_row(state: UnitState, machines: Mapping[str, Machine], wide: bool = False) -> Row:
    row: Row = (
        state.name,
        machine_legend(state.machine_id, machines),
        state.active_state or "-",
        state.sub_state or "-",
    )
    if wide:
        row += (state.load_state or "-", state.hash[:7] or "-")
    return row


def machine_row(machine: Machine) -> Row:
    return (f"{machine.short_id}...", machine.primary_ip or "-", metadata_text(machine.metadata))


def unit_file_row(unit: Unit, machines: Mapping[str, Machine]) -> Row:
    if unit.is_global:
        target, state = "global", "-"
    else:
        target, state = machine_legend(unit.machine_id, machines), unit.current_state or "-"
    return (unit.name, unit.hash[:7], unit.desired_state or "-", state, target)


def fleetctl_table(header: Sequence[str], rows: Sequence[Row]) -> str:
    """The text fleetctl prints: Go's tabwriter (min width 0, tab width 8, padding 1,
    padded with tabs), so a column's cells end on the same tab stop."""
    lines = [tuple(header), *rows]
    widths = [max(len(r[i]) for r in lines) + 1 for i in range(len(header) - 1)]
    out = []
    for r in lines:
        cells = []
        for cell, width in zip(r[:-1], widths, strict=False):
            stop = -(-width // 8) * 8
            cells.append(cell + "\t" * -(-(stop - len(cell)) // 8))
        out.append("".join(cells) + r[-1])
    return "\n".join(out) + "\n"


def problem_level(state: UnitState) -> str:
    """``failed``, ``inactive`` (not running as it should) or ``""`` for a healthy row."""
    if state.active_state == "failed" or state.sub_state == "failed":
        return "failed"
    if state.active_state != "active":
        return "inactive"
    return ""
