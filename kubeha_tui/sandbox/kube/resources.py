"""What the sandbox API serves: resource types per group version, as discovery lists them.

Two poses: ``modern`` (v1.31, apps/v1) and ``1.5`` (v1.5.1, Deployments and
ReplicaSets only in extensions/v1beta1, no chunked lists, no bookmarks).
"""

from __future__ import annotations

from dataclasses import dataclass

VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


@dataclass(frozen=True)
class Resource:
    plural: str
    kind: str
    namespaced: bool = True
    short: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    has_status: bool = True
    categories: tuple[str, ...] = ()  # discovery's categories (1.7+), e.g. "all"

    @property
    def singular(self) -> str:
        return self.kind.lower()


CORE = [
    Resource("namespaces", "Namespace", namespaced=False, short=("ns",), subresources=("status",)),
    Resource("nodes", "Node", namespaced=False, short=("no",), subresources=("status",)),
    Resource(
        "pods",
        "Pod",
        short=("po",),
        subresources=("status", "log", "eviction"),
        categories=("all",),
    ),
    Resource("services", "Service", short=("svc",), subresources=("status",), categories=("all",)),
    Resource("endpoints", "Endpoints", short=("ep",), has_status=False),
    Resource("secrets", "Secret", has_status=False),
    Resource("configmaps", "ConfigMap", short=("cm",), has_status=False),
    Resource("events", "Event", short=("ev",), has_status=False),
    Resource("persistentvolumeclaims", "PersistentVolumeClaim", short=("pvc",)),
    Resource("persistentvolumes", "PersistentVolume", namespaced=False, short=("pv",)),
]
WORKLOADS = [
    Resource("deployments", "Deployment", short=("deploy",), subresources=("status", "scale"),
             categories=("all",)),
    Resource("replicasets", "ReplicaSet", short=("rs",), subresources=("status", "scale"),
             categories=("all",)),
]  # fmt: skip
DISCOVERY_V1 = [Resource("endpointslices", "EndpointSlice", has_status=False)]
STORAGE = [Resource("storageclasses", "StorageClass", namespaced=False, short=("sc",))]
POLICY = [Resource("poddisruptionbudgets", "PodDisruptionBudget", short=("pdb",),
                   subresources=("status",))]  # fmt: skip


@dataclass(frozen=True)
class Pose:
    git_version: str
    groups: dict[str, dict[str, list[Resource]]]  # group -> version -> resources (core = "")
    chunking: bool  # limit/continue (1.9+)
    bookmarks: bool  # allowWatchBookmarks (1.15+)
    in_tree_rbd: bool  # the rbd volume type (removed in 1.31)
    schemas: str = ""  # the kubernetes-validate schema set of this version ("": none shipped)
    managed_fields: bool = False  # managedFields and server-side apply (1.18+)

    @property
    def major_minor(self) -> tuple[str, str]:
        major, minor = self.git_version.lstrip("v").split(".")[:2]
        return major, minor

    def lookup(self, group: str, version: str, plural: str) -> Resource | None:
        for res in self.groups.get(group, {}).get(version, []):
            if res.plural == plural:
                return res
        return None


POSES = {
    "modern": Pose(
        "v1.31.4",
        {
            "": {"v1": CORE},
            "apps": {"v1": WORKLOADS},
            "storage.k8s.io": {"v1": STORAGE},
            "discovery.k8s.io": {"v1": DISCOVERY_V1},
            "policy": {"v1": POLICY},
        },
        chunking=True,
        bookmarks=True,
        in_tree_rbd=False,
        schemas="v1.31.0",
        managed_fields=True,
    ),
    "1.5": Pose(
        "v1.5.1",
        {
            "": {"v1": CORE},
            "extensions": {"v1beta1": WORKLOADS},
            "storage.k8s.io": {"v1beta1": STORAGE},
            "policy": {"v1beta1": POLICY},
        },
        chunking=False,
        bookmarks=False,
        in_tree_rbd=True,
    ),
}


def api_version(group: str, version: str) -> str:
    return f"{group}/{version}" if group else version


def resource_list(
    group: str,
    version: str,
    resources: list[Resource],
    categories: bool = True,
    policy: str = "v1",
) -> dict[str, object]:
    """An APIResourceList; ``categories``: a server of 1.7+ (categories, and the group
    and version of subresources served from another group: pods/eviction in ``policy``)."""
    out: list[dict[str, object]] = []
    for res in resources:
        out.append(
            {
                "name": res.plural,
                "singularName": res.singular,
                "namespaced": res.namespaced,
                "kind": res.kind,
                "verbs": VERBS,
                **({"shortNames": list(res.short)} if res.short else {}),
                **({"categories": list(res.categories)} if categories and res.categories else {}),
            }
        )
        for sub in res.subresources:
            verbs = {"log": ["get"], "eviction": ["create"]}.get(sub, ["get", "patch", "update"])
            kind = {"scale": "Scale", "eviction": "Eviction"}.get(sub, res.kind)
            elsewhere = {"group": "policy", "version": policy} if sub == "eviction" else {}
            out.append(
                {
                    "name": f"{res.plural}/{sub}",
                    "singularName": "",
                    "namespaced": res.namespaced,
                    **(elsewhere if categories else {}),
                    "kind": kind,
                    "verbs": verbs,
                }
            )
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": api_version(group, version),
        "resources": out,
    }


def group_doc(group: str, versions: list[str]) -> dict[str, object]:
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {
        "kind": "APIGroup",
        "apiVersion": "v1",
        "name": group,
        "versions": gvs,
        "preferredVersion": gvs[0],
    }
