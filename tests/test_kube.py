"""The Kubernetes client (list + watch, versions, errors, SSH) against the sandbox API."""

from __future__ import annotations

import copy
import gc
import http.server
import json
import random
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeha_tui.config import SSHTarget
from kubeha_tui.errors import ServiceError
from kubeha_tui.kube import actions
from kubeha_tui.kube import service as kube_service
from kubeha_tui.kube.client import KubeClient, KubeError, ServerInfo
from kubeha_tui.kube.models import Pod
from kubeha_tui.kube.reflector import Reflector, collector_paused, continue_hint
from kubeha_tui.kube.service import KINDS, KubeService, KubeSnapshot
from kubeha_tui.polling import Poll
from kubeha_tui.sandbox.kube.cluster import Sandbox, kubeconfig, seed_large
from kubeha_tui.sandbox.kube.server import User
from kubeha_tui.sandbox.kube.store import key_of
from kubeha_tui.sandbox.sshd import Sshd
from kubeha_tui.ssh import SSHOptions, SSHSession

from .support.kube import kube_sandbox
from .support.waiting import wait_for


@pytest.fixture
def kube() -> Iterator[Sandbox]:
    with kube_sandbox("modern") as sandbox:
        yield sandbox


def client_for(
    sandbox: Sandbox, tmp_path: Path, token: str | None = None, ns: str = ""
) -> KubeClient:
    doc = kubeconfig(sandbox.server.url, token)
    if ns:
        doc["contexts"][0]["context"]["namespace"] = ns
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps(doc))
    return KubeClient(kubeconfig=str(path), timeout=5)


def reflect(client: KubeClient, kind: str) -> tuple[Reflector, threading.Event]:
    stop = threading.Event()
    reflector = Reflector(client, KINDS[kind], client.info(), lambda: None, stop)
    reflector.start()
    wait_for(lambda: reflector.synced, what=f"{kind} listed")
    return reflector, stop


def server_pods(sandbox: Sandbox) -> dict[str, str]:
    return {f"{p['metadata']['namespace']}/{p['metadata']['name']}": p["metadata"]["resourceVersion"]
            for p in sandbox.api.store.items("pods")}  # fmt: skip


def server_models(sandbox: Sandbox) -> dict[str, Pod]:
    return {f"{p['metadata']['namespace']}/{p['metadata']['name']}": Pod.from_obj(p)
            for p in sandbox.api.store.items("pods")}  # fmt: skip


def cached_pods(reflector: Reflector) -> set[str]:
    return set(reflector.snapshot())


