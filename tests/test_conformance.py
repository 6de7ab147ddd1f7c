"""Real clients against the sandbox Kubernetes API, unchanged: kubectl 1.20 (Debian's),
1.32 and 1.37 (the bootstrap's registry wheels) through the stack README's commands
and the everyday verbs, on both poses; what a 1.5 server refused is refused here too.

One sandbox API per pose for the module; each test names its objects after the kubectl
it drives, so the three clients share a cluster without meeting.
"""

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
from kubernetes import watch as k8s_watch

from kubeha_tui.sandbox.kube.cluster import Sandbox, kubeconfig

from .support.kube import kube_sandbox
from .support.waiting import wait_for

VENV = Path(sys.executable).parent.parent
KUBECTLS = {
    "1.20": VENV / "kubernetes-client/usr/bin/kubectl",
    "1.32": VENV / "kubectl-1.32/kubectl",
    "1.37": VENV / "kubectl-1.37/kubectl",
}


class Kubectl:
    def __init__(self, version: str, config: Path, pose: str) -> None:
        self.version, self.config, self.pose = version, config, pose
        self.tag = version.replace(".", "")  # a name suffix of this client's own objects

    def run(self, *args: str, check: bool = True, stdin: str | None = None,
            env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:  # fmt: skip
        done = subprocess.run(
            [str(KUBECTLS[self.version]), "--kubeconfig", str(self.config), *args],
            capture_output=True, text=True, timeout=timeout, check=False, input=stdin,
            env={"PATH": "/usr/bin:/bin", "HOME": str(self.config.parent), **(env or {})},
        )  # fmt: skip
        if check:
            assert done.returncode == 0, f"kubectl {self.version} {' '.join(args)}: {done.stderr}"
        return done

    def out(self, *args: str, **kw: Any) -> str:
        return self.run(*args, **kw).stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.out(*args, "-o", "json"))


@pytest.fixture(scope="module", params=["modern", "1.5"])
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Sandbox, Path]]:
    with kube_sandbox(request.param, node_ports=(30000, 30100)) as sandbox:
        config = tmp_path_factory.mktemp(f"kube-{request.param}") / "kubeconfig"
        config.write_text(json.dumps(kubeconfig(sandbox.server.url)))
        yield sandbox, config


@pytest.fixture(params=sorted(KUBECTLS))
def kubectl(request: pytest.FixtureRequest, cluster: tuple[Sandbox, Path]) -> Kubectl:
    sandbox, config = cluster
    pose = "1.5" if sandbox.api.pose.git_version.startswith("v1.5") else "modern"
    return Kubectl(request.param, config, pose)


def evicts(k: Kubectl) -> bool:
    """Whether drain evicts (pods/eviction) rather than deletes: kubectl 1.20 evicts when
    discovery lists pods/eviction; newer ones also want its group and version there, which
    servers list since 1.10, so against 1.5 they delete."""
    return k.pose == "modern" or k.version == "1.20"


def running(k: Kubectl, selector: str, count: int = 1) -> bool:
    pods = k.json("get", "pods", "-l", selector)["items"]
    return len(pods) == count and all(p["status"].get("phase") == "Running" for p in pods)


# -- the stack README: run, expose, get, describe ---------------------------------------


