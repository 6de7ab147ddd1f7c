"""``kubeha-tui doctor``'s output: one block per finding, worst first, or JSON."""

from __future__ import annotations

import json

from .findings import LAYER_LABELS, Finding, headline, verdict
from .observation import Observation

HEALTHY, FINDINGS, COULD_NOT_LOOK = 0, 1, 2


def could_look(obs: Observation) -> bool:
    """At least one layer answered (an unreachable one is then a finding, not a failure)."""
    return any(x is not None for x in (obs.fleet, obs.kube, obs.ceph))


def exit_status(obs: Observation, findings: list[Finding]) -> int:
    if not could_look(obs):
        return COULD_NOT_LOOK
    return FINDINGS if findings else HEALTHY


def block(f: Finding) -> str:
    lines = [f"{f.severity.upper()} {LAYER_LABELS[f.layer]}: {f.object}", f"  what:  {f.problem}"]
    lines += [f"  seen:  {e}" for e in f.evidence]
    lines.append(f"  cause: {f.cause}")
    lines.append(f"  next:  {f.next_step.text}")
    if f.next_step.action:
        lines.append(f"         (the Doctor screen, key 6, does it: {f.next_step.action})")
    if f.next_step.command:
        lines.append(f"  run:   {f.next_step.command}")
    return "\n".join(lines)


def text_report(findings: list[Finding]) -> str:
    lines = [f"{LAYER_LABELS[layer]:<11} {line}" for layer, line in verdict(findings).items()]
    top = headline(findings)
    if top is None:
        return "\n".join(lines) + "\n\nno findings: the stack looks healthy\n"
    out = "\n".join(lines) + f"\n\nheadline: {top.problem}\n\n"
    return out + "\n\n".join(block(f) for f in findings) + "\n"


def json_report(obs: Observation, findings: list[Finding]) -> str:
    top = headline(findings)
    doc = {
        "status": exit_status(obs, findings),
        "verdict": verdict(findings),
        "headline": top.to_json() if top else None,
        "findings": [f.to_json() for f in findings],
    }
    return json.dumps(doc, indent=2) + "\n"
