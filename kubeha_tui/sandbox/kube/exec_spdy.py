"""``pods/exec`` over SPDY/3.1, as the kubelet's remotecommand server speaks it.

After the upgrade the client opens one stream per part of the session, named by its
``streamType`` header: ``error`` always, ``stdin``, ``stdout`` and ``stderr`` as the
query asks (no ``stderr`` with a tty), and ``resize`` with a tty from v3 on. The
command starts once all of them are there (the kubelet waits 30 s). Output goes out
on its stream; at the end the error stream carries the status (v4: a metav1.Status
as JSON, Success included; before v4: the failure's message, nothing on success) and
every stream is half-closed, after which the client closes the connection.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from typing import Any

from . import spdy, upgrade

log = logging.getLogger(__name__)

PROTOCOLS = ("v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io")
STREAM_TYPES = ("error", "stdin", "stdout", "stderr", "resize")
STREAM_CREATION_TIMEOUT = 30.0  # the kubelet's default
CLIENT_CLOSE_TIMEOUT = 10.0  # how long the client may take to hang up after the status
STDOUT, STDERR = 1, 2  # the channel numbers of the exec backend


def expected_streams(protocol: str, *, stdin: bool, stdout: bool, stderr: bool, tty: bool) -> set[str]:  # fmt: skip
    want = {"error"}
    want |= {"stdin"} if stdin else set()
    want |= {"stdout"} if stdout else set()
    want |= {"stderr"} if stderr and not tty else set()
    want |= {"resize"} if tty and protocol in PROTOCOLS[:2] else set()
    return want


class SpdyExec:
    """The exec backend's transport over one SPDY session (see exec.Transport)."""

    def __init__(self, handler: Any, protocol: str, expected: set[str]) -> None:
        self.handler, self.protocol, self.expected = handler, protocol, expected
        self.streams: dict[str, spdy.Stream] = {}
        self.ready = threading.Event()
        self._finished = False
        self.conn = spdy.Connection(
            upgrade.exact_reader(handler.rfile), self._write, self._on_stream
        )

    @classmethod
    def open(cls, handler: Any, protocol: str, expected: set[str]) -> SpdyExec | None:
        """The session once the client opened its streams; None when it did not in time."""
        session = cls(handler, protocol, expected)
        threading.Thread(target=session.conn.serve, name="spdy-exec", daemon=True).start()
        deadline = time.monotonic() + STREAM_CREATION_TIMEOUT
        while not session.ready.wait(0.1):
            if session.conn.closed.is_set() or time.monotonic() > deadline:
                log.warning("exec over SPDY: streams %s of %s created before the link ended or 30 s",
                            sorted(session.streams), sorted(expected))  # fmt: skip
                session._hang_up()
                return None
        return session

    def _write(self, raw: bytes) -> None:
        self.handler.wfile.write(raw)
        self.handler.wfile.flush()

    def _on_stream(self, stream: spdy.Stream) -> spdy.Opened | None:
        kind = stream.header("streamtype")
        if kind not in STREAM_TYPES or kind in self.streams:
            log.warning("exec over SPDY: stream type %r refused", kind)
            return None
        self.streams[kind] = stream

        def opened() -> None:
            if self.expected <= set(self.streams):
                self.ready.set()

        return opened

    # -- exec.Transport --------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return self._finished

    def out(self, channel: int, data: bytes) -> None:
        name = "stderr" if channel == STDERR and "stderr" in self.streams else "stdout"
        stream = self.streams.get(name)
        if stream is not None:
            stream.write(data)

    def feed(self, stdin: Any) -> None:
        stream = self.streams.get("stdin")
        if stream is not None and stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                while chunk := stream.read():
                    stdin.write(chunk)
                    stdin.flush()
            with contextlib.suppress(OSError, ValueError):
                stdin.close()  # the client half-closed stdin (or left): end of input
        self.conn.closed.wait()

    def finish(self, code: int | None, message: str = "") -> None:
        self._finished = True
        for name in ("stdout", "stderr"):
            if name in self.streams:
                self.streams[name].close()
        doc = upgrade.status_doc(code, message)
        if self.protocol == PROTOCOLS[0]:
            said = json.dumps(doc).encode()
        else:
            said = b"" if code == 0 else str(doc.get("message", "")).encode()
        error = self.streams["error"]
        if said:
            error.write(said)
        error.close()
        if "stdin" in self.streams:
            self.streams["stdin"].close()
        self.conn.closed.wait(CLIENT_CLOSE_TIMEOUT)
        self._hang_up()

    def _hang_up(self) -> None:
        with contextlib.suppress(OSError):
            self.handler.connection.shutdown(socket.SHUT_RDWR)
