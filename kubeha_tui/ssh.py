"""SSH to a stack node with paramiko: host-key checks, channels and reconnects.

- Hosts resolve through ``~/.ssh/config`` or ``--ssh-config`` (Host, HostName, User,
  Port, IdentityFile, UserKnownHostsFile, ProxyJump, also ``ssh://user@host:port``
  hops); keys come from
  ``--identity``, that config, the agent (``SSH_AUTH_SOCK``) or the default key
  files. A failed login says which keys and agent were tried.
- Host keys are checked against known_hosts as OpenSSH does (known_hosts.py):
  unknown keys are refused with their fingerprint unless
  ``accept_new_host_key`` records them; changed and revoked keys always are.
- One shared connection serves exec streams (``fleetctl fd-forward``),
  direct-tcpip channels (also as a process-private socket, never a listener),
  and plain commands with a timeout. A dropped connection is reported and
  re-opened on the next use, with a backoff capped at RECONNECT_MAX.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import select
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubeha_tui import known_hosts
from kubeha_tui.config import (
    DEFAULT_SSH_USER,
    ConfigError,
    Settings,
    SSHTarget,
    parse_ssh_target,
)
from kubeha_tui.errors import ServiceError

if TYPE_CHECKING:  # paramiko takes 0.25 s to import: loaded by the first connection
    import paramiko

log = logging.getLogger(__name__)

DEFAULT_KEY_FILES = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")
MAX_OUTPUT = 4 * 1024 * 1024
RECONNECT_MAX = 2.0  # seconds: the longest wait between reconnects, so recovery is quick

StateCallback = Callable[[str, str | None], None]


class SSHError(ServiceError):
    """SSH failed; the message says what and what to try."""


class HostKeyUnknown(SSHError):
    pass


class HostKeyChanged(SSHError):
    pass


class SSHUnavailable(SSHError):
    """The connection is down and the next attempt is not due yet."""


class SSHTimeout(SSHError):
    pass


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's ``SHA256:...`` fingerprint."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    return host if port == 22 else f"[{host}]:{port}"


@dataclass(frozen=True)
class HostSpec:
    """A host as ``~/.ssh/config`` resolves it."""

    alias: str
    hostname: str
    port: int
    user: str
    identity_files: tuple[str, ...] = ()
    proxy_jump: tuple[str, ...] = ()
    known_hosts: str | None = None  # UserKnownHostsFile's first file

    def __str__(self) -> str:
        return f"{self.user}@{self.hostname}:{self.port}"


def resolve_host(target: SSHTarget, ssh_config: Path | None = None) -> HostSpec:
    """Apply ``~/.ssh/config`` to a target; explicit user and port win."""
    import paramiko  # noqa: PLC0415 - see TYPE_CHECKING above

    path = ssh_config or Path("~/.ssh/config").expanduser()
    cfg = paramiko.SSHConfig.from_path(str(path)) if path.exists() else paramiko.SSHConfig()
    found = cfg.lookup(target.host)
    jump = found.get("proxyjump", "")
    known = found.get("userknownhostsfile", "").split()
    return HostSpec(
        alias=target.host,
        hostname=found.get("hostname", target.host),
        port=target.port or int(found.get("port", 22)),
        user=target.user or found.get("user") or DEFAULT_SSH_USER,
        identity_files=tuple(os.path.expanduser(p) for p in found.get("identityfile", [])),
        proxy_jump=tuple(
            h.strip() for h in jump.split(",") if h.strip() and jump.lower() != "none"
        ),
        known_hosts=os.path.expanduser(known[0]) if known else None,
    )


@dataclass(frozen=True)
class SSHOptions:
    target: SSHTarget
    identity: str | None = None
    known_hosts: str | None = None  # default ~/.ssh/known_hosts
    accept_new_host_key: bool = False
    ssh_config: Path | None = None
    timeout: float = 10.0
    keepalive: int = 15
    allow_agent: bool = True

    @property
    def known_hosts_path(self) -> Path:
        return Path(self.known_hosts or "~/.ssh/known_hosts").expanduser()

    def known_hosts_for(self, spec: HostSpec) -> Path:
        """``--known-hosts``, else the host's UserKnownHostsFile, else ~/.ssh/known_hosts."""
        if self.known_hosts is None and spec.known_hosts:
            return Path(spec.known_hosts)
        return self.known_hosts_path


