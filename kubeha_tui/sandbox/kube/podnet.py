"""What answers on a sandbox pod's ports, for port-forward: a container whose image is
nginx listens on port 80 (whatever containerPort the pod declares, as the image does)
and answers HTTP with nginx's welcome page; any other port refuses the connection,
with the words of the pose's runtime (containerd on the modern pose, docker's socat on
1.5). The server runs in this process on one end of a socket pair."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
from email.utils import formatdate
from typing import Any

NGINX = "nginx/1.27.3"
NGINX_PORT = 80
WELCOME = b"""<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
"""
STARTED = formatdate(time.time(), usegmt=True)


def _image_name(image: str) -> str:
    """``docker.io/library/nginx:1.25@sha256:...`` -> ``nginx``."""
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def listening(pod: dict[str, Any]) -> set[int]:
    containers = pod.get("spec", {}).get("containers") or []
    return {NGINX_PORT} if any(_image_name(c.get("image", "")) == "nginx" for c in containers) else set()  # fmt: skip


def sandbox_id(pod: dict[str, Any]) -> str:
    """The pod sandbox's id as the runtime names it (64 hex digits)."""
    return hashlib.sha256(pod["metadata"]["uid"].encode()).hexdigest()


def refused(pod: dict[str, Any], port: int, pose_minor: int) -> str:
    """The kubelet's error for a port nothing listens on, as the pose's runtime words it."""
    sid = sandbox_id(pod)
    if pose_minor < 6:  # docker's socat in the pod's network namespace
        when = time.strftime("%Y/%m/%d %H:%M:%S")
        cause = f"exit status 1: {when} socat[{os.getpid()}] E connect(5, AF=2 127.0.0.1:{port}, 16): Connection refused\n"  # fmt: skip
    else:  # containerd
        netns = f"/var/run/netns/cni-{sid[:8]}-{sid[8:12]}-{sid[12:16]}-{sid[16:20]}-{sid[20:32]}"
        cause = (
            f'failed to execute portforward in network namespace "{netns}": failed to connect to '
            f'localhost:{port} inside namespace "{sid}", IPv4: dial tcp4 127.0.0.1:{port}: '
            f"connect: connection refused IPv6 dial tcp6 [::1]:{port}: connect: connection refused "
        )
    return f"error forwarding port {port} to pod {sid}, uid : {cause}"


def dial(pod: dict[str, Any], port: int) -> socket.socket:
    """A connection to ``port`` inside the pod; ConnectionRefusedError when nothing listens."""
    if port not in listening(pod):
        raise ConnectionRefusedError(port)
    ours, theirs = socket.socketpair()
    threading.Thread(target=_nginx, args=(theirs,), name="pod-nginx", daemon=True).start()
    return ours


# -- the nginx image's default server ------------------------------------------------------


def _reply(code: int, reason: str, body: bytes, *, keep: bool, head_only: bool) -> bytes:
    lines = [
        f"HTTP/1.1 {code} {reason}",
        f"Server: {NGINX}",
        f"Date: {formatdate(time.time(), usegmt=True)}",
        "Content-Type: text/html",
        f"Content-Length: {len(body)}",
        *([f"Last-Modified: {STARTED}", 'ETag: "6750b2d1-267"', "Accept-Ranges: bytes"] if code == 200 else []),
        f"Connection: {'keep-alive' if keep else 'close'}",
    ]  # fmt: skip
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (b"" if head_only else body)


def _error_page(code: int, reason: str) -> bytes:
    title = f"{code} {reason}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n"
        f"<hr><center>{NGINX}</center>\r\n</body>\r\n</html>\r\n"
    ).encode()


def _nginx(sock: socket.socket) -> None:
    """HTTP/1.1 with keep-alive until the client closes (or asks to)."""
    buf = b""
    with contextlib.suppress(OSError), sock:
        while True:
            while b"\r\n\r\n" not in buf:
                chunk = sock.recv(65536)
                if not chunk or len(buf) > 1 << 16:
                    return
                buf += chunk
            head, buf = buf.split(b"\r\n\r\n", 1)
            request, *header_lines = head.decode("latin-1").split("\r\n")
            headers = {
                k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)
            }
            length = int(headers.get("content-length") or 0)
            while len(buf) < length:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buf += chunk
            buf = buf[length:]
            method, target, version = [*request.split(), "", "", ""][:3]
            connection = headers.get("connection", "").lower()
            keep = connection != "close" and (version == "HTTP/1.1" or connection == "keep-alive")
            path = target.split("?", 1)[0]
            head_only = method == "HEAD"
            if method not in ("GET", "HEAD"):
                code, reason, body, head_only = 405, "Not Allowed", _error_page(405, "Not Allowed"), False  # fmt: skip
            elif path in ("/", "/index.html"):
                code, reason, body = 200, "OK", WELCOME
            else:
                code, reason, body = 404, "Not Found", _error_page(404, "Not Found")
            sock.sendall(_reply(code, reason, body, keep=keep, head_only=head_only))
            if not keep:
                return
