"""``pods/portforward`` for the sandbox Kubernetes API, to what answers in the pod
(podnet.py), over each transport the clients use:

- SPDY/3.1 (``X-Stream-Protocol-Version: portforward.k8s.io``; kubectl before 1.30,
  and newer ones falling back): per forwarded connection the client opens an ``error``
  and a ``data`` stream with the same ``port`` and ``requestID`` headers;
- SPDY inside a WebSocket (subprotocol ``SPDY/3.1+portforward.k8s.io``; kubectl 1.30+,
  modern pose only: a 1.5 server refuses it and kubectl falls back to SPDY);
- WebSocket channels (``v4.channel.k8s.io``; the kubernetes package): the ports come in
  the ``ports`` query, each with a data channel 2i and an error channel 2i+1, and the
  first message on each channel is its port as two little-endian bytes.

A port nothing listens on gets the kubelet's error on the error stream (or channel).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
from typing import Any
from urllib.parse import parse_qs, urlsplit

from . import podnet, spdy, upgrade
from .exec import running_pod
from .store import ApiError

log = logging.getLogger(__name__)

PORTFORWARD_V1 = "portforward.k8s.io"
TUNNEL = upgrade.TUNNEL_PREFIX + PORTFORWARD_V1
V4 = "v4.channel.k8s.io"


def serve(handler: Any, router: Any) -> None:
    """Answer one port-forward request on ``handler`` (a BaseHTTPRequestHandler)."""
    is_spdy = upgrade.kind(handler.headers.get("Upgrade") or "") == "spdy"
    minor = int(router.api.pose.major_minor[1])
    try:
        pod = running_pod(handler, router)
        if is_spdy:
            protocol = upgrade.spdy_protocol(handler.headers, (PORTFORWARD_V1,))
        else:
            protocol = upgrade.websocket_protocol(handler.headers, (TUNNEL, V4) if minor >= 30 else (V4,))  # fmt: skip
        ports = query_ports(handler.path) if protocol == V4 else []
    except ApiError as exc:
        extra = {"X-Accepted-Stream-Protocol-Versions": PORTFORWARD_V1} if is_spdy and exc.code == 403 else {}  # fmt: skip
        upgrade.refuse(handler, exc, extra)
        return
    if is_spdy:
        upgrade.accept_spdy(handler, protocol)

        def write(raw: bytes) -> None:
            handler.wfile.write(raw)
            handler.wfile.flush()

        Forwarder(pod, minor).serve(upgrade.exact_reader(handler.rfile), write)
    else:
        upgrade.accept_websocket(handler, protocol)
        link = upgrade.WebSocketLink(handler)
        if protocol == TUNNEL:

            def send(raw: bytes) -> None:
                if not link.send(raw):
                    raise OSError("the WebSocket is closed")

            Forwarder(pod, minor).serve(upgrade.TunnelReader(link).read, send)
        else:
            channels(link, pod, minor, ports)
        link.close()
    with contextlib.suppress(OSError):
        handler.connection.shutdown(socket.SHUT_RDWR)


def query_ports(path: str) -> list[int]:
    """The ``ports`` of a WebSocket request, checked as the kubelet checks them."""
    values = parse_qs(urlsplit(path).query, keep_blank_values=True).get("ports") or []
    if not values:
        raise ApiError(400, "BadRequest", 'query parameter "port" is required')
    ports = []
    for value in values:
        if not value:
            raise ApiError(400, "BadRequest", 'query parameter "port" cannot be empty')
        for p in value.split(","):
            if not p.isdigit() or not 0 < int(p) < 65536:
                raise ApiError(400, "BadRequest", f'unable to parse "{value}" as a port')
            ports.append(int(p))
    return ports


def _copy_out(sock: socket.socket, send: Any) -> None:
    """What the pod's side sends, to the client, until it closes."""
    with contextlib.suppress(OSError):
        while chunk := sock.recv(65536):
            if not send(chunk):
                return


# -- SPDY (direct or tunnelled) -------------------------------------------------------------


class Forwarder:
    """The kubelet's SPDY port-forward handler: streams paired by requestID, one pod
    connection per pair, its error (if any) on the pair's error stream."""

    def __init__(self, pod: dict[str, Any], pose_minor: int) -> None:
        self.pod, self.minor = pod, pose_minor
        self.pairs: dict[str, dict[str, spdy.Stream]] = {}

    def serve(self, read: Any, write: Any) -> None:
        spdy.Connection(read, write, self._on_stream).serve()

    def _on_stream(self, stream: spdy.Stream) -> spdy.Opened | None:
        kind = stream.header("streamtype")
        if kind not in ("error", "data"):
            log.warning("port-forward over SPDY: stream type %r refused", kind)
            return None
        # clients without requestID pair by stream id: the error stream first, then data
        request = stream.header("requestid") or str(stream.id if kind == "error" else stream.id - 2)
        pair = self.pairs.setdefault(request, {})
        if kind in pair:
            return None
        pair[kind] = stream
        if len(pair) < 2:
            return lambda: None
        del self.pairs[request]
        return lambda: threading.Thread(target=self._forward, args=(pair,), name="port-forward", daemon=True).start()  # fmt: skip

    def _forward(self, pair: dict[str, spdy.Stream]) -> None:
        error, data = pair["error"], pair["data"]
        raw_port = data.header("port")
        try:
            port = int(raw_port)
            if not 0 < port < 65536:
                raise ValueError
        except ValueError:
            error.write(f'unable to parse "{raw_port}" as a port'.encode())
            data.close()
            error.close()
            return
        try:
            sock = podnet.dial(self.pod, port)
        except OSError:
            error.write(podnet.refused(self.pod, port, self.minor).encode())
            data.close()
            error.close()
            return
        out = threading.Thread(target=_copy_out, args=(sock, data.write), daemon=True)
        out.start()
        with contextlib.suppress(OSError):
            while chunk := data.read():
                sock.sendall(chunk)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)  # the client is done sending; its answer may follow
        out.join()
        sock.close()
        data.close()
        error.close()


# -- WebSocket channels ---------------------------------------------------------------------


def channels(link: upgrade.WebSocketLink, pod: dict[str, Any], minor: int, ports: list[int]) -> None:  # fmt: skip
    socks: dict[int, socket.socket] = {}
    left = threading.Semaphore(0)
    for i, port in enumerate(ports):
        prefix = struct.pack("<H", port)
        link.send(bytes([2 * i]) + prefix)
        link.send(bytes([2 * i + 1]) + prefix)
    for i, port in enumerate(ports):
        try:
            socks[i] = podnet.dial(pod, port)
        except OSError:
            link.send(bytes([2 * i + 1]) + podnet.refused(pod, port, minor).encode())
            left.release()
            continue

        def send(chunk: bytes, channel: int = 2 * i) -> bool:
            return link.send(bytes([channel]) + chunk)

        def pump(sock: socket.socket = socks[i], send: Any = send) -> None:
            _copy_out(sock, send)
            left.release()

        threading.Thread(target=pump, name="port-forward", daemon=True).start()

    def hang_up_when_all_done() -> None:
        for _ in ports:
            left.acquire()
        link.close()  # every forward ended: the kubelet closes the connection
        with contextlib.suppress(OSError):
            link.handler.connection.shutdown(socket.SHUT_RDWR)

    threading.Thread(target=hang_up_when_all_done, daemon=True).start()
    with contextlib.suppress(OSError, ValueError):
        for message in link.messages():
            channel = message[0] if message else 1
            sock = socks.get(channel // 2) if channel % 2 == 0 else None
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.sendall(message[1:])
    for sock in socks.values():
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()
