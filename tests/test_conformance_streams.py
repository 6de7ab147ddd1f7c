"""Real clients on the sandbox's streaming subresources, unchanged: ``kubectl exec`` and
``kubectl port-forward`` with kubectl 1.20 (SPDY only), 1.32 and 1.37 (WebSocket for
exec, SPDY tunnelled in a WebSocket for port-forward, SPDY again where the server has
neither) on both poses, and the kubernetes package's stream() and portforward().

One sandbox API per pose for the module, seeded with an nginx Deployment (its pods
answer HTTP on port 80), a Service in front of it and a pod that cannot be scheduled.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import select
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from kubeha_tui.sandbox.kube import exec as pod_exec
from kubeha_tui.sandbox.kube import spdy
from kubeha_tui.sandbox.kube.cluster import Sandbox, kubeconfig

from .support.kube import kube_sandbox
from .support.waiting import wait_for

VENV = Path(sys.executable).parent.parent
KUBECTLS = {
    "1.20": VENV / "kubernetes-client/usr/bin/kubectl",
    "1.32": VENV / "kubectl-1.32/kubectl",
    "1.37": VENV / "kubectl-1.37/kubectl",
}
WELCOME = "<title>Welcome to nginx!</title>"
# A sandbox thread that dies of an exception fails the test it happened in.
pytestmark = pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")


@pytest.fixture(scope="module", params=["modern", "1.5"])
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, Path]]:  # fmt: skip
    with kube_sandbox(request.param) as sandbox:
        api = sandbox.api
        labels = {"app": "web"}
        api.create(api.ref("deployments", "default"), {
            "metadata": {"name": "web", "labels": labels},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]},
            }},
        })  # fmt: skip
        api.create(api.ref("services", "default"), {
            "metadata": {"name": "web"},
            "spec": {"selector": labels, "ports": [{"port": 8080, "targetPort": 80}]},
        })  # fmt: skip
        api.create(api.ref("pods", "default"), {
            "metadata": {"name": "stuck"},
            "spec": {"nodeSelector": {"no-such": "node"},
                     "containers": [{"name": "web", "image": "nginx"}]},
        })  # fmt: skip
        api.create(api.ref("pods", "default"), {
            "metadata": {"name": "mounting"},
            "spec": {"volumes": [{"name": "s", "secret": {"secretName": "no-such-secret"}}],
                     "containers": [{"name": "web", "image": "nginx"}]},
        })  # fmt: skip
        wait_for(lambda: web_pod(sandbox), timeout=20, what="the nginx pod running")
        wait_for(lambda: (api.store.get("pods", ("default", "mounting")) or {}).get("spec", {}).get("nodeName"), what="mounting scheduled")  # fmt: skip
        config = tmp_path_factory.mktemp(f"streams-{request.param}") / "kubeconfig"
        config.write_text(json.dumps(kubeconfig(sandbox.server.url)))
        yield sandbox, config


def web_pod(sandbox: Sandbox) -> str:
    running = [p["metadata"]["name"] for p in sandbox.api.store.items("pods", "default")
               if p["metadata"].get("labels", {}).get("app") == "web" and p["status"].get("phase") == "Running"]  # fmt: skip
    return running[0] if running else ""


def kubectl(version: str, config: Path, *args: str, stdin: bytes | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[bytes]:  # fmt: skip
    return subprocess.run(
        [str(KUBECTLS[version]), "--kubeconfig", str(config), *args],
        input=stdin, capture_output=True, timeout=timeout, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(config.parent)},
    )  # fmt: skip


@pytest.fixture(params=sorted(KUBECTLS))
def version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- exec --------------------------------------------------------------------------------


def test_exec_passes_output_exit_codes_and_stdin(cluster: tuple[Sandbox, Path], version: str) -> None:  # fmt: skip
    sandbox, config = cluster
    pod = web_pod(sandbox)
    done = kubectl(version, config, "exec", pod, "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert done.returncode == 3, done.stderr
    assert done.stdout == b"out\n" and b"err\n" in done.stderr
    assert b"command terminated with exit code 3" in done.stderr
    fed = kubectl(version, config, "exec", "-i", pod, "--", "sh", "-c", "cat; echo end",
                  stdin=b"some input\n")  # fmt: skip
    assert (fed.returncode, fed.stdout) == (0, b"some input\nend\n"), fed.stderr


def test_exec_carries_more_than_a_flow_control_window(cluster: tuple[Sandbox, Path], version: str) -> None:  # fmt: skip
    """300 kB each way, several 64 KiB windows: nothing waits for a window update that
    kubectl's SPDY library never sends."""
    sandbox, config = cluster
    pod = web_pod(sandbox)
    out = kubectl(version, config, "exec", pod, "--", "sh", "-c", "head -c 300000 /dev/zero")
    assert out.returncode == 0 and out.stdout == bytes(300000), out.stderr
    sent = bytes(range(256)) * 1200
    echoed = kubectl(version, config, "exec", "-i", pod, "--", "cat", stdin=sent)
    assert echoed.returncode == 0 and echoed.stdout == sent, echoed.stderr


