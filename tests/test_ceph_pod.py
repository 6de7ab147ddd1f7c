"""Ceph through a Ceph pod: the CLI shapes of Jewel and Pacific (recorded outputs), the
sandbox's pods/exec with real clients (kubectl, the kubernetes package), and the pod
backend's failures (a dead session, a pod gone mid-call, a pod without the admin key),
over --ssh, in the wizard and on the Ceph screen. The service tests that run on both
backends are in test_ceph.py."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeha_tui.ceph import images, osds, shapes
from kubeha_tui.ceph.backend import answer
from kubeha_tui.ceph.choice import AutoCeph, build_ceph
from kubeha_tui.ceph.connection import CephService
from kubeha_tui.ceph.models import Capabilities, CreateRequest, Image, Locker
from kubeha_tui.ceph.pod import PodCeph
from kubeha_tui.ceph.wsexec import ExecSession, client_target, exec_path, exit_code, run
from kubeha_tui.config import ConfigError, Settings, SSHTarget, resolve
from kubeha_tui.errors import ServiceError
from kubeha_tui.kube.client import KubeClient
from kubeha_tui.sandbox.ceph import CephSandbox
from kubeha_tui.sandbox.kube.cluster import Sandbox, kubeconfig
from kubeha_tui.sandbox.sshd import Sshd
from kubeha_tui.screens.app import KubehaApp
from kubeha_tui.services import build_services
from kubeha_tui.wizard.forms import MariaDBForm, defaults
from kubeha_tui.wizard.run import Wizard

from .support.ceph_backends import kube_with_mons, mon_pods_running
from .support.ui import text_of, until
from .support.waiting import wait_for

# -- recorded CLI outputs ------------------------------------------------------------

# Pacific 16.2 (recorded on the sandbox cluster)
PACIFIC_LOCKS = '[{"id":"kubelet_lock_magic_node1","locker":"client.4122","address":"127.0.0.1:0/3587164880"}]\n'
PACIFIC_STATUS = "Watchers:\n\twatcher=127.0.0.1:0/3587164880 client.4122 cookie=140394964794688\n"
PACIFIC_STATUS_JSON = (
    '{"watchers":[{"address":"127.0.0.1:0/3587164880","client":4122,"cookie":140394964794688}]}\n'
)
PACIFIC_INFO = '{"name":"img","id":"101896568b3","size":10485760,"objects":3,"order":22,"object_size":4194304,"snapshot_count":0,"block_name_prefix":"rbd_data.101896568b3","format":2,"features":["layering","exclusive-lock","object-map","fast-diff","deep-flatten"],"op_features":[],"flags":[]}\n'
PACIFIC_HEALTH = {"status": "HEALTH_WARN", "checks": {"OSD_DOWN": {"severity": "HEALTH_WARN", "summary": {"message": "1 osds down", "count": 1}}}, "mutes": []}  # fmt: skip
# Jewel 10.2 (the shapes of reach.md): locks keyed by id, watchers under duplicate keys
JEWEL_LOCKS = '{"kubelet_lock_magic_node1":{"locker":"client.24128","address":"10.0.0.1:0/1866"},"other":{"locker":"client.24130","address":"10.0.0.2:0/77"}}'
JEWEL_STATUS = "Watchers:\n\twatcher=10.0.0.1:0/1866 client.24128 cookie=1\n\twatcher=10.0.0.3:0/99 client.24140 cookie=2\n"
JEWEL_STATUS_JSON = '{"watchers":{"watcher":{"address":"10.0.0.1:0/1866","client":24128,"cookie":1},"watcher":{"address":"10.0.0.3:0/99","client":24140,"cookie":2}}}'
JEWEL_INFO = '{"name":"db","size":1073741824,"objects":256,"order":22,"object_size":4194304,"block_name_prefix":"rbd_data.10226b8b4567","format":2,"features":["layering"],"flags":[]}'
JEWEL_HEALTH = {"overall_status": "HEALTH_WARN", "summary": [{"severity": "HEALTH_WARN", "summary": "1/3 in osds are down"}], "detail": []}  # fmt: skip


def test_lock_lists_of_both_shapes() -> None:
    assert shapes.lockers(PACIFIC_LOCKS) == [("client.4122", "kubelet_lock_magic_node1", "127.0.0.1:0/3587164880")]  # fmt: skip
    assert shapes.lockers(JEWEL_LOCKS) == [
        ("client.24128", "kubelet_lock_magic_node1", "10.0.0.1:0/1866"),
        ("client.24130", "other", "10.0.0.2:0/77"),
    ]
    assert shapes.lockers("") == [] and shapes.lockers("[]") == [] and shapes.lockers("{}") == []


def test_watchers_from_the_text_form_and_both_json_shapes() -> None:
    assert shapes.watchers(PACIFIC_STATUS) == ["127.0.0.1:0/3587164880"]
    assert shapes.watchers(PACIFIC_STATUS_JSON) == ["127.0.0.1:0/3587164880"]
    assert shapes.watchers(JEWEL_STATUS) == ["10.0.0.1:0/1866", "10.0.0.3:0/99"]
    # Jewel's JSON loses all but the last watcher (duplicate keys): why the text form is read.
    assert shapes.watchers(JEWEL_STATUS_JSON) == ["10.0.0.3:0/99"]
    assert shapes.watchers("Watchers: none\n") == []


def test_image_info_and_health_of_both_releases() -> None:
    assert shapes.image_info(PACIFIC_INFO) == (10 << 20, 1 | 4 | 8 | 16 | 32)
    assert shapes.image_info(JEWEL_INFO) == (1 << 30, 1)
    assert shapes.health_lines(PACIFIC_HEALTH) == ["OSD_DOWN: 1 osds down"]
    assert shapes.health_lines(JEWEL_HEALTH) == ["1/3 in osds are down"]
    with pytest.raises(ServiceError, match="rbd info: not JSON"):
        shapes.image_info("rbd: error opening image db: (2) No such file or directory")


def test_cli_errors_name_the_last_line() -> None:
    err = shapes.cli_error([2, "", "2026 warning\nrbd: error opening pool 'nopool': (2) No such file or directory\n"], "rbd ls nopool")  # fmt: skip
    assert str(err) == "rbd ls nopool failed (2): rbd: error opening pool 'nopool': (2) No such file or directory"  # fmt: skip
    assert shapes.cli_error([0, "[]", ""], "rbd ls") is None


class Recorded:
    """Answers recorded from a Jewel cluster, keyed by command prefix; records what was sent."""

    closing = False
    via = "recorded"

    def __init__(self, answers: dict[str, tuple[int, Any, str]]) -> None:
        self.answers = answers
        self.sent: list[dict[str, Any]] = []

    def command(self, cmd: dict[str, Any], *, mgr: bool = False, check: bool = True) -> tuple[int, Any, str]:  # fmt: skip
        self.sent.append(cmd)
        ret, doc, errs = self.answers[cmd["prefix"]]
        return answer(cmd["prefix"], ret, json.dumps(doc).encode(), errs, check=check)

    def json(self, cmd: dict[str, Any], *, mgr: bool = False) -> Any:
        return self.command(cmd, mgr=mgr)[1]

    def capabilities(self) -> Capabilities:
        jewel = frozenset({"osd blacklist", "osd blacklist ls", "osd out", "osd rm", "osd crush remove", "auth del", "pg stat"})  # fmt: skip
        return Capabilities(jewel, frozenset(), watchers_list=True, lock_owners=False)

    def list_images(self, pool: str) -> list[Image]:
        return [Image(pool, "db")]

    def read_details(self, imgs: Any, first: Any = ()) -> Any:
        lk = Locker("client.24128", "kubelet_lock_magic_node1", "10.0.0.1:0/1866", False)
        yield [Image("rbd", "db", size=1 << 30, lockers=(lk,), watched=True)]

    def create_image(self, request: CreateRequest) -> None:
        raise AssertionError("not here")

    def remove_image(self, pool: str, name: str, progress: Any = None) -> None:
        raise AssertionError("not here")

    def break_lock(self, pool: str, name: str, locker: Locker) -> None:
        self.sent.append({"prefix": "break", "client": locker.client})

    def forget(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_jewel_fences_with_blacklist_and_has_no_safe_to_destroy() -> None:
    jewel = Recorded({
        "osd blacklist": (0, None, "blacklisting 10.0.0.1:0/1866 until 2026-12-01 23:00:00"),
        "osd blacklist ls": (0, [{"addr": "10.0.0.1:0/1866", "until": "2026-12-01 23:00:00"}], "listed 1 entries"),
        "pg stat": (0, {"num_pg_by_state": [{"name": "active+clean", "num": 64}], "num_pgs": 64}, ""),
    })  # fmt: skip
    result = images.unlock(jewel, "rbd", "db", "client.24128", "kubelet_lock_magic_node1")
    assert result.fenced and jewel.sent[0] == {"prefix": "osd blacklist", "blacklistop": "add", "addr": "10.0.0.1:0/1866"}  # fmt: skip
    assert jewel.sent[1] == {"prefix": "break", "client": "client.24128"}  # fenced BEFORE breaking
    safe, why = osds.safe_to_destroy(jewel, 2)
    assert safe and why == "this release has no safe-to-destroy; PGs: 64 active+clean"
    assert jewel.capabilities().purge is None  # Jewel: crush remove, auth del, osd rm


def test_exit_codes_of_each_protocol() -> None:
    v4_fail = b'{"metadata":{},"status":"Failure","message":"command terminated with non-zero exit code: exit status 3","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"3"}]}}'  # fmt: skip
    assert exit_code("v4.channel.k8s.io", b'{"metadata":{},"status":"Success"}') == (0, "")
    assert exit_code("v5.channel.k8s.io", v4_fail)[0] == 3
    assert exit_code("channel.k8s.io", b"command terminated with non-zero exit code: 7") == (7, "command terminated with non-zero exit code: 7")  # fmt: skip
    assert exit_code("v4.channel.k8s.io", b"") == (0, "")
    assert exec_path("ceph", "m", ["sh", "-c", "a b&c"], stdin=True) == "/api/v1/namespaces/ceph/pods/m/exec?command=sh&command=-c&command=a%20b%26c&stdout=1&stderr=1&stdin=1"  # fmt: skip


def test_the_two_options_and_their_choice(tmp_path: Path) -> None:
    s = resolve({"ceph_via": "pod", "ceph_pod": "rook-ceph/rook-ceph-tools-5d8f"}, {})
    assert (s.ceph_via, s.ceph_pod) == ("pod", "rook-ceph/rook-ceph-tools-5d8f")
    assert resolve({}, {}).ceph_via == "auto"
    with pytest.raises(ConfigError, match="ceph-via 'ssh': expected one of auto, rados, pod"):
        resolve({"ceph_via": "ssh"}, {})
    with pytest.raises(ConfigError, match="expected NAMESPACE/POD"):
        resolve({"ceph_pod": "just-a-name"}, {})
    kube = KubeClient(server="http://127.0.0.1:9")
    assert isinstance(build_ceph("rados", "c", "admin", kube, pod=None, remote=True), CephService)
    assert isinstance(build_ceph("auto", "c", "admin", kube, pod=None, remote=False), AutoCeph)
    assert isinstance(build_ceph("auto", "c", "admin", kube, pod=None, remote=True), PodCeph)
    named = build_ceph("auto", "c", "admin", kube, pod="ceph/m", remote=False)
    assert isinstance(named, PodCeph) and named.via == "pod ceph/m"


# -- the sandbox's exec, with real clients -----------------------------------------------


@pytest.fixture(scope="module")
def kube(ceph_cluster: CephSandbox) -> Iterator[Sandbox]:
    with kube_with_mons(ceph_cluster) as sandbox:
        yield sandbox


@pytest.fixture
def pod(kube: Sandbox) -> Iterator[PodCeph]:
    service = PodCeph(KubeClient(server=kube.server.url), timeout=5)
    yield service
    service.close()


def write_kubeconfig(kube: Sandbox, tmp_path: Path) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(kubeconfig(kube.server.url)))
    return path


VENV = Path(__file__).parents[1] / ".venv"
KUBECTLS = {"1.20 (SPDY)": VENV / "kubernetes-client/usr/bin/kubectl",
            "1.32 (WebSocket)": VENV / "kubectl-1.32/kubectl"}  # fmt: skip


@pytest.mark.ceph
@pytest.mark.parametrize("kubectl", sorted(KUBECTLS))
def test_kubectl_exec_ceph_s_in_a_mon_pod(kube: Sandbox, tmp_path: Path, kubectl: str) -> None:
    if not KUBECTLS[kubectl].exists():
        pytest.skip(f"no kubectl {kubectl} here (the bootstrap unpacks it)")
    config = write_kubeconfig(kube, tmp_path)
    mon = mon_pods_running(kube)[0]

    def kube_exec(*argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(KUBECTLS[kubectl]), "--kubeconfig", str(config), "exec", *(["-i"] if stdin else []), "-n", "ceph", mon, "--", *argv],
                              capture_output=True, text=True, timeout=60, check=False, input=stdin)  # fmt: skip

    done = kube_exec("ceph", "-s")
    assert (
        done.returncode == 0 and "HEALTH_OK" in done.stdout and "osd: 3 osds: 3 up" in done.stdout
    ), done.stderr
    failed = kube_exec("sh", "-c", "echo oops >&2; exit 3")
    assert failed.returncode == 3 and "oops" in failed.stderr
    fed = kube_exec("sh", "-c", 'read line; ceph health; echo "$line"', stdin="from stdin\n")
    assert (fed.returncode, fed.stdout) == (0, "HEALTH_OK\nfrom stdin\n"), fed.stderr


@pytest.mark.ceph
def test_the_kubernetes_packages_stream(kube: Sandbox, tmp_path: Path) -> None:
    from kubernetes import client, config  # noqa: PLC0415
    from kubernetes.stream import stream  # noqa: PLC0415

    api_client = config.new_client_from_config(str(write_kubeconfig(kube, tmp_path)))  # type: ignore[no-untyped-call]
    core = client.CoreV1Api(api_client)
    mon = mon_pods_running(kube)[0]
    out = stream(core.connect_get_namespaced_pod_exec, mon, "ceph", command=["ceph", "health"],
                 stderr=True, stdout=True, stdin=False, tty=False)  # fmt: skip
    assert out.strip() == "HEALTH_OK"
    ws = stream(core.connect_get_namespaced_pod_exec, mon, "ceph", command=["sh", "-c", "exit 5"],
                stderr=True, stdout=True, stdin=False, tty=False, _preload_content=False)  # fmt: skip
    ws.run_forever(timeout=20)
    assert ws.returncode == 5


@pytest.mark.ceph
@pytest.mark.parametrize("pose", ["1.5", "modern"])
@pytest.mark.parametrize(
    "protocols", [("v5.channel.k8s.io", "v4.channel.k8s.io"), ("channel.k8s.io",)]
)
def test_our_client_on_each_pose_and_protocol(ceph_cluster: CephSandbox, pose: str, protocols: tuple[str, ...]) -> None:  # fmt: skip
    with kube_with_mons(ceph_cluster, pose) as kube:
        target = client_target(KubeClient(server=kube.server.url))
        mon = mon_pods_running(kube)[0]
        session = ExecSession(target, exec_path("ceph", mon, ["sh", "-c", "exit 4"], stdin=False), lambda _: None, protocols)  # fmt: skip
        session.open(10)
        assert session.ended.wait(10)
        expected = "v4.channel.k8s.io" if pose == "1.5" and len(protocols) > 1 else protocols[0]
        assert session.protocol == expected  # the 1.5 pose offers no v5
        assert session.result()[0] == 4
        code, out, _ = run(
            target, "ceph", mon, ["rbd", "ls", "--format", "json"], 20, protocols=protocols
        )
        assert code == 0 and isinstance(json.loads(out), list)


@pytest.mark.ceph
def test_exec_refusals_are_clear(kube: Sandbox) -> None:
    target = client_target(KubeClient(server=kube.server.url))
    with pytest.raises(
        ServiceError, match=r"exec refused by the Kubernetes API \(404\): pods \"nope\" not found"
    ):
        run(target, "ceph", "nope", ["true"], 10)
    mon = mon_pods_running(kube)[0]
    code, _, _ = run(target, "ceph", mon, ["sh", "-c", 'test -f "$CEPH_CONF"'], 10)
    assert code == 0  # the pod's /etc/ceph, from the secret it mounts
    with pytest.raises(ServiceError, match='exec: "no-such-tool"'):
        run(target, "ceph", mon, ["no-such-tool"], 10)


# -- the pod backend's failures ------------------------------------------------------------


def helper_pids() -> list[int]:
    """The helpers this test session's sandbox runs: its exec'd commands are children of
    this process. Not every process named so: on a shared machine those include other
    sessions' helpers, which a test that kills "the" helper would kill too (exit -9
    there, and no line in that sandbox's log saying why)."""
    pids = []
    for pid in _children([os.getpid()]):
        try:
            if b"ceph-pod-helper" in Path(f"/proc/{pid}/cmdline").read_bytes():
                pids.append(pid)
        except OSError:
            continue
    return pids


