"""The sandbox API's verbs on objects: create, get, list, replace, patch, delete, watch.

HTTP-free, so the controller loop uses the same rules (defaults, validation,
resourceVersion conflicts) as clients do.
"""

from __future__ import annotations

import base64
import builtins
import copy
import ipaddress
import itertools
import json
import random
import string
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from . import managed, objects, openapi, patches, policy
from .resources import Pose, Resource, api_version
from .store import ApiError, Event, Key, Obj, Store, key_of, new_meta, now

NAMESPACE_RESOURCE = "namespaces"
# Kinds whose create strategy resets the status a client sent (`status: {}` included).
FRESH_STATUS = {
    "pods", "deployments", "replicasets", "services", "namespaces", "persistentvolumeclaims",
    "poddisruptionbudgets",
}  # fmt: skip
# Fields a 1.5 apiserver never returns (added later: 1.6 schedulerName, 1.7
# terminationMessagePolicy, 1.16 podIPs and started, 1.20 clusterIPs and ipFamilies), and
# defaults extensions/v1beta1 Deployments did not get.
NEWER_THAN_1_5 = {
    "pods": ("spec.schedulerName", "spec.containers.*.terminationMessagePolicy",
             "status.podIPs", "status.containerStatuses.*.started"),
    "services": ("spec.clusterIPs", "spec.ipFamilies", "spec.ipFamilyPolicy"),
    "deployments": ("spec.progressDeadlineSeconds", "spec.revisionHistoryLimit",
                    "spec.template.spec.schedulerName",
                    "spec.template.spec.containers.*.terminationMessagePolicy"),
    "replicasets": ("spec.template.spec.schedulerName",
                    "spec.template.spec.containers.*.terminationMessagePolicy"),
}  # fmt: skip
BOOKMARK_EVERY = 5.0  # seconds of quiet between two bookmarks (the apiserver: about a minute)


@dataclass(frozen=True)
class Ref:
    """What a request names: a resource in a group version, maybe a namespace, an object
    and a subresource."""

    res: Resource
    group: str
    version: str
    namespace: str = ""
    name: str = ""
    sub: str = ""


def qualified(res: Resource, group: str) -> str:
    """How error messages name a resource: ``pods``, ``deployments.apps``."""
    return f"{res.plural}.{group}" if group else res.plural


def not_found(res: Resource, group: str, name: str) -> ApiError:
    return ApiError(
        404,
        "NotFound",
        f'{qualified(res, group)} "{name}" not found',
        {"name": name, "group": group, "kind": res.plural},
    )


def encode_continue(rv: int, key: Key) -> str:
    doc = {"v": "meta.k8s.io/v1", "rv": rv, "start": f"{key[0]}/{key[1]}\x00"}
    return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")


def decode_continue(token: str) -> tuple[int, Key]:
    try:
        doc = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        ns, _, name = doc["start"].rstrip("\x00").partition("/")
        return int(doc["rv"]), (ns, name)
    except (ValueError, KeyError, TypeError):
        raise ApiError(400, "BadRequest", f"continue key is not valid: {token[:40]}") from None


