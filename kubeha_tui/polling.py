"""What one poll of a backend returns: a one-line description and its data."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Poll:
    detail: str  # e.g. "HEALTH_OK, 3 OSDs (3 up, 3 in)"
    data: object = None  # the snapshot the screens render, if any


class Pollable(Protocol):
    def poll(self) -> Poll: ...

    def close(self) -> None: ...
