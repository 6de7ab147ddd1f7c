"""fleet's v1 API objects as plain dataclasses, and the unit-file facts fleet derives
from a unit's options (hash, Global, Conflicts). Shapes: shared/reference/fleet-api.md."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

TRUTHY = {"true", "yes", "1", "on", "t"}
JOB_STATES = ("inactive", "loaded", "launched")


@dataclass(frozen=True)
class UnitOption:
    section: str
    name: str
    value: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "section": self.section, "value": self.value}


def serialize_unit_file(options: Iterable[UnitOption]) -> bytes:
    """The unit file as go-systemd writes it: a header whenever the section changes,
    a blank line between sections, no trailing blank line."""
    out: list[str] = []
    section: str | None = None
    for opt in options:
        if opt.section != section:
            if section is not None:
                out.append("\n")
            section = opt.section
            out.append(f"[{section}]\n")
        out.append(f"{opt.name}={opt.value}\n")
    return "".join(out).encode()


def _values(options: Iterable[UnitOption], section: str, name: str) -> list[str]:
    return [o.value for o in options if o.section == section and o.name == name]


@dataclass(frozen=True)
class Unit:
    name: str
    options: tuple[UnitOption, ...] = ()
    desired_state: str = ""
    current_state: str = ""
    machine_id: str = ""

    @cached_property
    def hash(self) -> str:
        return hashlib.sha1(serialize_unit_file(self.options)).hexdigest()

    @property
    def is_global(self) -> bool:
        values = _values(self.options, "X-Fleet", "Global")
        return bool(values) and values[-1].strip().lower() in TRUTHY

    @property
    def description(self) -> str:
        values = _values(self.options, "Unit", "Description")
        return values[0] if values else ""

    @property
    def conflicts(self) -> list[str]:
        return [c for v in _values(self.options, "X-Fleet", "Conflicts") for c in v.split()]

    @property
    def machine_metadata(self) -> dict[str, set[str]]:
        wanted: dict[str, set[str]] = {}
        for value in _values(self.options, "X-Fleet", "MachineMetadata"):
            for pair in value.split():
                key, _, val = pair.partition("=")
                wanted.setdefault(key, set()).add(val)
        return wanted

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Unit:
        return cls(
            name=str(doc.get("name", "")),
            options=tuple(
                UnitOption(
                    str(o.get("section", "")), str(o.get("name", "")), str(o.get("value", ""))
                )
                for o in doc.get("options") or []
            ),
            desired_state=str(doc.get("desiredState", "")),
            current_state=str(doc.get("currentState", "")),
            machine_id=str(doc.get("machineID", "")),
        )

    def to_json(self) -> dict[str, Any]:
        """Keys alphabetical, empty fields left out (Go's omitempty)."""
        doc: dict[str, Any] = {
            "currentState": self.current_state,
            "desiredState": self.desired_state,
            "machineID": self.machine_id,
            "name": self.name,
            "options": [o.to_json() for o in self.options],
        }
        return {k: v for k, v in doc.items() if v}


@dataclass(frozen=True)
class UnitState:
    name: str
    machine_id: str = ""
    hash: str = ""
    load_state: str = ""
    active_state: str = ""
    sub_state: str = ""

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> UnitState:
        return cls(
            name=str(doc.get("name", "")),
            machine_id=str(doc.get("machineID", "")),
            hash=str(doc.get("hash", "")),
            load_state=str(doc.get("systemdLoadState", "")),
            active_state=str(doc.get("systemdActiveState", "")),
            sub_state=str(doc.get("systemdSubState", "")),
        )

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

    @property
    def short_id(self) -> str:
        return self.id[:8]

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Machine:
        meta = doc.get("metadata") or {}
        return cls(
            str(doc.get("id", "")),
            str(doc.get("primaryIP", "")),
            {str(k): str(v) for k, v in meta.items()},
        )

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "id": self.id,
            "metadata": dict(self.metadata),
            "primaryIP": self.primary_ip,
        }
        return {k: v for k, v in doc.items() if v}
