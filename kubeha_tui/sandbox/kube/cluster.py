"""The sandbox Kubernetes cluster: API server + controller, seeded like the stack.

Run: ``python -m kubeha_tui.sandbox.kube.cluster --kubeconfig PATH [--pose 1.5|modern]
[--ceph-conf FILE] [--pods N --namespaces M] [--churn EVENTS_PER_S]``; prints
``KUBECONFIG=PATH`` once it serves.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import copy
import hashlib
import json
import logging
import random
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .api import KubeAPI
from .controller import Controller, ImageCheck, LockCheck
from .resources import POSES
from .server import APIServer, Router, User
from .store import Obj, Store, key_of

log = logging.getLogger(__name__)

MON_LABELS = {"app": "ceph", "daemon": "mon"}  # ceph-docker's mon pods
STACK_NODES = [
    ("127.0.1.1", "fr1", "true"),
    ("127.0.1.2", "fr1", "true"),
    ("127.0.1.3", "fr2", "false"),
]


def node(name: str, region: str, storage: str, version: str) -> Obj:
    ident = hashlib.md5(name.encode()).hexdigest()  # a stable machine id per node
    return {
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, "type": region, "storage": storage}},
        "spec": {},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
            "addresses": [{"type": "InternalIP", "address": name}, {"type": "Hostname", "address": name}],
            "capacity": {"cpu": "2", "memory": "4046852Ki", "pods": "110"},
            "nodeInfo": {
                "machineID": ident, "systemUUID": ident, "bootID": ident, "kernelVersion": "4.9.24-coreos",
                "osImage": "Container Linux by CoreOS 1353.7.0 (Ladybug)", "containerRuntimeVersion": "docker://1.12.6",
                "kubeletVersion": version, "kubeProxyVersion": version, "operatingSystem": "linux", "architecture": "amd64",
            },
        },
    }  # fmt: skip


def deployment(name: str, image: str, replicas: int, labels: dict[str, str], port: int) -> Obj:
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {"name": name, "image": image, "ports": [{"containerPort": port}]}
                    ]
                },
            },
        },
    }


@dataclass
class Sandbox:
    api: KubeAPI
    controller: Controller
    server: APIServer

    def close(self) -> None:
        self.controller.stop()
        self.server.close()


def create(api: KubeAPI, plural: str, ns: str, obj: Obj) -> Obj:
    return api.create(api.ref(plural, ns), obj)


def seed_stack(api: KubeAPI, ceph_conf: Path | None = None, keyring: Path | None = None) -> None:
    """Three nodes named by IP (labels type/storage), the stack's namespaces and workloads."""
    for name, region, storage in STACK_NODES:
        create(api, "nodes", "", node(name, region, storage, api.pose.git_version))
    for ns in ("default", "kube-system", "ceph"):
        create(api, "namespaces", "", {"metadata": {"name": ns}})
    create(api, "services", "default", {
        "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"ports": [{"name": "https", "port": 443, "targetPort": 6443}]},
    })  # fmt: skip
    workloads = [
        ("kube-system", "kube-dns", "gcr.io/google_containers/kubedns-amd64:1.9", 1, 53),
        ("ceph", "ceph-mon", "ceph/daemon:tag-build-master-jewel-ubuntu-16.04", 3, 6789),
    ]
    for ns, name, image, replicas, port in workloads:
        labels = MON_LABELS if name == "ceph-mon" else {"app": name}
        doc = deployment(name, image, replicas, labels, port)
        if (
            name == "ceph-mon" and ceph_conf and keyring
        ):  # /etc/ceph from the secret, as on the stack
            doc["spec"]["template"]["spec"]["volumes"] = [
                {"name": "ceph-conf", "secret": {"secretName": "ceph-conf-combined"}}
            ]
            doc["spec"]["template"]["spec"]["containers"][0]["volumeMounts"] = [
                {"name": "ceph-conf", "mountPath": "/etc/ceph", "readOnly": True}]  # fmt: skip
        create(api, "deployments", ns, doc)
        headless = {"clusterIP": "None"} if name == "ceph-mon" else {}
        create(api, "services", ns, {"metadata": {"name": name, "labels": labels},
               "spec": {"selector": labels, "ports": [{"port": port}], **headless}})  # fmt: skip
    if ceph_conf and keyring:
        files = {
            "ceph.conf": ceph_conf.read_bytes(),
            "ceph.client.admin.keyring": keyring.read_bytes(),
        }
        create(api, "secrets", "ceph", {
            "metadata": {"name": "ceph-conf-combined"},
            "data": {k: base64.b64encode(v).decode() for k, v in files.items()},
        })  # fmt: skip
    if ceph_conf and not api.pose.in_tree_rbd:  # ceph-csi, as a modern stack would run it
        create(api, "storageclasses", "", {
            "metadata": {"name": "csi-rbd-sc"}, "provisioner": "rbd.csi.ceph.com",
            "parameters": {"pool": "rbd", "imageFeatures": "layering"}, "reclaimPolicy": "Delete",
        })  # fmt: skip


