"""A streamed answer (watch, log follow) that another thread can end at once."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from .errors import NETWORK_ERRORS, KubeError, unexpected, why


class Stream:
    """A streamed answer (watch, log follow). ``close()``, from any thread, ends it
    promptly: the reader sees the end of the stream, not an error."""

    def __init__(self, host: str, response: Any) -> None:
        self.host, self._raw = host, response.response
        self._closed = threading.Event()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        # Wakes a reader blocked on the socket; fails when already released (then
        # nothing is blocked on it).
        with contextlib.suppress(OSError, RuntimeError, ValueError):
            self._raw.shutdown()

    def batches(self) -> Iterator[list[bytes]]:
        """The complete lines of each read from the network."""
        raw, finished = self._raw, False
        try:
            pending = b""
            for chunk in raw.stream(65536, decode_content=False):
                if self.closed:
                    return
                pending += chunk
                *lines, pending = pending.split(b"\n")
                if lines:
                    yield [line for line in lines if line]
            if pending and not self.closed:
                yield [pending]
            finished = True
        except NETWORK_ERRORS as exc:  # a dropped stream: the caller reconnects
            if self.closed:
                return
            raise KubeError(f"stream from {self.host} broke: {why(exc)}") from None
        except Exception as exc:
            if self.closed:
                return
            raise unexpected(exc, f"a stream from {self.host}") from None
        finally:
            if not finished:  # never hand a half-read connection back to the pool
                raw.close()
            raw.release_conn()
