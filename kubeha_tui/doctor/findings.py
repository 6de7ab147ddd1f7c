"""What the Doctor reports: a Finding (what is wrong, the evidence, the likely cause
and the next step), their order, the headline and the verdict per layer."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any, Literal

Severity = Literal["critical", "error", "warning"]
SEVERITY_RANK: dict[str, int] = {"critical": 0, "error": 1, "warning": 2}
LAYERS = ("fleet", "kube", "ceph")
LAYER_LABELS = {"fleet": "fleet", "kube": "kubernetes", "ceph": "ceph"}
OUTSIDE_CHAIN = 99  # findings that are no link of the start-up chain

# Action ids this console offers as a next step (the Doctor screen runs them).
UNLOCK = "doctor.unlock"  # target: pool, image, client, cookie
REMOVE_OSDS = "doctor.remove-osds"  # target: host, then the OSD ids
REMOVE_BUCKET = "doctor.remove-bucket"  # target: host


@dataclass(frozen=True)
class NextStep:
    text: str  # what to do, in a sentence
    action: str = ""  # an action id above, or "" (then run ``command``)
    command: str = ""  # a command to run where the action is not offered here
    target: tuple[str, ...] = ()  # the action's arguments


@dataclass(frozen=True)
class Finding:
    severity: Severity
    layer: str  # fleet, kube or ceph
    object: str  # "unit pidalio-apiserver.service", "pod default/db-1", "host ceph-osd-x"
    problem: str  # what is wrong
    evidence: tuple[str, ...]  # the rows, events and lockers it rests on
    cause: str  # the likely cause
    next_step: NextStep
    code: str  # the rule: "fleet.etcd", "volume.locked", "ceph.host-lost", ...
    chain: int = OUTSIDE_CHAIN  # the link of the start-up chain it breaks (lower: earlier)

    @property
    def key(self) -> tuple[str, str]:
        """Stays the same while the cause lasts: the screen keeps its row."""
        return (self.code, self.object)

    def sort_key(self) -> tuple[int, int, str, str]:
        return (SEVERITY_RANK[self.severity], self.chain, self.code, self.object)

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["evidence"] = list(self.evidence)
        doc["next_step"]["target"] = list(self.next_step.target)
        return doc


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    """Worst first; within a severity, the earliest link of the start-up chain first."""
    return sorted(findings, key=Finding.sort_key)


def headline(findings: Iterable[Finding]) -> Finding | None:
    """The first broken link of the start-up chain, else the worst finding."""
    items = list(findings)
    if not items:
        return None
    return min(items, key=lambda f: (f.chain, SEVERITY_RANK[f.severity], f.code, f.object))


def verdict(findings: Iterable[Finding]) -> dict[str, str]:
    """One line per layer, as ``ceph -s`` gives one for Ceph: healthy, or its headline."""
    items = list(findings)
    out = {}
    for layer in LAYERS:
        first = headline(f for f in items if f.layer == layer)
        if first is None:
            out[layer] = "healthy"
        else:
            more = sum(1 for f in items if f.layer == layer) - 1
            out[layer] = first.problem + (f" (+{more} more)" if more else "")
    return out
