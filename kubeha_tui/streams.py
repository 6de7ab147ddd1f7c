"""Byte streams to an endpoint, locally or through SSH, and HTTP/1.1 over them.

``unix:///path`` is a unix socket (over SSH: ``fleetctl fd-forward /path`` on the
node, as fleetctl does); ``http://host:port`` is TCP (over SSH: a direct-tcpip
channel, the host resolved on the node).
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from kubeha_tui.errors import ServiceError
from kubeha_tui.ssh import SSHSession

Stream = Any  # socket.socket or paramiko.Channel: both have sendall/recv/makefile/close


def open_stream(endpoint: str, ssh: SSHSession | None, timeout: float) -> Stream:
    url = urlsplit(endpoint)
    if url.scheme == "unix":
        if ssh is not None:
            chan = ssh.exec_stream(f"fleetctl fd-forward {url.path}")
            chan.settimeout(timeout)
            return chan
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(url.path)
        except FileNotFoundError:
            sock.close()
            raise ServiceError(
                f"no socket at {url.path}: is the service running on this node?"
            ) from None
        except OSError as exc:
            sock.close()
            raise ServiceError(f"cannot connect to {url.path}: {exc.strerror or exc}") from None
        return sock
    host, port = url.hostname or "localhost", url.port or 80
    if ssh is not None:
        chan = ssh.direct_tcpip(host, port)
        chan.settimeout(timeout)
        return chan
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except OSError as exc:
        raise ServiceError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from None


class _StreamConnection(http.client.HTTPConnection):
    def __init__(self, opener: Callable[[], Stream], host: str, timeout: float) -> None:
        super().__init__(host, timeout=timeout)
        self._opener = opener

    def connect(self) -> None:
        self.sock = self._opener()


@dataclass(frozen=True)
class HTTPResult:
    status: int
    headers: dict[str, str]
    body: bytes


class HTTPStreamClient:
    """HTTP/1.1 to one endpoint over a kept-alive stream, re-opened when it went stale.

    Requests are serialised (one stream); a request that fails on a reused stream
    is retried once on a fresh one, which is safe for fleet's idempotent verbs.
    """

    def __init__(self, endpoint: str, ssh: SSHSession | None, timeout: float) -> None:
        self.endpoint, self.ssh, self.timeout = endpoint, ssh, timeout
        url = urlsplit(endpoint)
        self._host = "domain-sock" if url.scheme == "unix" else url.netloc
        self._conn: _StreamConnection | None = None
        self._lock = threading.Lock()

    def _connection(self) -> _StreamConnection:
        if self._conn is None:
            self._conn = _StreamConnection(
                lambda: open_stream(self.endpoint, self.ssh, self.timeout), self._host, self.timeout
            )
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> HTTPResult:
        with self._lock:
            for attempt in (1, 2):
                reused = self._conn is not None and self._conn.sock is not None
                conn = self._connection()
                try:
                    conn.request(method, path, body=body, headers=headers or {})
                    resp = conn.getresponse()
                    result = HTTPResult(
                        resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
                    )
                    if resp.will_close:
                        conn.close()
                    return result
                except TimeoutError:
                    self._drop()
                    raise ServiceError(
                        f"{self.endpoint} did not answer {method} {path} within {self.timeout:g}s"
                    ) from None
                except ServiceError:
                    self._drop()
                    raise
                except (OSError, http.client.HTTPException) as exc:
                    self._drop()
                    if attempt == 1 and reused:
                        continue  # the kept-alive stream had gone stale
                    raise ServiceError(
                        f"{method} {path} on {self.endpoint} failed: {exc or type(exc).__name__}"
                    ) from None
            raise AssertionError("unreachable")

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def http_request(
    endpoint: str, ssh: SSHSession | None, method: str, path: str, *, timeout: float,
    body: bytes | None = None, headers: dict[str, str] | None = None,
) -> HTTPResult:  # fmt: skip
    """One request on a fresh stream."""
    client = HTTPStreamClient(endpoint, ssh, timeout)
    try:
        return client.request(method, path, body, headers)
    finally:
        client.close()
