"""The sandbox Kubernetes API is faithful enough for standard clients: the ``kubernetes``
package's generated API and Debian's kubectl, unchanged."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from kubeha_tui.sandbox.ceph import CephSandbox
from kubeha_tui.sandbox.kube import printers
from kubeha_tui.sandbox.kube.api import KubeAPI
from kubeha_tui.sandbox.kube.cluster import Sandbox, kubeconfig
from kubeha_tui.sandbox.kube.controller import Controller
from kubeha_tui.sandbox.kube.resources import POSES
from kubeha_tui.sandbox.kube.store import Store

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
    assert pods[0].split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    wide = kubectl(tmp_path, "get", "pods", "-n", "default", "-o", "wide").splitlines()
    assert wide[0].split() == [
        "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED", "NODE",
        "READINESS", "GATES",
    ]  # fmt: skip
    assert "10.32." in wide[1] and "<none>" in wide[1]
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


# -- kubectl's printers, the sandbox's own (pkg/printers/internalversion printPod) -----

T0 = "2026-01-01T00:00:00Z"


def _pod(
    containers: list[dict[str, Any]],
    init: list[dict[str, Any]] | None = None,
    phase: str = "Running",
    **extra: Any,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": f"c{i}"} for i in range(len(containers))]}
    if init is not None:
        spec["initContainers"] = [{"name": f"i{i}"} for i in range(len(init))]
    status: dict[str, Any] = {"phase": phase, "containerStatuses": containers}
    if init is not None:
        status["initContainerStatuses"] = init
    status.update(extra.pop("status", {}))
    return {"metadata": {"name": "p", **extra}, "spec": spec, "status": status}


RUNNING = {"ready": True, "state": {"running": {"startedAt": T0}}, "restartCount": 0}
WAITING = {"ready": False, "state": {"waiting": {"reason": "PodInitializing"}}, "restartCount": 0}


def _exited(code: int, reason: str = "", signal: int = 0) -> dict[str, Any]:
    term: dict[str, Any] = {"exitCode": code}
    if reason:
        term["reason"] = reason
    if signal:
        term["signal"] = signal
    return {"ready": False, "state": {"terminated": term}, "restartCount": 0}


@pytest.mark.parametrize(
    ("pod", "ready", "status"),
    [
        (_pod([RUNNING, RUNNING]), "2/2", "Running"),
        (_pod([WAITING], init=[{"state": {"running": {}}, "restartCount": 0}], phase="Pending"),
         "0/1", "Init:0/1"),
        (_pod([WAITING], init=[_exited(0), {"state": {"waiting": {"reason": "PodInitializing"}}}],
              phase="Pending"), "0/1", "Init:1/2"),
        (_pod([WAITING], init=[{"state": {"waiting": {"reason": "CrashLoopBackOff"}},
                                "restartCount": 4}], phase="Pending"),
         "0/1", "Init:CrashLoopBackOff"),
        (_pod([WAITING], init=[_exited(1)], phase="Pending"), "0/1", "Init:ExitCode:1"),
        (_pod([WAITING], init=[_exited(137, signal=9)], phase="Pending"), "0/1", "Init:Signal:9"),
        (_pod([WAITING], init=[_exited(1, "Error")], phase="Pending"), "0/1", "Init:Error"),
        (_pod([_exited(1)], phase="Failed"), "0/1", "ExitCode:1"),
        (_pod([_exited(0, "Completed")], phase="Succeeded"), "0/1", "Completed"),
        (_pod([{"ready": False, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "restartCount": 5}]), "0/1", "CrashLoopBackOff"),
        # the first container's reason wins (the loop runs backwards)
        (_pod([{"state": {"waiting": {"reason": "ErrImagePull"}}},
               {"state": {"waiting": {"reason": "ContainerCreating"}}}], phase="Pending"),
         "0/2", "ErrImagePull"),
        # a completed container next to a running one: Running once the pod is Ready
        (_pod([_exited(0, "Completed"), RUNNING],
              status={"conditions": [{"type": "Ready", "status": "True"}]}), "1/2", "Running"),
        (_pod([_exited(0, "Completed"), RUNNING]), "1/2", "NotReady"),
        (_pod([RUNNING], deletionTimestamp=T0), "1/1", "Terminating"),
        (_pod([_exited(0, "Completed")], phase="Succeeded", deletionTimestamp=T0), "0/1",
         "Completed"),
        (_pod([RUNNING], deletionTimestamp=T0, status={"reason": "NodeLost"}), "1/1", "Unknown"),
        (_pod([], phase="Failed", status={"reason": "Evicted"}), "0/0", "Evicted"),
    ],
)  # fmt: skip
def test_sandbox_pod_printer_matches_kubectl(pod: dict[str, Any], ready: str, status: str) -> None:
    got_ready, got_status, _ = printers.pod_columns(pod)
    assert (got_ready, got_status) == (ready, status)


def test_sandbox_printer_restarts_say_how_long_ago() -> None:
    crashed = {
        "ready": True, "state": {"running": {}}, "restartCount": 3,
        "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-01-01T00:00:00Z"}},
    }  # fmt: skip
    now = datetime(2026, 1, 1, 0, 5, 0, tzinfo=UTC)
    assert printers.pod_columns(_pod([crashed]), now=now)[2] == "3 (5m ago)"
    assert printers.pod_columns(_pod([RUNNING]), now=now)[2] == "0"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(-2, "<invalid>"), (-1.5, "0s"), (119, "119s"), (120, "2m"), (125, "2m5s"), (600, "10m"),
     (3 * 3600, "3h"), (3 * 3600 + 60, "3h1m"), (47 * 3600, "47h"), (50 * 3600, "2d2h"),
     (8 * 86400, "8d"), (730 * 86400, "2y"), (731 * 86400, "2y1d"), (9 * 365 * 86400, "9y")],
)  # fmt: skip
def test_sandbox_human_duration_is_apimachinerys(seconds: float, text: str) -> None:
    assert printers.human_duration(seconds) == text


def test_sandbox_node_and_wide_columns() -> None:
    node = {
        "metadata": {"name": "n1", "labels": {"node-role.kubernetes.io/control-plane": ""}},
        "spec": {"unschedulable": True},
        "status": {"conditions": [{"type": "Ready", "status": "False"}],
                   "addresses": [{"type": "InternalIP", "address": "127.0.1.1"}],
                   "nodeInfo": {"kubeletVersion": "v1.31.4", "osImage": "CoreOS"}},
    }  # fmt: skip
    doc = printers.table("nodes", [node], {}, "None")
    cells = dict(
        zip([c["name"] for c in doc["columnDefinitions"]], doc["rows"][0]["cells"], strict=True)
    )
    assert cells["Status"] == "NotReady,SchedulingDisabled"
    assert cells["Roles"] == "control-plane" and cells["Internal-IP"] == "127.0.1.1"
    wide = {c["name"] for c in doc["columnDefinitions"] if c["priority"] == 1}
    assert {"Internal-IP", "OS-Image", "Kernel-Version", "Container-Runtime"} <= wide


def test_failed_mounts_are_retried_with_the_kubelets_backoff() -> None:
    """One FailedMount count per retry, retries 0.5 s apart and doubling (a fake clock)."""
    api = KubeAPI(POSES["modern"], Store())
    controller = Controller(api, start_delay=0)
    clock = [100.0]
    controller.clock = lambda: clock[0]
    api.create(api.ref("namespaces"), {"metadata": {"name": "default"}})
    api.create(api.ref("nodes"), {"metadata": {"name": "127.0.1.1"}, "status": {}})
    api.create(api.ref("pods", "default"), {
        "metadata": {"name": "db"},
        "spec": {"volumes": [{"name": "creds", "secret": {"secretName": "missing"}}],
                 "containers": [{"name": "db", "image": "mariadb:10"}]},
    })  # fmt: skip

    def count_after(seconds: float) -> int:
        clock[0] = 100.0 + seconds
        controller.reconcile()
        found = [e for e in api.store.items("events", "default") if e["reason"] == "FailedMount"]
        return int(found[0]["count"]) if found else 0

    controller.reconcile()  # scheduled
    counts = [count_after(t) for t in (0.0, 0.1, 0.4, 0.5, 1.0, 1.5, 3.4, 3.5, 7.5)]
    assert counts == [1, 1, 1, 2, 2, 3, 3, 4, 5]
    (failed,) = [e for e in api.store.items("events", "default") if e["reason"] == "FailedMount"]
    assert 'secret "missing" not found' in failed["message"] and failed["type"] == "Warning"


def test_pod_ips_are_unique_when_two_threads_start_pods_at_once() -> None:
    """seed_large starts pods from its own thread while the controller's loop runs: one
    generator shared by both raised "generator already executing" (a CI failure)."""
    controller = Controller(KubeAPI(POSES["modern"], Store()), start_delay=0)
    pod = {"metadata": {"name": "p"}, "spec": {"containers": []}, "status": {}}
    found: list[str] = []
    errors: list[BaseException] = []
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, to meet the race
    try:

        def start_many() -> None:
            try:
                found.extend(controller.running(pod)["status"]["podIP"] for _ in range(3000))
            except BaseException as error:  # the test reports it
                errors.append(error)

        threads = [threading.Thread(target=start_many) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert errors == [] and len(found) == len(set(found)) == 12000


def test_the_1_5_pose_answers_as_1_5_did() -> None:
    """No fields newer than 1.5, and extensions/v1beta1 Deployments take their template's
    labels when they have none (1.5's defaulting)."""
    with kube_sandbox("1.5") as sandbox:
        api = sandbox.api
        api.create(api.ref("deployments", "default"), {
            "metadata": {"name": "web"},
            "spec": {"template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx"}]}}},
        })  # fmt: skip
        dep = api.list(api.ref("deployments", "default"), {})["items"][0]
        assert dep["apiVersion"] == "extensions/v1beta1"
        assert dep["metadata"]["labels"] == {"app": "web"}
        assert dep["spec"]["selector"] == {"matchLabels": {"app": "web"}}
        assert (
            "progressDeadlineSeconds" not in dep["spec"]
            and "revisionHistoryLimit" not in dep["spec"]
        )
        wait_for(lambda: [p for p in api.store.items("pods", "default") if p["status"].get("phase") == "Running"],
                 what="a running pod")  # fmt: skip
        pod = api.list(api.ref("pods", "default"), {})["items"][0]
        assert pod["status"]["podIP"] and "podIPs" not in pod["status"]
        assert "started" not in pod["status"]["containerStatuses"][0]
        assert "terminationMessagePolicy" not in pod["spec"]["containers"][0]
        svc = api.get(api.ref("services", "default", "kubernetes"))
        assert "clusterIPs" not in api.present(svc, api.ref("services"))["spec"]