def test_stack_readme_run_expose_get_describe(kubectl: Kubectl) -> None:
    name = f"nginx{kubectl.tag}"
    assert kubectl.out("run", "--image=nginx", "--port=80", name).strip() == f"pod/{name} created"
    wait_for(lambda: running(kubectl, f"run={name}"), what=f"{name} running")
    pod = kubectl.json("get", "pod", name)
    assert pod["status"]["phase"] == "Running" and pod["spec"]["nodeName"].startswith("127.0.1.")
    exposed = kubectl.out("expose", "pod", name, "--type=NodePort", "--port=80")
    assert exposed.strip() == f"service/{name} exposed"
    svc = kubectl.json("get", "service", name)
    assert (
        svc["spec"]["type"] == "NodePort" and 30000 <= svc["spec"]["ports"][0]["nodePort"] <= 30100
    )
    wait_for(
        lambda: kubectl.json("get", "endpoints", name).get("subsets"), what="service endpoints"
    )
    endpoints = next(
        line for line in kubectl.out("describe", "service", name).splitlines()
        if line.startswith("Endpoints:")
    )  # fmt: skip
    if kubectl.pose == "1.5" and kubectl.version != "1.20":
        # kubectl 1.31+ reads EndpointSlices, which a 1.5 server does not have
        assert endpoints.split() == ["Endpoints:", "<none>"]
    else:
        assert "10.32." in endpoints and endpoints.endswith(":80")
    described = kubectl.out("describe", "pod", name)
    assert f"Name:         {name}" in described and "Status:       Running" in described
    listed = kubectl.out("get", "pods", name).splitlines()
    if kubectl.pose == "modern":  # server-side printing: kubectl's own columns
        assert listed[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
        assert listed[1].split()[1:3] == ["1/1", "Running"]
    else:  # a 1.5 server has no Table answers: new clients print NAME and AGE only
        assert listed[0].split() == ["NAME", "AGE"]


# -- create -----------------------------------------------------------------------------


def test_create_secret_configmap_namespace_service(kubectl: Kubectl) -> None:
    """kubectl 1.32 and 1.37 send these as protobuf; the server decodes them."""
    t = kubectl.tag
    assert (
        kubectl.out("create", "secret", "generic", f"s{t}", "--from-literal=user=admin").strip()
        == f"secret/s{t} created"
    )
    assert kubectl.json("get", "secret", f"s{t}")["data"] == {"user": "YWRtaW4="}
    kubectl.out("create", "configmap", f"c{t}", "--from-literal=a=b")
    assert kubectl.json("get", "configmap", f"c{t}")["data"] == {"a": "b"}
    kubectl.out("create", "namespace", f"n{t}")
    assert kubectl.json("get", "namespace", f"n{t}")["status"]["phase"] == "Active"
    kubectl.out("create", "service", "nodeport", f"svc{t}", "--tcp=80:8080")
    port = kubectl.json("get", "service", f"svc{t}")["spec"]["ports"][0]
    assert (port["port"], port["targetPort"], port["protocol"]) == (80, 8080, "TCP")


def test_create_deployment_or_refused_as_1_5_did(kubectl: Kubectl) -> None:
    name = f"web{kubectl.tag}"
    done = kubectl.run(
        "create", "deployment", name, "--image=nginx:1.25", "--replicas=2", check=False
    )
    if kubectl.pose == "1.5":  # kubectl asks apps/v1, which 1.5 never served
        assert done.returncode == 1
        assert "the server could not find the requested resource" in done.stderr
        return
    assert done.stdout.strip() == f"deployment.apps/{name} created", done.stderr
    wait_for(lambda: running(kubectl, f"app={name}", 2), what=f"{name} pods")
    dep = kubectl.json("get", "deployment", name)
    assert dep["metadata"]["generation"] == 1
    assert dep["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}


# -- nodes: cordon, drain ---------------------------------------------------------------


def test_cordon_keeps_pods_off_and_drain_moves_them(
    kubectl: Kubectl, cluster: tuple[Sandbox, Path]
) -> None:
    sandbox, _ = cluster
    node = "127.0.1.3"
    try:
        assert kubectl.out("cordon", node).strip() == f"node/{node} cordoned"
        nodes = kubectl.out("get", "nodes", node)
        if kubectl.pose == "modern":
            assert "Ready,SchedulingDisabled" in nodes
        name = f"pinned{kubectl.tag}"
        kubectl.out("run", "--image=nginx", name)
        wait_for(lambda: running(kubectl, f"run={name}"), what=f"{name} running")
        assert kubectl.json("get", "pod", name)["spec"]["nodeName"] != node
        had = [p for p in sandbox.api.store.items("pods") if p["spec"].get("nodeName") == node]
        drained = kubectl.run("drain", node, "--ignore-daemonsets", "--force", "--timeout=60s")
        # kubectl 1.20.2 reuses its last pod printer for the node line ("node/X evicted")
        last = drained.stdout.splitlines()[-1]
        assert last in (f"node/{node} drained", f"node/{node} evicted"), drained.stdout
        assert f"pod/{name} " not in drained.stdout  # kept off the node by cordon
        if had:  # the first client empties the node for the others
            assert ("evicting pod " in drained.stdout) == evicts(kubectl), drained.stdout
        assert not [p for p in sandbox.api.store.items("pods") if p["spec"].get("nodeName") == node]
    finally:
        kubectl.run("uncordon", node, check=False)


# -- the kubernetes package -------------------------------------------------------------


@pytest.fixture
def client(cluster: tuple[Sandbox, Path]) -> Iterator[k8s.ApiClient]:
    cfg = k8s.Configuration()
    k8s_config.load_kube_config(str(cluster[1]), client_configuration=cfg)  # type: ignore[no-untyped-call]
    with k8s.ApiClient(cfg) as api:
        yield api


def test_kubernetes_package_lists_and_reads_nodes(client: k8s.ApiClient) -> None:
    core: Any = k8s.CoreV1Api(client)
    nodes = core.list_node().items
    assert [n.metadata.name for n in nodes] == ["127.0.1.1", "127.0.1.2", "127.0.1.3"]
    info = core.read_node("127.0.1.1").status.node_info
    assert info.operating_system == "linux" and info.kubelet_version.startswith("v1.")


# -- apply, create -f, edit, patch, label, scale: the OpenAPI a client validates with ------


def manifest(tmp_path: Path, name: str, image: str, extra: str = "") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\n"
        f"spec:\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n"
        f"    metadata: {{labels: {{app: {name}}}}}\n    spec:\n"
        f"      containers: [{{name: web, image: '{image}'{extra}}}]\n"
    )
    return path


REFUSED_BY_1_5 = "if you choose to ignore these errors, turn validation off with --validate=false"


def refused_for_lack_of_openapi(k: Kubectl, done: subprocess.CompletedProcess[str]) -> bool:
    """What each client says to a server with no OpenAPI (1.5 had neither /openapi/v2
    nor /swagger-2.0.0.pb-v1): 1.20 reports the 404 itself."""
    said = done.stderr + done.stdout
    if k.version == "1.20":
        return done.returncode == 1 and "the server could not find the requested resource" in said
    return done.returncode == 1 and REFUSED_BY_1_5 in said


def test_apply_configures_and_unknown_fields_are_refused(kubectl: Kubectl, tmp_path: Path) -> None:
    name = f"applied{kubectl.tag}"
    if kubectl.pose == "1.5":  # no OpenAPI to validate with, and no apps/v1
        done = kubectl.run("apply", "-f", str(manifest(tmp_path, name, "nginx:1.25")), check=False)
        assert refused_for_lack_of_openapi(kubectl, done), done.stderr
        return
    first = kubectl.out("apply", "-f", str(manifest(tmp_path, name, "nginx:1.25")))
    assert first.strip() == f"deployment.apps/{name} created"
    again = kubectl.out("apply", "-f", str(manifest(tmp_path, name, "nginx:1.26")))
    assert again.strip() == f"deployment.apps/{name} configured"
    spec = kubectl.json("get", "deployment", name)["spec"]["template"]["spec"]
    assert spec["containers"][0]["image"] == "nginx:1.26"
    bad = manifest(tmp_path, f"bad{kubectl.tag}", "nginx", ", foo: bar")
    refused = kubectl.run("create", "-f", str(bad), check=False)
    assert refused.returncode == 1
    if kubectl.version == "1.20":  # client-side, from /openapi/v2 (protobuf)
        assert 'unknown field "foo" in io.k8s.api.core.v1.Container' in refused.stderr
    else:  # server-side: fieldValidation=Strict, as the /openapi/v3 PATCH operations offer
        assert (
            'strict decoding error: unknown field "spec.template.spec.containers[0].foo"'
            in refused.stderr
        )
    warned = kubectl.run("create", "-f", str(bad), "--validate=false")
    assert "foo" not in json.dumps(kubectl.json("get", "deployment", f"bad{kubectl.tag}")["spec"])
    # pruned either way: 1.20 sends no fieldValidation (the server's default, Warn, says
    # so); 1.32+ send Ignore for --validate=false
    assert ("unknown field" in warned.stderr) == (kubectl.version == "1.20")


def test_edit_patch_label_scale(kubectl: Kubectl, tmp_path: Path) -> None:
    name = f"cm{kubectl.tag}"
    kubectl.out("create", "configmap", name, "--from-literal=color=red")
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/color: red/color: blue/' \"$1\"\n")
    editor.chmod(0o755)
    edited = kubectl.run("edit", "configmap", name, env={"EDITOR": str(editor)}, check=False)
    if kubectl.pose == "1.5":
        # 1.32+ fail validating the edit (no OpenAPI) and keep a copy; 1.20 reports the 404
        said = edited.stderr + edited.stdout
        assert edited.returncode == 1 and (
            "Edit cancelled, no valid changes were saved" in said
            or "the server could not find the requested resource" in said
        ), said
        assert kubectl.json("get", "configmap", name)["data"] == {"color": "red"}
    else:
        assert edited.stdout.strip() == f"configmap/{name} edited", edited.stderr
        assert kubectl.json("get", "configmap", name)["data"] == {"color": "blue"}
    kubectl.out("patch", "configmap", name, "-p", '{"data":{"size":"L"}}')
    assert kubectl.json("get", "configmap", name)["data"]["size"] == "L"
    kubectl.out("label", "configmap", name, "tier=web")
    assert kubectl.json("get", "configmap", name)["metadata"]["labels"] == {"tier": "web"}
    assert kubectl.out("get", "configmaps", "-l", "tier=web", "-o", "name").split() == [
        f"configmap/{name}"
    ]
    refused = kubectl.run("label", "configmap", name, "tier=db", check=False)
    assert refused.returncode == 1 and "already has a value (web)" in refused.stderr
    kubectl.out("label", "configmap", name, "tier=db", "--overwrite")
    assert kubectl.json("get", "configmap", name)["metadata"]["labels"] == {"tier": "db"}
    if kubectl.pose == "modern":
        dep = f"scaled{kubectl.tag}"
        kubectl.out("create", "deployment", dep, "--image=nginx:1.25")
        assert (
            kubectl.out("scale", "deployment", dep, "--replicas=3").strip()
            == f"deployment.apps/{dep} scaled"
        )
        wait_for(lambda: running(kubectl, f"app={dep}", 3), what=f"{dep} scaled to 3")


# -- get in every output form, get -w, logs -f, delete, wait, rollout --------------------


@pytest.mark.parametrize(
    ("form", "check"),
    [
        ("json", lambda out, name: json.loads(out)["metadata"]["name"] == name),
        ("yaml", lambda out, name: f"name: {name}" in out and "apiVersion: v1" in out),
        ("name", lambda out, name: out.strip() == f"pod/{name}"),
        ("wide", lambda out, name: "10.32." in out and "127.0.1." in out),
        ("jsonpath={.spec.containers[0].image}", lambda out, name: out == "nginx"),
        ("custom-columns=N:.metadata.name,P:.status.phase", lambda out, name: out.split()[-2:] == [name, "Running"]),
        ("go-template={{.metadata.name}}", lambda out, name: out == name),
    ],
)  # fmt: skip
def test_get_output_forms(kubectl: Kubectl, form: str, check: Any) -> None:
    name = f"form{kubectl.tag}"
    if kubectl.run("get", "pod", name, check=False).returncode != 0:
        kubectl.out("run", "--image=nginx", name)
        wait_for(lambda: running(kubectl, f"run={name}"), what=f"{name} running")
    out = kubectl.out("get", "pod", name, "-o", form)
    if form == "wide" and kubectl.pose == "1.5":  # no server-side columns on 1.5
        assert out.split()[:2] == ["NAME", "AGE"]
        return
    assert check(out, name), out


def test_get_watch_prints_one_header_then_rows(kubectl: Kubectl) -> None:
    name = f"watched{kubectl.tag}"
    kubectl.out("run", "--image=nginx", name)
    done = kubectl.run("get", "pod", name, "-w", "--request-timeout=3s", check=False)
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    headers = [line for line in lines if line.startswith("NAME")]
    assert len(headers) == 1 and len(lines) >= 2, done.stdout
    if kubectl.pose == "modern":
        assert headers[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]


def test_logs_follow_streams_new_lines(kubectl: Kubectl) -> None:
    name = f"logged{kubectl.tag}"
    kubectl.out("run", "--image=nginx", name)
    wait_for(lambda: running(kubectl, f"run={name}"), what=f"{name} running")
    followed = kubectl.run("logs", "-f", name, "--request-timeout=5s", check=False, timeout=20)
    assert followed.stdout.startswith(f"{name}/{name}: started nginx")
    assert len(followed.stdout.splitlines()) >= 2  # a new line every 2 s while it follows


def test_delete_is_graceful_and_wait_for_delete_sees_it_go(
    kubectl: Kubectl, cluster: tuple[Sandbox, Path]
) -> None:
    name = f"deleted{kubectl.tag}"
    kubectl.out("run", "--image=nginx", name)
    wait_for(lambda: running(kubectl, f"run={name}"), what=f"{name} running")
    kubectl.out("delete", "pod", name, "--wait=false")
    pod = cluster[0].api.store.get("pods", ("default", name))
    assert pod is not None and pod["metadata"]["deletionGracePeriodSeconds"] == 30
    if kubectl.pose == "modern":
        assert "Terminating" in kubectl.out("get", "pod", name)
    if kubectl.pose == "1.5" and kubectl.version == "1.37":
        # 1.37 waits with a watch-list (sendInitialEvents) and holds every event until the
        # bookmark that ends the initial events, which a server older than 1.27 never sends
        done = kubectl.run("wait", "--for=delete", f"pod/{name}", "--timeout=3s", check=False)
        assert done.returncode == 1 and "timed out waiting for the condition" in done.stderr
        wait_for(lambda: cluster[0].api.store.get("pods", ("default", name)) is None, what="gone")
        return
    kubectl.out("wait", "--for=delete", f"pod/{name}", "--timeout=20s")
    assert cluster[0].api.store.get("pods", ("default", name)) is None


def test_rollout_status_history_undo_and_wait(kubectl: Kubectl) -> None:
    if kubectl.pose == "1.5":
        return  # kubectl create deployment is refused there (apps/v1); see above
    name = f"rolled{kubectl.tag}"
    kubectl.out("create", "deployment", name, "--image=nginx:1.25")
    assert "successfully rolled out" in kubectl.out(
        "rollout", "status", f"deployment/{name}", "--timeout=30s"
    )
    kubectl.out("wait", "--for=condition=Available", f"deployment/{name}", "--timeout=30s")
    kubectl.out("set", "image", f"deployment/{name}", "nginx=nginx:1.26")
    assert "successfully rolled out" in kubectl.out(
        "rollout", "status", f"deployment/{name}", "--timeout=30s"
    )
    history = kubectl.out("rollout", "history", f"deployment/{name}").split()
    assert history[history.index("CHANGE-CAUSE") + 1 :] == ["1", "<none>", "2", "<none>"]
    assert (
        kubectl.out("rollout", "undo", f"deployment/{name}", "--to-revision=1").strip()
        == f"deployment.apps/{name} rolled back"
    )
    wait_for(
        lambda: (
            kubectl.json("get", "deployment", name)["metadata"]["annotations"][
                "deployment.kubernetes.io/revision"
            ]
            == "3"
        ),
        what="revision 3",
    )
    image = kubectl.json("get", "deployment", name)["spec"]["template"]["spec"]["containers"][0][
        "image"
    ]
    assert image == "nginx:1.25"


def test_get_all_lists_the_all_category(kubectl: Kubectl) -> None:
    done = kubectl.run("get", "all", "-n", "kube-system", check=False)
    if kubectl.pose == "1.5":  # discovery categories came in 1.7
        assert done.returncode == 1
        assert 'the server doesn\'t have a resource type "all"' in done.stderr
        return
    out = done.stdout
    assert "pod/kube-dns-" in out and "service/kube-dns" in out
    assert "deployment.apps/kube-dns" in out and "replicaset.apps/kube-dns-" in out


# -- the kubernetes package: every kind the product reads ------------------------------------


def test_kubernetes_package_lists_reads_and_watches_the_products_kinds(
    client: k8s.ApiClient, cluster: tuple[Sandbox, Path]
) -> None:
    core: Any = k8s.CoreV1Api(client)
    modern = cluster[0].api.pose.git_version.startswith("v1.31")
    apps: Any = k8s.AppsV1Api(client) if modern else k8s.ApiClient
    assert core.read_namespace("ceph").status.phase == "Active"
    assert {n.metadata.name for n in core.list_namespace().items} >= {
        "default",
        "kube-system",
        "ceph",
    }
    pods = core.list_namespaced_pod("ceph").items
    assert pods and core.read_namespaced_pod(pods[0].metadata.name, "ceph").spec.containers
    assert core.read_namespaced_service("ceph-mon", "ceph").spec.cluster_ip == "None"
    assert core.list_service_for_all_namespaces().items
    if modern:
        assert apps.read_namespaced_deployment("kube-dns", "kube-system").spec.replicas == 1
        assert apps.list_deployment_for_all_namespaces().items
    watch = k8s_watch.Watch()  # type: ignore[no-untyped-call]
    events = watch.stream(core.list_node, timeout_seconds=1)  # type: ignore[no-untyped-call]
    seen = [e["object"].metadata.name for e in events]
    assert sorted(seen) == ["127.0.1.1", "127.0.1.2", "127.0.1.3"]
    core.create_namespaced_config_map(
        "default", {"metadata": {"name": "gone1", "labels": {"batch": "x"}}}
    )
    core.create_namespaced_config_map(
        "default", {"metadata": {"name": "gone2", "labels": {"batch": "x"}}}
    )
    core.delete_collection_namespaced_config_map("default", label_selector="batch=x")
    assert core.list_namespaced_config_map("default", label_selector="batch=x").items == []


# -- drain against a disruption budget: pods/eviction, 429 ---------------------------------


def test_drain_evicts_and_a_disruption_budget_refuses_with_429(
    kubectl: Kubectl, cluster: tuple[Sandbox, Path], tmp_path: Path
) -> None:
    sandbox, _ = cluster
    name = f"guarded{kubectl.tag}"
    kubectl.out("run", "--image=nginx", name)
    wait_for(lambda: running(kubectl, f"run={name}"), what=f"{name} running")
    node = kubectl.json("get", "pod", name)["spec"]["nodeName"]
    policy = "policy/v1" if kubectl.pose == "modern" else "policy/v1beta1"
    budget = tmp_path / "pdb.json"
    budget.write_text(json.dumps({
        "apiVersion": policy, "kind": "PodDisruptionBudget", "metadata": {"name": name},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"run": name}}},
    }))  # fmt: skip
    # 1.5 has no OpenAPI to validate with (refused as elsewhere): created through the API
    created = kubectl.run("create", "-f", str(budget), check=False)
    if kubectl.pose == "1.5":
        assert refused_for_lack_of_openapi(kubectl, created), created.stderr
        sandbox.api.create(
            sandbox.api.ref("poddisruptionbudgets", "default"), json.loads(budget.read_text())
        )
    else:
        assert created.stdout.strip() == f"poddisruptionbudget.policy/{name} created"
    wait_for(
        lambda: (sandbox.api.store.get("poddisruptionbudgets", ("default", name)) or {})
        .get("status", {}).get("currentHealthy") == 1,
        what="the budget counts the pod",
    )  # fmt: skip
    try:
        done = kubectl.run("drain", node, "--ignore-daemonsets", "--force", "--timeout=6s",
                           "--pod-selector", f"run={name}", check=False)  # fmt: skip
        if not evicts(kubectl):  # deleted: budgets only bind evictions
            assert done.returncode == 0 and f"pod/{name} deleted" in done.stdout, done.stderr
            return
        assert done.returncode == 1, done.stdout
        assert (
            f'error when evicting pods/"{name}" -n "default" (will retry after 5s): Cannot evict '
            "pod as it would violate the pod's disruption budget." in done.stderr
        ), done.stderr
        pod = sandbox.api.store.get("pods", ("default", name))
        assert pod is not None and not pod["metadata"].get("deletionTimestamp")
        if kubectl.pose == "modern":
            row = kubectl.out("get", "pdb", name).splitlines()
            assert row[0].split() == ["NAME", "MIN", "AVAILABLE", "MAX", "UNAVAILABLE",
                                      "ALLOWED", "DISRUPTIONS", "AGE"]  # fmt: skip
            assert row[1].split()[:4] == [name, "1", "N/A", "0"]
        kubectl.out("delete", "pdb", name)
        drained = kubectl.run("drain", node, "--ignore-daemonsets", "--force", "--timeout=30s",
                              "--pod-selector", f"run={name}")  # fmt: skip
        assert f"pod/{name} evicted" in drained.stdout
    finally:
        kubectl.run("uncordon", node, check=False)