def ssh_options(settings: Settings, target: SSHTarget) -> SSHOptions:
    """The options of ``settings`` (keys, known_hosts, SSH config) for ``target``."""
    return SSHOptions(
        target=target,
        identity=settings.identity,
        known_hosts=settings.known_hosts,
        accept_new_host_key=settings.accept_new_host_key,
        ssh_config=Path(settings.ssh_config) if settings.ssh_config else None,
    )


class HostKeyRevoked(SSHError):
    pass


class _HostKeyPolicy:
    """Every host key is checked here, against known_hosts read as OpenSSH reads it:
    revoked or changed keys are refused, unknown ones refused with their fingerprint
    or recorded when allowed. ``verified`` says the host proved who it is.

    paramiko's MissingHostKeyPolicy interface (it only calls ``missing_host_key``),
    not a subclass, so that paramiko is imported by the first connection only."""

    def __init__(self, path: Path, accept_new: bool) -> None:
        self.path, self.accept_new = path, accept_new
        self.entries = known_hosts.load(path)
        self.verified = False

    def missing_host_key(
        self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey
    ) -> None:
        fp = f"{key.get_name()} key {fingerprint(key)}"
        verdict = known_hosts.check(self.entries, hostname, key.get_name(), key.asbytes())
        lines = ", ".join(str(e.line) for e in verdict.lines)
        if verdict.status == "revoked":
            raise HostKeyRevoked(
                f"host {hostname} offers the {fp}, which {self.path} marks @revoked "
                f"(line {lines}); refusing to connect."
            )
        if verdict.status == "changed":
            recorded = ", ".join(f"{fingerprint_of(e.blob)} (line {e.line})" for e in verdict.lines)
            raise HostKeyChanged(
                f"WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED for {hostname}. It now "
                f"offers the {fp}, but {self.path} records {recorded}. Someone could be "
                "intercepting the connection, or the node was rebuilt; refusing to connect. If "
                "the change is expected, remove the old line from known_hosts (ssh-keygen -R HOST)."
            )
        if verdict.status == "ok":
            self.verified = True
            return
        others = (
            f" (keys of other types are known for it: {', '.join(verdict.other_types)})"
            if verdict.other_types
            else ""
        )
        if not self.accept_new:
            raise HostKeyUnknown(
                f"host {hostname} is not in {self.path}{others}; its {fp}. If that is the "
                "node's key, run again with --accept-new-host-key to record it."
            )
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with self.path.open("a") as out:
            out.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        self.verified = True
        log.warning("recorded new host key for %s (%s) in %s", hostname, fp, self.path)


def _connect_error(exc: BaseException) -> str:
    """Why a connection failed: paramiko's "[Errno None] Unable to connect to port 22 on
    H" says only that; the socket error it holds ("Connection refused") says why."""
    errors = getattr(exc, "errors", None)  # paramiko's NoValidConnectionsError
    if isinstance(errors, dict) and errors:
        first = next(iter(errors.values()))
        return str(getattr(first, "strerror", None) or first)
    return str(exc) or type(exc).__name__


def fingerprint_of(blob: bytes) -> str:
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _transport_factory(preferred: list[str]) -> Callable[..., paramiko.Transport]:
    """Transports that ask for the host key types known_hosts holds first (as OpenSSH
    orders HostKeyAlgorithms), so a host with several keys shows the recorded one."""
    wanted = [
        alg
        for kind in preferred
        for alg in (("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa") if kind == "ssh-rsa" else (kind,))
    ]

    def factory(sock: Any, **kw: Any) -> paramiko.Transport:
        import paramiko  # noqa: PLC0415 - see TYPE_CHECKING above

        transport = paramiko.Transport(sock, **kw)
        options = transport.get_security_options()
        offered = list(options.key_types)
        first = [k for k in wanted if k in offered]
        options.key_types = [*first, *(k for k in offered if k not in first)]
        return transport

    return factory


def agent_keys() -> str:
    """What the agent offers, for an authentication failure message."""
    import paramiko  # noqa: PLC0415 - see TYPE_CHECKING above

    if not os.environ.get("SSH_AUTH_SOCK"):
        return "no ssh-agent (SSH_AUTH_SOCK is not set)"
    try:
        agent = paramiko.Agent()
        count = len(agent.get_keys())
        agent.close()
    except (paramiko.SSHException, OSError) as exc:
        return f"ssh-agent (unusable: {exc})"
    return f"ssh-agent ({count} key{'s' if count != 1 else ''})" if count else "ssh-agent (no keys)"