def test_exec_refusals(cluster: tuple[Sandbox, Path], version: str) -> None:
    _, config = cluster
    missing = kubectl(version, config, "exec", "nope", "--", "true")
    assert missing.returncode == 1 and b'pods "nope" not found' in missing.stderr
    stuck = kubectl(version, config, "exec", "stuck", "--", "true")
    assert stuck.returncode == 1
    assert b"pod stuck does not have a host assigned" in stuck.stderr, stuck.stderr
    mounting = kubectl(version, config, "exec", "mounting", "--", "true")  # on a node, not started
    assert mounting.returncode == 1
    assert b'unable to upgrade connection: container not found ("web")' in mounting.stderr, mounting.stderr  # fmt: skip


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def started_exec(version: str, config: Path, pod: str, script: str) -> tuple[subprocess.Popen[bytes], bytes]:  # fmt: skip
    """``kubectl exec -i POD -- sh -c SCRIPT`` running, once SCRIPT printed its first line."""
    proc = subprocess.Popen(
        [str(KUBECTLS[version]), "--kubeconfig", str(config), "exec", "-i", pod, "--", "sh", "-c", script],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env={"PATH": "/usr/bin:/bin", "HOME": str(config.parent)},
    )  # fmt: skip
    assert proc.stdout is not None
    return proc, proc.stdout.readline()


@pytest.mark.parametrize("version", ["1.20", "1.32"])  # SPDY, WebSocket
def test_a_client_that_hangs_up_ends_the_commands_input(cluster: tuple[Sandbox, Path], version: str, tmp_path: Path) -> None:  # fmt: skip
    """As under a kubelet, the command is not killed: its stdin ends and it finishes."""
    sandbox, config = cluster
    mark = tmp_path / "finished"
    proc, first = started_exec(version, config, web_pod(sandbox), f"echo started; cat >/dev/null; echo eof > {mark}")  # fmt: skip
    assert first == b"started\n"
    proc.kill()  # the link drops: no half-close, no goodbye
    proc.wait(10)
    wait_for(mark.exists, timeout=8, what="the command finished on the end of its input")
    assert mark.read_text() == "eof\n"


@pytest.mark.parametrize("version", ["1.20", "1.32"])
def test_a_command_that_outlives_its_client_is_stopped_with_its_children(
    cluster: tuple[Sandbox, Path], version: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pod_exec, "LINK_GRACE", 1.0)
    sandbox, config = cluster
    proc, first = started_exec(version, config, web_pod(sandbox), "sleep 300 & echo $!; wait")
    child = int(first)
    proc.kill()
    proc.wait(10)
    wait_for(lambda: gone(child), timeout=10, what="the command's own child stopped too")


# -- port-forward --------------------------------------------------------------------------


