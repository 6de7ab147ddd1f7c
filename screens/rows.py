"""A table row as the screens build it, and the styles of its health: light (no
DataTable behind it), for the Cluster screen's panes as for the full tables."""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text

Cell = str | Text | object  # objects show as str(cell), computed at render time


@dataclass(frozen=True)
class Row:
    key: str
    cells: tuple[Cell, ...]
    style: str = ""  # "failed", "warn" or "" (healthy)


STYLES = {"failed": "bold red", "warn": "yellow"}


def text_width(text: str) -> int:
    """Cells ``text`` takes on the terminal (``len`` where that is the same, at C speed)."""
    return len(text) if text.isascii() and text.isprintable() else cell_len(text)
