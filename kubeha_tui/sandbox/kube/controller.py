"""The sandbox's control loop, so the world moves: deployments make replica sets make
pods, pods are scheduled and start (or stay Pending with an event saying why), services
get endpoints, claims bind, owners' deletions cascade, namespaces terminate."""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import itertools
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from . import policy
from .api import KubeAPI
from .objects import selector_matches
from .resources import api_version
from .store import ApiError, Obj, key_of, now

log = logging.getLogger(__name__)

ImageCheck = Callable[[str, str], bool | None]  # (pool, image) -> exists (None: cannot tell)
LockCheck = Callable[[str, str], tuple[str, ...]]  # (pool, image) -> the lock cookies held on it
KUBELET_COOKIE = "kubelet_lock_magic_"
CSI_RBD = "rbd.csi.ceph.com"


REVISION = "deployment.kubernetes.io/revision"
MOUNT_BACKOFF = (0.5, 122.0)  # the kubelet's volume operation backoff: first, longest
CHANGE_CAUSE = "kubernetes.io/change-cause"


def template_hash(template: Obj) -> str:
    return hashlib.sha1(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


class Controller:
    image_lockers: LockCheck = staticmethod(lambda pool, image: ())  # set from the sandbox Ceph

    def __init__(
        self,
        api: KubeAPI,
        image_exists: ImageCheck | None = None,
        start_delay: float = 1.0,
        tick: float = 0.25,
        grace: float = 1.0,
    ) -> None:
        self.api = api
        self.grace = grace  # the longest a terminating pod takes to go (a kubelet: up to 30 s)
        self._terminating: dict[str, float] = {}
        self._mount_retry: dict[str, tuple[float, float]] = {}  # pod uid -> (next try, delay)
        self.clock = time.monotonic
        self.store = api.store
        self.image_exists = image_exists or (lambda pool, image: None)
        self.start_delay = start_delay
        self.tick = tick
        self._pod_ips = (
            str(ip)
            for ip in itertools.islice(ipaddress.ip_network("10.32.0.0/12").hosts(), 1, None)
        )
        self._ips_lock = threading.Lock()  # seed_large assigns IPs from its own thread
        self._rr = itertools.count()
        self._scheduled_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="kube-controller", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _loop(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                self.reconcile()
            except Exception:  # the loop must go on: log and retry next tick
                log.exception("controller pass failed")

    def reconcile(self) -> None:
        self.terminate_namespaces()
        self.collect_garbage()
        for dep in self.store.items("deployments"):
            self.deployment(dep)
        for rs in self.store.items("replicasets"):
            self.replicaset(rs)
        for claim in self.store.items("persistentvolumeclaims"):
            self.claim(claim)
        for pod in self.store.items("pods"):
            if pod["metadata"].get("deletionTimestamp"):
                self.terminate(pod)
            else:
                self.pod(pod)
        for svc in self.store.items("services"):
            self.endpoints(svc)
        for budget in self.store.items(policy.PDB):
            self.disruption_budget(budget)

    def disruption_budget(self, budget: Obj) -> None:
        ns = budget["metadata"].get("namespace", "")
        pods = policy.covering_pods(budget, self.store.items("pods", ns))
        new = copy.deepcopy(budget)
        # evicted pods are terminating at once, so disruptedPods has nothing left to guard
        new["status"] = policy.budget_status(budget, pods, _ready)
        self.write(policy.PDB, new)

    # -- helpers -------------------------------------------------------------------

    def write(self, plural: str, obj: Obj) -> None:
        """Store a controller change (status or spec) unless it changes nothing; the
        check and the write under the store's lock, so no delete slips in between."""
        with self.store.cond:
            current = self.store.get(plural, key_of(obj))
            if current is None or current["metadata"].get("uid") != obj["metadata"].get("uid"):
                return  # gone, or deleted and created again since this pass read it
            read = obj["metadata"].get("resourceVersion")
            if read and read != current["metadata"].get("resourceVersion"):
                return  # changed since this pass read it (a 409 for a real controller): next pass
            if {k: v for k, v in current.items() if k != "metadata"} == {
                k: v for k, v in obj.items() if k != "metadata"
            } and current["metadata"] == obj["metadata"]:
                return
            obj["metadata"].pop("resourceVersion", None)
            self.store.put(plural, obj, "MODIFIED")

    def create(self, plural: str, ns: str, obj: Obj) -> Obj | None:
        try:
            return self.api.create(self.api.ref(plural, ns), obj)
        except ApiError as exc:
            log.info("controller could not create %s in %s: %s", plural, ns, exc.message)
            return None

    def event(
        self, involved: Obj, kind: str, reason: str, message: str, warning: bool = False
    ) -> None:
        meta = involved["metadata"]
        ns = meta.get("namespace") or "default"
        component = (
            "default-scheduler" if "Scheduling" in reason or reason == "Scheduled"
            else "kubelet" if kind == "Pod" else "controller-manager"
        )  # fmt: skip
        for ev in self.store.items("events", ns):
            if (
                ev["involvedObject"].get("uid") == meta["uid"]
                and ev["reason"] == reason
                and ev["message"] == message
            ):
                bumped = copy.deepcopy(ev)
                bumped["count"] = ev.get("count", 1) + 1
                bumped["lastTimestamp"] = now()
                self.write("events", bumped)
                return
        self.create("events", ns, {
            "metadata": {"name": f"{meta['name']}.{uuid.uuid4().hex[:16]}", "namespace": ns},
            "involvedObject": {"kind": kind, "namespace": ns, "name": meta["name"], "uid": meta["uid"]},
            "reason": reason, "message": message, "type": "Warning" if warning else "Normal",
            "count": 1, "firstTimestamp": now(), "lastTimestamp": now(),
            "source": {"component": component},
        })  # fmt: skip

    def owned_by(self, plural: str, owner: Obj) -> list[Obj]:
        uid, ns = owner["metadata"]["uid"], owner["metadata"].get("namespace", "")
        return [
            o
            for o in self.store.items(plural, ns)
            if any(r.get("uid") == uid for r in o["metadata"].get("ownerReferences") or [])
        ]

    def owner_ref(self, owner: Obj, kind: str, api_version: str) -> dict[str, Any]:
        meta = owner["metadata"]
        return {"apiVersion": api_version, "kind": kind, "name": meta["name"], "uid": meta["uid"],
                "controller": True, "blockOwnerDeletion": True}  # fmt: skip

    # -- lifecycle -----------------------------------------------------------------

    def terminate_namespaces(self) -> None:
        for ns in self.store.items("namespaces"):
            if ns.get("status", {}).get("phase") != "Terminating":
                continue
            name = ns["metadata"]["name"]
            for group in self.api.pose.groups.values():
                for resources in group.values():
                    for res in resources:
                        if res.namespaced:
                            for obj in self.store.items(res.plural, name):
                                self.store.remove(res.plural, key_of(obj))
            self.store.remove("namespaces", ("", name))

    def collect_garbage(self) -> None:
        alive = {
            o["metadata"]["uid"]
            for plural in ("deployments", "replicasets", "services")
            for o in self.store.items(plural)
        }
        for plural in ("replicasets", "pods", "endpoints", "endpointslices"):
            for obj in self.store.items(plural):
                refs = obj["metadata"].get("ownerReferences") or []
                if refs and not any(r.get("uid") in alive for r in refs):
                    self.store.remove(plural, key_of(obj))

    def deployment(self, dep: Obj) -> None:
        spec, meta = dep["spec"], dep["metadata"]
        template = spec.get("template") or {}
        pod_hash = template_hash(template)
        name = f"{meta['name']}-{pod_hash}"
        owned = self.owned_by("replicasets", dep)
        ref = self.api.ref("deployments")
        revisions = {rs["metadata"]["name"]: _revision(rs) for rs in owned}
        latest = max(revisions.values(), default=0)
        cause = (meta.get("annotations") or {}).get(CHANGE_CAUSE)
        if name not in revisions:
            labels = {
                **((template.get("metadata") or {}).get("labels") or {}),
                "pod-template-hash": pod_hash,
            }
            tmpl = copy.deepcopy(template)
            tmpl.setdefault("metadata", {})["labels"] = labels
            selector = copy.deepcopy(spec.get("selector") or {})
            selector.setdefault("matchLabels", {})["pod-template-hash"] = pod_hash
            notes = {REVISION: str(latest + 1), **({CHANGE_CAUSE: cause} if cause else {})}
            self.create("replicasets", meta["namespace"], {
                "metadata": {"name": name, "labels": labels, "annotations": notes,
                             "ownerReferences": [self.owner_ref(dep, "Deployment", api_version(ref.group, ref.version))]},
                "spec": {"replicas": spec.get("replicas", 1), "selector": selector, "template": tmpl},
            })  # fmt: skip
            owned = self.owned_by("replicasets", dep)
        elif revisions[name] < latest:  # rolled back to an old template: the newest revision
            latest += 1
        for rs in owned:
            current = rs["metadata"]["name"] == name
            want = spec.get("replicas", 1) if current else 0
            new = copy.deepcopy(rs)
            new["spec"]["replicas"] = want
            if current:
                notes = new["metadata"].setdefault("annotations", {})
                notes[REVISION] = str(max(latest, _revision(rs)))
                if cause:
                    notes[CHANGE_CAUSE] = cause
            self.write("replicasets", new)
        revision = max(
            [
                _revision(rs)
                for rs in self.owned_by("replicasets", dep)
                if rs["metadata"]["name"] == name
            ]
            or [1]
        )
        pods = [p for rs in owned for p in self.owned_by("pods", rs)]
        ready = sum(1 for p in pods if _ready(p))
        current = [
            p for p in pods if p["metadata"].get("labels", {}).get("pod-template-hash") == pod_hash
        ]
        new = copy.deepcopy(dep)
        wanted = spec.get("replicas", 1)
        new["status"] = {
            "observedGeneration": meta.get("generation", 1),
            "replicas": len(pods),
            "updatedReplicas": len(current),
            **({"readyReplicas": ready, "availableReplicas": ready} if ready else {}),
            **({"unavailableReplicas": wanted - ready} if wanted > ready else {}),
            "conditions": [{
                "type": "Available", "status": "True" if ready >= wanted else "False",
                "reason": "MinimumReplicasAvailable" if ready >= wanted else "MinimumReplicasUnavailable",
                "message": "Deployment has minimum availability." if ready >= wanted
                else "Deployment does not have minimum availability.",
            }],
        }  # fmt: skip
        new["metadata"].setdefault("annotations", {})[REVISION] = str(revision)
        self.write("deployments", new)

    def replicaset(self, rs: Obj) -> None:
        spec = rs["spec"]
        pods = [p for p in self.owned_by("pods", rs) if not p["metadata"].get("deletionTimestamp")]
        want = spec.get("replicas", 1)
        ref = self.api.ref("replicasets")
        for _ in range(want - len(pods)):
            template = copy.deepcopy(spec.get("template") or {})
            meta = template.get("metadata") or {}
            self.create("pods", rs["metadata"]["namespace"], {
                "metadata": {"generateName": rs["metadata"]["name"] + "-", "labels": meta.get("labels") or {},
                             "ownerReferences": [self.owner_ref(rs, "ReplicaSet", api_version(ref.group, ref.version))]},
                "spec": template.get("spec") or {},
            })  # fmt: skip
        for pod in sorted(pods, key=lambda p: p["metadata"]["creationTimestamp"], reverse=True)[
            : max(0, len(pods) - want)
        ]:
            self.store.remove("pods", key_of(pod))
        pods = [p for p in self.owned_by("pods", rs) if not p["metadata"].get("deletionTimestamp")]
        ready = sum(1 for p in pods if _ready(p))
        new = copy.deepcopy(rs)
        new["status"] = {"replicas": len(pods), "fullyLabeledReplicas": len(pods),
                         **({"readyReplicas": ready, "availableReplicas": ready} if ready else {}),
                         "observedGeneration": rs["metadata"].get("generation", 1)}  # fmt: skip
        self.write("replicasets", new)

    def claim(self, claim: Obj) -> None:
        if claim.get("status", {}).get("phase") == "Bound":
            return
        volume_name = claim.get("spec", {}).get("volumeName")
        if volume_name:  # a static volume: bind to that PersistentVolume once it exists
            pv = self.store.get("persistentvolumes", ("", volume_name))
            if pv is None:
                self.event(
                    claim,
                    "PersistentVolumeClaim",
                    "FailedBinding",
                    f'volume "{volume_name}" not found',
                    warning=True,
                )
                return
            new = copy.deepcopy(claim)
            new["status"] = {"phase": "Bound", "accessModes": pv["spec"].get("accessModes", []),
                             "capacity": pv["spec"].get("capacity", {})}  # fmt: skip
            self.write("persistentvolumeclaims", new)
            bound = copy.deepcopy(pv)
            bound["status"] = {"phase": "Bound"}
            bound["spec"]["claimRef"] = {"namespace": claim["metadata"]["namespace"], "name": claim["metadata"]["name"],
                                         "uid": claim["metadata"]["uid"]}  # fmt: skip
            self.write("persistentvolumes", bound)
            return
        sc_name = claim.get("spec", {}).get("storageClassName")
        sc = self.store.get("storageclasses", ("", sc_name)) if sc_name else None
        if sc is None:
            why = (
                f'storageclass.storage.k8s.io "{sc_name}" not found'
                if sc_name
                else "no storage class"
            )
            self.event(claim, "PersistentVolumeClaim", "ProvisioningFailed", why, warning=True)
            return
        new = copy.deepcopy(claim)
        size = claim["spec"].get("resources", {}).get("requests", {}).get("storage", "1Gi")
        new["spec"]["volumeName"] = f"pvc-{claim['metadata']['uid']}"
        new["status"] = {"phase": "Bound", "accessModes": claim["spec"].get("accessModes", ["ReadWriteOnce"]),
                         "capacity": {"storage": size}}  # fmt: skip
        self.write("persistentvolumeclaims", new)
        self.event(claim, "PersistentVolumeClaim", "ProvisioningSucceeded",
                   f"Successfully provisioned volume {new['spec']['volumeName']} ({sc['provisioner']})")  # fmt: skip

    # -- pods ------------------------------------------------------------------------

    def pod(self, pod: Obj) -> None:
        status = pod.get("status", {})
        if status.get("phase") != "Pending":
            return
        spec = pod["spec"]
        uid = pod["metadata"]["uid"]
        if not spec.get("nodeName"):
            blocked = self.unschedulable(pod)
            if blocked:
                self.event(pod, "Pod", "FailedScheduling", blocked, warning=True)
                return
            nodes = [n for n in self.store.items("nodes") if _node_fits(n, spec)]
            if not nodes:
                self.event(pod, "Pod", "FailedScheduling", "0 nodes are available: node(s) didn't match Pod's node affinity/selector.", warning=True)  # fmt: skip
                return
            node = nodes[next(self._rr) % len(nodes)]
            new = copy.deepcopy(pod)
            new["spec"]["nodeName"] = node["metadata"]["name"]
            new["status"] = {
                **status, "hostIP": node["metadata"]["name"],
                "conditions": [{"type": "PodScheduled", "status": "True", "lastTransitionTime": now()}],
                "containerStatuses": [_waiting(c) for c in spec.get("containers") or []],
            }  # fmt: skip
            self.write("pods", new)
            self._scheduled_at[uid] = time.monotonic()
            self.event(pod, "Pod", "Scheduled", f"Successfully assigned {pod['metadata']['namespace']}/{pod['metadata']['name']} to {node['metadata']['name']}")  # fmt: skip
            return
        blocked = self.mount_problem(pod) or self.lock_problem(pod)
        if blocked:
            # The kubelet retries a failed mount with exponential backoff (0.5 s doubling
            # to 2m2s), and each retry is one more count on the event.
            now_s = self.clock()
            due, delay = self._mount_retry.get(uid, (now_s, MOUNT_BACKOFF[0]))
            if now_s >= due:
                self.event(pod, "Pod", "FailedMount", blocked, warning=True)
                self._mount_retry[uid] = (now_s + delay, min(delay * 2, MOUNT_BACKOFF[1]))
            return
        self._mount_retry.pop(uid, None)
        if (
            time.monotonic() - self._scheduled_at.setdefault(uid, time.monotonic())
            < self.start_delay
        ):
            return
        self.write("pods", self.running(pod))
        for c in spec.get("containers") or []:
            self.event(pod, "Pod", "Started", f"Started container {c['name']}")

    def terminate(self, pod: Obj) -> None:
        """The kubelet stops a deleted pod's containers, then the pod goes."""
        uid = pod["metadata"]["uid"]
        since = self._terminating.setdefault(uid, time.monotonic())
        grace = min(float(pod["metadata"].get("deletionGracePeriodSeconds", 0)), self.grace)
        if time.monotonic() - since >= grace:
            self._terminating.pop(uid, None)
            self.store.remove("pods", key_of(pod))

    def next_pod_ip(self) -> str:
        with self._ips_lock:
            return next(self._pod_ips)

    def running(self, pod: Obj) -> Obj:
        new = copy.deepcopy(pod)
        started = now()
        new["status"] = {
            "phase": "Running", "hostIP": pod["status"].get("hostIP") or pod["spec"].get("nodeName"),
            "podIP": self.next_pod_ip(), "startTime": started, "qosClass": "BestEffort",
            "conditions": [{"type": t, "status": "True", "lastTransitionTime": started}
                           for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")],
            "containerStatuses": [{
                "name": c["name"], "ready": True, "started": True, "restartCount": 0, "image": c["image"],
                "imageID": f"docker-pullable://{c['image']}", "containerID": f"docker://{uuid.uuid4().hex}",
                "state": {"running": {"startedAt": started}},
            } for c in pod["spec"].get("containers") or []],
        }  # fmt: skip
        new["status"]["podIPs"] = [{"ip": new["status"]["podIP"]}]
        return new

    def unschedulable(self, pod: Obj) -> str:
        ns = pod["metadata"]["namespace"]
        for vol in pod["spec"].get("volumes") or []:
            claim_ref = vol.get("persistentVolumeClaim")
            if not claim_ref:
                continue
            claim = self.store.get("persistentvolumeclaims", (ns, claim_ref.get("claimName", "")))
            if claim is None:
                return f'persistentvolumeclaim "{claim_ref.get("claimName")}" not found'
            if claim.get("status", {}).get("phase") != "Bound":
                return "pod has unbound immediate PersistentVolumeClaims"
        return ""

    def mount_problem(self, pod: Obj) -> str:
        """Why the kubelet cannot mount the pod's volumes, or ""."""
        ns = pod["metadata"]["namespace"]
        for vol in pod["spec"].get("volumes") or []:
            name = vol.get("name")
            for kind in ("secret",):
                ref = vol.get(kind)
                if ref and self.store.get("secrets", (ns, ref.get("secretName", ""))) is None:
                    return f'MountVolume.SetUp failed for volume "{name}" : secret "{ref.get("secretName")}" not found'
            claim_ref = vol.get("persistentVolumeClaim")
            if claim_ref:
                problem = self.csi_problem(ns, name, claim_ref.get("claimName", ""))
                if problem:
                    return problem
                continue
            rbd = vol.get("rbd")
            if not rbd:
                continue
            if not self.api.pose.in_tree_rbd:
                return f'Unable to attach or mount volumes: volume "{name}": the in-tree rbd volume plugin was removed in Kubernetes 1.31; use the Ceph CSI driver'
            secret = (rbd.get("secretRef") or {}).get("name")
            if secret and self.store.get("secrets", (ns, secret)) is None:
                return f'MountVolume.SetUp failed for volume "{name}" : couldn\'t get secret {ns}/{secret}'
            pool, image = rbd.get("pool", "rbd"), rbd.get("image", "")
            if self.image_exists(pool, image) is False:
                return f'MountVolume.WaitForAttach failed for volume "{name}" : rbd image {pool}/{image} does not exist'
        return ""  # fmt: skip

    def lock_problem(self, pod: Obj) -> str:
        """An RBD image locked by another node's kubelet cannot be mounted here: in-tree
        rbd says "locked by other nodes", ceph-csi "is still being used"."""
        ns, here = pod["metadata"]["namespace"], pod["spec"].get("nodeName", "")
        for vol in pod["spec"].get("volumes") or []:
            name, image, csi = vol.get("name"), None, False
            if vol.get("rbd"):
                image = (vol["rbd"].get("pool", "rbd"), vol["rbd"].get("image", ""))
            elif vol.get("persistentVolumeClaim"):
                claim = (
                    self.store.get(
                        "persistentvolumeclaims",
                        (ns, vol["persistentVolumeClaim"].get("claimName", "")),
                    )
                    or {}
                )
                pv = (
                    self.store.get(
                        "persistentvolumes", ("", claim.get("spec", {}).get("volumeName", ""))
                    )
                    or {}
                )
                spec = (pv.get("spec") or {}).get("csi") or {}
                if spec.get("driver") == CSI_RBD:
                    attrs = spec.get("volumeAttributes") or {}
                    image, csi = (
                        (
                            attrs.get("pool", "rbd"),
                            attrs.get("imageName") or spec.get("volumeHandle", ""),
                        ),
                        True,
                    )
            if not image:
                continue
            others = [c for c in self.image_lockers(*image) if c != KUBELET_COOKIE + here]
            if others and csi:
                return f'MountVolume.MountDevice failed for volume "{name}" : rpc error: code = Internal desc = rbd image {image[0]}/{image[1]} is still being used'
            if others:
                return f'MountVolume.SetUp failed for volume "{name}" : rbd: image {image[1]} is locked by other nodes'
        return ""  # fmt: skip

    def csi_problem(self, ns: str, volume: str, claim_name: str) -> str:
        """A claim bound to a static ceph-csi volume: its secret and its image must exist."""
        claim = self.store.get("persistentvolumeclaims", (ns, claim_name)) or {}
        pv = self.store.get("persistentvolumes", ("", claim.get("spec", {}).get("volumeName", "")))
        csi = (pv or {}).get("spec", {}).get("csi") or {}
        if not csi:
            return ""
        secret = csi.get("nodeStageSecretRef") or {}
        if (
            secret
            and self.store.get("secrets", (secret.get("namespace", ns), secret.get("name", "")))
            is None
        ):
            return f'MountVolume.MountDevice failed for volume "{volume}" : fetching NodeStageSecretRef {secret.get("namespace")}/{secret.get("name")} failed'
        pool = (csi.get("volumeAttributes") or {}).get("pool", "rbd")
        if self.image_exists(pool, csi.get("volumeHandle", "")) is False:
            return f'MountVolume.MountDevice failed for volume "{volume}" : rbd image {pool}/{csi.get("volumeHandle")} does not exist'
        return ""  # fmt: skip

    def endpoints(self, svc: Obj) -> None:
        selector = svc["spec"].get("selector")
        if not selector:
            return
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        pods = [p for p in self.store.items("pods", ns) if _ready(p)
                and all(p["metadata"].get("labels", {}).get(k) == v for k, v in selector.items())]  # fmt: skip
        ports = [{"port": p.get("targetPort", p["port"]) if isinstance(p.get("targetPort"), int) else p["port"],
                  "protocol": p.get("protocol", "TCP"), **({"name": p["name"]} if p.get("name") else {})}
                 for p in svc["spec"].get("ports") or []]  # fmt: skip
        addresses = [{"ip": p["status"]["podIP"], "nodeName": p["spec"]["nodeName"],
                      "targetRef": {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]}}
                     for p in sorted(pods, key=lambda p: p["status"]["podIP"])]  # fmt: skip
        subsets = [{"addresses": addresses, "ports": ports}] if addresses else []
        if self.api.pose.lookup("discovery.k8s.io", "v1", "endpointslices"):
            self.endpoint_slice(svc, pods, ports)
        current = self.store.get("endpoints", (ns, name))
        if current is None:
            self.create("endpoints", ns, {"metadata": {"name": name, "labels": svc["metadata"].get("labels") or {},
                        "ownerReferences": [self.owner_ref(svc, "Service", "v1")]}, "subsets": subsets})  # fmt: skip
        elif current.get("subsets") != subsets:
            new = copy.deepcopy(current)
            new["subsets"] = subsets
            self.write("endpoints", new)

    def endpoint_slice(self, svc: Obj, pods: list[Obj], ports: list[Obj]) -> None:
        """The EndpointSlice the endpointslice controller keeps for a selector service."""
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        slice_name = f"{name}-{svc['metadata']['uid'][:5]}"
        endpoints = [{
            "addresses": [p["status"]["podIP"]],
            "conditions": {"ready": True, "serving": True, "terminating": False},
            "nodeName": p["spec"]["nodeName"],
            "targetRef": {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]},
        } for p in sorted(pods, key=lambda p: p["status"]["podIP"])]  # fmt: skip
        # The endpointslice controller sets every port's name, "" when the port has none.
        named = [{"name": "", **p} for p in ports]
        body = {"addressType": "IPv4", "endpoints": endpoints, "ports": named}
        current = self.store.get("endpointslices", (ns, slice_name))
        if current is None:
            self.create("endpointslices", ns, {
                "metadata": {"name": slice_name, "labels": {
                    "kubernetes.io/service-name": name,
                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"},
                    "ownerReferences": [self.owner_ref(svc, "Service", "v1")]},
                **body,
            })  # fmt: skip
        elif {k: current.get(k) for k in body} != body:
            self.write("endpointslices", {**copy.deepcopy(current), **body})


def _revision(rs: Obj) -> int:
    try:
        return int((rs["metadata"].get("annotations") or {}).get(REVISION, 0))
    except ValueError:
        return 0


def _ready(pod: Obj) -> bool:
    if pod["metadata"].get("deletionTimestamp"):  # terminating: out of endpoints
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in pod.get("status", {}).get("conditions") or []
    )


def _waiting(container: Obj) -> Obj:
    return {"name": container["name"], "ready": False, "restartCount": 0, "image": container.get("image", ""),
            "imageID": "", "started": False, "state": {"waiting": {"reason": "ContainerCreating"}}}  # fmt: skip


def _node_fits(node: Obj, spec: Obj) -> bool:
    if (node.get("spec") or {}).get("unschedulable"):  # cordoned
        return False
    labels = node["metadata"].get("labels") or {}
    return selector_matches(
        {"matchLabels": spec.get("nodeSelector") or {}}, labels
    ) or not spec.get("nodeSelector")