def make_pod(sandbox: Sandbox, ns: str, name: str, **labels: str) -> None:
    ref = sandbox.api.ref("pods", ns)
    sandbox.api.create(ref, {"metadata": {"name": name, "labels": labels},
                             "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}})  # fmt: skip


# -- versions and discovery -------------------------------------------------------------


@pytest.mark.parametrize(
    ("pose", "version", "workloads", "chunking"),
    [("modern", "v1.31.4", "apps/v1", True), ("1.5", "v1.5.1", "extensions/v1beta1", False)],
)
def test_detects_the_server_version_and_where_deployments_live(
    tmp_path: Path, pose: str, version: str, workloads: str, chunking: bool
) -> None:
    with kube_sandbox(pose) as sandbox:
        client = client_for(sandbox, tmp_path)
        info = client.info()
        assert (info.git_version, info.workloads, info.chunking) == (version, workloads, chunking)
        assert info.in_tree_rbd == (pose == "1.5")
        service = KubeService(client)
        snap = next(p.data for p in service.poll() if p.final)
        assert isinstance(snap, KubeSnapshot)
        assert {d.name for d in snap.deployments.values()} == {"kube-dns", "ceph-mon"}
        assert sorted(snap.nodes) == ["/127.0.1.1", "/127.0.1.2", "/127.0.1.3"]
        service.close()


def test_the_end_of_the_first_list_is_shown_without_waiting_for_the_coalescing(
    kube: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed_large(kube.api, kube.controller, 1200, 3)
    monkeypatch.setattr(kube_service, "UPDATE_EVERY", 3600.0)  # events wait an hour here
    service = KubeService(client_for(kube, tmp_path))
    seen: list[Poll] = []

    def consume() -> None:
        for poll in service.poll():
            seen.append(poll)
            if poll.final:
                return

    threading.Thread(target=consume, daemon=True).start()
    try:
        wait_for(lambda: seen and seen[-1].final, what="the complete list")
        assert not seen[0].final  # the first snapshot came before the lists ended
        snap = seen[-1].data
        assert isinstance(snap, KubeSnapshot) and len(snap.pods) == 1200 + 4
    finally:
        service.close()


# -- list + watch -----------------------------------------------------------------------


def test_paginated_list_of_5000_pods_is_one_consistent_snapshot(
    kube: Sandbox, tmp_path: Path
) -> None:
    seed_large(kube.api, kube.controller, 5000, 50)
    client = client_for(kube, tmp_path)
    pages: list[int] = []
    original = client.request_raw

    def counting(path: str, query: Any = None, **kw: Any) -> bytes:
        answer = original(path, query, **kw)
        if path.endswith("/pods"):
            pages.append(len(json.loads(answer)["items"]))
            if len(pages) == 2:  # churn between two pages: the list must not see it
                make_pod(kube, "team-000", "zz-created-during-the-list")
                kube.api.store.remove("pods", ("team-049", "web-04999"))
        return answer

    client.request_raw = counting  # type: ignore[method-assign]
    stop = threading.Event()
    reflector = Reflector(client, KINDS["pods"], client.info(), lambda: None, stop)
    rv = reflector.list()
    assert len(pages) > 10 and max(pages) == 500
    keys = cached_pods(reflector)
    assert len(keys) == 5000 + 4  # the generated pods and the stack's own
    assert "team-049/web-04999" in keys and "team-000/zz-created-during-the-list" not in keys
    reflector.thread = threading.Thread(target=reflector.watch, args=(rv,), daemon=True)
    reflector.thread.start()
    wait_for(lambda: cached_pods(reflector) == set(server_pods(kube)), what="watch caught up")
    stop.set()


def test_watch_stays_consistent_under_churn(kube: Sandbox, tmp_path: Path) -> None:
    client = client_for(kube, tmp_path)
    reflector, stop = reflect(client, "pods")
    rng = random.Random(7)
    names: list[str] = []
    for i in range(300):
        action = rng.random()
        if action < 0.4 or not names:
            names.append(f"churn-{i}")
            make_pod(kube, "default", names[-1], app="churn")
        elif action < 0.7:
            victim = names.pop(rng.randrange(len(names)))
            kube.api.store.remove("pods", ("default", victim))
        else:
            pod = copy.deepcopy(kube.api.store.get("pods", ("default", rng.choice(names))))
            assert pod is not None
            pod["metadata"].setdefault("annotations", {})["n"] = str(i)
            pod["metadata"].pop("resourceVersion")
            kube.api.store.put("pods", pod, "MODIFIED")
    # the same pods, each in its latest version (models compare field by field)
    wait_for(lambda: reflector.snapshot() == server_models(kube), what="cache equals the server")
    assert reflector.relists == 0
    stop.set()


def test_a_watch_resumed_after_compaction_gets_410_and_relists(tmp_path: Path) -> None:
    with kube_sandbox("modern", history=40) as sandbox:
        client = client_for(sandbox, tmp_path)
        reflector, stop = reflect(client, "pods")
        router = sandbox.server.router
        router.watch_gate.clear()  # the next watch waits, as over a slow link
        router.drop_watches()
        for i in range(80):  # more events than the server keeps
            make_pod(sandbox, "default", f"while-away-{i}")
        assert sandbox.api.store.compacted > 1
        router.watch_gate.set()
        # At least one: a watch whose head was held past the client timeout may relist too.
        wait_for(lambda: reflector.relists >= 1, what="a relist after 410 Gone")
        wait_for(lambda: cached_pods(reflector) == set(server_pods(sandbox)), what="cache complete")
        stop.set()


def test_an_expired_continue_token_restarts_the_list(kube: Sandbox, tmp_path: Path) -> None:
    seed_large(kube.api, kube.controller, 1200, 3)
    client = client_for(kube, tmp_path)
    original, calls = client.request_raw, []

    def compacting(path: str, query: Any = None, **kw: Any) -> bytes:
        if path != "/api/v1/pods":
            return original(path, query, **kw)
        calls.append((query or {}).get("continue"))
        if len(calls) == 2:  # between two pages: a write, then etcd compacts
            make_pod(kube, "default", "between-pages")
            kube.api.store.compacted = kube.api.store.rv
        return original(path, query, **kw)

    client.request_raw = compacting  # type: ignore[method-assign]
    reflector, stop = reflect(client, "pods")
    assert reflector.relists == 1
    assert calls[1] and calls[2] is None  # the list started over, without the token
    assert "default/between-pages" in cached_pods(reflector)
    stop.set()


def test_the_next_page_is_asked_for_while_this_one_is_decoded(
    kube: Sandbox, tmp_path: Path
) -> None:
    seed_large(kube.api, kube.controller, 1200, 3)
    client = client_for(kube, tmp_path)
    asked, original_raw, original_decode = [], client.request_raw, client.decode
    second_asked = threading.Event()
    overlapped: list[bool] = []

    def raw(path: str, query: Any = None, **kw: Any) -> bytes:
        asked.append((query or {}).get("continue"))
        if len(asked) == 2:
            second_asked.set()
        return original_raw(path, query, **kw)

    def decode(data: bytes, what: str) -> Any:
        # The first page: the second must be on its way meanwhile.
        if what.endswith("/pods") and not overlapped:
            overlapped.append(second_asked.wait(5))
        return original_decode(data, what)

    client.request_raw = raw  # type: ignore[method-assign]
    client.decode = decode  # type: ignore[method-assign]
    reflector = Reflector(client, KINDS["pods"], client.info(), lambda: None, threading.Event())
    reflector.list()
    assert overlapped == [True]
    assert len(asked) == 3 and asked[0] is None and all(asked[1:])  # each page asked once
    assert len(reflector.snapshot()) == 1200 + 4


def test_a_page_whose_head_does_not_show_its_token_is_followed_after_decoding(
    kube: Sandbox, tmp_path: Path
) -> None:
    seed_large(kube.api, kube.controller, 1200, 3)
    client = client_for(kube, tmp_path)
    asked, original = [], client.request_raw

    def items_first(path: str, query: Any = None, **kw: Any) -> bytes:
        asked.append((query or {}).get("continue"))
        page = json.loads(original(path, query, **kw))
        return json.dumps({"items": page.pop("items"), **page}, indent=1).encode()

    client.request_raw = items_first  # type: ignore[method-assign]
    reflector = Reflector(client, KINDS["pods"], client.info(), lambda: None, threading.Event())
    reflector.list()
    assert len(asked) == 3 and asked[0] is None and all(asked[1:])
    assert set(reflector.snapshot()) == set(server_pods(kube))


def test_pages_are_decoded_with_the_collector_paused_and_it_resumes_after() -> None:
    seen = []
    with collector_paused():
        seen.append(gc.isenabled())
    assert seen == [False] and gc.isenabled()
    with pytest.raises(KubeError), collector_paused():
        raise KubeError("a page that is not JSON")
    assert gc.isenabled()
    gc.disable()  # off already (by someone else): left off
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.parametrize(
    ("body", "token"),
    [
        (b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"7",'
         b'"continue":"eyJ2Ijo"},"items":[{"metadata":{"name":"a"}}]}', "eyJ2Ijo"),
        (b'{"kind": "PodList", "metadata": {"continue": "abc", "remainingItemCount": 3},\n'
         b' "items": []}', "abc"),
        (b'{"kind":"PodList","metadata":{"resourceVersion":"7"},"items":[]}', None),
        (b'{"kind":"PodList","metadata":{"continue":""},"items":[]}', None),
        (b'{"items":[{"metadata":{"continue":"x"}}],"metadata":{"continue":"abc"}}', None),
        (b'{"kind":"PodList","metadata":{"continue":7},"items":[]}', None),
        (b'{"metadata":"nope","items":[]}', None),
        (b'<html>"items": no</html>', None),
    ],
)  # fmt: skip
def test_the_continue_token_is_read_from_a_pages_head_or_not_at_all(
    body: bytes, token: str | None
) -> None:
    assert continue_hint(body) == token


# -- errors -------------------------------------------------------------------------------


def test_a_user_who_cannot_list_cluster_wide_sees_their_namespace(tmp_path: Path) -> None:
    users = {"alice-token": User("alice", "team-a")}
    with kube_sandbox("modern", users=users) as sandbox:
        sandbox.api.create(sandbox.api.ref("namespaces"), {"metadata": {"name": "team-a"}})
        make_pod(sandbox, "team-a", "alices-pod")
        client = client_for(sandbox, tmp_path, token="alice-token", ns="team-a")
        service = KubeService(client)
        snap = next(p.data for p in service.poll() if p.final)
        assert isinstance(snap, KubeSnapshot)
        assert list(snap.pods) == ["team-a/alices-pod"]
        assert "pods: only namespace team-a (not allowed cluster-wide)" in snap.notes
        assert any(
            "nodes: forbidden (403)" in n and 'User "alice" cannot list' in n for n in snap.notes
        )
        service.close()

        stranger = client_for(sandbox, tmp_path, token="wrong")
        with pytest.raises(KubeError, match=r"not authorized .* \(401\): check the kubeconfig"):
            stranger.info()


def test_an_unreachable_server_is_a_clear_error_within_the_timeout() -> None:
    client = KubeClient(server="http://127.0.0.1:9", timeout=2)
    with pytest.raises(
        ServiceError, match=r"cannot reach the Kubernetes API at http://127.0.0.1:9"
    ):
        next(KubeService(client).poll())


def test_no_kubeconfig_is_a_clear_error(tmp_path: Path) -> None:
    client = KubeClient(kubeconfig=str(tmp_path / "missing"))
    with pytest.raises(ServiceError, match="no usable kubeconfig"):
        client.info()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\xff\xfe", "is not a text file (not UTF-8)"),
        (b"apiVersion: v1\nclusters: [\n  - name: x\n", "is not valid YAML at line"),
        (b"- a\n- b\n", "holds a YAML list, not a mapping"),
        (b"clusters: 3\ncontexts: 4\ncurrent-context: x\n", "is not usable"),
    ],
)
def test_a_broken_kubeconfig_is_one_clear_line_without_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes, says: str
) -> None:
    path = tmp_path / "kubeconfig"
    path.write_bytes(content)
    for _ in range(2):  # a retry says the same, and logs no traceback either
        with pytest.raises(ServiceError) as err:
            next(KubeService(KubeClient(kubeconfig=str(path))).poll())
        message = str(err.value)
        assert says in message and str(path) in message and "\n" not in message
        assert not isinstance(err.value, KubeError) or "unexpected" not in message
    assert not [r for r in caplog.records if r.exc_info]


