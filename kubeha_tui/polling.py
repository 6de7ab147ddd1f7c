"""What one poll of a backend returns: a one-line description and its data."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol


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
