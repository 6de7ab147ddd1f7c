"""A command in a pod through the Kubernetes exec API over WebSocket (RFC 6455, client
side): subprotocols v5/v4/channel.k8s.io, one channel byte a message (0 stdin, 1
stdout, 2 stderr, 3 status, 4 resize; v5 adds CLOSE ``[255, ch]``). Facts:
shared/reference/reach.md ("Kubernetes exec over WebSocket").

All it needs from the Kubernetes client is an ``ExecTarget``: a dial function giving a
connected stream to the API server, the request headers, and the API's base path.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from kubeha_tui.errors import ServiceError
from kubeha_tui.kube.client import KubeClient

PROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io")
STDIN, STDOUT, STDERR, STATUS, CLOSE = 0, 1, 2, 3, 255  # 4 (resize) is for ttys: unused
KEEP_STDERR = 64 * 1024

Dial = Callable[[float], socket.socket]


@dataclass(frozen=True)
class ExecTarget:
    dial: Dial
    headers: dict[str, str]  # Authorization and the like
    base: str  # the API's base path ("" at the root)
    host: str  # the Host header
    where: str  # the server as the user knows it, for messages


def client_target(client: KubeClient) -> ExecTarget:
    """The Kubernetes client's own way to the API server: ``KubeClient.dial`` (TLS when
    https, through the SSH connection with --ssh, never a local listener) and its
    request headers (authentication)."""
    url = urlsplit(client.url_base)
    port = url.port or (443 if url.scheme == "https" else 80)
    host = f"{url.hostname or 'localhost'}:{port}"
    return ExecTarget(
        client.dial, client.request_headers(), url.path.rstrip("/"), host, client.host
    )


def exec_path(
    namespace: str, pod: str, argv: list[str], *, stdin: bool, container: str = ""
) -> str:
    query = [("command", a) for a in argv] + [("stdout", "1"), ("stderr", "1")]
    if stdin:
        query.append(("stdin", "1"))
    if container:
        query.append(("container", container))
    qs = "&".join(f"{k}={quote(v, safe='')}" for k, v in query)
    return f"/api/v1/namespaces/{quote(namespace)}/pods/{quote(pod)}/exec?{qs}"


def _frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame."""
    n = len(payload)
    if n < 126:
        head = struct.pack(">BB", 0x80 | opcode, 0x80 | n)
    elif n < 1 << 16:
        head = struct.pack(">BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        head = struct.pack(">BBQ", 0x80 | opcode, 0x80 | 127, n)
    mask = os.urandom(4)
    masked = (
        bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if n < 4096 else _xor(payload, mask)
    )
    return head + mask + masked


def _xor(payload: bytes, mask: bytes) -> bytes:
    n = len(payload)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "little")
    return (int.from_bytes(payload, "little") ^ key).to_bytes(n, "little")


