"""Disruption budgets: the Eviction subresource (pods/eviction, policy/v1 on the modern
pose, policy/v1beta1 on 1.5) and the status the disruption controller keeps on each
PodDisruptionBudget.

An eviction deletes the pod unless a budget covering it allows no disruption now; then
the answer is 429 TooManyRequests with a DisruptionBudget cause, as the apiserver's, and
``kubectl drain`` retries until its timeout.
"""

from __future__ import annotations

import copy
import math
from typing import Any

from .objects import selector_matches
from .store import ApiError, Obj, now

PDB = "poddisruptionbudgets"
SUCCESS = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


def covering(budgets: list[Obj], pod: Obj) -> list[Obj]:
    labels = pod["metadata"].get("labels") or {}
    return [b for b in budgets if selector_matches((b.get("spec") or {}).get("selector"), labels)]


def covering_pods(budget: Obj, pods: list[Obj]) -> list[Obj]:
    selector = (budget.get("spec") or {}).get("selector")
    return [p for p in pods if selector_matches(selector, p["metadata"].get("labels") or {})]


def check_eviction(pod: Obj, budgets: list[Obj]) -> Obj | None:
    """The budget to charge for evicting ``pod`` (None: none applies); ApiError when the
    eviction must wait or cannot be done."""
    phase = (pod.get("status") or {}).get("phase")
    if phase in ("Succeeded", "Failed", "Pending") or pod["metadata"].get("deletionTimestamp"):
        return None  # not running: no budget counts it
    found = covering(budgets, pod)
    if not found:
        return None
    if len(found) > 1:
        raise ApiError(
            500,
            "InternalError",
            "This pod has more than one PodDisruptionBudget, which the eviction subresource "
            "does not support.",
        )
    budget = found[0]
    status = budget.get("status") or {}
    name = budget["metadata"]["name"]
    if status.get("observedGeneration", 0) < budget["metadata"].get("generation", 1):
        raise too_many(f"The disruption budget {name} is still being processed by the server.")
    if status.get("disruptionsAllowed", 0) <= 0:
        raise too_many(
            f"The disruption budget {name} needs {status.get('desiredHealthy', 0)} healthy pods "
            f"and has {status.get('currentHealthy', 0)} currently"
        )
    charged = copy.deepcopy(budget)
    charged["status"]["disruptionsAllowed"] -= 1
    charged["status"].setdefault("disruptedPods", {})[pod["metadata"]["name"]] = now()
    charged["metadata"].pop("resourceVersion", None)
    return charged


def too_many(cause: str) -> ApiError:
    return ApiError(
        429,
        "TooManyRequests",
        "Cannot evict pod as it would violate the pod's disruption budget.",
        {"causes": [{"reason": "DisruptionBudget", "message": cause}]},
    )


def _count(value: Any, total: int, round_up: bool) -> int:
    """An IntOrString of a budget: a number, or a percentage of ``total``."""
    if isinstance(value, str) and value.endswith("%"):
        share = total * int(value[:-1] or 0) / 100
        return math.ceil(share) if round_up else math.floor(share)
    return int(value or 0)


def budget_status(budget: Obj, pods: list[Obj], healthy: Any) -> Obj:
    """The status the disruption controller computes for a budget over its pods."""
    spec = budget.get("spec") or {}
    mine = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    expected = len(mine)
    current = sum(1 for p in mine if healthy(p))
    if spec.get("maxUnavailable") is not None:
        desired = max(0, expected - _count(spec["maxUnavailable"], expected, round_up=True))
    else:
        desired = _count(spec.get("minAvailable", 1), expected, round_up=True)
    allowed = max(0, current - desired)
    old = budget.get("status") or {}
    condition = {
        "type": "DisruptionAllowed",
        "status": "True" if allowed else "False",
        "reason": "SufficientPods" if allowed else "InsufficientPods",
        "message": "",
        "observedGeneration": budget["metadata"].get("generation", 1),
    }
    before: Obj = next(
        (c for c in old.get("conditions") or [] if c.get("type") == condition["type"]), {}
    )
    condition["lastTransitionTime"] = (
        before["lastTransitionTime"]
        if before.get("status") == condition["status"] and before.get("lastTransitionTime")
        else now()
    )
    return {
        "observedGeneration": budget["metadata"].get("generation", 1),
        "disruptionsAllowed": allowed,
        "currentHealthy": current,
        "desiredHealthy": desired,
        "expectedPods": expected,
        "conditions": [condition],
    }