def test_helper_pids_leave_another_sessions_helper_alone() -> None:
    started = subprocess.run(["sh", "-c", "(exec python3 -c 'import time; time.sleep(60)' ceph-pod-helper </dev/null >/dev/null 2>&1 & echo $!)"],
                             capture_output=True, text=True, timeout=10, check=True)  # fmt: skip
    foreign = int(started.stdout)  # not our child: its parent shell is gone
    try:
        wait_for(lambda: b"ceph-pod-helper" in Path(f"/proc/{foreign}/cmdline").read_bytes(), what="the other helper")  # fmt: skip
        assert foreign not in helper_pids()
    finally:
        os.kill(foreign, signal.SIGKILL)


def call_in_thread(fn: Any) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def target() -> None:
        try:
            fn()
        except BaseException as exc:  # handed to the test
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    return thread, errors


@pytest.mark.ceph
def test_a_dead_exec_session_is_a_clear_error_then_a_new_session(pod: PodCeph) -> None:
    assert osds.health(pod)[0] == "HEALTH_OK"
    before = helper_pids()
    assert before, "the helper runs in the pod"
    thread, errors = call_in_thread(lambda: pod.run(["sleep", "20"], timeout=30))
    wait_for(lambda: any(b"sleep" in Path(f"/proc/{p}/cmdline").read_bytes() for p in _children(before)), what="sleep running")  # fmt: skip
    for pid in before:
        os.kill(pid, signal.SIGKILL)
    thread.join(15)
    assert not thread.is_alive()
    [error] = errors
    assert isinstance(error, ServiceError) and "the exec session to pod ceph/" in str(error) and "ended during 'run'" in str(error)  # fmt: skip
    assert osds.health(pod)[0] == "HEALTH_OK"  # the next call opened a new session
    assert set(helper_pids()).isdisjoint(before)


