"""The SSH layer against a real OpenSSH sshd on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import http.client
import http.server
import shutil
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
    HostKeyRevoked,
    HostKeyUnknown,
    SSHError,
    SSHOptions,
    SSHSession,
    SSHTimeout,
    SSHUnavailable,
    parse_jump,
    resolve_host,
)

from .support.stall import stalled_server
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
    outage = time.monotonic() + 8  # callers keep trying, as the polls do: the backoff grows
    while time.monotonic() < outage:
        with pytest.raises(SSHError):
            s.run("true", timeout=5)
        time.sleep(0.2)
    sshd.start()
    # The backoff is capped at a few seconds, so recovery follows soon (it was 30 s).
    result = wait_for(lambda: s.run("echo after"), timeout=6, what="reconnect")
    assert result.stdout == "after\n"
    assert states[-1] == ("connected", None)
    s.close()


def test_ssh_config_alias(sshd: Sshd, tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text(
        f"""Host node1
    HostName 127.0.0.1
    Port {sshd.port}
    User root
    IdentityFile {sshd.user_key}
"""
    )
    spec = resolve_host(SSHTarget("node1"), config)
    assert (spec.hostname, spec.port, spec.user) == ("127.0.0.1", sshd.port, "root")
    s = SSHSession(options(sshd, target=SSHTarget("node1"), identity=None, ssh_config=config))
    assert s.run("echo alias").stdout == "alias\n"
    s.close()


def logins(server: Sshd) -> int:
    return (server.root / "sshd.log").read_text().count("Accepted publickey for root")


@pytest.mark.parametrize(
    ("jump", "hops"),
    [
        ("ssh://root@127.0.0.1:{port}", 1),
        ("root@127.0.0.1:{port}", 1),
        ("ssh://root@127.0.0.1:{port}/,root@127.0.0.1:{port}", 2),  # two hops, both here
    ],
)
def test_proxyjump_goes_through_the_bastion(
    sshd: Sshd, tmp_path: Path, jump: str, hops: int
) -> None:
    target = Sshd(tmp_path / "target")
    shutil.copy(sshd.user_key.with_suffix(".pub"), target.root / "authorized_keys")
    target.start()
    try:
        known = tmp_path / "known_hosts"
        known.write_text(sshd.known_hosts_line() + target.known_hosts_line())
        config = tmp_path / "ssh_config"
        config.write_text(
            f"Host behind-bastion\n    HostName 127.0.0.1\n    Port {target.port}\n"
            f"    User root\n    ProxyJump {jump.format(port=sshd.port)}\n"
        )
        spec = resolve_host(SSHTarget("behind-bastion"), config)
        assert [parse_jump(h).user for h in spec.proxy_jump] == ["root"] * hops
        before = logins(sshd), logins(target)
        s = SSHSession(options(sshd, target=SSHTarget("behind-bastion"), known_hosts=str(known),
                               ssh_config=config))  # fmt: skip
        assert s.run("echo jumped").stdout == "jumped\n"
        s.close()
        # Each hop logged in on the bastion, then once on the target.
        assert (logins(sshd), logins(target)) == (before[0] + hops, before[1] + 1)
    finally:
        target.kill()


def test_a_bad_proxyjump_is_a_clear_error(sshd: Sshd, tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text("Host x\n    HostName 127.0.0.1\n    ProxyJump ssh://root@[nope\n")
    with pytest.raises(SSHError, match=r"ProxyJump 'ssh://root@\[nope': expected"):
        SSHSession(options(sshd, target=SSHTarget("x"), ssh_config=config)).run("true")


# -- known_hosts as OpenSSH reads it --------------------------------------------------


def openssh_accepts(sshd: Sshd, known: Path) -> bool:
    """What OpenSSH's own client says about the same known_hosts file."""
    result = subprocess.run(
        ["ssh", "-F", "none", "-o", f"UserKnownHostsFile={known}", "-o", "GlobalKnownHostsFile=/dev/null",
         "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes",
         "-o", "HostKeyAlgorithms=ssh-ed25519", "-i", str(sshd.user_key), "-p", str(sshd.port),
         "root@127.0.0.1", "true"],
        check=False, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return result.returncode == 0


def ours_accepts(sshd: Sshd, known: Path) -> bool:
    try:
        SSHSession(options(sshd, known_hosts=str(known))).run("true")
    except (HostKeyChanged, HostKeyUnknown, HostKeyRevoked):
        return False
    return True


KNOWN_HOSTS_CASES = {
    # name: (lines, accepted)
    "markers for other keys, then the right line": (
        ["@cert-authority *.example.com {other}", "@revoked 10.0.0.9 {other}", "{right}"], True),
    "a wrong line, then the right one": (["{wrong}", "{right}"], True),
    "the right line, then a wrong one": (["{right}", "{wrong}"], True),
    "only a wrong line": (["{wrong}"], False),
    "the key revoked, though also listed": (["{right}", "@revoked {host} {key}"], False),
    "the key only as a cert-authority": (["@cert-authority {host} {key}"], False),
    "the same host on another port": (["[127.0.0.1]:1 {key}"], False),
    "a pattern with a wildcard": (["[127.0.0.?]:{port} {key}"], True),
    "a negated pattern": (["[127.0.0.*]:{port},![127.0.0.1]:{port} {key}"], False),
    "a comment and a malformed line": (["# note", "garbage", "{right}"], True),
}  # fmt: skip


@pytest.mark.parametrize("case", list(KNOWN_HOSTS_CASES))
def test_known_hosts_lines_are_read_as_openssh_reads_them(
    sshd: Sshd, tmp_path: Path, case: str
) -> None:
    lines, accepted = KNOWN_HOSTS_CASES[case]
    other = keygen(tmp_path / "other").with_suffix(".pub").read_text().split()[:2]
    host, *key = sshd.known_hosts_line().split()
    values = {"right": sshd.known_hosts_line().strip(), "wrong": f"{host} {' '.join(other)}",
              "other": " ".join(other), "host": host, "key": " ".join(key), "port": sshd.port}  # fmt: skip
    known = tmp_path / "known_hosts"
    known.write_text("".join(line.format(**values) + "\n" for line in lines))
    assert openssh_accepts(sshd, known) == accepted  # the reference
    assert ours_accepts(sshd, known) == accepted


def test_hashed_known_hosts_entries_match(sshd: Sshd) -> None:
    subprocess.run(["ssh-keygen", "-H", "-f", str(sshd.known_hosts)], check=True,
                   capture_output=True)  # fmt: skip
    assert sshd.known_hosts.read_text().startswith("|1|")
    assert SSHSession(options(sshd)).run("echo hashed").stdout == "hashed\n"


def test_a_revoked_key_is_refused_with_the_line(sshd: Sshd) -> None:
    key = sshd.known_hosts_line().split()[1:]
    sshd.known_hosts.write_text(sshd.known_hosts_line() + f"@revoked * {' '.join(key)}\n")
    with pytest.raises(HostKeyRevoked, match=r"marks @revoked \(line 2\)"):
        SSHSession(options(sshd, accept_new_host_key=True)).run("true")


# -- authentication failures say what was tried -------------------------------------------


def test_an_agent_without_keys_is_an_authentication_failure(
    sshd: Sshd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        wait_for(sock.exists, what="ssh-agent socket")
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ssh/id_* either
        with pytest.raises(SSHError) as err:
            SSHSession(options(sshd, identity=None, allow_agent=True)).run("true")
        assert "authentication failed" in str(err.value)
        assert "tried no key files, ssh-agent (no keys)" in str(err.value)
        assert "cannot reach" not in str(err.value)
    finally:
        agent.terminate()
        agent.wait()


def test_a_bad_identity_file_is_an_authentication_failure(sshd: Sshd, tmp_path: Path) -> None:
    bad = tmp_path / "id_bad"
    bad.write_text(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    with pytest.raises(SSHError) as err:
        SSHSession(options(sshd, identity=str(bad))).run("true")
    assert "authentication failed" in str(err.value) and f"tried key {bad}" in str(err.value)


# -- a slow connect blocks no one else ---------------------------------------------------


def test_a_slow_connect_does_not_hold_the_session_lock(tmp_path: Path) -> None:
    with stalled_server() as port:  # accepts, never sends a banner
        session = SSHSession(SSHOptions(SSHTarget("127.0.0.1", "root", port), allow_agent=False,
                                        known_hosts=str(tmp_path / "kh"), timeout=5))  # fmt: skip
        errors: list[Exception] = []

        def connect() -> None:
            try:
                session.client()
            except SSHError as exc:
                errors.append(exc)

        connecting = threading.Thread(target=connect, daemon=True)
        connecting.start()
        wait_for(lambda: session._attempt is not None, what="the connect under way")
        session.close()  # must not wait for the connect
        session.options = dataclasses.replace(session.options, timeout=0.2)
        with pytest.raises(SSHUnavailable, match="still connecting"):
            session.client()  # waits for the attempt a bounded time, then says so
        assert connecting.is_alive()  # the first connect is still waiting for its banner
        connecting.join(timeout=15)
        assert errors and "cannot reach" in str(errors[0])


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


def test_a_bug_while_connecting_is_said_and_does_not_wedge_the_session(sshd: Sshd) -> None:
    session = SSHSession(options(sshd))

    def broken() -> None:
        raise ValueError("boom")

    session._connect = broken  # type: ignore[method-assign,assignment]
    with pytest.raises(SSHError, match=r"unexpected error connecting to .*ValueError: boom"):
        session.client()
    assert session.state == "unreachable"
    del session._connect  # the real one again: the next attempt (after the backoff) works
    result = wait_for(lambda: session.run("echo ok"), timeout=10, what="a working session")
    assert result.stdout == "ok\n"
    session.close()
