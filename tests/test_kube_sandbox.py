"""The sandbox Kubernetes API is faithful enough for standard clients: the ``kubernetes``
package's generated API and Debian's kubectl, unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from kubeha_tui.sandbox.ceph import CephSandbox
from kubeha_tui.sandbox.kube.cluster import Sandbox, kubeconfig

from .support.kube import kube_sandbox
from .support.waiting import wait_for

KUBECTL = Path(sys.executable).parent.parent / "kubernetes-client/usr/bin/kubectl"


@pytest.fixture
def kube(tmp_path: Path) -> Iterator[Sandbox]:
    with kube_sandbox("modern", node_ports=(30000, 30010)) as sandbox:
        (tmp_path / "kubeconfig").write_text(json.dumps(kubeconfig(sandbox.server.url)))
        yield sandbox


@pytest.fixture
def api(kube: Sandbox, tmp_path: Path) -> k8s.ApiClient:
    cfg = k8s.Configuration()
    k8s_config.load_kube_config(str(tmp_path / "kubeconfig"), client_configuration=cfg)  # type: ignore[no-untyped-call]
    return k8s.ApiClient(cfg)


def deployment(
    name: str, labels: dict[str, str], selector: dict[str, str] | None = None
) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": labels if selector is None else selector},
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}},
        },
    }  # fmt: skip


def apis(api: k8s.ApiClient) -> tuple[Any, Any]:
    """The generated AppsV1Api and CoreV1Api, untyped: tests pass plain dicts as bodies."""
    return k8s.AppsV1Api(api), k8s.CoreV1Api(api)


def status_of(exc: k8s.ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body or "{}")
    return body


def test_generated_client_create_get_conflict_and_status_bodies(
    api: k8s.ApiClient, kube: Sandbox
) -> None:
    apps, core = apis(api)
    created = apps.create_namespaced_deployment("default", deployment("web", {"app": "web"}))
    assert created.metadata.uid and created.spec.replicas == 1
    with pytest.raises(k8s.ApiException) as exists:
        apps.create_namespaced_deployment("default", deployment("web", {"app": "web"}))
    assert exists.value.status == 409 and status_of(exists.value)["reason"] == "AlreadyExists"

    stale = apps.read_namespaced_deployment("web", "default")
    apps.patch_namespaced_deployment("web", "default", {"spec": {"replicas": 2}})
    stale.spec.replicas = 3
    with pytest.raises(k8s.ApiException) as conflict:
        apps.replace_namespaced_deployment("web", "default", stale)
    assert (
        conflict.value.status == 409
        and "the object has been modified" in status_of(conflict.value)["message"]
    )

    with pytest.raises(k8s.ApiException) as missing:
        core.read_namespaced_pod("nope", "default")
    assert status_of(missing.value) | {"details": None} == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'pods "nope" not found', "reason": "NotFound", "code": 404, "details": None,
    }  # fmt: skip
    wait_for(lambda: len(core.list_namespaced_pod("default", label_selector="app=web").items) == 2,
             what="two pods of web")  # fmt: skip
    assert all(p.status.phase == "Running" for p in core.list_namespaced_pod("default").items)


def test_validation_answers_422_with_the_fields_at_fault(api: k8s.ApiClient) -> None:
    apps, core = apis(api)
    with pytest.raises(k8s.ApiException) as bad_selector:
        apps.create_namespaced_deployment(
            "default", deployment("web", {"app": "web"}, {"app": "other"})
        )
    status = status_of(bad_selector.value)
    assert status["code"] == 422 and status["reason"] == "Invalid"
    assert [c["field"] for c in status["details"]["causes"]] == ["spec.template.metadata.labels"]
    with pytest.raises(k8s.ApiException) as bad_pod:
        core.create_namespaced_pod(
            "default", {"metadata": {"name": "Bad_Name"}, "spec": {"containers": [{"name": "c"}]}}
        )
    fields = [c["field"] for c in status_of(bad_pod.value)["details"]["causes"]]
    assert fields == ["metadata.name", "spec.containers[0].image"]
    assert status_of(bad_pod.value)["message"].startswith(
        'Pod "Bad_Name" is invalid: [metadata.name: Invalid value'
    )


def test_node_ports_are_allocated_from_the_range_and_checked(api: k8s.ApiClient) -> None:
    _, core = apis(api)
    svc = core.create_namespaced_service("default", {
        "metadata": {"name": "web"}, "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80}]},
    })  # fmt: skip
    port = svc.spec.ports[0].node_port
    assert 30000 <= port <= 30010 and svc.spec.cluster_ip.startswith("10.3.")
    for wanted, why in (
        (port, "provided port is already allocated"),
        (40000, "range of valid ports is 30000-30010"),
    ):
        with pytest.raises(k8s.ApiException) as taken:
            core.create_namespaced_service("default", {
                "metadata": {"name": f"other-{wanted}"},
                "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": wanted}]},
            })  # fmt: skip
        assert taken.value.status == 422 and why in status_of(taken.value)["message"]


def test_strategic_merge_patch_merges_containers_by_name(api: k8s.ApiClient, kube: Sandbox) -> None:
    apps, _ = apis(api)
    apps.create_namespaced_deployment("default", deployment("web", {"app": "web"}))
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox"},
                                                            {"name": "web", "image": "nginx:1.27"}]}}}}  # fmt: skip
    patched = apps.patch_namespaced_deployment("web", "default", patch)
    images = {c.name: c.image for c in patched.spec.template.spec.containers}
    assert images == {"web": "nginx:1.27", "sidecar": "busybox"}
    assert patched.metadata.generation == 2


def test_deleting_a_deployment_removes_its_replica_sets_and_pods(
    api: k8s.ApiClient, kube: Sandbox
) -> None:
    apps, _ = apis(api)
    apps.create_namespaced_deployment("default", deployment("web", {"app": "web"}))
    wait_for(lambda: kube.api.store.items("pods", "default"), what="a pod")
    apps.delete_namespaced_deployment("web", "default")
    wait_for(lambda: not kube.api.store.items("pods", "default") and not kube.api.store.items("replicasets", "default"),
             what="pods and replica sets collected")  # fmt: skip


def test_the_15_pose_serves_deployments_in_extensions_only(tmp_path: Path) -> None:
    with kube_sandbox("1.5") as sandbox:
        cfg = k8s.Configuration()
        cfg.host = sandbox.server.url
        api = k8s.ApiClient(cfg)
        groups = {
            g.name: [v.group_version for v in g.versions]
            for g in k8s.ApisApi(api).get_api_versions().groups
        }
        assert groups["extensions"] == ["extensions/v1beta1"] and "apps" not in groups
        with pytest.raises(k8s.ApiException) as gone:
            k8s.AppsV1Api(api).list_deployment_for_all_namespaces()
        assert gone.value.status == 404
        listed: Any = k8s.CoreV1Api(api).list_pod_for_all_namespaces(limit=1)
        assert listed.metadata._continue is None  # no chunking before 1.9: everything at once


@pytest.mark.ceph
def test_a_pod_on_a_missing_rbd_image_stays_pending_with_an_event(
    tmp_path: Path, ceph_cluster: CephSandbox
) -> None:
    with kube_sandbox("1.5", ceph=ceph_cluster) as sandbox:
        api = sandbox.api
        volume = {"name": "data", "rbd": {"monitors": ["ceph-mon.ceph:6789"], "pool": "rbd", "image": "no-such-image",
                                          "user": "admin", "fsType": "ext4"}}  # fmt: skip
        api.create(api.ref("pods", "default"), {
            "metadata": {"name": "db"},
            "spec": {"volumes": [volume], "containers": [{"name": "db", "image": "mariadb:10",
                     "volumeMounts": [{"name": "data", "mountPath": "/var/lib/mysql"}]}]},
        })  # fmt: skip

        def events() -> list[str]:
            return [
                e["message"]
                for e in api.store.items("events", "default")
                if e["reason"] == "FailedMount"
            ]

        wait_for(events, what="a FailedMount event")
        assert "rbd image rbd/no-such-image does not exist" in events()[0]
        pod = api.store.get("pods", ("default", "db"))
        assert pod is not None and pod["status"]["phase"] == "Pending"


def kubectl(tmp_path: Path, *args: str) -> str:
    done = subprocess.run([str(KUBECTL), "--kubeconfig", str(tmp_path / "kubeconfig"), *args],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, f"kubectl {' '.join(args)}: {done.stderr}"
    return done.stdout


def test_debians_kubectl_gets_describes_creates_and_deletes(kube: Sandbox, tmp_path: Path) -> None:
    assert "v1.20" in kubectl(tmp_path, "version", "--client", "--short")
    assert (
        kubectl(tmp_path, "create", "deployment", "nginx", "--image=nginx:1.25").strip()
        == "deployment.apps/nginx created"
    )
    kubectl(tmp_path, "expose", "deployment", "nginx", "--type=NodePort", "--port=80")
    wait_for(
        lambda: "Running" in kubectl(tmp_path, "get", "pods", "-l", "app=nginx"),
        what="nginx running",
    )
    pods = kubectl(tmp_path, "get", "pods", "--all-namespaces").splitlines()
    assert pods[0].split() == [
        "NAMESPACE",
        "NAME",
        "READY",
        "STATUS",
        "RESTARTS",
        "AGE",
        "IP",
        "NODE",
    ]
    assert len(pods) == 1 + 5  # ceph-mon x3, kube-dns, nginx
    services = kubectl(tmp_path, "get", "services", "-n", "default")
    assert "nginx        NodePort" in services and "80:300" in services
    described = kubectl(tmp_path, "describe", "service", "nginx")
    assert (
        "Type:                     NodePort" in described
        or "Type:              NodePort" in described
    )
    assert "Endpoints:" in described and "10.32." in described
    assert (
        kubectl(tmp_path, "delete", "deployment", "nginx").strip()
        == 'deployment.apps "nginx" deleted'
    )
    wait_for(
        lambda: "nginx" not in kubectl(tmp_path, "get", "pods", "-n", "default"),
        what="nginx pods gone",
    )
