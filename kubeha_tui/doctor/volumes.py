"""A volume is locked: a waiting pod's FailedMount/FailedAttachVolume event naming an
RBD image -> the image's lockers and watchers -> the locker's node (the cookie
``kubelet_lock_magic_<node>`` or the client's address) -> alive in fleet and
Kubernetes? -> the fenced unlock, or why not."""

from __future__ import annotations

import re
from collections.abc import Iterator

from kubeha_tui.ceph.images import KUBELET_COOKIE, Image, Locker

from .findings import UNLOCK, Finding, NextStep
from .observation import KubeEvent, Observation, VolumeRef

MOUNT_REASONS = ("FailedMount", "FailedAttachVolume")
LOCK_TEXTS = (
    "is locked by other nodes",
    "is still being used",
    "Multi-Attach",
    "already exclusively attached",
)
WAITING = ("Pending", "ContainerCreating")
IMAGE_IN_MESSAGE = (
    re.compile(r"rbd image (?P<pool>[\w.-]+)/(?P<image>[\w.-]+)"),
    re.compile(r"rbd: image (?P<image>[\w.-]+) is locked"),
)


def is_lock_event(e: KubeEvent) -> bool:
    return e.reason in MOUNT_REASONS and any(t in e.message for t in LOCK_TEXTS)


def images_named(e: KubeEvent, volumes: tuple[VolumeRef, ...]) -> list[VolumeRef]:
    """The RBD images an event is about: named in its text, else the pod's RBD volumes."""
    for pattern in IMAGE_IN_MESSAGE:
        m = pattern.search(e.message)
        if m:
            image = m["image"]
            pool = m.groupdict().get("pool")
            same = [v for v in volumes if v.image == image and (pool is None or v.pool == pool)]
            return same or [VolumeRef("", pool or "rbd", image)]
    named = [v for v in volumes if v.volume and f'"{v.volume}"' in e.message]
    return named or list(volumes)


def lock_events(obs: Observation) -> Iterator[tuple[str, str, KubeEvent]]:
    """(namespace, pod, its latest lock event) for every pod waiting on a locked volume."""
    if obs.kube is None:
        return
    for pod in sorted(obs.kube.pods.values(), key=lambda p: (p.namespace, p.name)):
        if pod.status not in WAITING:
            continue
        events = [e for e in obs.events_for(pod.namespace, pod.name) if is_lock_event(e)]
        if events:
            yield pod.namespace, pod.name, max(events, key=lambda e: e.last)


def locker_node(lk: Locker, obs: Observation) -> str:
    if lk.cookie.startswith(KUBELET_COOKIE):
        return lk.cookie[len(KUBELET_COOKIE) :]
    ip = lk.address.split(":")[0].removeprefix("v1").removeprefix("v2")
    nodes = obs.kube.nodes.values() if obs.kube else ()
    return next((n.name for n in nodes if n.ip == ip), ip)


def node_state(node: str, obs: Observation) -> tuple[bool | None, list[str]]:
    """Whether the node is alive (Ready in Kubernetes and present in fleet), with evidence."""
    lines, alive, ip = [], None, node
    if obs.kube is not None:
        n = next((x for x in obs.kube.nodes.values() if node in (x.name, x.ip)), None)
        ip = n.ip if n is not None else node
        lines.append(
            f"kubernetes: node {node} {n.status}"
            if n
            else f"kubernetes: node {node} does not exist"
        )
        alive = n is not None and n.status.startswith("Ready")
    if obs.fleet is not None:
        present = any(m.primary_ip in (ip, node) for m in obs.fleet.machines.values())
        lines.append(f"fleet: machine {ip} {'present' if present else 'gone from fleet'}")
        alive = present if alive is None else alive and present
    return alive, lines


def check_volumes(obs: Observation) -> Iterator[Finding]:
    for ns, pod, event in lock_events(obs):
        for ref in images_named(event, obs.pod_volumes.get((ns, pod), ())):
            image = obs.images.get((ref.pool, ref.image))
            if image is not None and not image.lockers and not image.watchers:
                continue  # the cause is gone: the kubelet's next retry mounts it
            yield _finding(obs, ns, pod, event, ref)


def _finding(obs: Observation, ns: str, pod: str, event: KubeEvent, ref: VolumeRef) -> Finding:
    key = (ref.pool, ref.image)
    spec = f"{ref.pool}/{ref.image}"
    image: Image | None = obs.images.get(key)
    evidence = [f"kubernetes: pod {ns}/{pod} waits to mount {spec}", event.line()]
    problem = f"pod {ns}/{pod} cannot mount {spec}: the image is locked"
    obj = f"image {spec}"
    if image is None:
        why = obs.image_errors.get(key) or obs.ceph_error or "its lockers were not read"
        return Finding(
            "error", "ceph", obj, problem, (*evidence, f"ceph: {why}"),
            "the image is held by another client, but Ceph cannot be asked which",
            NextStep("list the image's locks", command=f"rbd lock list {spec}; rbd status {spec}"),
            "volume.locked",
        )  # fmt: skip
    evidence += [
        f"ceph: locker {lk.client} cookie {lk.cookie!r} at {lk.address}: "
        + ("alive (watching)" if lk.alive else "stale (no watch)")
        for lk in image.lockers
    ]
    evidence += [f"ceph: watcher {w}" for w in image.watchers] or ["ceph: no watchers"]
    if not image.lockers:
        return Finding(
            "error", "ceph", obj, f"pod {ns}/{pod} cannot mount {spec}: the image is still in use",
            tuple(evidence),
            "no lock, but a client still watches (maps) the image: another pod or a leftover mapping uses it",
            NextStep("find and unmap it on the node of the watcher's address",
                     command=f"rbd status {spec}; rbd showmapped (on that node); rbd unmap /dev/rbdN"),
            "volume.in-use",
        )  # fmt: skip
    lk = next((x for x in image.lockers if not x.alive), image.lockers[0])
    node = locker_node(lk, obs)
    alive, lines = node_state(node, obs)
    evidence += lines
    unlock_cmd = f"ceph osd blocklist add {lk.address}; rbd lock rm {spec} {lk.cookie} {lk.client}"
    target = (ref.pool, ref.image, lk.client, lk.cookie)
    if lk.alive:
        return Finding(
            "error", "ceph", obj, problem, tuple(evidence),
            f"{lk.client} on node {node} still holds and watches the image: the volume is in use there"
            + (" (the node is alive)" if alive else " although the node looks dead; it may be partitioned"),
            NextStep(f"stop what uses {spec} on {node} first; force the unlock only if that node is really gone",
                     UNLOCK, unlock_cmd, target),
            "volume.locked-live",
        )  # fmt: skip
    if alive is False:
        cause = f"node {node} that took the lock is gone; its kubelet never released {spec}"
    elif alive:
        cause = f"node {node} is up but the client that took the lock ({lk.client}) is gone (a kubelet or machine restart); the lock is stale"
    else:
        cause = f"the locking client {lk.client} of node {node} no longer watches the image: the lock is stale"
    return Finding(
        "error", "ceph", obj, problem, tuple(evidence), cause,
        NextStep(f"fence {lk.client} ({lk.address}) and break its lock, so the pod can mount {spec}",
                 UNLOCK, unlock_cmd, target),
        "volume.locked",
    )  # fmt: skip
