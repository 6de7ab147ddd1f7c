"""``pods/exec`` over WebSocket for the sandbox Kubernetes API.

Subprotocols ``v5.channel.k8s.io`` (1.30+: adds CLOSE, ``[255, channel]``),
``v4.channel.k8s.io`` (exit status as a metav1.Status on channel 3) and
``channel.k8s.io`` (plain text on channel 3); the 1.5 pose offers no v5. Each
message starts with its channel byte: 0 stdin, 1 stdout, 2 stderr, 3 status,
4 resize. The command runs as a local subprocess: a pod that mounts a Secret
holding ``ceph.conf`` gets it (and its admin keyring, when the Secret has one) as
its Ceph config, so ``ceph``, ``rbd`` and ``python3 -c 'import rados'`` reach the
sandbox's real Ceph as they would from a ceph/daemon pod. SPDY (kubectl before
1.30) is not served.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import parse_qs, urlsplit

from .store import ApiError

log = logging.getLogger(__name__)

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
V5, V4, V1 = "v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io"
STDIN, STDOUT, STDERR, STATUS, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
CONF_KEY, KEYRING_KEY = "ceph.conf", "ceph.client.admin.keyring"
CEPH_DIR = "/etc/ceph"
POD_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


def wanted(path: str, headers: Any) -> bool:
    """A WebSocket upgrade for a pod's exec subresource."""
    parts = [p for p in urlsplit(path).path.split("/") if p]
    upgrade = (headers.get("Upgrade") or "").lower()
    return (
        (upgrade == "websocket" or upgrade.startswith("spdy/"))
        and len(parts) == 7
        and parts[:3] == ["api", "v1", "namespaces"]
        and parts[4] == "pods"
        and parts[6] == "exec"
    )


def offered_protocols(pose_minor: int) -> tuple[str, ...]:
    return (V5, V4, V1) if pose_minor >= 30 else (V4, V1)


# -- frames (RFC 6455, server side) ---------------------------------------------------


def read_frame(rfile: BinaryIO) -> tuple[int, bool, bytes] | None:
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


def frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    if n < 126:
        head = struct.pack(">BB", 0x80 | opcode, n)
    elif n < 1 << 16:
        head = struct.pack(">BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack(">BBQ", 0x80 | opcode, 127, n)
    return head + payload


# -- the pod's Ceph config ------------------------------------------------------------


def ceph_files(api: Any, pod: dict[str, Any], container: dict[str, Any]) -> dict[str, bytes]:
    """The files of the Secret the container mounts at /etc/ceph (empty when none)."""
    mounts = {m.get("name"): m.get("mountPath") for m in container.get("volumeMounts") or []}
    for vol in pod["spec"].get("volumes") or []:
        secret = vol.get("secret") or {}
        if not secret or mounts.get(vol.get("name")) != CEPH_DIR:
            continue
        found = api.store.get("secrets", (pod["metadata"]["namespace"], secret.get("secretName")))
        data = (found or {}).get("data") or {}
        return {k: base64.b64decode(v) for k, v in data.items()}
    return {}


def pod_env(files: dict[str, bytes], root: Path) -> dict[str, str]:
    """Environment for a command in the pod: /etc/ceph's files in a private directory."""
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name, data in files.items():
        path = root / name
        path.write_bytes(data)
        path.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CEPH_")}
    env["PATH"] = POD_PATH  # the image's tools (Debian's python3 has the rados binding)
    env["CEPH_CONF"] = str(root / CONF_KEY)  # absent when the pod mounts no Ceph config
    env["CEPH_ARGS"] = f"--keyring {root / KEYRING_KEY}"  # absent: cephx fails, as in the pod
    return env


# -- one exec session -------------------------------------------------------------------


class Session:
    def __init__(self, handler: Any, protocol: str) -> None:
        self.handler, self.protocol = handler, protocol
        self.wlock = threading.Lock()
        self.closed = False

    def send(self, channel: int, data: bytes, opcode: int = 0x2) -> None:
        with self.wlock:
            if self.closed:
                return
            try:
                self.handler.wfile.write(frame(opcode, bytes([channel]) + data))
                self.handler.wfile.flush()
            except OSError:
                self.closed = True

    def close(self) -> None:
        with self.wlock:
            if not self.closed:
                try:
                    self.handler.wfile.write(frame(0x8, struct.pack(">H", 1000)))
                    self.handler.wfile.flush()
                except OSError:
                    pass
            self.closed = True

    def status(self, code: int | None, message: str = "") -> None:
        if self.protocol == V1:
            if code:
                self.send(STATUS, f"command terminated with non-zero exit code: {code}".encode())
            return
        if code == 0:
            doc: dict[str, Any] = {"metadata": {}, "status": "Success"}
        elif code is None:
            doc = {"metadata": {}, "status": "Failure", "message": message,
                   "reason": "InternalError", "code": 500}  # fmt: skip
        else:
            doc = {
                "metadata": {},
                "status": "Failure",
                "message": f"command terminated with non-zero exit code: exit status {code}",
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
            }
        self.send(STATUS, json.dumps(doc).encode())


def _pump(stream: Any, session: Session, channel: int) -> None:
    while True:
        chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
        if not chunk:
            return
        session.send(channel, chunk)


def _feed(handler: Any, session: Session, proc: subprocess.Popen[bytes]) -> None:
    """Client frames to the process: stdin data, CLOSE of stdin, pings; ends with the link."""
    message = b""
    try:
        while True:
            got = read_frame(handler.rfile)
            if got is None:
                break
            opcode, fin, data = got
            if opcode == 0x8:
                break
            if opcode == 0x9:
                with session.wlock:
                    handler.wfile.write(frame(0xA, data))
                    handler.wfile.flush()
                continue
            if opcode not in (0x0, 0x1, 0x2):
                continue
            message += data
            if not fin:
                continue
            data, message = message, b""
            if not data:
                continue
            if session.protocol.startswith("base64."):
                data = bytes([data[0] - ord("0")]) + base64.b64decode(data[1:])
            if data[0] == STDIN and proc.stdin is not None:
                proc.stdin.write(data[1:])
                proc.stdin.flush()
            elif data[0] == CLOSE and len(data) > 1 and data[1] == STDIN and proc.stdin:
                proc.stdin.close()
    except (OSError, ValueError):
        pass
    # The link is gone (or the client closed): a command nobody reads from is stopped.
    if proc.poll() is None and not session.closed:
        log.warning("exec link closed: killing pid %d", proc.pid)
        session.closed = True
        proc.kill()


def _reap_with_pod(router: Any, pod: dict[str, Any], proc: subprocess.Popen[bytes]) -> None:
    """A deleted pod's processes die with it (the exec session ends, as the kubelet's)."""
    key, uid = (pod["metadata"]["namespace"], pod["metadata"]["name"]), pod["metadata"]["uid"]
    while proc.poll() is None:
        current = router.api.store.get("pods", key)
        if current is None or current["metadata"]["uid"] != uid or router.stopping.is_set():
            log.warning("pod %s/%s gone: killing pid %d", *key, proc.pid)
            proc.kill()
            return
        try:
            proc.wait(0.2)
        except subprocess.TimeoutExpired:
            continue


def serve(handler: Any, router: Any) -> None:
    """Answer one exec request on ``handler`` (a BaseHTTPRequestHandler)."""
    split = urlsplit(handler.path)
    parts = [p for p in split.path.split("/") if p]
    ns, name = parts[3], parts[5]
    query = parse_qs(split.query)
    try:
        if (handler.headers.get("Upgrade") or "").lower().startswith("spdy/"):
            raise ApiError(400, "BadRequest", "this sandbox serves exec over WebSocket only "
                           "(kubectl 1.30+, the kubernetes package's stream()); SPDY is not served")  # fmt: skip
        user = router.authenticate(handler.headers)
        ref = router.api.ref("pods", ns, name)
        router.authorize(user, "POST", ref, {})
        pod = router.api.get(ref)
        container = _container(pod, (query.get("container") or [""])[0])
        if pod.get("status", {}).get("phase") != "Running":
            raise ApiError(400, "BadRequest",
                           f"pod {name} does not have a host assigned or is not running")  # fmt: skip
        command = query.get("command") or []
        if not command:
            raise ApiError(400, "BadRequest", "you must specify at least 1 command")
        offered = [
            p.strip() for p in (handler.headers.get("Sec-WebSocket-Protocol") or "").split(",")
        ]
        ours = offered_protocols(int(router.api.pose.major_minor[1]))
        protocol = next((p for p in ours if p in offered), "")
        if not protocol:
            raise ApiError(400, "BadRequest",
                           f"no supported WebSocket subprotocol in {offered} (this server speaks {', '.join(ours)})")  # fmt: skip
    except ApiError as exc:
        body = json.dumps(exc.status()).encode()
        handler.send_response(exc.code)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)
        return
    key = handler.headers.get("Sec-WebSocket-Key") or ""
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    handler.send_response(101, "Switching Protocols")
    handler.send_header("Upgrade", "websocket")
    handler.send_header("Connection", "Upgrade")
    handler.send_header("Sec-WebSocket-Accept", accept)
    handler.send_header("Sec-WebSocket-Protocol", protocol)
    handler.end_headers()
    handler.wfile.flush()
    handler.close_connection = True
    _run(
        handler,
        Session(handler, protocol),
        pod,
        container,
        command=command,
        query=query,
        router=router,
    )


