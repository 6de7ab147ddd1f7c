"""What one poll of a backend returns: a one-line description and its data."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

CLOSE_TIMEOUT = 2.0  # seconds quitting waits for the connections to close


@dataclass(frozen=True)
class Poll:
    detail: str  # e.g. "HEALTH_OK, 3 OSDs (3 up, 3 in)"
    data: object = None  # the snapshot the screens render, if any
    final: bool = True  # False: a first, partial answer; more of this poll follows


class Pollable(Protocol):
    def poll(self) -> Iterator[Poll]:
        """Yield what is known as soon as it is known; the last Poll is final."""
        ...

    def close(self) -> None: ...


class Closeable(Protocol):
    def close(self) -> None: ...


def close_within(parts: Mapping[str, Closeable], timeout: float = CLOSE_TIMEOUT) -> bool:
    """Close ``parts`` in order, in a thread of their own, waiting at most ``timeout``
    seconds (a backend that does not answer must not hold the quit); one that raises is
    logged and the others still closed. False when the closing was left running."""

    def close_all() -> None:
        for name, part in parts.items():
            try:
                part.close()
            except Exception:  # one backend failing to close must not keep the others open
                log.exception("closing %s failed", name)

    closing = threading.Thread(target=close_all, name="close services", daemon=True)
    closing.start()
    closing.join(timeout)
    if closing.is_alive():
        log.warning("closing the connections did not finish in %.0f s: left to exit", timeout)
        return False
    return True