class KubeAPI:
    def __init__(
        self, pose: Pose, store: Store | None = None, node_ports: tuple[int, int] = (30000, 32767)
    ) -> None:
        self.pose = pose
        self.store = store or Store()
        self.node_ports = node_ports
        self._cluster_ips = (
            str(ip) for ip in itertools.islice(ipaddress.ip_network("10.3.0.0/16").hosts(), 0, None)
        )
        self._lock = threading.RLock()  # read-modify-write sequences
        defs = openapi.definitions(pose.schemas) if pose.schemas else None
        self.schemas = managed.Schemas(defs) if defs and pose.managed_fields else None

    # -- lookups ---------------------------------------------------------------

    def ref(self, plural: str, namespace: str = "", name: str = "") -> Ref:
        """The resource with this plural in the pose (in its first group version)."""
        for group, versions in self.pose.groups.items():
            for version, resources in versions.items():
                for res in resources:
                    if res.plural == plural:
                        return Ref(res, group, version, namespace, name)
        raise KeyError(plural)

    def get(self, ref: Ref) -> Obj:
        res, group, ns, name = ref.res, ref.group, ref.namespace, ref.name
        obj = self.store.get(res.plural, (ns, name))
        if obj is None:
            raise not_found(res, group, name)
        return obj

    def list(self, ref: Ref, query: dict[str, str]) -> Obj:
        res, group, version, ns = ref.res, ref.group, ref.version, ref.namespace
        match = objects.matcher(query.get("labelSelector", ""), query.get("fieldSelector", ""))
        limit = int(query.get("limit") or 0) if self.pose.chunking else 0
        token = query.get("continue") if self.pose.chunking else None
        if token:
            at_rv, after = decode_continue(token)
        else:
            at_rv, after = self.store.rv, None
        items, last = self.store.page(res.plural, ns, at_rv, after, limit=limit, match=match)
        meta: Obj = {"resourceVersion": str(at_rv)}
        if last is not None:
            meta["continue"] = encode_continue(at_rv, last)
            meta["remainingItemCount"] = None
        meta = {k: v for k, v in meta.items() if v is not None}
        return {
            "kind": f"{res.kind}List",
            "apiVersion": api_version(group, version),
            "metadata": meta,
            "items": [self.present(o, ref) for o in items],
        }

    def present(self, obj: Obj, ref: Ref) -> Obj:
        """The object as this group version shows it (the store keeps one copy per object);
        the 1.5 pose leaves out the fields later versions added."""
        shown = {"kind": ref.res.kind, "apiVersion": api_version(ref.group, ref.version), **obj}
        newer = NEWER_THAN_1_5.get(ref.res.plural) if self.pose.major_minor == ("1", "5") else None
        if newer:
            shown = copy.deepcopy(shown)
            for path in newer:
                _drop(shown, path.split("."))
        return shown

    # -- writes ----------------------------------------------------------------

    def create(
        self, ref: Ref, body: Obj, dry_run: bool = False, write: managed.Write | None = None
    ) -> Obj:
        res, group, ns = ref.res, ref.group, ref.namespace
        obj = self._decode(res, group, body)
        meta = obj["metadata"]
        if meta.get("namespace") and ns and meta["namespace"] != ns:
            raise ApiError(
                400,
                "BadRequest",
                "the namespace of the provided object does not match the namespace sent on the "
                "request",
            )
        if not meta.get("name") and meta.get("generateName"):
            suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
            meta["name"] = meta["generateName"] + suffix
        if not meta.get("name"):
            raise ApiError(
                422,
                "Invalid",
                f'{res.kind} "" is invalid: metadata.name: Required value: name or '
                "generateName is required",
            )
        with self._lock:
            if res.namespaced:
                namespace = self.store.get(NAMESPACE_RESOURCE, ("", ns))
                if namespace is None:
                    raise ApiError(
                        404,
                        "NotFound",
                        f'namespaces "{ns}" not found',
                        {"name": ns, "kind": "namespaces"},
                    )
                if namespace.get("status", {}).get("phase") == "Terminating":
                    raise ApiError(
                        403,
                        "Forbidden",
                        f'{res.plural} "{meta["name"]}" is forbidden: unable to create new '
                        f"content in namespace {ns} because it is being terminated",
                    )
            obj["metadata"] = new_meta(meta, ns if res.namespaced else "")
            if self.store.get(res.plural, key_of(obj)) is not None:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{qualified(res, group)} "{meta["name"]}" already exists',
                    {"name": meta["name"], "group": group, "kind": res.plural},
                )
            if res.plural in FRESH_STATUS:  # PrepareForCreate: a client's status is dropped
                obj.pop("status", None)
            self._defaults(res, group, obj)
            objects.validate(res.plural, group, res.kind, obj)
            self._allocate(res, obj, None)
            self._manage(ref, None, obj, write)
            if dry_run:
                return obj
            return self.store.put(res.plural, obj, "ADDED")

    def replace(
        self, ref: Ref, body: Obj, dry_run: bool = False, write: managed.Write | None = None
    ) -> Obj:
        res, group, name, sub = ref.res, ref.group, ref.name, ref.sub
        obj = self._decode(res, group, body)
        if obj["metadata"].get("name", name) != name:
            raise ApiError(
                400, "BadRequest", "the name of the object does not match the name on the URL"
            )
        with self._lock:
            current = self.get(ref)
            sent_rv = obj["metadata"].get("resourceVersion")
            if sent_rv and sent_rv != current["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {qualified(res, group)} "{name}": the '
                    "object has been modified; please apply your changes to the latest version "
                    "and try again",
                    {"name": name, "group": group, "kind": res.plural},
                )
            if sub == "status":
                new = {**copy.deepcopy(current), "status": obj.get("status", {})}
            else:
                new = obj
                keep = ("uid", "creationTimestamp", "namespace", "name", "generation")
                new["metadata"].update(
                    {k: current["metadata"][k] for k in keep if k in current["metadata"]}
                )
                if res.has_status and "status" in current:
                    new["status"] = copy.deepcopy(current["status"])
                self._defaults(res, group, new)
                if new.get("spec") != current.get("spec") and "generation" in new["metadata"]:
                    new["metadata"]["generation"] += 1
                objects.validate(res.plural, group, res.kind, new)
                self._allocate(res, new, current)
            self._manage(ref, current, new, write)
            new["metadata"].pop("resourceVersion", None)
            if dry_run:
                return new
            return self.store.put(res.plural, new, "MODIFIED")

    def patch(
        self,
        ref: Ref,
        content_type: str,
        body: bytes,
        dry_run: bool = False,
        write: managed.Write | None = None,
        *,
        validation: str = "Ignore",
        warnings: builtins.list[str] | None = None,
    ) -> Obj:
        """A JSON, merge or strategic merge patch; the patched object is decoded with the
        schema as the apiserver decodes it (wrong types refused, unknown fields pruned, or
        refused under ``validation`` Strict)."""
        ctype = content_type.split(";", maxsplit=1)[0].strip()
        patcher = objects.PATCHERS.get(ctype)
        if patcher is None:
            raise patches.unsupported(self.schemas is not None)
        try:
            patch = json.loads(body or b"{}")
        except ValueError as exc:
            raise ApiError(400, "BadRequest", f"error decoding patch: {exc}") from None
        with self._lock:
            current = self.present(self.get(ref), ref)
            patched = patcher(current, patch)
            if isinstance(patched, dict):
                patched = patches.decoded(
                    self.pose.schemas, _gvk(ref), ctype, patch, patched,
                    validation=validation, warnings=warnings,
                )  # fmt: skip
            patched.setdefault("metadata", {}).pop("resourceVersion", None)
            if isinstance(patch, dict) and (patch.get("metadata") or {}).get("resourceVersion"):
                patched["metadata"]["resourceVersion"] = patch["metadata"]["resourceVersion"]
            return self.replace(ref, patched, dry_run, write)

    def apply(
        self, ref: Ref, body: bytes, write: managed.Write, dry_run: bool = False,
        validation: str = "Strict",
    ) -> tuple[Obj, bool]:  # fmt: skip
        """Server-side apply (``application/apply-patch+yaml``): the object and whether the
        apply created it."""
        root = self._root(ref)
        if self.schemas is None or root is None:
            raise patches.unsupported(self.schemas is not None)
        if not write.manager or write.manager == "unknown":
            raise ApiError(
                422, "Invalid", 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required '
                "value: is required for apply patch",
            )  # fmt: skip
        where = f"{ref.namespace}/{ref.name}" if ref.namespace else ref.name
        typed = patches.apply_config(self.pose.schemas, _gvk(ref), where, body, validation)
        config = self._decode(ref.res, ref.group, typed)
        config = {"apiVersion": api_version(ref.group, ref.version), "kind": ref.res.kind, **config}
        config["metadata"].setdefault("name", ref.name)
        if config["metadata"]["name"] != ref.name:
            raise ApiError(
                400, "BadRequest", "the name of the object does not match the name on the URL"
            )
        schemas = self.schemas
        paths = managed.owned(config, schemas, root, marks=False, status=False)
        with self._lock:
            stored = self.store.get(ref.res.plural, (ref.namespace, ref.name))
            if stored is None:
                config["metadata"]["managedFields"] = managed.applied([], write, paths, [])
                return self.create(ref, config, dry_run), True
            entries = managed.entries_of(stored)
            current = self.present(stored, ref)
            found = managed.conflicts(entries, write, paths, current, config)
            upgrading = managed.from_client_side_apply(found, current, schemas, root)
            if found and not write.force and not upgrading:
                raise managed.conflict_error(found)
            base = copy.deepcopy(current)
            for path in managed.released(entries, write, paths):
                managed.remove_at(base, path)
            merged = schemas.merge(root, base, config)
            merged["metadata"]["managedFields"] = managed.applied(entries, write, paths, found)
            merged["metadata"].pop("resourceVersion", None)
            if config["metadata"].get("resourceVersion"):
                merged["metadata"]["resourceVersion"] = config["metadata"]["resourceVersion"]
            return self.replace(ref, merged, dry_run), False

    def _root(self, ref: Ref) -> Obj | None:
        """The schema of the kind a request names (None without managed fields)."""
        if self.schemas is None:
            return None
        name = openapi.definition_for(self.pose.schemas, ref.group, ref.version, ref.res.kind)
        return self.schemas.defs.get(name) if name else None

    def _manage(self, ref: Ref, old: Obj | None, new: Obj, write: managed.Write | None) -> None:
        """managedFields after a client's Update (``write``); internal writes (None) keep
        what the object carries."""
        if write is None:
            return
        root = self._root(ref)
        meta = new["metadata"]
        sent = meta.pop("managedFields", None)
        if root is None or self.schemas is None:
            return
        schemas = self.schemas

        def sets(obj: Obj, marks: bool, status: bool) -> set[managed.Path]:
            return managed.owned(obj, schemas, root, marks=marks, status=status)

        entries = managed.sent_entries(sent, managed.entries_of(old))
        entries = managed.updated(entries, write, old, new, sets)
        if entries:
            meta["managedFields"] = entries

    def delete(self, ref: Ref, body: Obj | None) -> Obj:
        res, group, ns, name = ref.res, ref.group, ref.namespace, ref.name
        options = body or {}
        with self._lock:
            current = self.get(ref)
            pre = options.get("preconditions") or {}
            for field, have in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
                if pre.get(field) and pre[field] != current["metadata"][field]:
                    raise ApiError(
                        409,
                        "Conflict",
                        f'Operation cannot be fulfilled on {qualified(res, group)} "{name}": '
                        f"Precondition failed: {have} in precondition: {pre[field]}, {have} in "
                        f"object meta: {current['metadata'][field]}",
                    )
            if res.plural == NAMESPACE_RESOURCE:  # the controller empties it, then removes it
                terminating = copy.deepcopy(current)
                terminating["metadata"]["deletionTimestamp"] = now()
                terminating["status"] = {"phase": "Terminating"}
                terminating["metadata"].pop("resourceVersion")
                return self.store.put(res.plural, terminating, "MODIFIED")
            if options.get("propagationPolicy") == "Orphan" or options.get("orphanDependents"):
                self._orphan(current["metadata"]["uid"])
            if res.plural == "pods":
                graceful = self._graceful(current, options)
                if graceful is not None:
                    return graceful
            return self.store.remove(res.plural, (ns, name))

    def evict(self, ref: Ref, body: Obj | None) -> Obj:
        """POST pods/NAME/eviction: the pod deleted, unless its disruption budget says no
        (429, see policy.py)."""
        pod_ref = Ref(ref.res, ref.group, ref.version, ref.namespace, ref.name)
        eviction = body if isinstance(body, dict) else {}
        named = (eviction.get("metadata") or {}).get("name")
        if named and named != ref.name:
            raise ApiError(400, "BadRequest", "name in URL does not match name in Eviction object")
        with self._lock:
            pod = self.get(pod_ref)
            budgets = self.store.items(policy.PDB, ref.namespace)
            charged = policy.check_eviction(pod, budgets)
            if charged is not None:
                self.store.put(policy.PDB, charged, "MODIFIED")
            self.delete(pod_ref, eviction.get("deleteOptions"))
        return dict(policy.SUCCESS)

    def _graceful(self, pod: Obj, options: Obj) -> Obj | None:
        """A scheduled pod is first marked (deletionTimestamp = now + grace, Terminating)
        and goes when its kubelet is done (the controller); None: remove it now."""
        grace = options.get("gracePeriodSeconds")
        if not isinstance(grace, int):
            grace = int((pod.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
        meta = pod["metadata"]
        if grace <= 0 or not (pod.get("spec") or {}).get("nodeName"):
            return None
        if meta.get("deletionTimestamp") and meta.get("deletionGracePeriodSeconds", 0) <= grace:
            return pod  # already going, no sooner than asked
        marked = copy.deepcopy(pod)
        when = datetime.now(UTC) + timedelta(seconds=grace)
        marked["metadata"]["deletionTimestamp"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        marked["metadata"]["deletionGracePeriodSeconds"] = grace
        marked["metadata"].pop("resourceVersion", None)
        return self.store.put("pods", marked, "MODIFIED")

    def _orphan(self, uid: str) -> None:
        for plural in ("replicasets", "pods"):
            for obj in self.store.items(plural):
                refs = obj["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == uid for r in refs):
                    new = copy.deepcopy(obj)
                    new["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
                    self.store.put(plural, new, "MODIFIED")

    def watch(self, ref: Ref, query: dict[str, str], stop: threading.Event) -> Iterator[Obj]:
        """Watch events as the API sends them (a 410 becomes an ERROR event)."""
        res, ns = ref.res, ref.namespace
        match = objects.matcher(query.get("labelSelector", ""), query.get("fieldSelector", ""))
        bookmarks = self.pose.bookmarks and query.get("allowWatchBookmarks") == "true"
        rv_text = query.get("resourceVersion", "")
        # A watch-list (1.27+): the current objects, then a bookmark saying they are all.
        initial = bookmarks and query.get("sendInitialEvents") == "true"
        if rv_text in ("", "0") or initial:  # "any": start with the current objects
            since = self.store.rv
            for obj in self.store.items(res.plural, ns):
                if match(obj):
                    yield {"type": "ADDED", "object": self.present(obj, ref)}
            if initial:
                yield self._bookmark(ref, {"k8s.io/initial-events-end": "true"})
        else:
            try:
                since = int(rv_text)
            except ValueError:
                raise ApiError(
                    400, "BadRequest", f"invalid resource version: {rv_text!r}"
                ) from None
        try:
            events: Iterator[Event | None] = self.store.watch(res.plural, since, stop)
            last_bookmark = time.monotonic()
            for event in events:
                if event is None:  # a quiet second: a bookmark now and then
                    if bookmarks and time.monotonic() - last_bookmark >= BOOKMARK_EVERY:
                        last_bookmark = time.monotonic()
                        yield self._bookmark(ref)
                    else:
                        yield {}
                    continue
                if ns and event.obj["metadata"].get("namespace") != ns:
                    continue
                if match(event.obj):
                    yield {
                        "type": event.type,
                        "object": self.present(event.obj, ref),
                    }
        except ApiError as exc:
            yield {"type": "ERROR", "object": exc.status()}

    def _bookmark(self, ref: Ref, annotations: dict[str, str] | None = None) -> Obj:
        meta: Obj = {"resourceVersion": str(self.store.rv)}
        if annotations:
            meta["annotations"] = annotations
        return {
            "type": "BOOKMARK",
            "object": {
                "kind": ref.res.kind,
                "apiVersion": api_version(ref.group, ref.version),
                "metadata": meta,
            },
        }

    # -- object rules ------------------------------------------------------------

    def _decode(self, res: Resource, group: str, body: Obj) -> Obj:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body of the request must be a JSON object")
        if body.get("kind") and body["kind"] != res.kind:
            raise ApiError(
                400,
                "BadRequest",
                f"the API version in the data ({body.get('apiVersion')}) does not match the "
                f"expected API version, or the kind {body['kind']!r} is not {res.kind!r}",
            )
        obj = {k: copy.deepcopy(v) for k, v in body.items() if k not in ("kind", "apiVersion")}
        if not isinstance(obj.get("metadata"), dict):
            obj["metadata"] = {}
        return obj

    def _defaults(self, res: Resource, group: str, obj: Obj) -> None:
        spec = obj.get("spec")
        if res.plural == "pods":
            _pod_defaults(spec or {})
            obj.setdefault("status", {"phase": "Pending", "qosClass": "BestEffort"})
        elif res.plural in ("deployments", "replicasets"):
            if not isinstance(spec, dict):
                return
            spec.setdefault("replicas", 1)
            template = spec.setdefault("template", {})
            if group == "extensions":  # 1.5's defaults for extensions/v1beta1
                labels = (template.get("metadata") or {}).get("labels") or {}
                if not spec.get("selector"):
                    spec["selector"] = {"matchLabels": dict(labels)}
                if not obj["metadata"].get("labels"):
                    obj["metadata"]["labels"] = dict(labels)
            if res.plural == "deployments":
                _strategy_defaults(spec, group)
                spec.setdefault("revisionHistoryLimit", 10)
                spec.setdefault("progressDeadlineSeconds", 600)
            _pod_defaults(template.get("spec") or {})
            obj["metadata"].setdefault("generation", 1)
            obj.setdefault("status", {})
        elif res.plural == "services":
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("sessionAffinity", "None")
            for port in spec.get("ports") or []:
                port.setdefault("protocol", "TCP")
                port.setdefault("targetPort", port.get("port"))
            obj.setdefault("status", {"loadBalancer": {}})
        elif res.plural == "namespaces":
            obj["status"] = obj.get("status") or {"phase": "Active"}
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
        elif res.plural == "secrets":
            obj.setdefault("type", "Opaque")
        elif res.plural == policy.PDB:
            obj["metadata"].setdefault("generation", 1)
            obj.setdefault("status", {"disruptionsAllowed": 0, "currentHealthy": 0,
                                      "desiredHealthy": 0, "expectedPods": 0})  # fmt: skip
        elif res.plural == "persistentvolumeclaims":
            obj.setdefault("status", {"phase": "Pending"})

    def _allocate(self, res: Resource, obj: Obj, current: Obj | None) -> None:
        """A Service's cluster IP and node ports (kept across updates)."""
        if res.plural != "services":
            return
        spec = obj["spec"]
        old_spec = (current or {}).get("spec") or {}
        if spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None":
            spec["clusterIP"] = (
                old_spec.get("clusterIP") or spec.get("clusterIP") or next(self._cluster_ips)
            )
            spec["clusterIPs"] = [spec["clusterIP"]]
        if spec.get("type") not in ("NodePort", "LoadBalancer"):
            for port in spec.get("ports") or []:
                port.pop("nodePort", None)
            return
        low, high = self.node_ports
        old_ports = {p.get("port"): p.get("nodePort") for p in old_spec.get("ports") or []}
        used = {
            p.get("nodePort")
            for svc in self.store.items("services")
            if key_of(svc) != key_of(obj)
            for p in svc["spec"].get("ports") or []
        }
        causes = objects.Causes()
        for i, port in enumerate(spec.get("ports") or []):
            wanted = port.get("nodePort") or old_ports.get(port.get("port"))
            if wanted:
                if not low <= wanted <= high:
                    causes.invalid(
                        f"spec.ports[{i}].nodePort",
                        wanted,
                        f"provided port is not in the valid range. The range of valid ports is "
                        f"{low}-{high}",
                    )
                elif wanted in used:
                    causes.invalid(
                        f"spec.ports[{i}].nodePort", wanted, "provided port is already allocated"
                    )
                port["nodePort"] = wanted
            else:
                free = [p for p in range(low, high + 1) if p not in used]
                if not free:
                    causes.invalid(f"spec.ports[{i}].nodePort", 0, "range is full")
                    continue
                port["nodePort"] = random.choice(free)
            used.add(port["nodePort"])
        causes.raise_if_any("Service", "", obj["metadata"]["name"])


def _drop(doc: Any, path: list[str]) -> None:
    """Remove ``a.b.*.c`` from a JSON document (``*``: every item of a list)."""
    if not path:
        return
    head, rest = path[0], path[1:]
    if head == "*" and isinstance(doc, list):
        for item in doc:
            _drop(item, rest)
    elif isinstance(doc, dict) and head in doc:
        if rest:
            _drop(doc[head], rest)
        else:
            del doc[head]


def _strategy_defaults(spec: Obj, group: str) -> None:
    """SetDefaults_Deployment: a missing or empty strategy is RollingUpdate 25%/25%
    (extensions/v1beta1: maxUnavailable 1, maxSurge 1)."""
    strategy = spec.get("strategy")
    if not isinstance(strategy, dict):
        strategy = spec["strategy"] = {}
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = strategy.get("rollingUpdate")
        if not isinstance(rolling, dict):
            rolling = strategy["rollingUpdate"] = {}
        default = 1 if group == "extensions" else "25%"
        rolling.setdefault("maxUnavailable", default)
        rolling.setdefault("maxSurge", default)


def _pod_defaults(spec: Obj) -> None:
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    for c in spec.get("containers") or []:
        image = str(c.get("image", ""))
        latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
        c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        c.setdefault("resources", {})
        c.setdefault("terminationMessagePath", "/dev/termination-log")
        c.setdefault("terminationMessagePolicy", "File")


def _gvk(ref: Ref) -> tuple[str, str, str]:
    return ref.group, ref.version, ref.res.kind


def body_object(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, "BadRequest", f"the body of the request is not JSON: {exc}") from None
