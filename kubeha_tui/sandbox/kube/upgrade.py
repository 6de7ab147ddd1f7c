"""The two upgrades of the streaming subresources (pods/exec, pods/portforward): a
WebSocket (RFC 6455, server side) or SPDY/3.1 (``Upgrade: SPDY/3.1`` with
``X-Stream-Protocol-Version`` negotiation, as k8s.io/apimachinery's httpstream does),
the refusals before either, and SPDY carried in WebSocket binary messages (kubectl
1.30+'s port-forward tunnel)."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import struct
import threading
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from .store import ApiError

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SPDY = "SPDY/3.1"
TUNNEL_PREFIX = "SPDY/3.1+"  # a WebSocket subprotocol naming the SPDY protocol inside
SUBRESOURCES = ("exec", "portforward")


def kind(upgrade: str) -> str:
    """ "websocket", "spdy" or "" for the Upgrade header's value."""
    value = upgrade.strip().lower()
    return "websocket" if value == "websocket" else "spdy" if value.startswith("spdy/") else ""


def wanted(path: str, headers: Any) -> str:
    """The pod subresource ("exec" or "portforward") when this is an upgrade for one."""
    parts = [p for p in urlsplit(path).path.split("/") if p]
    if (
        kind(headers.get("Upgrade") or "")
        and len(parts) == 7
        and parts[:3] == ["api", "v1", "namespaces"]
        and parts[4] == "pods"
        and parts[6] in SUBRESOURCES
    ):
        return parts[6]
    return ""


class KubeletError(ApiError):
    """A refusal from the node: the apiserver passes the kubelet's plain text answer on."""

    def __init__(self, message: str) -> None:
        super().__init__(500, "InternalError", message)


def refuse(handler: Any, exc: ApiError, extra: dict[str, str] | None = None) -> None:
    plain = isinstance(exc, KubeletError)
    body = exc.message.encode() if plain else json.dumps(exc.status()).encode()
    handler.send_response(exc.code)
    handler.send_header(
        "Content-Type", "text/plain; charset=utf-8" if plain else "application/json"
    )
    handler.send_header("Content-Length", str(len(body)))
    for key, value in (extra or {}).items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(body)


def _listed(headers: Any, name: str) -> list[str]:
    """Every value of a header that may come several times, each a comma-separated list."""
    return [p.strip() for value in headers.get_all(name) or [] for p in value.split(",")]


def websocket_protocol(headers: Any, ours: tuple[str, ...]) -> str:
    """Our first subprotocol the client offers (ours are in order of preference)."""
    offered = _listed(headers, "Sec-WebSocket-Protocol")
    chosen = next((p for p in ours if p in offered), "")
    if not chosen:
        raise ApiError(400, "BadRequest",
                       f"no supported WebSocket subprotocol in {offered} (this server speaks {', '.join(ours)})")  # fmt: skip
    return chosen


def spdy_protocol(headers: Any, ours: tuple[str, ...]) -> str:
    """httpstream's negotiation: the client's first X-Stream-Protocol-Version we serve."""
    offered = _listed(headers, "X-Stream-Protocol-Version")
    if not offered:
        raise ApiError(
            400, "BadRequest", "unable to upgrade: X-Stream-Protocol-Version is required"
        )
    chosen = next((p for p in offered if p in ours), "")
    if not chosen:
        raise ApiError(403, "Forbidden",
                       f"unable to upgrade: unable to negotiate protocol: client supports {offered}, server accepts {list(ours)}")  # fmt: skip
    if "upgrade" not in (headers.get("Connection") or "").lower():
        raise ApiError(400, "BadRequest", "unable to upgrade: missing upgrade headers in request")
    return chosen


def _switch(handler: Any, headers: dict[str, str]) -> None:
    # Many small frames follow, each written at once: without TCP_NODELAY each would wait
    # for the client's delayed ACK of the one before (Go, the kubelet's language, sets it).
    with contextlib.suppress(OSError):
        handler.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    handler.send_response(101, "Switching Protocols")
    for key, value in headers.items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.flush()
    handler.close_connection = True


