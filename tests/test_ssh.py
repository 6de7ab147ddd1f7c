"""The SSH layer against a real OpenSSH sshd on 127.0.0.1."""

from __future__ import annotations

import http.client
import http.server
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeha_tui.config import SSHTarget
from kubeha_tui.sandbox.sshd import Sshd, keygen
from kubeha_tui.ssh import (
    HostKeyChanged,
    HostKeyUnknown,
    SSHError,
    SSHOptions,
    SSHSession,
    SSHTimeout,
    resolve_host,
)

from .support.waiting import wait_for

pytestmark = pytest.mark.sshd


def options(sshd: Sshd, **kw: object) -> SSHOptions:
    base: dict[str, object] = {
        "target": SSHTarget("127.0.0.1", "root", sshd.port),
        "identity": str(sshd.user_key),
        "known_hosts": str(sshd.known_hosts),
        "allow_agent": False,
        "timeout": 5.0,
        "ssh_config": sshd.root / "no-ssh-config",
    }
    base.update(kw)
    return SSHOptions(**base)  # type: ignore[arg-type]


@pytest.fixture
def session(sshd: Sshd) -> Iterator[SSHSession]:
    s = SSHSession(options(sshd))
    yield s
    s.close()


def test_key_file_auth_runs_a_command(session: SSHSession) -> None:
    result = session.run("echo hello; echo oops >&2; exit 3")
    assert (result.exit_status, result.stdout, result.stderr) == (3, "hello\n", "oops\n")
    assert session.state == "connected"


def test_agent_auth(sshd: Sshd, tmp_path: Path) -> None:
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        wait_for(sock.exists, what="ssh-agent socket")
        env = {"SSH_AUTH_SOCK": str(sock), "PATH": "/usr/bin:/bin"}
        subprocess.run(["ssh-add", str(sshd.user_key)], env=env, check=True, capture_output=True)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("SSH_AUTH_SOCK", str(sock))
            s = SSHSession(options(sshd, identity=None, allow_agent=True))
            assert s.run("echo via-agent").stdout == "via-agent\n"
            s.close()
    finally:
        agent.terminate()
        agent.wait()


def test_wrong_key_is_a_clear_auth_error(sshd: Sshd, tmp_path: Path) -> None:
    other = keygen(tmp_path / "other")
    with pytest.raises(SSHError, match="authentication failed"):
        SSHSession(options(sshd, identity=str(other))).run("true")


def test_unknown_host_is_refused_with_fingerprint(sshd: Sshd) -> None:
    sshd.known_hosts.write_text("")
    with pytest.raises(HostKeyUnknown) as err:
        SSHSession(options(sshd)).run("true")
    assert sshd.fingerprint() in str(err.value)
    assert "--accept-new-host-key" in str(err.value)
    assert sshd.known_hosts.read_text() == ""


def test_accept_new_host_key_records_it(sshd: Sshd) -> None:
    sshd.known_hosts.unlink()
    s = SSHSession(options(sshd, accept_new_host_key=True))
    assert s.run("echo ok").stdout == "ok\n"
    s.close()
    assert sshd.known_hosts.read_text() == sshd.known_hosts_line()
    # Recorded: the next connection needs no flag.
    assert SSHSession(options(sshd)).run("echo again").stdout == "again\n"


def test_changed_host_key_is_always_refused(sshd: Sshd, tmp_path: Path) -> None:
    impostor = keygen(tmp_path / "impostor")
    sshd.known_hosts.write_text(sshd.known_hosts_line(impostor.with_suffix(".pub")))
    before = sshd.known_hosts.read_text()
    with pytest.raises(HostKeyChanged, match="REMOTE HOST IDENTIFICATION HAS CHANGED") as err:
        SSHSession(options(sshd, accept_new_host_key=True)).run("true")
    assert sshd.fingerprint() in str(err.value)
    assert sshd.known_hosts.read_text() == before


def test_exec_stream_round_trip(session: SSHSession) -> None:
    chan = session.exec_stream("cat")
    payload = b"GET /fleet/v1/units HTTP/1.1\r\nHost: domain-sock\r\n\r\n" * 100
    chan.sendall(payload)
    chan.shutdown_write()
    got = bytearray()
    while chunk := chan.recv(65536):
        got += chunk
    assert bytes(got) == payload
    chan.close()


@pytest.fixture
def http_server() -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"you asked for {self.path}".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()


def test_direct_tcpip_channel_and_private_socket(session: SSHSession, http_server: int) -> None:
    chan = session.direct_tcpip("localhost", http_server)  # name resolved on the remote side
    chan.sendall(b"GET /raw HTTP/1.0\r\n\r\n")
    reply = bytearray()
    while chunk := chan.recv(4096):
        reply += chunk
    assert reply.startswith(b"HTTP/1.0 200") and reply.endswith(b"you asked for /raw")

    for path in ("/version", "/api/v1/pods"):  # several sockets, one SSH connection
        sock = session.socket_to("127.0.0.1", http_server)
        assert sock.family == socket.AF_UNIX  # a socket pair: nothing listens for it
        conn = http.client.HTTPConnection("node")
        conn.sock = sock
        conn.request("GET", path)
        assert conn.getresponse().read() == f"you asked for {path}".encode()
        conn.close()


def test_command_timeout_does_not_hang(session: SSHSession) -> None:
    started = time.monotonic()
    with pytest.raises(SSHTimeout):
        session.run("sleep 30", timeout=0.5)
    assert time.monotonic() - started < 5


def test_sshd_killed_then_restarted_reconnects(sshd: Sshd) -> None:
    states: list[tuple[str, str | None]] = []
    s = SSHSession(options(sshd), on_state=lambda st, why: states.append((st, why)))
    assert s.run("echo before").stdout == "before\n"
    sshd.kill()
    started = time.monotonic()
    with pytest.raises(SSHError):
        s.run("true", timeout=5)
    assert time.monotonic() - started < 5
    assert states[-1][0] == "unreachable"
    sshd.start()
    result = wait_for(lambda: s.run("echo after"), timeout=30, what="reconnect")
    assert result.stdout == "after\n"
    assert states[-1] == ("connected", None)
    s.close()


def test_ssh_config_alias_and_proxyjump(sshd: Sshd, tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(
        f"""Host node1
    HostName 127.0.0.1
    Port {sshd.port}
    User root
    IdentityFile {sshd.user_key}

Host behind-bastion
    HostName 127.0.0.1
    Port {sshd.port}
    User root
    IdentityFile {sshd.user_key}
    ProxyJump node1
"""
    )
    spec = resolve_host(SSHTarget("node1"), config)
    assert (spec.hostname, spec.port, spec.user) == ("127.0.0.1", sshd.port, "root")
    s = SSHSession(options(sshd, target=SSHTarget("node1"), identity=None, ssh_config=config))
    assert s.run("echo alias").stdout == "alias\n"
    s.close()
    jumped = SSHSession(
        options(sshd, target=SSHTarget("behind-bastion"), identity=None, ssh_config=config)
    )
    result = jumped.run("echo $SSH_CONNECTION")
    jumped.close()
    # The second hop comes from the bastion (127.0.0.1 too), over its own TCP connection.
    assert result.stdout.split()[2] == "127.0.0.1"


def test_unreachable_port_fails_fast_with_reason(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    session = SSHSession(
        SSHOptions(
            SSHTarget("127.0.0.1", "root", port),
            known_hosts=str(tmp_path / "kh"),
            allow_agent=False,
        )
    )
    with pytest.raises(SSHError, match="cannot reach"):
        session.run("true")
    assert session.state == "unreachable"