# -- server-side apply and managedFields (modern); 415 on 1.5 --------------------------------


def test_server_side_apply_owns_fields_and_conflicts_with_409(
    kubectl: Kubectl, tmp_path: Path
) -> None:
    name = f"ssa{kubectl.tag}"
    path = manifest(tmp_path, name, "nginx:1.25")
    done = kubectl.run("apply", "--server-side", "-f", str(path), check=False)
    if kubectl.pose == "1.5":  # 1.5 knew no apply-patch: 415, which kubectl words this way
        said = done.stderr + done.stdout
        assert done.returncode == 1 and (
            "Server-side apply not available on the server" in said
            or REFUSED_BY_1_5 in said
            or "the server could not find the requested resource" in said
        ), said
        return
    assert done.stdout.strip() == f"deployment.apps/{name} serverside-applied", done.stderr
    dep = kubectl.json("get", "deployment", name, *_show_managed(kubectl))
    (entry,) = [e for e in dep["metadata"]["managedFields"] if e["manager"] == "kubectl"]
    assert entry["operation"] == "Apply" and entry["fieldsType"] == "FieldsV1"
    containers = entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]
    assert containers == {'k:{"name":"web"}': {".": {}, "f:image": {}, "f:name": {}}}
    assert "f:replicas" not in entry["fieldsV1"]["f:spec"]  # defaulted, not applied
    # another manager changes the image; applying the old one again conflicts
    kubectl.out("set", "image", f"deployment/{name}", "web=nginx:1.26")
    conflict = kubectl.run("apply", "--server-side", "-f", str(path), check=False)
    assert conflict.returncode == 1
    first = conflict.stderr.splitlines()[0]
    assert first.startswith(
        'error: Apply failed with 1 conflict: conflict with "kubectl-set" using apps/v1'
    )
    assert first.endswith(': .spec.template.spec.containers[name="web"].image'), first
    forced = kubectl.run("apply", "--server-side", "--force-conflicts", "-f", str(path))
    assert forced.stdout.strip() == f"deployment.apps/{name} serverside-applied"
    dep = kubectl.json("get", "deployment", name, *_show_managed(kubectl))
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    setter = [e for e in dep["metadata"]["managedFields"] if e["manager"] == "kubectl-set"]
    assert not setter or "f:image" not in json.dumps(setter[0]["fieldsV1"])  # ownership moved
    # kubectl scale writes /scale: its manager owns spec.replicas through the subresource
    kubectl.out("scale", f"deployment/{name}", "--replicas=2")
    replicas = path.read_text().replace("spec:\n", "spec:\n  replicas: 3\n", 1)
    scaled = kubectl.run("apply", "--server-side", "-f", "-", stdin=replicas, check=False)
    assert scaled.stderr.startswith(
        'error: Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" '
        "using apps/v1 at "
    ), scaled.stderr
    assert scaled.stderr.splitlines()[0].endswith(": .spec.replicas")
    # a field dropped from the configuration is removed, as nobody else owns it
    labelled = (
        manifest(tmp_path, name, "nginx:1.25")
        .read_text()
        .replace(
            f"metadata:\n  name: {name}\n", f"metadata:\n  name: {name}\n  labels: {{tier: web}}\n"
        )
    )
    path.write_text(labelled)
    kubectl.out("apply", "--server-side", "-f", str(path))
    assert kubectl.json("get", "deployment", name)["metadata"]["labels"] == {"tier": "web"}
    path.write_text(manifest(tmp_path, name, "nginx:1.25").read_text())
    kubectl.out("apply", "--server-side", "-f", str(path))
    assert "labels" not in kubectl.json("get", "deployment", name)["metadata"]