@pytest.mark.ceph
def test_a_read_is_asked_again_on_a_new_session_when_its_session_died(pod: PodCeph) -> None:
    assert osds.health(pod)[0] == "HEALTH_OK"
    before = helper_pids()
    for pid in before:
        os.kill(pid, signal.SIGKILL)
    assert osds.health(pod)[0] == "HEALTH_OK"  # no error shown for a read: it was asked again
    assert set(helper_pids()).isdisjoint(before)


def _children(pids: list[int]) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) in pids:
                out.append(int(entry.name))
    return out


@pytest.mark.ceph
def test_a_pod_gone_mid_call_then_another_pod(kube: Sandbox, pod: PodCeph) -> None:
    assert osds.health(pod)[0] == "HEALTH_OK"
    first = pod.via.removeprefix("pod ")
    thread, errors = call_in_thread(lambda: pod.run(["sleep", "20"], timeout=30))
    wait_for(lambda: _children(helper_pids()), what="the call running in the pod")
    ns, name = first.split("/")
    kube.api.delete(kube.api.ref("pods", ns, name), {})
    thread.join(15)
    assert not thread.is_alive()
    [error] = errors
    assert isinstance(error, ServiceError) and f"the exec session to pod {first} ended during 'run'" in str(error)  # fmt: skip
    assert osds.health(pod)[0] == "HEALTH_OK"
    assert pod.via != f"pod {first}" and pod.via.startswith("pod ceph/ceph-mon-")