def seed_large(api: KubeAPI, controller: Controller, pods: int, namespaces: int) -> None:
    """``pods`` running pods spread over ``namespaces`` namespaces, without controller churn."""
    nodes = [n["metadata"]["name"] for n in api.store.items("nodes")]
    for i in range(namespaces):
        create(api, "namespaces", "", {"metadata": {"name": f"team-{i:03d}"}})
    for i in range(pods):
        ns = f"team-{i % namespaces:03d}"
        pod = create(api, "pods", ns, {
            "metadata": {"name": f"web-{i:05d}", "labels": {"app": f"web-{i % 50}"}},
            "spec": {"nodeName": nodes[i % len(nodes)],
                     "containers": [{"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]},
        })  # fmt: skip
        api.store.put("pods", controller.running(pod), "MODIFIED")


def churn(api: KubeAPI, per_second: float, stop: threading.Event) -> None:
    """Modify random pods (an annotation) at ``per_second`` events a second."""
    while not stop.wait(1 / per_second):
        pods = api.store.items("pods")
        if not pods:
            continue
        pod = copy.deepcopy(random.choice(pods))
        annotations = pod["metadata"].setdefault("annotations", {})
        annotations["sandbox/tick"] = str(int(annotations.get("sandbox/tick", "0")) + 1)
        pod["metadata"].pop("resourceVersion")
        if api.store.get("pods", key_of(pod)) is not None:
            api.store.put("pods", pod, "MODIFIED")


class CephHandle:
    """One librados connection to the sandbox Ceph for the controller's checks, opened on
    first use, reopened after an error, and shut down at exit: a handle left to the
    interpreter's teardown aborted the process (boost::bad_get) after its cluster was gone."""

    def __init__(self, conf: Path, client_id: str) -> None:
        self.conf, self.client_id = conf, client_id
        self.lock = threading.Lock()
        self._cluster: Any = None
        atexit.register(self.close)

    def get(self) -> Any:
        import rados  # noqa: PLC0415 - Debian's bindings, optional for the rest

        if self._cluster is None:
            cluster = rados.Rados(conffile=str(self.conf), rados_id=self.client_id)
            cluster.conf_set("rados_mon_op_timeout", "5")
            cluster.conf_set("rados_osd_op_timeout", "5")
            cluster.connect(timeout=5)
            self._cluster = cluster
        return self._cluster

    def drop(self) -> None:
        cluster, self._cluster = self._cluster, None
        if cluster is not None:
            with contextlib.suppress(Exception):
                cluster.shutdown()

    def close(self) -> None:
        with self.lock:
            self.drop()


def ceph_checker(conf: Path, client_id: str = "admin") -> ImageCheck:
    """Whether an RBD image exists in the sandbox Ceph (None when Ceph cannot be asked)."""
    handle = CephHandle(conf, client_id)

    def exists(pool: str, image: str) -> bool | None:
        import rados  # noqa: PLC0415 - Debian's bindings, optional for the rest
        import rbd  # noqa: PLC0415

        with handle.lock:
            try:
                with handle.get().open_ioctx(pool) as ioctx:
                    try:
                        rbd.Image(ioctx, image, read_only=True).close()
                        return True
                    except rbd.ImageNotFound:
                        return False
            except (rados.Error, rbd.Error) as exc:
                log.info("cannot check rbd image %s/%s: %s", pool, image, exc)
                if isinstance(exc, rados.ObjectNotFound):
                    return False  # no such pool
                handle.drop()
                return None

    return exists


def ceph_lockers(conf: Path, client_id: str = "admin") -> LockCheck:
    """The lock cookies held on an RBD image in the sandbox Ceph (() when it cannot tell)."""
    handle = CephHandle(conf, client_id)

    def lockers(pool: str, image: str) -> tuple[str, ...]:
        import rados  # noqa: PLC0415 - Debian's bindings, optional for the rest
        import rbd  # noqa: PLC0415

        with handle.lock:
            try:
                with (
                    handle.get().open_ioctx(pool) as ioctx,
                    rbd.Image(ioctx, image, read_only=True) as img,
                ):
                    found = img.list_lockers()  # [] when unlocked, else a dict
                    held = found.get("lockers", []) if isinstance(found, dict) else []
                    return tuple(str(cookie) for _client, cookie, _addr in held)
            except (rados.Error, rbd.Error) as exc:
                if not isinstance(exc, (rados.ObjectNotFound, rbd.ImageNotFound)):
                    handle.drop()
                return ()

    return lockers


def watch_faults(sandbox: Sandbox, path: Path, stop: threading.Event) -> None:
    """``{"apiserver_down": true}`` in ``path`` (staged by ``kubeha-tui sandbox break``)
    closes the API's port, as a dead kube-apiserver container does; without it the API
    serves again on the same port."""
    port = sandbox.server.httpd.server_address[1]
    down = False
    while not stop.wait(0.1):
        try:
            want = bool(json.loads(path.read_text()).get("apiserver_down"))
        except (OSError, ValueError):
            want = False
        if want and not down:
            sandbox.server.close()
            down = True
        elif down and not want:
            sandbox.server = APIServer(Router(sandbox.api, sandbox.server.router.users), port=port)
            down = False


def kubeconfig(url: str, token: str | None = None) -> Obj:
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "sandbox", "cluster": {"server": url}}],
        "users": [{"name": "sandbox-admin", "user": {"token": token} if token else {}}],
        "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": "sandbox-admin"}}],
        "current-context": "sandbox",
    }  # fmt: skip