@contextmanager
def forwarding(version: str, config: Path, target: str, remote: int) -> Iterator[tuple[int, int, subprocess.Popen[bytes]]]:  # fmt: skip
    """``kubectl port-forward TARGET :REMOTE`` running; yields the local port it chose,
    the pod's port it forwards to (kubectl maps a service's port to its target) and the
    process."""
    proc = subprocess.Popen(
        [str(KUBECTLS[version]), "--kubeconfig", str(config), "port-forward", target, f":{remote}"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={"PATH": "/usr/bin:/bin", "HOME": str(config.parent)},
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        said = b""
        deadline = time.monotonic() + 30
        while not (found := re.search(rb"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)", said)):
            assert proc.poll() is None and time.monotonic() < deadline, (said, proc.stderr and proc.stderr.read())  # fmt: skip
            if select.select([proc.stdout], [], [], 0.5)[0]:
                said += os.read(proc.stdout.fileno(), 4096)
        yield int(found[1]), int(found[2]), proc
    finally:
        proc.terminate()
        proc.wait(10)


def http_get(port: int, path: str = "/") -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", path)
        reply = conn.getresponse()
        return reply.status, reply.read().decode()
    finally:
        conn.close()


@pytest.mark.parametrize(("target", "remote"), [("pod/{pod}", 80), ("svc/web", 8080), ("deploy/web", 80)])  # fmt: skip
def test_port_forward_reaches_nginx(cluster: tuple[Sandbox, Path], version: str, target: str, remote: int) -> None:  # fmt: skip
    sandbox, config = cluster
    with forwarding(version, config, target.format(pod=web_pod(sandbox)), remote) as (port, to, _):
        assert to == 80
        status, page = http_get(port)
        assert status == 200 and WELCOME in page
        assert http_get(port, "/missing")[0] == 404  # a second connection through the same forward


def test_port_forward_to_a_closed_port_says_connection_refused(cluster: tuple[Sandbox, Path], version: str) -> None:  # fmt: skip
    sandbox, config = cluster
    pod = web_pod(sandbox)
    with forwarding(version, config, f"pod/{pod}", 81) as (port, _, proc):
        with pytest.raises((http.client.RemoteDisconnected, ConnectionResetError)):
            http_get(port)
        proc.terminate()
        _, err = proc.communicate(timeout=10)
    said = err.decode()
    assert (
        "an error occurred forwarding" in said.lower() or "An error occurred forwarding" in said
    ), said
    assert "error forwarding port 81 to pod " in said
    refused = "Connection refused" if sandbox.api.pose.git_version.startswith("v1.5") else "connect: connection refused"  # fmt: skip
    assert refused in said, said


def test_port_forward_to_a_pod_not_running(cluster: tuple[Sandbox, Path], version: str) -> None:
    _, config = cluster
    done = kubectl(version, config, "port-forward", "pod/stuck", ":80", timeout=30)
    assert done.returncode == 1
    assert b"unable to forward port because pod is not running. Current status=Pending" in done.stderr  # fmt: skip


# -- the kubernetes package ------------------------------------------------------------------


def test_the_kubernetes_packages_stream_and_portforward(cluster: tuple[Sandbox, Path]) -> None:
    from kubernetes import client  # noqa: PLC0415
    from kubernetes import config as k8s_config  # noqa: PLC0415
    from kubernetes.stream import portforward, stream  # noqa: PLC0415

    sandbox, config = cluster
    core = client.CoreV1Api(k8s_config.new_client_from_config(str(config)))  # type: ignore[no-untyped-call]
    pod = web_pod(sandbox)
    ws = stream(core.connect_get_namespaced_pod_exec, pod, "default", command=["sh", "-c", "echo hi; exit 6"],
                stderr=True, stdout=True, stdin=False, tty=False, _preload_content=False)  # fmt: skip
    ws.run_forever(timeout=20)
    assert ws.returncode == 6 and ws.read_stdout() == "hi\n"
    forward = portforward(
        core.connect_get_namespaced_pod_portforward, pod, "default", ports="80,81"
    )
    try:
        web = forward.socket(80)
        web.settimeout(20)
        web.sendall(b"GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")
        page = b""
        while chunk := web.recv(65536):
            page += chunk
        assert page.startswith(b"HTTP/1.1 200 OK\r\n") and WELCOME.encode() in page
        closed = forward.socket(81)
        closed.settimeout(20)
        assert closed.recv(1) == b""  # the error closes the port's socket
        assert "error forwarding port 81 to pod " in forward.error(81)
    finally:
        forward.close()


def test_the_kubernetes_packages_portforward_needs_ports(cluster: tuple[Sandbox, Path]) -> None:
    """The kubelet's check, in its words, for a WebSocket port-forward without ports."""
    sandbox, _ = cluster
    conn = http.client.HTTPConnection("127.0.0.1", int(sandbox.server.url.rsplit(":", 1)[1]), timeout=10)  # fmt: skip
    conn.request("GET", f"/api/v1/namespaces/default/pods/{web_pod(sandbox)}/portforward", headers={
        "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Protocol": "v4.channel.k8s.io",
    })  # fmt: skip
    reply = conn.getresponse()
    assert reply.status == 400 and json.loads(reply.read())["message"] == 'query parameter "port" is required'  # fmt: skip


# -- SPDY itself --------------------------------------------------------------------------------


def test_the_spdy3_dictionary_is_the_specs() -> None:
    assert len(spdy.DICTIONARY) == 1423 and zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2
    block = {"streamtype": ["error"], "port": ["80"], "multi": ["a", "b"]}
    assert spdy.decode_headers(spdy.encode_headers(block)) == block


def spdy_upgrade(sandbox: Sandbox, path: str, protocols: list[str]) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", int(sandbox.server.url.rsplit(":", 1)[1]), timeout=10)  # fmt: skip
    conn.putrequest("POST", path)
    for header, value in [
        ("Connection", "Upgrade"),
        ("Upgrade", "SPDY/3.1"),
        ("Content-Length", "0"),
    ]:
        conn.putheader(header, value)
    for protocol in protocols:
        conn.putheader("X-Stream-Protocol-Version", protocol)
    conn.endheaders()
    return conn.getresponse()


def test_port_forward_to_a_pod_not_started_is_refused_as_the_kubelet_does(cluster: tuple[Sandbox, Path]) -> None:  # fmt: skip
    """kubectl checks the phase first; other clients hear the kubelet."""
    sandbox, _ = cluster
    scheduled = spdy_upgrade(sandbox, "/api/v1/namespaces/default/pods/mounting/portforward", ["portforward.k8s.io"])  # fmt: skip
    assert (scheduled.status, scheduled.read()) == (500, b'pod not found ("mounting_default")')
    unscheduled = spdy_upgrade(sandbox, "/api/v1/namespaces/default/pods/stuck/portforward", ["portforward.k8s.io"])  # fmt: skip
    assert (unscheduled.status, json.loads(unscheduled.read())["message"]) == (400, "pod stuck does not have a host assigned")  # fmt: skip


def test_spdy_negotiation_picks_the_clients_first_and_refuses_unknown_ones(cluster: tuple[Sandbox, Path]) -> None:  # fmt: skip
    sandbox, _ = cluster
    exec_path = f"/api/v1/namespaces/default/pods/{web_pod(sandbox)}/exec?command=true&stdout=1"
    refused = spdy_upgrade(sandbox, exec_path, ["v9.channel.k8s.io"])
    assert refused.status == 403
    assert refused.getheader("X-Accepted-Stream-Protocol-Versions") == "v4.channel.k8s.io, v3.channel.k8s.io, v2.channel.k8s.io, channel.k8s.io"  # fmt: skip
    assert "unable to negotiate protocol" in json.loads(refused.read())["message"]
    chosen = spdy_upgrade(sandbox, exec_path, ["v2.channel.k8s.io", "v4.channel.k8s.io"])
    assert (chosen.status, chosen.getheader("Upgrade"), chosen.getheader("X-Stream-Protocol-Version")) == (101, "SPDY/3.1", "v2.channel.k8s.io")  # fmt: skip


class RawSpdy:
    """A bare SPDY/3.1 client on one upgraded connection, to see the frames themselves."""

    def __init__(self, sandbox: Sandbox, path: str, protocol: str) -> None:
        host, port = sandbox.server.url.removeprefix("http://").rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=20)
        self.sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
            f"X-Stream-Protocol-Version: {protocol}\r\nContent-Length: 0\r\n\r\n".encode()
        )
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101 "), head
        self.out = zlib.compressobj(zdict=spdy.DICTIONARY)
        self.inflate = zlib.decompressobj(zdict=spdy.DICTIONARY)

    def read(self, n: int) -> bytes:
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def open(self, stream_id: int, stream_type: str) -> None:
        block = self.out.compress(spdy.encode_headers({"streamtype": [stream_type]}))
        block += self.out.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(spdy.control(spdy.SYN_STREAM, 0, struct.pack(">IIBB", stream_id, 0, 0, 0) + block))  # fmt: skip