def _show_managed(k: Kubectl) -> tuple[str, ...]:
    """kubectl 1.21+ hide managedFields unless asked; 1.20 shows them."""
    return () if k.version == "1.20" else ("--show-managed-fields",)


def test_updates_record_managed_fields_per_manager(kubectl: Kubectl) -> None:
    name = f"owned{kubectl.tag}"
    kubectl.out("create", "configmap", name, "--from-literal=a=b")
    kubectl.out("label", "configmap", name, "tier=web")
    meta = kubectl.json("get", "configmap", name, *_show_managed(kubectl))["metadata"]
    if kubectl.pose == "1.5":  # managedFields came in 1.18
        assert "managedFields" not in meta
        return
    owners = {e["manager"]: e for e in meta["managedFields"]}
    assert set(owners) == {"kubectl-create", "kubectl-label"}
    assert owners["kubectl-create"]["fieldsV1"] == {"f:data": {".": {}, "f:a": {}}}
    assert owners["kubectl-label"]["fieldsV1"] == {
        "f:metadata": {"f:labels": {".": {}, "f:tier": {}}}
    }
    assert all(e["operation"] == "Update" and e["apiVersion"] == "v1" for e in owners.values())
    # the documented reset: an update that sends [{}] clears them
    reset = '{"metadata":{"managedFields":[{}]}}'
    kubectl.out("patch", "configmap", name, "--type=merge", "-p", reset)
    meta = kubectl.json("get", "configmap", name, *_show_managed(kubectl))["metadata"]
    assert "managedFields" not in meta


