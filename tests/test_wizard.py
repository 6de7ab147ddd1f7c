"""The deploy wizard's plans and runs: sandbox Kubernetes API (1.5 and modern poses) and the
real Ceph cluster."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from kubeha_tui.ceph import CephService
from kubeha_tui.ceph.images import image_details, list_names
from kubeha_tui.kube.client import KubeClient, KubeError
from kubeha_tui.sandbox.ceph import CephSandbox
from kubeha_tui.sandbox.kube.cluster import Sandbox
from kubeha_tui.sandbox.kube.store import ApiError
from kubeha_tui.wizard.forms import FormError, MariaDBForm, NginxForm, defaults
from kubeha_tui.wizard.run import Wizard

from .support.kube import kube_sandbox
from .support.waiting import wait_for


@pytest.fixture(params=["1.5", "modern"])
def kube(request: pytest.FixtureRequest, ceph_cluster: CephSandbox) -> Iterator[Sandbox]:
    with kube_sandbox(request.param, ceph=ceph_cluster) as sandbox:
        yield sandbox


@pytest.fixture
def ceph(ceph_cluster: CephSandbox) -> Iterator[CephService]:
    service = CephService(str(ceph_cluster.conf))
    yield service
    service.close()


def wizard(kube: Sandbox, ceph: CephService | None = None) -> Wizard:
    return Wizard(KubeClient(server=kube.server.url, timeout=5), ceph, wait=20)


def objects(kube: Sandbox, plural: str, ns: str = "default") -> dict[str, Any]:
    return {o["metadata"]["name"]: o for o in kube.api.store.items(plural, ns)}


def unique(name: str, kube: Sandbox) -> str:
    return f"{name}-{kube.api.pose.git_version.replace('.', '')[1:]}"


@pytest.mark.ceph
def test_nginx_with_the_servers_api_versions_and_the_nodeport_urls(kube: Sandbox) -> None:
    lines: list[str] = []
    run = wizard(kube)
    plan = run.plan_nginx(NginxForm.check(defaults(NginxForm)))
    assert [o["apiVersion"] for o in plan.manifests] == [run.client.info().workloads, "v1"]
    assert plan.existing == [] and not plan.refused
    result = run.apply(plan, lines.append)
    assert result.ok and result.running, (result, lines)
    port = objects(kube, "services")["nginx"]["spec"]["ports"][0]["nodePort"]
    assert result.urls == [f"http://127.0.1.{i}:{port}" for i in (1, 2, 3)]
    group = "extensions" if kube.api.pose.git_version == "v1.5.1" else "apps"
    assert kube.server.router.api.pose.lookup(
        group, run.client.info().workloads.split("/")[1], "deployments"
    )
    again = run.plan_nginx(NginxForm.check(defaults(NginxForm)))
    assert again.existing == ["Deployment default/nginx", "Service default/nginx"]
    refused = run.apply(again, lines.append)
    assert not refused.ok and "choose Replace or Show" in refused.error
    replaced = run.apply(
        run.plan_nginx(NginxForm.check({**defaults(NginxForm), "replicas": "2"})),
        lines.append,
        replace=True,
    )
    assert replaced.ok and objects(kube, "deployments")["nginx"]["spec"]["replicas"] == 2
    assert replaced.urls == result.urls  # the node port is kept


@pytest.mark.ceph
def test_mariadb_on_rbd_runs_with_its_volume_secrets_and_mount(
    kube: Sandbox, ceph: CephService
) -> None:
    name, volume = unique("mariadb", kube), unique("db", kube)
    form = MariaDBForm.check(
        {**defaults(MariaDBForm), "name": name, "volume": volume, "size": "1G"}
    )
    run = wizard(kube, ceph)
    plan = run.plan_mariadb(form)
    assert not plan.refused, plan.refused
    assert plan.password and plan.password not in plan.preview() and "<hidden>" in plan.preview()
    result = run.apply(plan, lambda _: None)
    assert result.ok and result.running, result
    image = image_details(ceph, "rbd", volume)
    assert image.size == 1 << 30 and image.features == ("layering",)
    secrets = objects(kube, "secrets")
    root = base64.b64decode(secrets[f"{name}-root"]["data"]["password"]).decode()
    assert root == result.password == plan.password
    deploy = objects(kube, "deployments")[name]
    container = deploy["spec"]["template"]["spec"]["containers"][0]
    assert container["volumeMounts"] == [{"name": "data", "mountPath": "/var/lib/mysql"}]
    assert container["env"][0]["valueFrom"]["secretKeyRef"] == {
        "name": f"{name}-root",
        "key": "password",
    }
    [volume_spec] = deploy["spec"]["template"]["spec"]["volumes"]
    if kube.api.pose.in_tree_rbd:
        assert volume_spec["rbd"]["image"] == volume and volume_spec["rbd"]["secretRef"] == {
            "name": "ceph-admin-key"
        }
        assert volume_spec["rbd"]["monitors"] == [f"127.0.0.1:{ceph_port(ceph)}"]
        assert secrets["ceph-admin-key"]["type"] == "kubernetes.io/rbd"
    else:
        claim = objects(kube, "persistentvolumeclaims")[f"{name}-data"]
        assert claim["status"]["phase"] == "Bound"
        pv = kube.api.store.get("persistentvolumes", ("", claim["spec"]["volumeName"]))
        assert pv is not None and pv["spec"]["csi"]["volumeHandle"] == volume
        assert set(secrets["csi-rbd-secret"]["data"]) == {"userID", "userKey"}


def ceph_port(ceph: CephService) -> str:
    return str(
        ceph.json({"prefix": "mon dump"})["mons"][0]["public_addr"].split(":")[1].split("/")[0]
    )


@pytest.mark.ceph
def test_a_rejected_deployment_undoes_the_image_and_secrets_of_this_run(
    kube: Sandbox, ceph: CephService
) -> None:
    name, volume = unique("failing", kube), unique("failing-db", kube)
    kube.server.router.faults[("POST", "deployments")] = ApiError(
        500, "InternalError", "injected: etcd is down"
    )
    run = wizard(kube, ceph)
    plan = run.plan_mariadb(
        MariaDBForm.check({**defaults(MariaDBForm), "name": name, "volume": volume, "size": "1G"})
    )
    before = set(objects(kube, "secrets"))
    result = run.apply(plan, lambda _: None)
    assert not result.ok and "injected: etcd is down" in result.error and result.password == ""
    assert volume not in {i.name for i in list_names(ceph, "rbd")}
    assert set(objects(kube, "secrets")) == before
    assert f"RBD image rbd/{volume} removed" in result.undone
    assert f"Secret default/{name}-root removed" in result.undone


@pytest.mark.ceph
def test_an_existing_image_is_reused_only_when_asked(kube: Sandbox, ceph: CephService) -> None:
    name, volume = unique("reuse", kube), unique("kept", kube)
    run = wizard(kube, ceph)
    first = run.apply(
        run.plan_mariadb(
            MariaDBForm.check(
                {**defaults(MariaDBForm), "name": name, "volume": volume, "size": "1G"}
            )
        ),
        lambda _: None,
    )
    assert first.ok
    other = MariaDBForm.check(
        {**defaults(MariaDBForm), "name": name + "-2", "volume": volume, "size": "1G"}
    )
    assert "already exists: choose to reuse it" in run.plan_mariadb(other).refused
    reused = run.plan_mariadb(
        MariaDBForm.check(
            {**defaults(MariaDBForm), "name": name + "-2", "volume": volume, "size": "1G"},
            reuse_volume=True,
        )
    )
    assert not reused.refused and not reused.make_volume
    assert reused.ceph_actions[0] == f"reuse the existing RBD image rbd/{volume} (its data is kept)"

    # Replacing the first one keeps its root password: the data was initialised with it.
    secret = objects(kube, "secrets")[f"{name}-root"]["data"]
    again = run.plan_mariadb(
        MariaDBForm.check(
            {**defaults(MariaDBForm), "name": name, "volume": volume, "size": "1G"},
            reuse_volume=True,
        )
    )
    assert f"Deployment default/{name}" in again.existing
    replaced = run.apply(again, lambda _: None, replace=True)
    assert (
        replaced.ok
        and replaced.password == ""
        and f"keeping Secret default/{name}-root as it is" in replaced.lines
    )
    assert objects(kube, "secrets")[f"{name}-root"]["data"] == secret


def test_a_modern_cluster_without_ceph_csi_is_refused_with_the_reason(
    ceph_cluster: CephSandbox, ceph: CephService
) -> None:
    with kube_sandbox("modern") as sandbox:  # no Ceph CSI StorageClass
        plan = wizard(sandbox, ceph).plan_mariadb(
            MariaDBForm.check({**defaults(MariaDBForm), "volume": "nowhere"})
        )
        assert (
            "no in-tree rbd volume type (removed in Kubernetes 1.31) and no Ceph CSI StorageClass"
            in plan.refused
        )
        assert not wizard(sandbox, ceph).apply(plan, lambda _: None).ok
        assert "nowhere" not in {i.name for i in list_names(ceph, "rbd")}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("size", "ten", "size: "),
        ("name", "web/1", "name: 'web/1' is not a valid name"),
        ("name", "MariaDB", "name: 'MariaDB' is not a valid name"),
        ("volume", "db@snap", "volume: 'db@snap' is not a valid name"),
        ("size", "0", "size: "),
        ("size", "99999999999P", "size: '99999999999P': more than librbd's limit of 16 EiB"),
        ("size", "16777216T", "size: '16777216T': more than librbd's limit of 16 EiB"),  # 2^64
        ("size", "٣G", "size: '٣G': expected a number"),
        ("pool", "rbd/x", "pool: 'rbd/x' is not a Ceph pool name"),
        ("pool", "", "pool: required"),
    ],
)
def test_bad_input_is_refused_before_anything_is_made(field: str, value: str, message: str) -> None:
    with pytest.raises(FormError) as caught:
        MariaDBForm.check({**defaults(MariaDBForm), field: value})
    assert str(caught.value).startswith(message) and caught.value.field == field


def test_sizes_up_to_librbds_limit_and_pools_with_underscores_pass() -> None:
    form = MariaDBForm.check({**defaults(MariaDBForm), "size": "16777215T", "pool": "k8s_rbd.1"})
    assert form.size_bytes == 16777215 << 40 and form.pool == "k8s_rbd.1"


def test_nginx_form_checks_numbers() -> None:
    with pytest.raises(FormError, match="replicas: 'two' is not a whole number"):
        NginxForm.check({**defaults(NginxForm), "replicas": "two"})
    for digits in (
        "\u0663",
        "\uff13",
        "1_0",
        "+3",
    ):  # int() takes them all: Arabic-Indic, fullwidth
        with pytest.raises(FormError, match="is not a whole number"):
            NginxForm.check({**defaults(NginxForm), "replicas": digits})
    with pytest.raises(FormError, match="port: 70000 is not between 1 and 65535"):
        NginxForm.check({**defaults(NginxForm), "port": "70000"})


@pytest.mark.ceph
def test_an_unexpected_error_in_a_step_still_undoes_this_run(
    kube: Sandbox, ceph: CephService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug (not a ServiceError) in a later step: what this run made is removed all the same."""
    name, volume = unique("buggy", kube), unique("buggy-db", kube)
    run = wizard(kube, ceph)
    plan = run.plan_mariadb(
        MariaDBForm.check({**defaults(MariaDBForm), "name": name, "volume": volume, "size": "1G"})
    )
    real_put = run._put

    def put(obj: dict[str, Any], *args: Any) -> bool:
        if obj["kind"] == "Deployment":
            raise OverflowError("injected: int too large")
        return real_put(obj, *args)

    monkeypatch.setattr(run, "_put", put)
    result = run.apply(plan, lambda _: None)
    assert not result.ok
    assert result.error == "unexpected error: OverflowError: injected: int too large"
    assert volume not in {i.name for i in list_names(ceph, "rbd")}
    assert f"Secret default/{name}-root removed" in result.undone


