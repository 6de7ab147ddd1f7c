"""diagnose(): every rule over one Observation, worst first. Pure: no I/O."""

from __future__ import annotations

from .findings import Finding, ordered
from .observation import Observation
from .startup import check_fleet, check_kube
from .storage import check_ceph
from .volumes import check_volumes
from .workloads import check_workloads

RULES = (check_fleet, check_kube, check_ceph, check_volumes, check_workloads)


def diagnose(obs: Observation) -> list[Finding]:
    found: dict[tuple[str, str], Finding] = {}
    for rule in RULES:
        for finding in rule(obs):
            found.setdefault(finding.key, finding)
    return ordered(found.values())
