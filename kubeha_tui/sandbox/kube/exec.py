"""``pods/exec`` for the sandbox Kubernetes API: one backend, two transports.

The command runs as a local subprocess: a pod that mounts a Secret holding
``ceph.conf`` gets it (and its admin keyring, when the Secret has one) as its Ceph
config, so ``ceph``, ``rbd`` and ``python3 -c 'import rados'`` reach the sandbox's real
Ceph as they would from a ceph/daemon pod. It is carried either by a WebSocket
(subprotocols ``v5.channel.k8s.io``, 1.30+, adding CLOSE ``[255, channel]``;
``v4.channel.k8s.io``, the exit status as a metav1.Status on channel 3;
``channel.k8s.io``, plain text there; the 1.5 pose offers no v5; each message starts
with its channel byte: 0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize) or by SPDY/3.1
(kubectl before 1.30, and newer ones falling back; see exec_spdy.py).
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from . import exec_spdy, upgrade
from .store import ApiError
from .upgrade import status_doc

log = logging.getLogger(__name__)

V5, V4, V1 = "v5.channel.k8s.io", "v4.channel.k8s.io", "channel.k8s.io"
STDIN, STDOUT, STDERR, STATUS, RESIZE, CLOSE = 0, 1, 2, 3, 4, 255
CONF_KEY, KEYRING_KEY = "ceph.conf", "ceph.client.admin.keyring"
CEPH_DIR = "/etc/ceph"
POD_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
LINK_GRACE = 10.0  # how long a command may run on after its client hung up


def offered_protocols(pose_minor: int) -> tuple[str, ...]:
    return (V5, V4, V1) if pose_minor >= 30 else (V4, V1)


def status_text(code: int | None, message: str = "") -> str:
    """What the protocols before v4 say: nothing on success, else a line."""
    if code is None:
        return message
    return f"command terminated with non-zero exit code: {code}" if code else ""


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


# -- transports --------------------------------------------------------------------------


class Transport(Protocol):
    """What carries one exec session: output out, the client's input in, the status last."""

    @property
    def finished(self) -> bool: ...  # the session was ended by us (status sent)

    def out(self, channel: int, data: bytes) -> None: ...

    def feed(self, stdin: Any) -> None:
        """Deliver the client's stdin to ``stdin`` (None: not asked for); return when the
        link ends (the client closed it or it broke)."""

    def finish(self, code: int | None, message: str = "") -> None:
        """The exit status (None: failed to start, ``message`` says why), then the end."""


class WebSocketExec:
    def __init__(self, handler: Any, protocol: str) -> None:
        self.handler, self.protocol = handler, protocol
        self.link = upgrade.WebSocketLink(handler)
        self._finished = False

    @property
    def finished(self) -> bool:
        return self._finished

    def out(self, channel: int, data: bytes) -> None:
        self.link.send(bytes([channel]) + data)

    def feed(self, stdin: Any) -> None:
        with contextlib.suppress(OSError, ValueError):
            for message in self.link.messages():
                if not message:
                    continue
                data = message
                if self.protocol.startswith("base64."):
                    data = bytes([message[0] - ord("0")]) + base64.b64decode(message[1:])
                if data[0] == STDIN and stdin is not None:
                    stdin.write(data[1:])
                    stdin.flush()
                elif data[0] == CLOSE and data[1:2] == bytes([STDIN]) and stdin is not None:
                    stdin.close()

    def finish(self, code: int | None, message: str = "") -> None:
        self._finished = True
        if self.protocol == V1:
            text = status_text(code, message)
            if text:
                self.out(STATUS, text.encode())
        else:
            self.out(STATUS, json.dumps(status_doc(code, message)).encode())
        self.link.close()
        with contextlib.suppress(OSError):
            self.handler.connection.shutdown(socket.SHUT_RDWR)


# -- the backend -------------------------------------------------------------------------


def _pump(stream: Any, transport: Transport, channel: int) -> None:
    while True:
        chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
        if not chunk:
            return
        transport.out(channel, chunk)


def _kill(proc: subprocess.Popen[bytes], done: threading.Event) -> None:
    """SIGKILL to the command and whatever it started (its own session), as a container's
    processes all stop with it; never once the command is reaped (its pid may be reused)."""
    if not done.is_set():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


def _feed(transport: Transport, proc: subprocess.Popen[bytes], done: threading.Event) -> None:
    """The client's input to the process. When the client goes, the command gets the end
    of its input, as under a kubelet, and the time to finish; one that outlives that is
    stopped, so that no sandbox process is left behind."""
    transport.feed(proc.stdin)
    if transport.finished or done.is_set():
        return
    with contextlib.suppress(OSError, ValueError):
        if proc.stdin is not None:
            proc.stdin.close()
    if not done.wait(LINK_GRACE):
        log.warning("exec link closed and pid %d still running %.0f s later: killing it", proc.pid, LINK_GRACE)  # fmt: skip
        _kill(proc, done)