@pytest.mark.ceph
def test_a_pod_without_the_admin_key_says_so_and_makes_nothing(kube: Sandbox, ceph_cluster: CephSandbox) -> None:  # fmt: skip
    api = kube.api
    conf_only = {"ceph.conf": base64.b64encode(ceph_cluster.conf.read_bytes()).decode()}
    api.create(api.ref("secrets", "ceph"), {"metadata": {"name": "conf-only"}, "data": conf_only})
    api.create(api.ref("pods", "ceph"), {
        "metadata": {"name": "no-key", "labels": {"app": "ceph", "daemon": "osd"}},
        "spec": {"nodeName": "127.0.1.1", "volumes": [{"name": "c", "secret": {"secretName": "conf-only"}}],
                 "containers": [{"name": "osd", "image": "ceph/daemon", "volumeMounts": [{"name": "c", "mountPath": "/etc/ceph"}]}]},
    })  # fmt: skip
    wait_for(
        lambda: (api.store.get("pods", ("ceph", "no-key")) or {})["status"]["phase"] == "Running",
        what="no-key running",
    )
    keyless = PodCeph(KubeClient(server=kube.server.url), pod="ceph/no-key", timeout=3)
    try:
        with pytest.raises(ServiceError, match=r"Ceph in pod ceph/no-key cannot connect as client.admin: .*needs /etc/ceph/ceph.conf and that client's keyring"):  # fmt: skip
            images.create(keyless, CreateRequest("rbd", "keyless-img", 1 << 20))
    finally:
        keyless.close()
    local = CephService(str(ceph_cluster.conf))
    try:
        assert "keyless-img" not in {i.name for i in images.list_names(local, "rbd")}
    finally:
        local.close()
    missing = PodCeph(KubeClient(server=kube.server.url), pod="ceph/gone", timeout=3)
    with pytest.raises(ServiceError, match="the Ceph pod ceph/gone does not exist"):
        osds.health(missing)


