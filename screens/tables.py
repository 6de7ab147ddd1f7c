"""Table helpers: refill a DataTable from fresh rows without losing the cursor,
with a filter and a sort order, so live data never makes the operator lose place."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

Cell = str | Text


@dataclass(frozen=True)
class Row:
    key: str
    cells: tuple[Cell, ...]
    style: str = ""  # "failed", "warn" or "" (healthy)


STYLES = {"failed": "bold red", "warn": "yellow"}


@dataclass
class View:
    """Filter text and sort column of one table."""

    filter: str = ""
    sort_column: int | None = None
    reverse: bool = False
    wide: bool = False
    rows: list[Row] = field(default_factory=list)

    def visible(self) -> list[Row]:
        needle = self.filter.lower()
        rows = [
            r for r in self.rows if not needle or any(needle in str(c).lower() for c in r.cells)
        ]
        if self.sort_column is not None:
            col = self.sort_column
            rows.sort(
                key=lambda r: str(r.cells[col]) if col < len(r.cells) else "", reverse=self.reverse
            )
        return rows


def styled(row: Row) -> list[Cell]:
    style = STYLES.get(row.style)
    if not style:
        return list(row.cells)
    return [Text(str(c), style=style) for c in row.cells]


def fill(table: DataTable[Any], rows: Sequence[Row], columns: Sequence[str] | None = None) -> None:
    """Show ``rows`` in ``table``, keeping the cursor on the same row key when it survives.

    Cells are updated in place when the rows are the same keys in the same order.
    """
    if columns is not None and tuple(str(c.label) for c in table.columns.values()) != tuple(
        columns
    ):
        table.clear(columns=True)
        table.add_columns(*columns)
    old_keys = [k.value for k in table.rows]
    new_keys = [r.key for r in rows]
    if old_keys == new_keys and rows:
        column_keys = list(table.columns)
        for row in rows:
            for col_key, cell in zip(column_keys, styled(row), strict=False):
                if table.get_cell(row.key, col_key) != cell:
                    table.update_cell(row.key, col_key, cell)
        return
    cursor_key = (
        old_keys[table.cursor_row] if old_keys and 0 <= table.cursor_row < len(old_keys) else None
    )
    table.clear()
    for row in rows:
        table.add_row(*styled(row), key=row.key)
    if cursor_key in new_keys:
        table.move_cursor(row=new_keys.index(cursor_key), animate=False)


def selected_key(table: DataTable[Any]) -> str | None:
    if not table.row_count:
        return None
    key = list(table.rows)[table.cursor_row].value
    return str(key) if key is not None else None
