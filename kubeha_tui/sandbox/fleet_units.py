"""The sandbox fleet's own unit, state and machine objects, written from fleet's
source and not shared with the product, so a product bug cannot hide in both.

Version-dependent, as fleetd is: 0.11.x vendors a go-systemd whose ``Serialize``
writes a section header whenever the section changes and takes only ``true`` (any
case) as a true ``Global=``; 1.0 groups options by section in first-seen order and
takes ``true/yes/1/on/t``. The hash is the SHA1 of that serialization.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

GLOBAL_TRUE_1_0 = frozenset({"true", "yes", "1", "on", "t"})
# encoding/json's names for a JSON value it cannot put into a Go struct field.
GO_JSON_KINDS = {dict: "object", list: "array", str: "string", bool: "bool", int: "number"}


@dataclass(frozen=True)
class UnitOption:
    section: str
    name: str
    value: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "section": self.section, "value": self.value}


def grouped(options: Iterable[UnitOption]) -> tuple[UnitOption, ...]:
    """Options grouped by section in first-seen order, order kept within a section."""
    sections: dict[str, list[UnitOption]] = {}
    for opt in options:
        sections.setdefault(opt.section, []).append(opt)
    return tuple(opt for opts in sections.values() for opt in opts)


def serialize(options: Iterable[UnitOption], version: str) -> bytes:
    """The unit file as the go-systemd vendored by fleetd ``version`` writes it."""
    opts = tuple(options) if before_1_0(version) else grouped(options)
    out: list[str] = []
    section: str | None = None
    for opt in opts:
        if opt.section != section:
            out.append(f"{'' if section is None else chr(10)}[{opt.section}]\n")
            section = opt.section
        out.append(f"{opt.name}={opt.value}\n")
    return "".join(out).encode()


def unit_hash(options: Iterable[UnitOption], version: str) -> str:
    return hashlib.sha1(serialize(options, version)).hexdigest()


def before_1_0(version: str) -> bool:
    return int(version.split(".", maxsplit=1)[0]) < 1


@dataclass(frozen=True)
class Unit:
    name: str
    options: tuple[UnitOption, ...] = ()
    desired_state: str = ""
    current_state: str = ""
    machine_id: str = ""
    version: str = "0.11.8"

    @property
    def hash(self) -> str:
        return unit_hash(self.options, self.version)

    def fleet_values(self, name: str) -> list[str]:
        """An ``[X-Fleet]`` key's values; fleet splits each line on spaces (quotes kept simple)."""
        return [
            word.strip('"')
            for o in self.options
            if o.section == "X-Fleet" and o.name == name
            for word in o.value.split()
        ]

    @property
    def is_global(self) -> bool:
        values = self.fleet_values("Global")
        if not values:
            return False
        last = values[-1].lower()
        return last == "true" if before_1_0(self.version) else last in GLOBAL_TRUE_1_0

    @property
    def conflicts(self) -> list[str]:
        return self.fleet_values("X-Conflicts") + self.fleet_values("Conflicts")

    @property
    def peers(self) -> list[str]:
        return self.fleet_values("X-ConditionMachineOf") + self.fleet_values("MachineOf")

    @property
    def required_target(self) -> str:
        for key in ("MachineID", "X-ConditionMachineID", "X-ConditionMachineBootID"):
            if values := self.fleet_values(key):
                return values[0]
        return ""

    @property
    def machine_metadata(self) -> dict[str, set[str]]:
        wanted: dict[str, set[str]] = {}
        for pair in self.fleet_values("X-ConditionMachineMetadata") + self.fleet_values(
            "MachineMetadata"
        ):
            key, sep, val = pair.partition("=")
            if sep and "=" not in val:  # fleet skips a pair that is not exactly k=v
                wanted.setdefault(key, set()).add(val)
        return wanted

    def to_json(self) -> dict[str, Any]:
        """schema.Unit: keys alphabetical, empty fields left out (omitempty)."""
        doc: dict[str, Any] = {
            "currentState": self.current_state,
            "desiredState": self.desired_state,
            "machineID": self.machine_id,
            "name": self.name,
            "options": [o.to_json() for o in self.options],
        }
        return {k: v for k, v in doc.items() if v}


def unit_from_json(doc: object) -> Unit:
    """A PUT body as Go's decoder reads it into schema.Unit; ValueError with Go's text."""
    if doc is None:
        return Unit("")
    if not isinstance(doc, dict):
        raise ValueError(f"json: cannot unmarshal {_kind(doc)} into Go value of type schema.Unit")
    fields = {"name": str, "desiredState": str, "currentState": str, "machineID": str}
    for key, want in fields.items():
        if doc.get(key) is not None and not isinstance(doc[key], want):
            raise ValueError(
                f"json: cannot unmarshal {_kind(doc[key])} into Go value of type string"
            )
    raw = doc.get("options") or []
    if not isinstance(raw, list):
        raise ValueError(
            f"json: cannot unmarshal {_kind(raw)} into Go value of type []*schema.UnitOption"
        )
    options = []
    for item in raw:
        if not isinstance(item, dict):
            raise ValueError(
                f"json: cannot unmarshal {_kind(item)} into Go value of type schema.UnitOption"
            )
        values = [item.get(k) or "" for k in ("section", "name", "value")]
        if not all(isinstance(v, str) for v in values):
            bad = next(v for v in values if not isinstance(v, str))
            raise ValueError(f"json: cannot unmarshal {_kind(bad)} into Go value of type string")
        options.append(UnitOption(*values))
    return Unit(
        str(doc.get("name") or ""),
        tuple(options),
        str(doc.get("desiredState") or ""),
        str(doc.get("currentState") or ""),
        str(doc.get("machineID") or ""),
    )


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "bool"
    return GO_JSON_KINDS.get(type(value), "number")


@dataclass(frozen=True)
class UnitState:
    name: str
    machine_id: str = ""
    hash: str = ""
    load_state: str = ""
    active_state: str = ""
    sub_state: str = ""

    def to_json(self) -> dict[str, str]:
        doc = {
            "hash": self.hash,
            "machineID": self.machine_id,
            "name": self.name,
            "systemdActiveState": self.active_state,
            "systemdLoadState": self.load_state,
            "systemdSubState": self.sub_state,
        }
        return {k: v for k, v in doc.items() if v}


@dataclass(frozen=True)
class Machine:
    id: str
    primary_ip: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id,
            "metadata": dict(self.metadata),
            "primaryIP": self.primary_ip,
        }
        return {k: v for k, v in doc.items() if v}
