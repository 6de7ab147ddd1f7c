"""The Kubernetes API through --ssh against a sandbox API in its own process (so it can
be frozen) and a real sshd: no one else can use the console's way in, and an API that
stops answering is said to."""

from __future__ import annotations

import base64
import http.server
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubeha_tui.config import SSHTarget
from kubeha_tui.kube.client import KubeClient
from kubeha_tui.kube.service import KubeService, KubeSnapshot
from kubeha_tui.sandbox.sshd import Sshd
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
