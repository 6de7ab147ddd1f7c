"""How the Kubernetes client reaches its API server.

Directly, urllib3 dials TCP as usual. Through ``--ssh`` there is no local listener
(any local process or user could use one): each HTTP connection is an SSH
direct-tcpip channel, handed to urllib3 as a process-private socket, with TLS on top
when the server is https. ``dial_tls`` gives the same stream to other protocols
(WebSocket exec).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.exceptions import NewConnectionError

from kubeha_tui.ssh import SSHError, SSHSession

if TYPE_CHECKING:  # the kubernetes package takes 0.4 s to import; annotations only
    from kubernetes import client as k8s

Dial = Callable[[str, int, float | None], socket.socket]  # (host, port, timeout) -> socket


class SSHDialError(NewConnectionError):
    """The SSH channel to the API server could not be opened; the message says why."""

    def __init__(self, conn: Any, message: str) -> None:
        super().__init__(conn, message)
        self.message = message


def ssh_dial(ssh: SSHSession) -> Dial:
    def dial(host: str, port: int, timeout: float | None) -> socket.socket:
        sock = ssh.socket_to(host, port)
        sock.settimeout(timeout)
        return sock

    return dial


def tcp_dial(host: str, port: int, timeout: float | None) -> socket.socket:
    return socket.create_connection((host, port), timeout)


def _timeout(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None


class _DialedHTTPConnection(HTTPConnection):
    def __init__(self, *args: Any, dial: Dial, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._dial = dial

    def _new_conn(self) -> socket.socket:
        try:
            return self._dial(self.host, self.port, _timeout(self.timeout))
        except SSHError as exc:
            raise SSHDialError(self, str(exc)) from None


class _DialedHTTPSConnection(HTTPSConnection):
    def __init__(self, *args: Any, dial: Dial, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._dial = dial

    def _new_conn(self) -> socket.socket:
        try:
            return self._dial(self.host, self.port, _timeout(self.timeout))
        except SSHError as exc:
            raise SSHDialError(self, str(exc)) from None


class DialingPoolManager(urllib3.PoolManager):
    """A PoolManager whose connections come from ``dial`` (TLS still done by urllib3)."""

    def __init__(self, dial: Dial, **kw: Any) -> None:
        super().__init__(**kw)
        self.dial = dial

    def _new_pool(
        self,
        scheme: str,
        host: str,
        port: int,
        request_context: dict[str, Any] | None = None,
    ) -> Any:
        pool = super()._new_pool(scheme, host, port, request_context)
        pool.ConnectionCls = _DialedHTTPSConnection if scheme == "https" else _DialedHTTPConnection
        pool.conn_kw = {**pool.conn_kw, "dial": self.dial}
        pool.conn_kw.pop("socket_options", None)  # TCP options mean nothing on a channel
        return pool


def use_dial(api: k8s.ApiClient, dial: Dial) -> None:
    """Make every request of ``api`` go through ``dial``, keeping its TLS settings."""
    old = api.rest_client.pool_manager
    api.rest_client.pool_manager = DialingPoolManager(dial, **old.connection_pool_kw)
    old.clear()


def tls_context(cfg: k8s.Configuration) -> ssl.SSLContext:
    """The TLS settings the ApiClient uses (CA, client certificate, verification)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cfg.verify_ssl:
        if cfg.ssl_ca_cert:
            ctx.load_verify_locations(cafile=cfg.ssl_ca_cert)
        else:
            ctx.load_default_certs()
        ctx.check_hostname = cfg.assert_hostname is not False
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if cfg.cert_file:
        ctx.load_cert_chain(cfg.cert_file, cfg.key_file)
    return ctx


def dial_tls(
    dial: Dial, cfg: k8s.Configuration, *, scheme: str, host: str, port: int, timeout: float
) -> socket.socket:
    """A connected stream to the server, TLS-wrapped (and verified) when https."""
    sock = dial(host, port, timeout)
    if scheme != "https":
        return sock
    try:
        name = cfg.tls_server_name or (
            cfg.assert_hostname if isinstance(cfg.assert_hostname, str) else host
        )
        return tls_context(cfg).wrap_socket(sock, server_hostname=name)
    except BaseException:
        sock.close()
        raise