# -- PATCH results are decoded with the schema, as create is ---------------------------------


def test_patch_with_a_wrong_type_or_unknown_field_is_refused_or_pruned(kubectl: Kubectl) -> None:
    name = f"typed{kubectl.tag}"
    kubectl.out("create", "configmap", name, "--from-literal=a=b")
    wrong = kubectl.run("patch", "configmap", name, "-p", '{"metadata":{"labels":{"n":1}}}',
                        check=False)  # fmt: skip
    if kubectl.pose == "1.5":  # no schemas to decode with: the sandbox stores it as given
        assert wrong.returncode == 0, wrong.stderr
        return
    assert wrong.returncode == 1
    assert wrong.stderr.strip() == (
        'The request is invalid: patch: Invalid value: "map[metadata:map[labels:map[n:1]]]": '
        "cannot convert int64 to string"
    )
    merge = kubectl.run("patch", "configmap", name, "--type=merge", "-p",
                        '{"metadata":{"labels":{"n":1}}}', check=False)  # fmt: skip
    assert merge.returncode == 1 and merge.stderr.startswith(
        'The request is invalid: patch: Invalid value: "{'
    )
    assert merge.stderr.strip().endswith(
        "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type "
        "string"
    ), merge.stderr
    # kubectl patch sends no fieldValidation: the server warns and prunes
    unknown = kubectl.run("patch", "configmap", name, "-p", '{"wat":1}')
    assert 'Warning: unknown field "wat"' in unknown.stderr
    assert "wat" not in kubectl.json("get", "configmap", name)
    assert "n" not in (kubectl.json("get", "configmap", name)["metadata"].get("labels") or {})