def timing_out_after_applying(run: Wizard, method: str, plural: str, before: Any = None) -> None:
    """The API applies the request, then the answer never comes (as with a frozen server)."""
    real = run.client.request

    def request(verb: str, path: str, *args: Any, **kw: Any) -> Any:
        if verb == method and path.endswith(f"/{plural}"):
            if before is not None:
                before()
            real(verb, path, *args, **kw)
            raise KubeError(f"{verb} {path}: timed out after 5 s")
        return real(verb, path, *args, **kw)

    run.client.request = request  # type: ignore[method-assign,assignment]


@pytest.mark.ceph
def test_a_create_that_timed_out_but_was_made_is_undone_too(kube: Sandbox) -> None:
    name = unique("frozen", kube)
    run = wizard(kube)
    plan = run.plan_nginx(NginxForm.check({**defaults(NginxForm), "name": name}))
    timing_out_after_applying(run, "POST", "services")
    result = run.apply(plan, lambda _: None)
    assert not result.ok and "timed out" in result.error
    assert name not in objects(kube, "services") and name not in objects(kube, "deployments")
    assert result.undone == [
        f"Service default/{name} removed",
        f"Deployment default/{name} removed",
    ]


@pytest.mark.ceph
def test_undo_leaves_alone_what_is_another_object_by_now(kube: Sandbox) -> None:
    """Undo checks the uid: a Deployment of the same name made by someone else meanwhile
    stays, and the result says so."""
    name = unique("swapped", kube)
    run = wizard(kube)
    plan = run.plan_nginx(NginxForm.check({**defaults(NginxForm), "name": name}))
    other = KubeClient(server=kube.server.url, timeout=5)

    def swap() -> None:
        path = run.path(plan.manifests[0])
        other.request("DELETE", path)
        wait_for(lambda: name not in objects(kube, "deployments"), what="the first one gone")
        other.request("POST", run.path(plan.manifests[0], name=False), body=plan.manifests[0],
                      content_type="application/json")  # fmt: skip

    kube.server.router.faults[("POST", "services")] = ApiError(500, "InternalError", "injected")
    real = run.client.request

    def request(verb: str, path: str, *args: Any, **kw: Any) -> Any:
        if verb == "POST" and path.endswith("/services"):
            swap()
        return real(verb, path, *args, **kw)

    run.client.request = request  # type: ignore[method-assign,assignment]
    result = run.apply(plan, lambda _: None)
    assert not result.ok and result.undone == []
    assert any(line.startswith(f"could not undo Deployment default/{name} removed: it is "
                               "another object now") for line in result.lines), result.lines  # fmt: skip
    assert name in objects(kube, "deployments")
    other.request("DELETE", run.path(plan.manifests[0]))