def exit_code(protocol: str, status: bytes) -> tuple[int | None, str]:
    """The command's exit code from channel 3 (None: it did not run), and the message."""
    if not status:
        return 0, ""
    if protocol == "channel.k8s.io":  # plain text, only on failure
        text = status.decode(errors="replace").strip()
        code = text.rsplit(" ", 1)[-1]
        return (int(code), text) if code.isdigit() else (None, text)
    try:
        doc = json.loads(status)
    except ValueError:
        return None, status.decode(errors="replace")
    if doc.get("status") == "Success":
        return 0, ""
    for cause in (doc.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode" and str(cause.get("message", "")).isdigit():
            return int(cause["message"]), str(doc.get("message", ""))
    return None, str(doc.get("message") or doc)


class ExecSession:
    """One exec: open() upgrades, a reader thread hands stdout to ``on_stdout``."""

    def __init__(
        self,
        target: ExecTarget,
        path: str,
        on_stdout: Callable[[bytes], None],
        protocols: tuple[str, ...] = PROTOCOLS,
    ) -> None:
        self.target, self.path, self.on_stdout, self.protocols = target, path, on_stdout, protocols
        self.protocol = ""
        self.stderr = b""
        self.status = b""
        self.ended = threading.Event()
        self.reason = ""  # why the session ended, when not by the command's exit
        self._sock: socket.socket | None = None
        self._wlock = threading.Lock()
        self._buf = b""

    # -- handshake ---------------------------------------------------------------

    def open(self, timeout: float) -> None:
        try:
            sock = self.target.dial(timeout)
        except OSError as exc:
            raise ServiceError(
                f"cannot reach the Kubernetes API at {self.target.where}: {exc}"
            ) from None
        sock.settimeout(timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {self.target.base}{self.path} HTTP/1.1",
            f"Host: {self.target.host}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            f"Sec-WebSocket-Protocol: {', '.join(self.protocols)}",
            *(f"{k}: {v}" for k, v in self.target.headers.items() if k.lower() != "host"),
        ]
        try:
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            while b"\r\n\r\n" not in self._buf:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ServiceError("the Kubernetes API closed the exec request")
                self._buf += chunk
        except OSError as exc:
            sock.close()
            raise ServiceError(f"exec through {self.target.where} failed: {exc}") from None
        head, self._buf = self._buf.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode(errors="replace").split("\r\n")
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)
        }
        code = int(status_line.split()[1]) if len(status_line.split()) > 1 else 0
        if code != 101:
            self._read_body(sock, headers)
            sock.close()
            raise ServiceError(f"exec refused by the Kubernetes API ({code}): {self._message()}")
        self.protocol = headers.get("sec-websocket-protocol", "channel.k8s.io")
        sock.settimeout(None)  # the reader waits as long as the command runs
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        self._sock = sock
        threading.Thread(target=self._read_loop, name="ceph-exec", daemon=True).start()

    def _read_body(self, sock: socket.socket, headers: dict[str, str]) -> None:
        want = int(headers.get("content-length") or 0)
        try:
            while len(self._buf) < want:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                self._buf += chunk
        except OSError:
            pass

    def _message(self) -> str:
        try:
            return str(json.loads(self._buf).get("message") or self._buf[:200].decode())
        except ValueError:
            return self._buf[:200].decode(errors="replace").strip() or "no message"

    # -- frames ----------------------------------------------------------------------

    def _recv(self, n: int) -> bytes:
        while len(self._buf) < n:
            sock = self._sock
            if sock is None:  # closed by close() on another thread: the session ended
                raise EOFError
            chunk = sock.recv(max(65536, n - len(self._buf)))
            if not chunk:
                raise EOFError
            self._buf += chunk
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def _read_loop(self) -> None:
        message = b""
        try:
            while True:
                b0, b1 = self._recv(2)
                opcode, fin, length = b0 & 0x0F, b0 & 0x80, b1 & 0x7F
                if length == 126:
                    length = struct.unpack(">H", self._recv(2))[0]
                elif length == 127:
                    length = struct.unpack(">Q", self._recv(8))[0]
                data = self._recv(length)
                if opcode == 0x8:
                    break
                if opcode == 0x9:
                    self._send(0xA, data)
                    continue
                if opcode not in (0x0, 0x1, 0x2):
                    continue
                message += data
                if fin:
                    self._dispatch(message)
                    message = b""
        except (EOFError, OSError, ValueError) as exc:
            if not self.ended.is_set():
                self.reason = f"the exec session broke: {type(exc).__name__} {exc}".strip()
        finally:
            self.ended.set()
            self.close()

    def _dispatch(self, message: bytes) -> None:
        if not message:
            return
        channel, data = message[0], message[1:]
        if channel == STDOUT:
            self.on_stdout(data)
        elif channel == STDERR:
            self.stderr = (self.stderr + data)[-KEEP_STDERR:]
        elif channel == STATUS:
            self.status += data

    def _send(self, opcode: int, payload: bytes) -> None:
        with self._wlock:
            if self._sock is None:
                raise ServiceError(self.reason or "the exec session is closed")
            try:
                self._sock.sendall(_frame(opcode, payload))
            except OSError as exc:
                self.reason = f"the exec session broke: {exc}"
                raise ServiceError(self.reason) from None

    def write(self, data: bytes) -> None:
        self._send(0x2, bytes([STDIN]) + data)

    def close_stdin(self) -> None:
        """End of input: v5's CLOSE; older protocols have none (the caller says quit)."""
        if self.protocol.startswith("v5."):
            self._send(0x2, bytes([CLOSE, STDIN]))

    def result(self) -> tuple[int | None, str]:
        return exit_code(self.protocol, self.status)

    def close(self) -> None:
        with self._wlock:
            sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.sendall(_frame(0x8, struct.pack(">H", 1000)))
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def run(target: ExecTarget, namespace: str, pod: str, argv: list[str], timeout: float, *,
        protocols: tuple[str, ...] = PROTOCOLS) -> tuple[int | None, bytes, bytes]:  # fmt: skip
    """One command to its end: (exit code or None, stdout, stderr)."""
    out = bytearray()
    session = ExecSession(
        target, exec_path(namespace, pod, argv, stdin=False), out.extend, protocols
    )
    session.open(timeout)
    if not session.ended.wait(timeout):
        session.close()
        raise ServiceError(
            f"{argv[0]} in pod {namespace}/{pod} did not finish within {timeout:.0f}s"
        )
    code, message = session.result()
    if code is None and message:
        raise ServiceError(f"exec in pod {namespace}/{pod} failed: {message}")
    return code, bytes(out), session.stderr