def test_a_bug_is_reported_as_one_not_as_an_outage(
    kube: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = client_for(kube, tmp_path)
    client.info()

    def broken(*args: Any, **kw: Any) -> Any:
        raise TypeError("a bug in the request path")

    client.api().call_api = broken  # type: ignore[method-assign]
    for _ in range(3):
        with pytest.raises(KubeError) as err:
            client.request("GET", "/api/v1/pods")
        assert "cannot reach" not in str(err.value)
        assert "unexpected error in GET /api/v1/pods" in str(err.value)
        assert "TypeError: a bug in the request path" in str(err.value)
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert len(tracebacks) == 1  # logged once, not on every retry


# -- through SSH ----------------------------------------------------------------------


def test_the_api_is_reached_through_ssh_channels_to_the_server_the_nodes_kubeconfig_names(
    kube: Sandbox, tmp_path: Path
) -> None:
    node_config = tmp_path / "node-kubeconfig"
    node_config.write_text(json.dumps(kubeconfig(kube.server.url)))
    sshd = Sshd(tmp_path / "sshd", env={"KUBECONFIG": str(node_config)})
    sshd.start()
    session = SSHSession(SSHOptions(SSHTarget("127.0.0.1", "root", sshd.port),
                                    identity=str(sshd.user_key), known_hosts=str(sshd.known_hosts)))  # fmt: skip
    try:
        client = KubeClient(ssh=session, timeout=10)
        assert client.url_base == client.host == kube.server.url  # the node's kubeconfig
        assert not client.note  # no fallback
        opened: list[tuple[str, int]] = []
        real = session.socket_to

        def counting(host: str, port: int) -> socket.socket:
            opened.append((host, port))
            return real(host, port)

        session.socket_to = counting  # type: ignore[method-assign]
        snap = next(p.data for p in KubeService(client).poll() if p.final)
        assert isinstance(snap, KubeSnapshot) and len(snap.pods) == 4
        assert opened and set(opened) == {("127.0.0.1", kube.server.httpd.server_address[1])}
        # The raw stream for other protocols: an HTTP request by hand over it.
        sock = client.dial(timeout=5)
        sock.sendall(b"GET /version HTTP/1.0\r\n\r\n")
        assert sock.makefile("rb").readline().startswith(b"HTTP/1.1 200")
        sock.close()
        sshd.kill()
        client._info = None
        with pytest.raises(
            ServiceError, match=r"cannot reach the Kubernetes API at .* through SSH"
        ):
            client.info()
    finally:
        session.close()
        sshd.kill()


def test_a_node_without_kubeconfig_falls_back_to_the_stack_server_and_says_so(
    tmp_path: Path,
) -> None:
    sshd = Sshd(tmp_path / "sshd", env={"KUBECONFIG": str(tmp_path / "none")})
    sshd.start()
    session = SSHSession(SSHOptions(SSHTarget("127.0.0.1", "root", sshd.port),
                                    identity=str(sshd.user_key), known_hosts=str(sshd.known_hosts)))  # fmt: skip
    try:
        client = KubeClient(ssh=session, timeout=10)
        assert client.url_base == "http://pidalio-apiserver:8080"
        assert f"no usable kubeconfig on root@127.0.0.1:{sshd.port}" in client.note
        assert "tried `cat" in client.note and "exit status 1" in client.note
        with pytest.raises(KubeError) as err:
            client.info()
        assert "cannot reach the Kubernetes API at http://pidalio-apiserver:8080" in str(err.value)
        assert client.note in str(err.value)
    finally:
        session.close()
        sshd.kill()


# -- actions ------------------------------------------------------------------------------


def test_describe_logs_and_delete_of_a_pod(kube: Sandbox, tmp_path: Path) -> None:
    client = client_for(kube, tmp_path)
    wait_for(lambda: [p["status"]["phase"] for p in kube.api.store.items("pods", "ceph")] == ["Running"] * 3,
             what="ceph-mon pods running")  # fmt: skip
    pod = kube.api.store.items("pods", "ceph")[0]
    ref = actions.Ref("pods", "ceph", pod["metadata"]["name"])
    text = actions.describe(client, ref)
    assert f"name: {ref.name}" in text and "Scheduled" in text and "managedFields" not in text
    log = actions.logs(client, ref, "ceph-mon", tail=1)
    assert len(log.splitlines()) == 1
    plan = actions.plan_delete(client, ref)
    assert plan.warnings == (f"owned by ReplicaSet {pod['metadata']['ownerReferences'][0]['name']}: "
                             "a new pod replaces it",)  # fmt: skip
    assert f"precondition uid={pod['metadata']['uid']}" in plan.request
    assert actions.delete(client, plan) == f"deleted pod ceph/{ref.name}"
    # graceful: Terminating first, gone once its kubelet stopped it
    wait_for(lambda: kube.api.store.get("pods", ("ceph", ref.name)) is None, what="pod gone")
    wait_for(
        lambda: len(kube.api.store.items("pods", "ceph")) == 3, what="the replica set replaced it"
    )


def test_delete_refuses_an_object_recreated_since_the_plan(kube: Sandbox, tmp_path: Path) -> None:
    client = client_for(kube, tmp_path)
    make_pod(kube, "default", "same-name")
    plan = actions.plan_delete(client, actions.Ref("pods", "default", "same-name"))
    kube.api.store.remove("pods", ("default", "same-name"))
    make_pod(kube, "default", "same-name")
    with pytest.raises(KubeError, match="Precondition failed: UID"):
        actions.delete(client, plan)
    assert kube.api.store.get("pods", ("default", "same-name")) is not None


def test_nodes_are_not_deleted_from_the_console(kube: Sandbox, tmp_path: Path) -> None:
    client = client_for(kube, tmp_path)
    plan = actions.plan_delete(client, actions.Ref("nodes", "", "127.0.1.1"))
    assert plan.refused and "drain" in plan.refused
    assert key_of(kube.api.store.items("nodes")[0]) == ("", "127.0.1.1")


@pytest.fixture
def quiet_log_server() -> Iterator[tuple[str, threading.Event]]:
    """An API that serves one log line, then nothing (a quiet pod); the event is set
    when the client closes the follow connection."""
    closed = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            if self.path.startswith("/api/v1/namespaces/default/pods/quiet/log"):
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.wfile.write(b"6\r\nhello\n\r\n")
                self.wfile.flush()
                if self.rfile.read(1) == b"":  # blocks until the client hangs up
                    closed.set()
                return
            body = json.dumps({"gitVersion": "v1.31.0"} if self.path == "/version" else {}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", closed
    server.shutdown()
    server.server_close()


def test_stopping_a_follow_of_a_quiet_pod_frees_the_thread_and_connection(
    quiet_log_server: tuple[str, threading.Event],
) -> None:
    url, closed = quiet_log_server
    client = KubeClient(server=url, timeout=5)
    stop = threading.Event()
    batches: list[list[str]] = []

    def follow() -> None:
        for lines in actions.follow_logs(
            client, actions.Ref("pods", "default", "quiet"), "c", stop
        ):
            batches.append(lines)

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    wait_for(lambda: batches == [["hello"]], what="the first log line")
    stop.set()
    thread.join(timeout=10)  # the read timeout is an hour
    assert not thread.is_alive()
    assert closed.wait(10), "the follow connection is still open"
    assert batches == [["hello"]]


def _pod_with(
    containers: list[dict[str, Any]], init: list[dict[str, Any]] | None = None, **status: Any
) -> dict[str, Any]:
    deleting = status.pop("deleting", False)
    meta: dict[str, Any] = {"name": "p", "namespace": "default"}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    spec: dict[str, Any] = {"containers": [{"name": f"c{i}"} for i in range(len(containers))]}
    body: dict[str, Any] = {"phase": "Running", "containerStatuses": containers, **status}
    if init is not None:
        spec["initContainers"] = [{"name": f"i{i}"} for i in range(len(init))]
        body["initContainerStatuses"] = init
    return {"metadata": meta, "spec": spec, "status": body}


_UP = {"ready": True, "state": {"running": {}}}
_DONE = {"state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}


@pytest.mark.parametrize(
    ("pod", "status", "problem"),
    [
        (_pod_with([{}], init=[{"state": {"running": {}}}], phase="Pending"), "Init:0/1", "warn"),
        (_pod_with([{}], init=[{"state": {"waiting": {"reason": "CrashLoopBackOff"}}}]),
         "Init:CrashLoopBackOff", "failed"),
        (_pod_with([{}], init=[{"state": {"terminated": {"exitCode": 2}}}]), "Init:ExitCode:2",
         "failed"),
        (_pod_with([{"state": {"terminated": {"exitCode": 1}}}], phase="Failed"), "ExitCode:1",
         "failed"),
        (_pod_with([_DONE], phase="Succeeded"), "Completed", ""),
        (_pod_with([_DONE, _UP]), "NotReady", "warn"),
        (_pod_with([_UP], deleting=True), "Terminating", "warn"),
        (_pod_with([_DONE], phase="Succeeded", deleting=True), "Completed", ""),
        (_pod_with([{"ready": True, "state": {"waiting": {"reason": "ContainerCreating"}}}]),
         "ContainerCreating", "warn"),
    ],
)  # fmt: skip
def test_pod_status_is_kubectls(pod: dict[str, Any], status: str, problem: str) -> None:
    """The STATUS cases of kubectl's printPod (pkg/printers/internalversion/printers.go)."""
    summary = Pod.from_obj(pod)
    assert (summary.status, summary.problem) == (status, problem)
    assert (
        summary.ready
        == f"{sum(1 for c in pod['status']['containerStatuses'] if c is _UP)}/{len(pod['spec']['containers'])}"
    )


def test_closing_the_service_ends_its_watches_at_once(kube: Sandbox, tmp_path: Path) -> None:
    service = KubeService(client_for(kube, tmp_path))
    snap = next(p.data for p in service.poll() if p.final)
    assert isinstance(snap, KubeSnapshot)
    threads = [r.thread for r in service._reflectors.values()]
    wait_for(lambda: all(r._stream is not None for r in service._reflectors.values()),
             what="every kind watching")  # fmt: skip
    service.close()  # the watches would otherwise sit in a read for up to 5 minutes
    for thread in threads:
        thread.join(timeout=10)
    assert not [t.name for t in threads if t.is_alive()]


def test_object_paths_percent_encode_names_from_the_cluster() -> None:
    info = ServerInfo("v1.31.0", frozenset({"apps/v1"}))
    assert (
        info.path("pods", "ns 1", "a/b?c[x]") == "/api/v1/namespaces/ns%201/pods/a%2Fb%3Fc%5Bx%5D"
    )
    assert (
        info.path("deployments", "default", "web")
        == "/apis/apps/v1/namespaces/default/deployments/web"
    )
    assert info.path("persistentvolumes", "ignored", "pv#1") == "/api/v1/persistentvolumes/pv%231"
