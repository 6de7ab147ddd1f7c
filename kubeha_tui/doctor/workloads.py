"""Checks an operator expects from popeye/k8sgpt, where the snapshots have the data:
crash-looping and image-pull pods, unschedulable pods, pods that cannot mount for
another reason than a lock, Deployments short of replicas, NodePort services without
endpoints. The kube-system and ceph pods are the start-up chain's (startup.py)."""

from __future__ import annotations

from collections.abc import Iterator

from .findings import Finding, NextStep
from .observation import Observation
from .startup import SYSTEM_NAMESPACES
from .volumes import MOUNT_REASONS, WAITING, is_lock_event

POD_STATES = {
    "CrashLoopBackOff": ("its container keeps exiting; the log says why", "l"),
    "ImagePullBackOff": ("the image cannot be pulled: wrong name or tag, or no access to the registry", "d"),
    "ErrImagePull": ("the image cannot be pulled: wrong name or tag, or no access to the registry", "d"),
    "InvalidImageName": ("the image name is not valid", "d"),
    "CreateContainerConfigError": ("a Secret or ConfigMap the container needs is missing", "d"),
}  # fmt: skip


def check_workloads(obs: Observation) -> Iterator[Finding]:
    if obs.kube is None:
        return
    for pod in sorted(obs.kube.pods.values(), key=lambda p: (p.namespace, p.name)):
        if pod.namespace in SYSTEM_NAMESPACES:
            continue
        ref = f"pod {pod.namespace}/{pod.name}"
        row = f"kubernetes: {ref} {pod.ready} {pod.status} restarts {pod.restarts} on {pod.node}"
        events = obs.events_for(pod.namespace, pod.name)
        if pod.status in POD_STATES:
            cause, key = POD_STATES[pod.status]
            verb = "read its log" if key == "l" else "describe it"
            yield Finding(
                "warning", "kube", ref, f"{ref} is {pod.status}",
                (row, *(e.line() for e in events[-2:])), cause,
                NextStep(f"{verb} (Kubernetes screen, {key})",
                         command=f"kubectl -n {pod.namespace} {'logs --previous' if key == 'l' else 'describe pod'} {pod.name}"),
                f"kube.pod.{pod.status}",
            )  # fmt: skip
            continue
        if pod.status not in WAITING:
            continue
        latest = max(events, key=lambda e: e.last) if events else None
        if latest and latest.reason == "FailedScheduling":
            yield Finding(
                "warning", "kube", ref, f"{ref} cannot be scheduled", (row, latest.line()),
                latest.message, NextStep("describe it; fix its claims, selectors or resources",
                                         command=f"kubectl -n {pod.namespace} describe pod {pod.name}"),
                "kube.pod.unschedulable",
            )  # fmt: skip
        elif latest and latest.reason in MOUNT_REASONS and not is_lock_event(latest):
            yield Finding(
                "warning", "kube", ref, f"{ref} cannot mount its volumes", (row, latest.line()),
                latest.message, NextStep("describe it; create what the event says is missing",
                                         command=f"kubectl -n {pod.namespace} describe pod {pod.name}"),
                "kube.pod.mount",
            )  # fmt: skip
    yield from _deployments(obs)
    yield from _services(obs)


def _deployments(obs: Observation) -> Iterator[Finding]:
    assert obs.kube is not None
    for dep in sorted(obs.kube.deployments.values(), key=lambda d: (d.namespace, d.name)):
        if not dep.problem:
            continue
        ref = f"deployment {dep.namespace}/{dep.name}"
        yield Finding(
            "warning", "kube", ref, f"{ref} is short of replicas ({dep.ready} ready)",
            (f"kubernetes: {ref} ready {dep.ready}, up to date {dep.up_to_date}, available {dep.available}",),
            "some of its pods do not run; their own findings say why",
            NextStep("look at its pods (Kubernetes screen)", command=f"kubectl -n {dep.namespace} get pods"),
            "kube.deployment-short",
        )  # fmt: skip


def _services(obs: Observation) -> Iterator[Finding]:
    assert obs.kube is not None
    if obs.endpoints is None:
        return
    for svc in sorted(obs.kube.services.values(), key=lambda s: (s.namespace, s.name)):
        if svc.type != "NodePort" or obs.endpoints.get((svc.namespace, svc.name), 0):
            continue
        ref = f"service {svc.namespace}/{svc.name}"
        yield Finding(
            "warning", "kube", ref, f"NodePort {ref} has no endpoints",
            (f"kubernetes: {ref} {svc.type} {svc.ports_text} selector {svc.selector}", "kubernetes: 0 ready endpoints"),
            "no ready pod matches its selector: its URLs answer nothing",
            NextStep("check the selector against the pods' labels",
                     command=f"kubectl -n {svc.namespace} get pods -l {svc.selector}"),
            "kube.service-no-endpoints",
        )  # fmt: skip