def accept_websocket(handler: Any, protocol: str) -> None:
    key = handler.headers.get("Sec-WebSocket-Key") or ""
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    _switch(handler, {"Upgrade": "websocket", "Connection": "Upgrade",
                      "Sec-WebSocket-Accept": accept, "Sec-WebSocket-Protocol": protocol})  # fmt: skip


def accept_spdy(handler: Any, protocol: str) -> None:
    _switch(handler, {"Connection": "Upgrade", "Upgrade": SPDY, "X-Stream-Protocol-Version": protocol})  # fmt: skip


def status_doc(code: int | None, message: str = "") -> dict[str, Any]:
    """The v4 exit status: Success, NonZeroExitCode with the code, or an internal error."""
    if code == 0:
        return {"metadata": {}, "status": "Success"}
    if code is None:
        return {"metadata": {}, "status": "Failure", "message": message,
                "reason": "InternalError", "code": 500}  # fmt: skip
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: exit status {code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
    }


# -- WebSocket frames ---------------------------------------------------------------------


def read_ws_frame(rfile: BinaryIO) -> tuple[int, bool, bytes] | None:
    """(opcode, fin, payload) of one client frame, or None at end of stream."""
    head = rfile.read(2)
    if len(head) < 2:
        return None
    opcode, fin = head[0] & 0x0F, bool(head[0] & 0x80)
    length, masked = head[1] & 0x7F, bool(head[1] & 0x80)
    if length == 126:
        length = struct.unpack(">H", rfile.read(2))[0]
    elif length == 127:
        length = struct.unpack(">Q", rfile.read(8))[0]
    mask = rfile.read(4) if masked else b""
    data = rfile.read(length)
    if len(data) < length:
        return None
    if masked:
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    return opcode, fin, data


def ws_frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = struct.pack(">BB", 0x80 | opcode, n)
    elif n < 1 << 16:
        head = struct.pack(">BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack(">BBQ", 0x80 | opcode, 127, n)
    return head + payload


class WebSocketLink:
    """Messages over one upgraded connection: ``messages()`` yields each complete data
    message (pings answered, a close frame ends it); ``send`` writes one, from any thread."""

    def __init__(self, handler: Any) -> None:
        self.handler = handler
        self.lock = threading.Lock()
        self.closed = False

    def send(self, payload: bytes, opcode: int = 0x2) -> bool:
        with self.lock:
            if self.closed:
                return False
            try:
                self.handler.wfile.write(ws_frame(opcode, payload))
                self.handler.wfile.flush()
            except (OSError, ValueError):  # ValueError: the handler closed its file
                self.closed = True
                return False
            return True

    def close(self) -> None:
        """A normal close frame, once."""
        with self.lock:
            if not self.closed:
                try:
                    self.handler.wfile.write(ws_frame(0x8, struct.pack(">H", 1000)))
                    self.handler.wfile.flush()
                except (OSError, ValueError):
                    pass
            self.closed = True

    def messages(self) -> Any:
        message = b""
        while True:
            got = read_ws_frame(self.handler.rfile)
            if got is None:
                return
            opcode, fin, data = got
            if opcode == 0x8:
                return
            if opcode == 0x9:
                self.send(data, 0xA)
                continue
            if opcode not in (0x0, 0x1, 0x2):
                continue
            message += data
            if fin:
                yield message
                message = b""


class TunnelReader:
    """The bytes of the client's binary messages as one stream, for SPDY inside a WebSocket."""

    def __init__(self, link: WebSocketLink) -> None:
        self._messages = link.messages()
        self._buffer = b""

    def read(self, n: int) -> bytes:
        while len(self._buffer) < n:
            message = next(self._messages, None)
            if message is None:
                raise EOFError
            self._buffer += message
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out


def exact_reader(rfile: BinaryIO) -> Any:
    """``read(n)`` over a buffered file: exactly n bytes, or EOFError."""

    def read(n: int) -> bytes:
        data = rfile.read(n)
        if len(data) < n:
            raise EOFError
        return data

    return read
