"""Helpers for Pilot tests."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

from rich.console import Console


async def until(
    pilot: Any, check: Callable[[], object], timeout: float = 15.0, what: str = ""
) -> None:
    """Let the app run until ``check()`` is truthy, or fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await pilot.pause(0.05)


def text_of(widget: Any) -> str:
    """The plain text a Static shows, whatever Rich renderable it holds."""
    console = Console(width=300, file=io.StringIO(), record=True, color_system=None)
    content = widget.content
    console.print(content, markup=False)
    return console.export_text()