def _container(pod: dict[str, Any], wanted_name: str) -> dict[str, Any]:
    containers = pod["spec"]["containers"]
    if not wanted_name and len(containers) == 1:
        return dict(containers[0])
    for c in containers:
        if c["name"] == wanted_name:
            return dict(c)
    if not wanted_name:
        names = " ".join(c["name"] for c in containers)
        raise ApiError(400, "BadRequest",
                       f"a container name must be specified for pod {pod['metadata']['name']}, choose one of: [{names}]")  # fmt: skip
    raise ApiError(400, "BadRequest",
                   f"container {wanted_name} is not valid for pod {pod['metadata']['name']}")  # fmt: skip


def _run(handler: Any, session: Session, pod: dict[str, Any], container: dict[str, Any], *,
         command: list[str], query: dict[str, list[str]], router: Any) -> None:  # fmt: skip
    root = Path(tempfile.mkdtemp(prefix="kube-exec-"))
    try:
        env = pod_env(ceph_files(router.api, pod, container), root / "etc-ceph")
        want_stdin = (query.get("stdin") or ["0"])[0] in ("1", "true")
        try:
            proc = subprocess.Popen(command, stdin=subprocess.PIPE if want_stdin else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    cwd=root, env=env)  # fmt: skip
        except OSError as exc:
            msg = f'failed to exec in container: starting container process caused: exec: "{command[0]}": {exc.strerror}'
            if session.protocol == V1:
                session.send(STATUS, msg.encode())
            else:
                session.status(None, msg)
            session.close()
            return
        feeder = threading.Thread(target=_feed, args=(handler, session, proc), daemon=True)
        feeder.start()
        pumps = [threading.Thread(target=_pump, args=(s, session, ch), daemon=True)
                 for s, ch in ((proc.stdout, STDOUT), (proc.stderr, STDERR))]  # fmt: skip
        for p in pumps:
            p.start()
        threading.Thread(target=_reap_with_pod, args=(router, pod, proc), daemon=True).start()
        for p in pumps:
            p.join()
        code = proc.wait()
        session.status(code)
        session.close()
        with contextlib.suppress(OSError):
            handler.connection.shutdown(socket.SHUT_RDWR)
        feeder.join(5)
    finally:
        shutil.rmtree(root, ignore_errors=True)