def _reap_with_pod(router: Any, pod: dict[str, Any], proc: subprocess.Popen[bytes],
                   done: threading.Event) -> None:  # fmt: skip
    """A deleted pod's processes die with it (the exec session ends, as the kubelet's)."""
    key, uid = (pod["metadata"]["namespace"], pod["metadata"]["name"]), pod["metadata"]["uid"]
    while not done.wait(0.2):
        current = router.api.store.get("pods", key)
        if current is None or current["metadata"]["uid"] != uid or router.stopping.is_set():
            log.warning("pod %s/%s gone: killing pid %d", *key, proc.pid)
            _kill(proc, done)
            return


def run(transport: Transport, router: Any, pod: dict[str, Any], container: dict[str, Any], *,
        command: list[str], want_stdin: bool, merge_stderr: bool = False) -> None:  # fmt: skip
    """Run ``command`` in the pod, carried by ``transport``, to its end."""
    root = Path(tempfile.mkdtemp(prefix="kube-exec-"))
    try:
        env = pod_env(ceph_files(router.api, pod, container), root / "etc-ceph")
        try:
            proc = subprocess.Popen(command, stdin=subprocess.PIPE if want_stdin else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    cwd=root, env=env, start_new_session=True)  # fmt: skip
        except OSError as exc:
            transport.finish(None, f'failed to exec in container: starting container process caused: exec: "{command[0]}": {exc.strerror}')  # fmt: skip
            return
        done = threading.Event()  # set once the process is reaped: nothing may kill it after
        feeder = threading.Thread(target=_feed, args=(transport, proc, done), daemon=True)
        feeder.start()
        err_channel = STDOUT if merge_stderr else STDERR
        pumps = [threading.Thread(target=_pump, args=(s, transport, ch), daemon=True)
                 for s, ch in ((proc.stdout, STDOUT), (proc.stderr, err_channel))]  # fmt: skip
        for p in pumps:
            p.start()
        threading.Thread(target=_reap_with_pod, args=(router, pod, proc, done), daemon=True).start()
        for p in pumps:
            p.join()
        code = proc.wait()
        done.set()
        transport.finish(code)
        feeder.join(5)
    finally:
        shutil.rmtree(root, ignore_errors=True)


# -- the request -------------------------------------------------------------------------


def container_of(pod: dict[str, Any], wanted_name: str) -> dict[str, Any]:
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


def running_pod(handler: Any, router: Any, container: str | None = None) -> dict[str, Any]:
    """The request's pod, after authentication and authorisation, refused unless Running
    as the apiserver (no node yet) and the kubelet (nothing started) refuse it. With
    ``container`` (exec: the query's, maybe "") that container is checked first."""
    parts = [p for p in urlsplit(handler.path).path.split("/") if p]
    ns, name = parts[3], parts[5]
    user = router.authenticate(handler.headers)
    ref = router.api.ref("pods", ns, name)
    router.authorize(user, "POST", ref, {})
    pod: dict[str, Any] = router.api.get(ref)
    chosen = container_of(pod, container)["name"] if container is not None else ""
    if not pod["spec"].get("nodeName"):
        raise ApiError(400, "BadRequest", f"pod {name} does not have a host assigned")
    if pod.get("status", {}).get("phase") != "Running":  # the kubelet's words, passed on
        missing = f'container not found ("{chosen}")' if container is not None else f'pod not found ("{name}_{ns}")'  # fmt: skip
        raise upgrade.KubeletError(missing)
    return pod


def _flag(query: dict[str, list[str]], name: str, default: str = "0") -> bool:
    return (query.get(name) or [default])[0] in ("1", "true")


def serve(handler: Any, router: Any) -> None:
    """Answer one exec request on ``handler`` (a BaseHTTPRequestHandler)."""
    query = parse_qs(urlsplit(handler.path).query)
    spdy = upgrade.kind(handler.headers.get("Upgrade") or "") == "spdy"
    try:
        wanted_container = (query.get("container") or [""])[0]
        pod = running_pod(handler, router, wanted_container)
        container = container_of(pod, wanted_container)
        command = query.get("command") or []
        if not command:
            raise ApiError(400, "BadRequest", "you must specify at least 1 command")
        if spdy:
            protocol = upgrade.spdy_protocol(handler.headers, exec_spdy.PROTOCOLS)
        else:
            ours = offered_protocols(int(router.api.pose.major_minor[1]))
            protocol = upgrade.websocket_protocol(handler.headers, ours)
    except ApiError as exc:
        extra = {"X-Accepted-Stream-Protocol-Versions": ", ".join(exec_spdy.PROTOCOLS)} if spdy and exc.code == 403 else {}  # fmt: skip
        upgrade.refuse(handler, exc, extra)
        return
    tty, want_stdin = _flag(query, "tty"), _flag(query, "stdin")
    transport: Transport
    if spdy:
        upgrade.accept_spdy(handler, protocol)
        expected = exec_spdy.expected_streams(
            protocol, stdin=want_stdin, stdout=_flag(query, "stdout", "1"),
            stderr=_flag(query, "stderr", "1"), tty=tty,
        )  # fmt: skip
        opened = exec_spdy.SpdyExec.open(handler, protocol, expected)
        if opened is None:
            return
        transport = opened
    else:
        upgrade.accept_websocket(handler, protocol)
        transport = WebSocketExec(handler, protocol)
    run(transport, router, pod, container, command=command, want_stdin=want_stdin, merge_stderr=tty)
