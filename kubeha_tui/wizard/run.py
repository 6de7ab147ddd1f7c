"""Plan an example against the live cluster (what exists, what will be made), then apply
it step by step; a failed step undoes what this run made, and only that."""

from __future__ import annotations

import contextlib
import logging
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import yaml

from kubeha_tui.ceph import images
from kubeha_tui.ceph.backend import CephBackend
from kubeha_tui.errors import ServiceError
from kubeha_tui.kube.client import KubeClient, KubeError

from . import manifests
from .forms import MariaDBForm, NginxForm

log = logging.getLogger(__name__)
Obj = dict[str, Any]
KEY_SECRETS = ("ceph-client-key", "ceph-admin-key")  # names the stack's versions use
CSI_SECRET = "csi-rbd-secret"
PASSWORD_ALPHABET = string.ascii_letters + string.digits  # nothing a shell or mysql -p trips on
PLURALS = {"Deployment": "deployments", "Service": "services", "Secret": "secrets",
           "PersistentVolume": "persistentvolumes", "PersistentVolumeClaim": "persistentvolumeclaims"}  # fmt: skip


class PlainDumper(yaml.SafeDumper):
    """YAML as kubectl prints it: a dict used twice is written twice, not as &id001/*id001."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _uid(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


def _unexpected(exc: BaseException) -> str:
    return f"unexpected error: {type(exc).__name__}: {exc}"


def describe(obj: Obj) -> str:
    meta = obj["metadata"]
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj['kind']} {where}{meta['name']}"


@dataclass
class Plan:
    example: str  # "nginx" or "mariadb"
    form: NginxForm | MariaDBForm
    manifests: list[Obj]
    ceph_actions: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)  # objects already there
    kept: list[str] = field(default_factory=list)  # Secrets already there: never overwritten
    refused: str = ""  # why this cannot be applied as asked
    password: str = ""  # MariaDB's generated root password: shown once, after apply
    make_volume: bool = False
    key_secret: Obj | None = None  # the Ceph key's Secret, when this run must create it

    def preview(self) -> str:
        """The manifests as YAML, the password hidden (it is shown once, after apply)."""
        shown = [
            {**obj, "data": dict.fromkeys(obj.get("data", {}), "<hidden>")}
            if obj["kind"] == "Secret"
            else obj
            for obj in self.objects()
        ]
        return yaml.dump_all(shown, Dumper=PlainDumper, sort_keys=False)

    def verb(self, obj: Obj) -> str:
        """What apply does to ``obj``: create, replace, or keep (a Secret already there)."""
        what = describe(obj)
        return "keep" if what in self.kept else "replace" if what in self.existing else "create"

    def objects(self) -> list[Obj]:
        """What apply creates in Kubernetes, in order."""
        return ([self.key_secret] if self.key_secret else []) + self.manifests


@dataclass
class Result:
    ok: bool
    lines: list[str] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    running: bool = False
    blocked_by: list[str] = field(default_factory=list)  # events that keep the pod from running
    undone: list[str] = field(default_factory=list)
    password: str = ""
    error: str = ""


Report = Callable[[str], None]


class Wizard:
    def __init__(self, client: KubeClient, ceph: CephBackend | None, wait: float = 120.0) -> None:
        self.client, self.ceph, self.wait = client, ceph, wait

    # -- lookups -------------------------------------------------------------------

    def path(self, obj: Obj, name: bool = True) -> str:
        meta = obj["metadata"]
        return self.client.info().path(
            PLURALS[obj["kind"]], meta.get("namespace"), meta["name"] if name else ""
        )

    def exists(self, obj: Obj) -> bool:
        return self._get(self.path(obj)) is not None

    def _get(self, path: str) -> Obj | None:
        try:
            found: Obj = self.client.request("GET", path)
            return found
        except KubeError as exc:
            if exc.code == 404:
                return None
            raise

    def _existing(self, plan: Plan) -> None:
        there = [o for o in plan.manifests if self.exists(o)]
        plan.existing = [describe(o) for o in there if o["kind"] != "Secret"]
        plan.kept = [describe(o) for o in there if o["kind"] == "Secret"]

    # -- plans ---------------------------------------------------------------------

    def plan_nginx(self, form: NginxForm) -> Plan:
        plan = Plan("nginx", form, manifests.nginx(self.client.info(), form))
        self._existing(plan)
        return plan

    def plan_mariadb(self, form: MariaDBForm) -> Plan:
        info = self.client.info()
        if self.ceph is None:
            raise ServiceError("MariaDB on RBD needs Ceph, which is not configured")
        csi_class = "" if info.in_tree_rbd else self._csi_class()
        found_secret = self._find_key_secret(form.namespace, csi=bool(csi_class))
        default_secret = CSI_SECRET if csi_class else KEY_SECRETS[1]
        access = self._ceph_access(csi_class, found_secret or default_secret)
        password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(24))
        plan = Plan(
            "mariadb", form, manifests.mariadb(info, form, access, password), password=password
        )
        if not info.in_tree_rbd and not csi_class:
            plan.refused = (
                f"this cluster ({info.git_version}) has no in-tree rbd volume type (removed in "
                "Kubernetes 1.31) and no Ceph CSI StorageClass (provisioner rbd.csi.ceph.com): "
                "MariaDB on RBD cannot be set up here; install ceph-csi first"
            )
        names = {i.name for i in images.list_names(self.ceph, form.pool)}  # also: the pool exists
        if form.volume in names:
            if form.reuse_volume:
                plan.ceph_actions.append(
                    f"reuse the existing RBD image {form.pool}/{form.volume} (its data is kept)"
                )
            else:
                plan.refused = plan.refused or (
                    f"the RBD image {form.pool}/{form.volume} already exists: choose to reuse it "
                    "(its data is kept) or pick another volume name")  # fmt: skip
        else:
            plan.make_volume = True
            plan.ceph_actions.append(
                f"create the RBD image {form.pool}/{form.volume}, {form.size}, features: layering"
            )
        if not found_secret:
            key = self.ceph.json({"prefix": "auth get-key", "entity": f"client.{access.user}"})[
                "key"
            ]
            plan.key_secret = manifests.ceph_key_secret(
                form.namespace, access.key_secret, access.user, key, bool(csi_class)
            )
            plan.ceph_actions.append(
                f"store client.{access.user}'s key in Secret {form.namespace}/{access.key_secret}"
            )
        self._existing(plan)
        return plan

    def _csi_class(self) -> str:
        classes = self.client.request("GET", self.client.info().path("storageclasses"))
        for sc in classes.get("items") or []:
            if str(sc.get("provisioner", "")).endswith(manifests.CSI_DRIVER):
                return str(sc["metadata"]["name"])
        return ""

    def _find_key_secret(self, ns: str, csi: bool) -> str:
        for name in (CSI_SECRET,) if csi else KEY_SECRETS:
            probe = {"kind": "Secret", "metadata": {"name": name, "namespace": ns}}
            if self.exists(probe):
                return name
        return ""

    def _ceph_access(self, csi_class: str, key_secret: str) -> manifests.CephAccess:
        """The mons from the mon map (what kubelet's rbd client dials) and the fsid."""
        assert self.ceph is not None
        dump = self.ceph.json({"prefix": "mon dump"})
        monitors = tuple(m["public_addr"].split("/")[0] for m in dump.get("mons", []))
        return manifests.CephAccess(
            monitors, "admin", key_secret, csi_class, str(dump.get("fsid", ""))
        )

    # -- apply ---------------------------------------------------------------------

    def apply(self, plan: Plan, report: Report, replace: bool = False) -> Result:
        """Make the plan real; on a failure undo what this run made and say so."""
        if plan.refused:
            return Result(False, error=plan.refused)
        if plan.existing and not replace:
            return Result(
                False, error=f"already there: {', '.join(plan.existing)}; choose Replace or Show"
            )
        undo: list[tuple[str, Callable[[], None]]] = []
        result = Result(True, password=plan.password)

        def say(line: str) -> None:  # every line is also kept in the result
            result.lines.append(line)
            report(line)

        try:
            if plan.make_volume:
                self._make_volume(plan, say, undo)
            for obj in plan.objects():
                made = self._put(obj, say, undo)
                if not made and obj["metadata"]["name"] == f"{plan.form.name}-root":
                    result.password = ""  # the existing root password stays in force
        except Exception as exc:  # a bug too must not leave what this run made behind
            if not isinstance(exc, ServiceError):
                log.exception("wizard step failed")
            error = str(exc) if isinstance(exc, ServiceError) else _unexpected(exc)
            result.ok, result.error, result.password = False, error, ""
            say(f"failed: {error}")
            for what, fn in reversed(undo):
                try:
                    fn()
                    result.undone.append(what)
                    say(f"undone: {what}")
                except Exception as undo_exc:
                    say(f"could not undo {what}: {undo_exc}")
            return result
        try:
            self._wait(plan, say, result)
        except ServiceError as exc:  # everything is made; only the check of the pod failed
            say(f"made, but could not check the pod: {exc}")
        return result

    def _make_volume(
        self, plan: Plan, report: Report, undo: list[tuple[str, Callable[[], None]]]
    ) -> None:
        assert self.ceph is not None and isinstance(plan.form, MariaDBForm)
        form, ceph = plan.form, self.ceph
        report(f"creating RBD image {form.pool}/{form.volume} ({form.size}, layering)")
        images.create(
            ceph,
            images.CreateRequest(form.pool, form.volume, form.size_bytes, images.LEGACY_FEATURES),
        )
        undo.append((f"RBD image {form.pool}/{form.volume} removed", lambda: images.delete(ceph, form.pool, form.volume)))  # fmt: skip

    def _put(self, obj: Obj, report: Report, undo: list[tuple[str, Callable[[], None]]]) -> bool:
        """Create ``obj`` (True), or replace what is there; an existing Secret is kept as it
        is (False): MariaDB's data was initialised with the password it holds."""
        what = describe(obj)
        if self.exists(obj):
            if obj["kind"] == "Secret":
                report(f"keeping {what} as it is")
                return False
            report(f"replacing {what}")
            self.client.request(
                "PATCH", self.path(obj), body=obj, content_type="application/merge-patch+json"
            )
            return False
        report(f"creating {what}")
        path = self.path(obj)
        try:
            made = self.client.request(
                "POST", self.path(obj, name=False), body=obj, content_type="application/json"
            )
        except ServiceError:
            # A create that timed out may have been applied all the same: what is there now
            # (it was not before) is this run's, and is undone with the rest.
            with contextlib.suppress(ServiceError):
                found = self._get(path)
                if found is not None:
                    undo.append((f"{what} removed", partial(self._delete, path, _uid(found))))
            raise
        undo.append((f"{what} removed", partial(self._delete, path, _uid(made))))
        return True

    def _delete(self, path: str, uid: str) -> None:
        """Delete what this run made, checked by uid (not another object of the same name);
        a delete that timed out is read back before it is called failed."""
        current = self._get(path)
        if current is None:
            return  # already gone
        if uid and _uid(current) != uid:
            raise ServiceError(f"it is another object now (uid {_uid(current)}): left alone")
        body: Obj = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        if uid:
            body["preconditions"] = {"uid": uid}
        try:
            self.client.request("DELETE", path, body=body, content_type="application/json")
        except ServiceError:
            after = self._get(path)
            if after is not None and not after["metadata"].get("deletionTimestamp"):
                raise

    def _wait(self, plan: Plan, report: Report, result: Result) -> None:
        form = plan.form
        info = self.client.info()
        pods_path = info.path("pods", form.namespace)
        report(f"waiting for the {form.name} pod to run (up to {self.wait:.0f} s)")
        deadline = time.monotonic() + self.wait
        pods: list[Obj] = []
        while time.monotonic() < deadline:
            pods = self.client.request("GET", pods_path, {"labelSelector": f"app={form.name}"}).get(
                "items", []
            )
            if pods and all(p.get("status", {}).get("phase") == "Running" for p in pods):
                result.running = True
                report(f"{len(pods)} pod(s) running")
                break
            time.sleep(0.5)
        if not result.running:
            result.blocked_by = self._blocking_events(form.namespace, pods)
            report("not running yet: " + ("; ".join(result.blocked_by) or "no events yet"))
        if plan.example == "nginx":
            result.urls = self._urls(form)

    def _blocking_events(self, ns: str, pods: list[Obj]) -> list[str]:
        uids = {p["metadata"]["uid"] for p in pods}
        doc = self.client.request("GET", self.client.info().path("events", ns))
        return [f"{e.get('reason')}: {e.get('message')}" for e in doc.get("items") or []
                if e.get("type") == "Warning" and e.get("involvedObject", {}).get("uid") in uids]  # fmt: skip

    def _urls(self, form: NginxForm | MariaDBForm) -> list[str]:
        info = self.client.info()
        svc = self.client.request("GET", info.path("services", form.namespace, form.name))
        ports = [p["nodePort"] for p in svc["spec"].get("ports") or [] if p.get("nodePort")]
        nodes = self.client.request("GET", info.path("nodes")).get("items") or []
        ips = []
        for node in nodes:
            addresses = {
                a["type"]: a["address"] for a in node.get("status", {}).get("addresses") or []
            }
            ips.append(
                addresses.get("ExternalIP")
                or addresses.get("InternalIP")
                or node["metadata"]["name"]
            )
        return [f"http://{ip}:{port}" for port in ports for ip in ips]