def test_spdy_before_v4_says_the_failure_in_words_and_answers_pings(cluster: tuple[Sandbox, Path]) -> None:  # fmt: skip
    sandbox, _ = cluster
    raw = RawSpdy(sandbox, f"/api/v1/namespaces/default/pods/{web_pod(sandbox)}/exec?command=sh&command=-c&command=echo%20hi%3B%20exit%203&stdout=1&stderr=1", "v2.channel.k8s.io")  # fmt: skip
    raw.sock.sendall(spdy.control(spdy.PING, 0, struct.pack(">I", 7)))
    for stream_id, kind in ((1, "error"), (3, "stdout"), (5, "stderr")):
        raw.open(stream_id, kind)
    replied: set[int] = set()
    ended: set[int] = set()
    pinged, data = False, {1: b"", 3: b"", 5: b""}
    while ended != {1, 3, 5}:
        f = spdy.read_frame(raw.read)
        if f.kind == spdy.SYN_REPLY:
            assert spdy.decode_headers(raw.inflate.decompress(f.payload[4:])) == {}
            replied.add(struct.unpack(">I", f.payload[:4])[0])
        elif f.kind == spdy.PING:
            pinged = f.payload == struct.pack(">I", 7)
        elif f.kind == 0:
            assert f.stream_id in replied  # never data before the stream's reply
            data[f.stream_id] += f.payload
            if f.flags & spdy.FLAG_FIN:
                ended.add(f.stream_id)
    assert pinged and replied == {1, 3, 5}
    assert data == {
        1: b"command terminated with non-zero exit code: exit status 3",
        3: b"hi\n",
        5: b"",
    }
    raw.sock.close()
