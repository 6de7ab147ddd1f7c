"""The examples' manifests, in the API versions the server serves: Deployments in
``extensions/v1beta1`` on 1.5/1.6 and ``apps/v1`` on modern servers; MariaDB's volume as
the in-tree ``rbd`` type where it exists, else a static Ceph CSI volume."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from kubeha_tui.kube.client import ServerInfo

from .forms import MariaDBForm, NginxForm

Obj = dict[str, Any]
PASSWORD_KEY = "password"
CSI_DRIVER = "rbd.csi.ceph.com"


def quantity(size: int) -> str:
    """Bytes as a Kubernetes quantity: 10737418240 -> 10Gi."""
    for suffix, unit in (("Ti", 1 << 40), ("Gi", 1 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)):
        if size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def deployment(
    info: ServerInfo, ns: str, name: str, pod_spec: Obj, replicas: int, **spec: Any
) -> Obj:
    labels = {"app": name}
    return {
        "apiVersion": info.workloads,
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
            **spec,
        },
    }


def nginx(info: ServerInfo, form: NginxForm) -> list[Obj]:
    container = {"name": form.name, "image": form.image, "ports": [{"containerPort": form.port}]}
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": form.name, "namespace": form.namespace, "labels": {"app": form.name}},
        "spec": {"type": "NodePort", "selector": {"app": form.name},
                 "ports": [{"port": form.port, "targetPort": form.port, "protocol": "TCP"}]},
    }  # fmt: skip
    pod = {"containers": [container]}
    return [deployment(info, form.namespace, form.name, pod, form.replicas), service]


@dataclass(frozen=True)
class CephAccess:
    """How pods reach the Ceph image: monitors, the client and its key's secret."""

    monitors: tuple[str, ...]
    user: str  # "admin"
    key_secret: str  # name of the Secret in the pod's namespace holding the key
    csi_class: str = ""  # a Ceph CSI StorageClass's name, on clusters without in-tree rbd
    cluster_id: str = ""  # the fsid, which ceph-csi calls clusterID


def ceph_key_secret(ns: str, name: str, user: str, key: str, csi: bool) -> Obj:
    """The secret pods use for the Ceph key: in-tree rbd wants ``key``, ceph-csi
    ``userID``/``userKey``."""
    data = {"userID": b64(user), "userKey": b64(key)} if csi else {"key": b64(key)}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": ns},
        "type": "Opaque" if csi else "kubernetes.io/rbd",
        "data": data,
    }


def password_secret(form: MariaDBForm, password: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": f"{form.name}-root", "namespace": form.namespace, "labels": {"app": form.name}},
        "type": "Opaque",
        "data": {PASSWORD_KEY: b64(password)},
    }  # fmt: skip


def mariadb(info: ServerInfo, form: MariaDBForm, ceph: CephAccess, password: str) -> list[Obj]:
    """The root password Secret, the volume (a static PV and its claim on CSI clusters)
    and the Deployment (one replica, Recreate: the volume mounts on one node at a time)."""
    out = [password_secret(form, password)]
    if info.in_tree_rbd:
        volume: Obj = {
            "name": "data",
            "rbd": {
                "monitors": list(ceph.monitors), "pool": form.pool, "image": form.volume,
                "user": ceph.user, "secretRef": {"name": ceph.key_secret}, "fsType": "ext4",
            },
        }  # fmt: skip
    else:
        pv_name = f"{form.namespace}-{form.name}-{form.volume}"
        out.append({
            "apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": pv_name, "labels": {"app": form.name}},
            "spec": {
                "capacity": {"storage": quantity(form.size_bytes)},
                "accessModes": ["ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Retain",
                "storageClassName": ceph.csi_class, "volumeMode": "Filesystem",
                "csi": {
                    "driver": CSI_DRIVER, "volumeHandle": form.volume, "fsType": "ext4",
                    "volumeAttributes": {"clusterID": ceph.cluster_id, "pool": form.pool,
                                         "staticVolume": "true", "imageFeatures": "layering"},
                    "nodeStageSecretRef": {"name": ceph.key_secret, "namespace": form.namespace},
                },
            },
        })  # fmt: skip
        out.append({
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": f"{form.name}-data", "namespace": form.namespace, "labels": {"app": form.name}},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": ceph.csi_class, "volumeName": pv_name,
                     "resources": {"requests": {"storage": out[-1]["spec"]["capacity"]["storage"]}}},
        })  # fmt: skip
        volume = {"name": "data", "persistentVolumeClaim": {"claimName": f"{form.name}-data"}}
    container = {
        "name": form.name, "image": form.image, "ports": [{"containerPort": 3306}],
        "env": [{"name": "MYSQL_ROOT_PASSWORD",
                 "valueFrom": {"secretKeyRef": {"name": f"{form.name}-root", "key": PASSWORD_KEY}}}],
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/mysql"}],
    }  # fmt: skip
    pod = {"containers": [container], "volumes": [volume]}
    out.append(deployment(info, form.namespace, form.name, pod, 1, strategy={"type": "Recreate"}))
    return out
