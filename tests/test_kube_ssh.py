"""The Kubernetes API through --ssh against a sandbox API in its own process (so it can
be frozen) and a real sshd: no one else can use the console's way in, and an API that
stops answering is said to."""

from __future__ import annotations

import base64
import datetime
import http.server
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kubeha_tui.config import SSHTarget
from kubeha_tui.errors import ServiceError
from kubeha_tui.kube.client import KubeClient, KubeError
from kubeha_tui.kube.service import KubeService, KubeSnapshot
from kubeha_tui.kube.transport import ssh_dial, use_dial
from kubeha_tui.sandbox.sshd import Sshd
from kubeha_tui.screens.app import BACKOFF_MAX
from kubeha_tui.ssh import SSHOptions, SSHSession

from .support.waiting import wait_for

pytestmark = pytest.mark.sshd

SECRET_PATH = "/api/v1/namespaces/ceph/secrets/ceph-conf-combined"


@dataclass
class ApiProcess:
    proc: subprocess.Popen[bytes]
    url: str
    kubeconfig: Path


@contextmanager
def api_process(tmp_path: Path, keyring: bytes) -> Iterator[ApiProcess]:
    """``python -m kubeha_tui.sandbox.kube.cluster`` with the Ceph secret seeded."""
    conf, ring = tmp_path / "ceph.conf", tmp_path / "keyring"
    conf.write_text("[global]\nfsid = 00000000-0000-0000-0000-000000000000\n")
    ring.write_bytes(keyring)
    path = tmp_path / "api-kubeconfig"
    cmd = [sys.executable, "-m", "kubeha_tui.sandbox.kube.cluster", "--kubeconfig", str(path),
           "--ceph-conf", str(conf), "--keyring", str(ring)]  # fmt: skip
    log = (tmp_path / "api.log").open("wb")
    proc = subprocess.Popen(cmd, stdout=log, stderr=log)
    try:
        wait_for(path.exists, timeout=30, what="the sandbox API's kubeconfig")
        url = json.loads(path.read_text())["clusters"][0]["cluster"]["server"]
        yield ApiProcess(proc, url, path)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[ApiProcess, Sshd, bytes]]:
    keyring = b"[client.admin]\n\tkey = AQBnot-a-real-key-kubeha-test-marker==\n"
    with api_process(tmp_path, keyring) as api:
        sshd = Sshd(tmp_path / "sshd", env={"KUBECONFIG": str(api.kubeconfig)})
        sshd.start()
        try:
            yield api, sshd, keyring
        finally:
            sshd.kill()


def session_for(sshd: Sshd) -> SSHSession:
    return SSHSession(
        SSHOptions(
            SSHTarget("127.0.0.1", "root", sshd.port),
            identity=str(sshd.user_key),
            known_hosts=str(sshd.known_hosts),
            allow_agent=False,
            timeout=5,
        )
    )


# -- no one but this process uses the way in ---------------------------------------------


def listeners_of(pid: int) -> tuple[set[int], set[str]]:
    """The loopback TCP ports and unix socket names ``pid`` listens on."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    names = set()
    for line in Path("/proc/net/unix").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[3], 16) & 0x10000 and fields[6] in inodes:  # __SO_ACCEPTCON
            names.add(fields[7] if len(fields) > 7 else "<unnamed>")
    return ports, names


ATTACK = """
import sys, urllib.request
marker, path, ports = sys.argv[1], sys.argv[2], sys.argv[3:]
for port in ports:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=3) as r:
            if marker in r.read().decode(errors="replace"):
                print("GOT", port)
    except Exception as exc:
        print("no", port, type(exc).__name__)