@pytest.mark.ceph
def test_auto_takes_librados_then_the_pod(kube: Sandbox, ceph_cluster: CephSandbox) -> None:
    client = KubeClient(server=kube.server.url)
    good = build_ceph("auto", str(ceph_cluster.conf), "admin", client, pod=None, remote=False)
    template = build_ceph("auto", "/nonexistent/ceph.conf", "admin", client, pod=None, remote=False)
    nothing = build_ceph("auto", "/nonexistent/ceph.conf", "admin", KubeClient(server="http://127.0.0.1:9", timeout=2), pod=None, remote=False)  # fmt: skip
    try:
        assert osds.health(good)[0] == "HEALTH_OK" and good.via == "librados"
        assert osds.health(template)[0] == "HEALTH_OK" and template.via.startswith(
            "pod ceph/ceph-mon-"
        )
        with pytest.raises(ServiceError, match=r"librados: no ceph.conf at /nonexistent/ceph.conf.*; through a Ceph pod: cannot look for a Ceph pod"):  # fmt: skip
            osds.health(nothing)
    finally:
        for b in (good, template, nothing):
            b.close()


@pytest.mark.ceph
def test_over_ssh_ceph_goes_through_the_pod(kube: Sandbox, tmp_path: Path) -> None:
    node_config = write_kubeconfig(kube, tmp_path)
    sshd = Sshd(tmp_path / "sshd", env={"KUBECONFIG": str(node_config)})
    sshd.start()
    settings = Settings(ssh=SSHTarget("127.0.0.1", "root", sshd.port), identity=str(sshd.user_key),
                        known_hosts=str(sshd.known_hosts), fleet_endpoint="http://127.0.0.1:9")  # fmt: skip
    services = build_services(settings)
    try:
        ceph = services.ceph.ceph
        assert isinstance(ceph, PodCeph)
        polls = list(services.ceph.poll())
        snap = polls[-1].data
        assert snap.health == "HEALTH_OK" and snap.via.startswith("pod ceph/ceph-mon-")  # type: ignore[attr-defined]
        assert len(snap.tree.osds) == 3  # type: ignore[attr-defined]
        assert ceph.kube.ssh is services.ssh  # exec goes through the SSH connection (dial)
    finally:
        services.close()
        sshd.kill()