def test_diff_dry_runs_on_the_server_and_changes_nothing(kubectl: Kubectl, tmp_path: Path) -> None:
    if kubectl.pose == "1.5":
        return  # no apps/v1 and no OpenAPI there (apply is refused above)
    name = f"diffed{kubectl.tag}"
    kubectl.out("apply", "-f", str(manifest(tmp_path, name, "nginx:1.25")))
    newer = manifest(tmp_path, name, "nginx:1.26")
    for how in ((), ("--server-side",)):
        done = kubectl.run("diff", *how, "-f", str(newer), check=False)
        assert done.returncode == 1, done.stderr  # 1: differences found
        changed = [line for line in done.stdout.splitlines() if line.startswith(("-  ", "+  "))]
        assert any("image: nginx:1.25" in line for line in changed if line.startswith("-"))
        assert any("image: nginx:1.26" in line for line in changed if line.startswith("+"))
    image = kubectl.json("get", "deployment", name)["spec"]["template"]["spec"]["containers"][0]
    assert image["image"] == "nginx:1.25"


def test_kubernetes_package_applies_evicts_and_reads_managed_fields(
    client: k8s.ApiClient, cluster: tuple[Sandbox, Path]
) -> None:
    core: Any = k8s.CoreV1Api(client)
    modern = cluster[0].api.pose.git_version.startswith("v1.31")
    config = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "applied-py"}, "data": {"k": "v"}}  # fmt: skip
    if not modern:  # 1.5 has no apply-patch: 415 listing the patch types it had
        with pytest.raises(k8s.ApiException) as refused:
            core.patch_namespaced_config_map("applied-py", "default", config,
                field_manager="py", _content_type="application/apply-patch+yaml")  # fmt: skip
        assert refused.value.status == 415
        assert json.loads(refused.value.body or "{}")["message"] == (
            "the body of the request was in an unknown format - accepted media types include: "
            "application/json-patch+json, application/merge-patch+json, "
            "application/strategic-merge-patch+json"
        )
    else:
        core.patch_namespaced_config_map("applied-py", "default", config,
            field_manager="py", _content_type="application/apply-patch+yaml")  # fmt: skip
        entries = core.read_namespaced_config_map("applied-py", "default").metadata.managed_fields
        assert [(e.manager, e.operation, e.fields_v1) for e in entries] == [
            ("py", "Apply", {"f:data": {"f:k": {}}})
        ]
        config["data"] = {"k": "w"}
        with pytest.raises(k8s.ApiException) as conflict:
            core.patch_namespaced_config_map("applied-py", "default", config,
                field_manager="other", _content_type="application/apply-patch+yaml")  # fmt: skip
        status = json.loads(conflict.value.body or "{}")
        assert (conflict.value.status, status["reason"]) == (409, "Conflict")
        assert status["details"]["causes"] == [{"reason": "FieldManagerConflict",
                                               "message": 'conflict with "py"', "field": ".data.k"}]  # fmt: skip
    # an eviction through the generated client: the pod is deleted (gracefully)
    core.create_namespaced_pod("default", {"metadata": {"name": "evicted-py"},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}})  # fmt: skip
    wait_for(lambda: core.read_namespaced_pod("evicted-py", "default").status.phase == "Running",
             what="evicted-py running")  # fmt: skip
    policy = "policy/v1" if modern else "policy/v1beta1"
    # the answer is a Status (code 201); the package reads it as an Eviction
    core.create_namespaced_pod_eviction("evicted-py", "default", {
        "apiVersion": policy, "kind": "Eviction", "metadata": {"name": "evicted-py"}})  # fmt: skip
    assert core.read_namespaced_pod("evicted-py", "default").metadata.deletion_timestamp