"""


def attack(marker: str, ports: set[int], as_user: str | None) -> set[int]:
    """Ports where another process (as ``as_user`` when given) read the keyring."""
    cmd = ["/usr/bin/python3", "-c", ATTACK, marker, SECRET_PATH, *map(str, sorted(ports))]
    if as_user:
        cmd = ["setpriv", f"--reuid={as_user}", "--regid=65534", "--clear-groups", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd="/", check=True)
    return {int(line.split()[1]) for line in out.stdout.splitlines() if line.startswith("GOT")}


def test_no_other_process_or_user_can_use_the_consoles_way_to_the_api(
    node: tuple[ApiProcess, Sshd, bytes],
) -> None:
    _api, sshd, keyring = node
    marker = base64.b64encode(keyring).decode()
    session = session_for(sshd)
    service = KubeService(KubeClient(ssh=session, timeout=5))
    # A listener this process opens on purpose, serving the secret: the attack must
    # find and read it, so it would find a port forward too.
    body = json.dumps({"data": {"ceph.client.admin.keyring": marker}}).encode()

    class Control(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    control = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Control)
    threading.Thread(target=control.serve_forever, daemon=True).start()
    try:
        # The console itself reads the secret and keeps its watches open meanwhile.
        assert (
            service.client.request("GET", SECRET_PATH)["data"]["ceph.client.admin.keyring"]
            == marker
        )
        snap = next(p.data for p in service.poll() if p.final)
        assert isinstance(snap, KubeSnapshot) and snap.pods
        ports, unix_names = listeners_of(os.getpid())
        control_port = control.server_address[1]
        assert ports == {control_port}, "this process listens where it should not"
        assert not unix_names
        for user in (None, "nobody"):
            assert attack(marker, ports, user) == {control_port}, f"as {user or 'root'}"
    finally:
        control.shutdown()
        service.close()
        session.close()


# -- an API that stops answering is not shown as healthy ---------------------------------


class Watcher:
    """Polls a KubeService as the app does (the app's capped backoff between failed
    polls) and keeps what the last poll said."""

    def __init__(self, service: KubeService) -> None:
        self.service = service
        self.state, self.detail = "connecting", ""
        self.snapshot: KubeSnapshot | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        failures = 0
        while not self.stop.is_set():
            try:
                for result in self.service.poll():
                    assert isinstance(result.data, KubeSnapshot)
                    self.snapshot, self.state, self.detail = result.data, "connected", result.detail
                    failures = 0
            except ServiceError as exc:
                self.state, self.detail = "unreachable", str(exc)
                failures += 1
            self.stop.wait(min(BACKOFF_MAX, 2.0**failures))

    def silent_for(self) -> int | None:
        """N in "not answering for N s", or None when the status does not say that."""
        state, detail = self.state, self.detail
        found = re.search(r"not answering for (\d+) s", detail)
        return int(found[1]) if found and state == "unreachable" else None

    def has_pod(self, key: str) -> bool:
        return self.state == "connected" and self.snapshot is not None and key in self.snapshot.pods

    def close(self) -> None:
        self.stop.set()
        self.service.close()
        self.thread.join(timeout=10)


def make_pod(client: KubeClient, name: str) -> None:
    body = {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    client.request("POST", "/api/v1/namespaces/default/pods", body=body,
                   content_type="application/json")  # fmt: skip


def test_a_frozen_api_is_said_to_be_not_answering_and_seen_again_when_it_thaws(
    tmp_path: Path,
) -> None:
    with api_process(tmp_path, b"keyring") as api:
        client = KubeClient(kubeconfig=str(api.kubeconfig), timeout=5)
        watcher = Watcher(KubeService(client))
        try:
            wait_for(
                lambda: watcher.snapshot and watcher.snapshot.synced, timeout=30, what="synced"
            )
            os.kill(api.proc.pid, signal.SIGSTOP)
            try:
                wait_for(lambda: watcher.silent_for() is not None, timeout=30, what="not answering")
                first = watcher.silent_for()
                assert first is not None
                assert f"Kubernetes API at {api.url} not answering" in watcher.detail
                wait_for(lambda: (watcher.silent_for() or 0) > first, timeout=30, what="N counting")
            finally:
                os.kill(api.proc.pid, signal.SIGCONT)
            wait_for(lambda: watcher.state == "connected", timeout=20, what="connected again")
            make_pod(client, "after-thaw")  # the watches work again, not just the probe
            wait_for(lambda: watcher.has_pod("default/after-thaw"), timeout=20, what="new pod")
        finally:
            watcher.close()


def test_kube_over_ssh_recovers_soon_after_sshd_comes_back(
    node: tuple[ApiProcess, Sshd, bytes],
) -> None:
    _api, sshd, _ = node
    session = session_for(sshd)
    client = KubeClient(ssh=session, timeout=5)
    watcher = Watcher(KubeService(client))
    try:
        wait_for(lambda: watcher.snapshot and watcher.snapshot.synced, timeout=30, what="synced")
        sshd.kill()
        wait_for(lambda: watcher.state == "unreachable", timeout=30, what="unreachable")
        wait_for(lambda: session.state == "unreachable", timeout=20, what="ssh unreachable")
        sshd.start()
        wait_for(lambda: watcher.state == "connected", timeout=20, what="connected again")
        make_pod(client, "after-restart")
        wait_for(lambda: watcher.has_pod("default/after-restart"), timeout=20, what="new pod")
        assert session.state == "connected"
    finally:
        watcher.close()
        session.close()


# -- the stream for other protocols: TLS when https, the same headers ---------------------


def make_ca_and_cert(root: Path, name: str) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for ``name`` signed by it."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubeha test CA")])
    now = datetime.datetime.now(datetime.UTC)
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(1)
          .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(2)
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .sign(ca_key, hashes.SHA256()))  # fmt: skip
    paths = root / "ca.pem", root / "server.pem", root / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return paths


@pytest.fixture
def https_api(tmp_path: Path) -> Iterator[tuple[int, Path, list[str]]]:
    """An https server for ``localhost`` answering /version; it records Authorization."""
    ca, cert, key = make_ca_and_cert(tmp_path, "localhost")
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization") or "")
            body = json.dumps({"gitVersion": "v1.31.0"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], ca, seen
    server.shutdown()
    server.server_close()


def https_client(
    port: int, ca: Path, sshd: Sshd, tmp_path: Path, *, host: str, dialled: list[tuple[str, int]]
) -> KubeClient:
    """--ssh with a local kubeconfig naming the https server, its CA and a token."""
    doc = {
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": f"https://{host}:{port}",
                                               "certificate-authority": str(ca)}}],
        "users": [{"name": "u", "user": {"token": "secret-token"}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
    }  # fmt: skip
    path = tmp_path / "https-kubeconfig"
    path.write_text(json.dumps(doc))
    client = KubeClient(kubeconfig=str(path), timeout=10)
    # --ssh takes only the server from the node; here the CA and token come from a
    # local kubeconfig, then every connection goes over SSH as with --ssh.
    api = client.api()
    session = session_for(sshd)
    real = session.socket_to

    def counting(host: str, port: int) -> socket.socket:
        dialled.append((host, port))
        return real(host, port)

    session.socket_to = counting  # type: ignore[method-assign]
    use_dial(api, ssh_dial(session))
    client.ssh = session
    return client


def test_https_over_ssh_is_verified_tls_for_requests_and_for_dial(
    sshd: Sshd, https_api: tuple[int, Path, list[str]], tmp_path: Path
) -> None:
    port, ca, seen = https_api
    dialled: list[tuple[str, int]] = []
    client = https_client(port, ca, sshd, tmp_path, host="localhost", dialled=dialled)
    assert client.request("GET", "/version") == {"gitVersion": "v1.31.0"}
    assert seen == ["Bearer secret-token"]
    assert dialled == [("localhost", port)]  # over SSH, resolved on the node
    headers = client.request_headers()
    assert headers["authorization"] == "Bearer secret-token" and "User-Agent" in headers
    # dial(): a TLS stream (verified against the kubeconfig's CA) for other protocols.
    direct = client.dial(timeout=5)
    assert isinstance(direct, ssl.SSLSocket) and direct.server_hostname == "localhost"
    request = "GET /version HTTP/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    direct.sendall((request + "\r\n").encode())
    assert direct.makefile("rb").readline().startswith(b"HTTP/1.0 200")
    direct.close()
    assert seen[-1] == "Bearer secret-token"
    assert dialled == [("localhost", port)] * 2


def test_a_server_certificate_for_another_name_is_refused(
    sshd: Sshd, https_api: tuple[int, Path, list[str]], tmp_path: Path
) -> None:
    port, ca, seen = https_api
    dialled: list[tuple[str, int]] = []
    client = https_client(
        port, ca, sshd, tmp_path, host="127.0.0.1", dialled=dialled
    )  # cert: localhost
    with pytest.raises(KubeError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
        client.request("GET", "/version")
    with pytest.raises(KubeError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
        client.dial(timeout=5)
    assert seen == [] and len(dialled) == 2