@pytest.mark.ceph
def test_the_wizards_mariadb_through_the_pod(ceph_cluster: CephSandbox) -> None:
    with kube_with_mons(ceph_cluster, "1.5") as kube:
        client = KubeClient(server=kube.server.url, timeout=5)
        pod = PodCeph(client, timeout=5)
        try:
            run_ = Wizard(client, pod, wait=20)
            form = MariaDBForm.check(
                {**defaults(MariaDBForm), "name": "podmaria", "volume": "pod-db", "size": "1G"}
            )
            plan = run_.plan_mariadb(form)
            assert not plan.refused, plan.refused
            result = run_.apply(plan, lambda _: None)
            assert result.ok and result.running, result
            image = images.image_details(pod, "rbd", "pod-db")
            assert (image.size, image.features) == (1 << 30, ("layering",))
            deploy = kube.api.store.get("deployments", ("default", "podmaria"))
            assert deploy is not None
            [volume] = deploy["spec"]["template"]["spec"]["volumes"]
            port = (
                pod.json({"prefix": "mon dump"})["mons"][0]["public_addr"]
                .split(":")[1]
                .split("/")[0]
            )
            assert volume["rbd"]["monitors"] == [
                f"127.0.0.1:{port}"
            ]  # the mons, read through the pod
        finally:
            with contextlib.suppress(ServiceError):
                images.delete(pod, "rbd", "pod-db")
            pod.close()


@pytest.mark.ceph
async def test_the_ceph_screen_says_it_goes_through_the_pod(kube: Sandbox, tmp_path: Path) -> None:
    settings = Settings(fleet_endpoint=f"unix://{tmp_path}/none.sock", kube_server=kube.server.url,
                        ceph_via="pod", screen="ceph")  # fmt: skip
    app = KubehaApp(settings)
    async with app.run_test(size=(120, 36)) as pilot:
        health = app.screen.query_one("#ceph-health")
        await until(
            pilot,
            lambda: "via pod ceph/ceph-mon-" in text_of(health),
            timeout=30,
            what="the via line",
        )
        assert "HEALTH_OK" in text_of(health)
        assert app.backends["ceph"].state == "connected"