def parse_jump(text: str) -> SSHTarget:
    """One ProxyJump hop: ``[user@]host[:port]`` or ``ssh://[user@]host[:port]``."""
    hop = text.strip()
    if hop.lower().startswith("ssh://"):
        hop = hop[len("ssh://") :].rstrip("/")
    try:
        return parse_ssh_target(hop)
    except ConfigError:
        raise SSHError(
            f"ProxyJump {text!r}: expected [user@]host[:port] or ssh://[user@]host[:port]"
        ) from None


@dataclass(frozen=True)
class CommandResult:
    exit_status: int
    stdout: str
    stderr: str


def run_local(command: str, timeout: float) -> CommandResult:
    """``command`` in a local shell, as ``SSHSession.run`` runs it on a node."""
    try:
        done = subprocess.run(
            ["/bin/sh", "-c", command], capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise SSHTimeout(f"{command!r} took over {timeout:g}s") from None
    return CommandResult(done.returncode, done.stdout, done.stderr)


@dataclass
class SSHSession:
    """One shared connection to ``options.target``, re-opened when it drops.

    ``on_state(state, reason)`` is called with ``connected`` or
    ``unreachable`` whenever that changes (from whichever thread noticed).
    """

    options: SSHOptions
    on_state: StateCallback | None = None
    via: SSHSession | None = None  # reach the host through this session (a second hop)
    _client: paramiko.SSHClient | None = field(default=None, init=False)
    _jumps: list[paramiko.SSHClient] = field(default_factory=list, init=False)
    _pending_jumps: list[paramiko.SSHClient] = field(default_factory=list, init=False)
    _attempt: threading.Event | None = field(default=None, init=False)  # a connect under way
    _generation: int = field(default=0, init=False)  # close() counts up
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _failures: int = field(default=0, init=False)
    _next_attempt: float = field(default=0.0, init=False)
    _last_error: str | None = field(default=None, init=False)
    _state: str = field(default="connecting", init=False)

    @property
    def state(self) -> str:
        return self._state

    def _set_state(self, state: str, reason: str | None) -> None:
        if (state, reason) != (self._state, self._last_error if state != "connected" else None):
            log.info("ssh %s: %s%s", self.options.target, state, f" ({reason})" if reason else "")
        self._state = state
        if self.on_state:
            self.on_state(state, reason)

    # -- connecting ------------------------------------------------------------

    def _open(self, spec: HostSpec, sock: paramiko.Channel | None) -> paramiko.SSHClient:
        import paramiko  # noqa: PLC0415 - see TYPE_CHECKING above

        opts = self.options
        client = paramiko.SSHClient()
        path = opts.known_hosts_for(spec)
        policy = _HostKeyPolicy(path, opts.accept_new_host_key)
        client.set_missing_host_key_policy(policy)  # type: ignore[arg-type]  # duck-typed; no keys loaded: the policy sees all
        name = known_hosts_name(spec.hostname, spec.port)
        factory = _transport_factory(known_hosts.known_types(policy.entries, name))
        keys = [opts.identity] if opts.identity else list(spec.identity_files)
        keys = [os.path.expanduser(k) for k in keys]
        for key in keys:
            if not os.path.exists(key):
                raise SSHError(f"identity file {key} does not exist")
        if not keys:
            keys = [k for k in map(os.path.expanduser, DEFAULT_KEY_FILES) if os.path.exists(k)]
        try:
            client.connect(
                spec.hostname, spec.port, username=spec.user, key_filename=keys or None,  # type: ignore[arg-type]  # paramiko takes a list too
                allow_agent=opts.allow_agent, look_for_keys=False, sock=sock,
                timeout=opts.timeout, banner_timeout=opts.timeout, auth_timeout=opts.timeout,
                channel_timeout=opts.timeout, transport_factory=factory,
            )  # fmt: skip
        except SSHError:
            client.close()
            raise
        except paramiko.PasswordRequiredException:
            client.close()
            raise SSHError(f"{spec}: the key needs a passphrase; add it to ssh-agent") from None
        except paramiko.SSHException as exc:
            client.close()
            if not policy.verified:  # no SSH conversation got as far as the host key
                raise SSHError(f"cannot reach {spec}: {exc or type(exc).__name__}") from None
            tried = [f"key {k}" for k in keys] or ["no key files"]
            if opts.allow_agent:
                tried.append(agent_keys())
            raise SSHError(
                f"{spec}: authentication failed ({exc or type(exc).__name__}); tried "
                f"{', '.join(tried)}. Give a key with --identity or load it into ssh-agent"
            ) from None
        except (OSError, EOFError) as exc:
            client.close()
            raise SSHError(f"cannot reach {spec}: {_connect_error(exc)}") from None
        transport = client.get_transport()
        assert transport is not None
        transport.set_keepalive(self.options.keepalive)
        return client

    def _connect(self) -> paramiko.SSHClient:
        spec = resolve_host(self.options.target, self.options.ssh_config)
        jumps: list[paramiko.SSHClient] = []
        sock: paramiko.Channel | None = None
        self._pending_jumps = []
        if self.via is not None:
            try:
                chan = self.via.direct_tcpip(spec.hostname, spec.port)
            except SSHError as exc:
                raise SSHError(
                    f"cannot reach {spec} through {self.via.options.target}: {exc}"
                ) from None
            return self._open(spec, chan)
        try:
            hops = [resolve_host(parse_jump(h), self.options.ssh_config) for h in spec.proxy_jump]
            for hop in [*hops, spec]:
                if jumps:
                    sock = self._channel(jumps[-1], "direct-tcpip", (hop.hostname, hop.port))
                client = self._open(hop, sock)
                jumps.append(client)
        except SSHError:
            for c in jumps:
                c.close()
            raise
        self._pending_jumps = jumps[:-1]
        return jumps[-1]

    def _channel(
        self, client: paramiko.SSHClient, kind: str, dest: tuple[str, int] | None = None
    ) -> paramiko.Channel:
        import paramiko  # noqa: PLC0415 - see TYPE_CHECKING above

        transport = client.get_transport()
        if transport is None or not transport.is_active():
            raise SSHError("connection closed")
        try:
            if kind == "session":
                return transport.open_session(timeout=self.options.timeout)
            return transport.open_channel(
                kind, dest, ("127.0.0.1", 0), timeout=self.options.timeout
            )
        except (paramiko.SSHException, OSError, EOFError) as exc:
            where = f" to {dest[0]}:{dest[1]}" if dest else ""
            raise SSHError(f"cannot open {kind} channel{where}: {exc}") from None

    def client(self) -> paramiko.SSHClient:
        """The live connection; reconnects when it dropped and the backoff allows.

        The lock only guards the fields: one caller connects, outside it, while the
        others wait for that attempt (at most ``options.timeout``) instead of queueing
        on the lock behind a slow connect.
        """
        while True:
            dropped = mine = False
            with self._lock:
                if self._client is not None:
                    transport = self._client.get_transport()
                    if transport is not None and transport.is_active():
                        return self._client
                    self._drop_locked("connection lost")
                    dropped = True
                attempt = self._attempt
                if attempt is None:
                    now = time.monotonic()
                    if now < self._next_attempt:
                        raise SSHUnavailable(
                            f"{self._last_error}; retrying in {self._next_attempt - now:.0f}s"
                        )
                    attempt = self._attempt = threading.Event()
                    generation, mine = self._generation, True
            if dropped:
                self._set_state("unreachable", "connection lost")
            if mine:
                return self._connect_now(attempt, generation)
            if not attempt.wait(self.options.timeout):
                raise SSHUnavailable(f"still connecting to {self.options.target}")
            # The attempt ended: the next round returns its connection or its error.

    def _connect_now(self, attempt: threading.Event, generation: int) -> paramiko.SSHClient:
        try:
            client = self._connect()
        except Exception as exc:  # whatever it was, the waiters must not wait forever
            message = str(exc)
            if not isinstance(exc, SSHError):  # a bug: said as one, logged in full
                log.exception("connecting to %s failed", self.options.target)
                message = f"unexpected error connecting to {self.options.target}: {type(exc).__name__}: {exc}"
            with self._lock:
                self._failures += 1
                delay = min(RECONNECT_MAX, 0.5 * 2 ** (self._failures - 1))
                self._next_attempt = time.monotonic() + delay
                self._last_error = message
                self._attempt = None
            attempt.set()
            self._set_state("unreachable", message)
            if isinstance(exc, SSHError):
                raise
            raise SSHError(message) from exc
        with self._lock:
            self._attempt = None
            if generation != self._generation:  # closed meanwhile: do not keep it
                client.close()
                for jump in self._pending_jumps:
                    jump.close()
                attempt.set()
                raise SSHUnavailable(f"the connection to {self.options.target} was closed")
            self._client, self._jumps = client, self._pending_jumps
            self._failures, self._next_attempt, self._last_error = 0, 0.0, None
        attempt.set()
        self._set_state("connected", None)
        return client

    def _drop_locked(self, reason: str) -> None:
        for c in [self._client, *self._jumps]:
            if c is not None:
                c.close()
        self._client, self._jumps = None, []
        self._last_error = reason

    def close(self) -> None:
        with self._lock:
            self._generation += 1
            for c in [self._client, *self._jumps]:
                if c is not None:
                    c.close()
            self._client, self._jumps = None, []

    # -- channels --------------------------------------------------------------

    def _open_channel(self, kind: str, dest: tuple[str, int] | None = None) -> paramiko.Channel:
        """A channel on the live connection; one retry when the connection proves dead."""
        for attempt in (1, 2):
            client = self.client()
            try:
                return self._channel(client, kind, dest)
            except SSHError:
                transport = client.get_transport()
                if attempt == 2 or (transport is not None and transport.is_active()):
                    raise
                with self._lock:
                    dropped = self._client is client
                    if dropped:
                        self._drop_locked("connection lost")
                if dropped:
                    self._set_state("unreachable", "connection lost")
        raise AssertionError("unreachable")

    def exec_stream(self, command: str) -> paramiko.Channel:
        """Run ``command`` remotely; its stdin/stdout are the returned socket-like channel."""
        chan = self._open_channel("session")
        chan.settimeout(self.options.timeout)
        chan.exec_command(command)
        return chan

    def direct_tcpip(self, host: str, port: int) -> paramiko.Channel:
        """A socket-like channel to ``host:port``, resolved and dialled by the remote side."""
        chan = self._open_channel("direct-tcpip", (host, port))
        chan.settimeout(self.options.timeout)
        return chan

    def socket_to(self, host: str, port: int) -> socket.socket:
        """A connected socket to ``host:port``, dialled by the remote side.

        It is one end of an unnamed socket pair whose other end a thread splices to a
        direct-tcpip channel: no listener, so no other process or user can use it.
        """
        chan = self.direct_tcpip(host, port)
        ours, theirs = socket.socketpair()
        threading.Thread(
            target=splice, args=(theirs, chan), name=f"ssh-to-{host}:{port}", daemon=True
        ).start()
        return ours

    def run(self, command: str, timeout: float = 15.0) -> CommandResult:
        """Run a command and collect its output (capped), or raise SSHTimeout."""
        chan = self._open_channel("session")
        deadline = time.monotonic() + timeout
        try:
            chan.exec_command(command)
            out, err = bytearray(), bytearray()
            while True:
                while chan.recv_ready():
                    out += chan.recv(65536)
                while chan.recv_stderr_ready():
                    err += chan.recv_stderr(65536)
                if (
                    chan.exit_status_ready()
                    and not chan.recv_ready()
                    and not chan.recv_stderr_ready()
                ):
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    raise SSHTimeout(f"{command!r} on {self.options.target} took over {timeout:g}s")
                select.select([chan], [], [], min(left, 0.5))
                if len(out) > MAX_OUTPUT:
                    del out[: len(out) - MAX_OUTPUT]
            return CommandResult(
                chan.recv_exit_status(), out.decode(errors="replace"), err.decode(errors="replace")
            )
        finally:
            chan.close()


def splice(local: socket.socket, chan: paramiko.Channel) -> None:
    """Copy bytes both ways until either side ends; then close both.

    The local end belongs to a protocol client (HTTP, WebSocket) for which closing
    its socket means it is done, so no half-close is kept open for it.
    """
    import paramiko  # noqa: PLC0415 - see TYPE_CHECKING above

    watched: list[Any] = [local, chan]
    try:
        while True:
            readable, _, _ = select.select(watched, [], [], 5.0)
            if local in readable:
                data = local.recv(65536)
                if not data:
                    return
                chan.sendall(data)
            if chan in readable:
                data = chan.recv(65536)
                if not data:
                    return
                local.sendall(data)
            if chan.closed:
                return
    except (OSError, EOFError, paramiko.SSHException) as exc:  # EOFError: the SSH link died
        log.debug("ssh channel ended: %s", exc)
    finally:
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):  # a dead link
            chan.close()
        local.close()