def start(
    pose: str = "modern",
    *,
    port: int = 0,
    ceph_conf: Path | None = None,
    keyring: Path | None = None,
    node_ports: tuple[int, int] = (30000, 32767),
    users: dict[str, User] | None = None,
    start_delay: float = 1.0,
    tick: float = 0.25,
    grace: float = 1.0,
    history: int = 50_000,
    seed: bool = True,
) -> Sandbox:
    api = KubeAPI(POSES[pose], Store(history), node_ports=node_ports)
    checker = ceph_checker(ceph_conf) if ceph_conf else None
    controller = Controller(api, checker, start_delay, tick, grace)
    controller.image_lockers = ceph_lockers(ceph_conf) if ceph_conf else controller.image_lockers
    if seed:
        seed_stack(api, ceph_conf, keyring)
    controller.start()
    server = APIServer(Router(api, users), port=port)
    return Sandbox(api, controller, server)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", type=Path, required=True, help="kubeconfig to write")
    parser.add_argument("--pose", choices=sorted(POSES), default="modern")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ceph-conf", type=Path)
    parser.add_argument("--keyring", type=Path)
    parser.add_argument("--node-ports", default="30000-32767", help="NodePort range LOW-HIGH")
    parser.add_argument("--pods", type=int, default=0, help="generate this many running pods")
    parser.add_argument("--namespaces", type=int, default=200)
    parser.add_argument("--churn", type=float, default=0.0, help="pod events per second")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    low, high = (int(p) for p in args.node_ports.split("-"))
    sandbox = start(args.pose, port=args.port, ceph_conf=args.ceph_conf, keyring=args.keyring,
                    node_ports=(low, high))  # fmt: skip
    if args.pods:
        seed_large(sandbox.api, sandbox.controller, args.pods, args.namespaces)
    stop = threading.Event()
    if args.churn:
        threading.Thread(target=churn, args=(sandbox.api, args.churn, stop), daemon=True).start()
    partial = args.kubeconfig.with_name(args.kubeconfig.name + ".part")
    partial.write_text(json.dumps(kubeconfig(sandbox.server.url), indent=2) + "\n")
    partial.replace(args.kubeconfig)  # appears whole: the launcher waits for it
    print(f"KUBECONFIG={args.kubeconfig}", flush=True)
    faults = args.kubeconfig.with_name("kube-faults.json")
    threading.Thread(target=watch_faults, args=(sandbox, faults, stop), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    sandbox.close()


if __name__ == "__main__":
    main()
