"""Byte streams to an endpoint, locally or through SSH, and HTTP/1.1 over them.

``unix:///path`` is a unix socket (over SSH: ``fleetctl fd-forward /path`` on the
node, as fleetctl does); ``http://host:port`` is TCP (over SSH: a direct-tcpip
channel, the host resolved on the node).
"""

from __future__ import annotations

import http.client
import socket
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


def http_request(
    endpoint: str, ssh: SSHSession | None, method: str, path: str, *, timeout: float,
    body: bytes | None = None, headers: dict[str, str] | None = None,
) -> HTTPResult:  # fmt: skip
    """One request on a fresh stream (fleet closes nothing early, fd-forward wants one per request)."""
    url = urlsplit(endpoint)
    host = "domain-sock" if url.scheme == "unix" else url.netloc
    conn = _StreamConnection(lambda: open_stream(endpoint, ssh, timeout), host, timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return HTTPResult(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
    except TimeoutError:
        raise ServiceError(
            f"{endpoint} did not answer {method} {path} within {timeout:g}s"
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        raise ServiceError(
            f"{method} {path} on {endpoint} failed: {exc or type(exc).__name__}"
        ) from None
    finally:
        conn.close()
