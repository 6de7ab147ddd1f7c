"""PaneTable: a light read-only table for the Cluster screen's panes.

A ScrollView that draws its lines itself: a fixed header line, one line per row, a row
cursor (keys and mouse), columns as wide as their widest cell. It looks like our
DataTables (the same component classes and styles) but builds in a fraction of the time:
DataTable and its machinery cost ~100M instructions of the way to the first frame.
Nothing acts on a row here; the full screens (2-4) have the DataTables.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import compress
from operator import is_not, itemgetter
from typing import ClassVar

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size, Spacing
from textual.scroll_view import ScrollView
from textual.strip import Strip

from .compositor import render_alike
from .plain import clean
from .rows import STYLES, Row, text_width

PADDING = 1  # cells each side of a cell's text, as DataTable's cell_padding


def _plain(cell: object) -> str:
    text = cell.plain if isinstance(cell, Text) else str(cell)
    return clean(text.replace("\n", " "))


class PaneTable(ScrollView, can_focus=True):
    """Rows shown with ``show(rows)`` (``shown``: what it last put here), a row cursor that
    stays on its row's key across ``show``, and the look of a zebra-striped DataTable."""

    DEFAULT_CSS = """
    PaneTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        &:focus {
            background-tint: $foreground 5%;
            & > .datatable--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .datatable--header {
                background-tint: $foreground 5%;
            }
        }
        &:dark {
            & > .datatable--even-row {
                background: $surface-darken-1 40%;
            }
        }
        & > .datatable--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .datatable--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .datatable--odd-row {
        }
        & > .datatable--even-row {
            background: $surface-lighten-1 50%;
        }
        & > .datatable--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "datatable--cursor",
        "datatable--header",
        "datatable--odd-row",
        "datatable--even-row",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Cursor up", show=False),
        Binding("down", "cursor(1)", "Cursor down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,ctrl+home", "first", "First row", show=False),
        Binding("end,ctrl+end", "last", "Last row", show=False),
    ]

    def __init__(self, columns: Sequence[str], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns = tuple(columns)
        self.shown: list[Row] = []  # what show() last put here, in order
        self._cells: list[tuple[str, ...]] = []  # each shown row's cells as plain text
        self._widths = [text_width(c) for c in self.columns]  # content widths, grown by rows
        self.cursor_row = 0
        self._resize_virtual()

    @property
    def row_count(self) -> int:
        return len(self.shown)

    def show(self, rows: Sequence[Row]) -> None:
        """Replace the content with ``rows``, keeping the cursor on the same row key.

        Rows that are the same objects as those shown (found by identity, at C speed) are
        neither looked at nor measured again; columns widen for the others and shrink only
        when the keys change.
        """
        old = self.shown
        same_keys = len(rows) == len(old) and all(
            old[i].key == rows[i].key for i in compress(range(len(old)), map(is_not, old, rows))
        )
        if same_keys:
            changed = list(compress(range(len(old)), map(is_not, old, rows)))
            if not changed:
                return
            for i in changed:
                self._cells[i] = self._texts(rows[i])
            self._widen([self._cells[i] for i in changed])
        else:
            at = self.cursor_row
            cursor_key = old[at].key if 0 <= at < len(old) else None
            self._cells = list(map(self._texts, rows))
            self._widths = [text_width(c) for c in self.columns]
            self._widen(self._cells)
            keys = [r.key for r in rows]
            self.cursor_row = keys.index(cursor_key) if cursor_key in keys else 0
        self.shown = list(rows)
        self.cursor_row = max(0, min(self.cursor_row, len(rows) - 1))
        self._resize_virtual()
        self.refresh()

    def _texts(self, row: Row) -> tuple[str, ...]:
        """A row's cells as plain text, one a column."""
        texts = tuple(map(_plain, row.cells[: len(self.columns)]))
        return texts + ("",) * (len(self.columns) - len(texts))

    def _widen(self, rows: Sequence[tuple[str, ...]]) -> None:
        """Widen the columns for ``rows`` (column by column, a C-level loop over them)."""
        widths = self._widths
        for column in range(len(widths)):
            cells = map(itemgetter(column), rows)
            widths[column] = max(widths[column], max(map(text_width, cells), default=0))

    def _resize_virtual(self) -> None:
        width = sum(w + 2 * PADDING for w in self._widths)
        self.virtual_size = Size(width, len(self.shown) + 1)

    # Drawing: line 0 is the header, the others the rows from the scroll offset on.

    _base_style = Style()
    _styles: dict[str, Style] | None = None  # the component styles of this render pass

    def render_lines(self, crop: Region) -> list[Strip]:
        # The styles once for all the lines: ``rich_style`` walks the ancestors, and each
        # component's style is worked out again at every call.
        self._base_style, self._styles = self.rich_style, {}
        past_rows = range(max(1, len(self.shown) + 1 - self.scroll_offset.y), self.region.height)
        try:  # the lines past the last row are the same blank line
            return render_alike(super().render_lines, crop, past_rows)
        finally:
            self._styles = None

    def _style(self, name: str) -> Style:
        styles = self._styles
        if styles is None:
            return self.get_component_rich_style(name)
        style = styles.get(name)
        if style is None:
            style = styles[name] = self.get_component_rich_style(name)
        return style

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        if y == 0:
            style = self._style("datatable--header")
            return self._line(self.columns, style, Style(), scroll_x, width)
        index = y - 1 + scroll_y
        if index >= len(self.shown):
            return Strip.blank(width, self._base_style)
        row_style = self._style("datatable--odd-row" if index % 2 else "datatable--even-row")
        own = Style.parse(STYLES.get(self.shown[index].style, ""))
        if index == self.cursor_row:
            # As DataTable: the cursor's colours over the row's, its foreground over the
            # cell's own; the line past the last column in the cursor's style too.
            cursor = self._style("datatable--cursor")
            row_style += cursor
            own += Style.from_color(color=cursor.color)
        meta = Style.from_meta({"row": index})
        return self._line(self._cells[index], row_style + meta, own, scroll_x, width)

    def _line(
        self, cells: Sequence[str], style: Style, own: Style, scroll_x: int, width: int
    ) -> Strip:
        pad = " " * PADDING
        text_style = style + own
        segments: list[Segment] = []
        for column, inner in enumerate(self._widths):
            text = cells[column] if column < len(cells) else ""
            segments += (
                Segment(pad, style),
                Segment(set_cell_size(text, inner), text_style),
                Segment(pad, style),
            )
        strip = Strip(segments).crop(scroll_x, scroll_x + width)
        return strip.extend_cell_length(width, style).simplify()

    # The cursor: moved by keys and clicks, kept in view.

    def move_cursor(self, row: int) -> None:
        old = self.cursor_row
        self.cursor_row = max(0, min(row, len(self.shown) - 1))
        if self.cursor_row != old:
            self._refresh_row(old)
            self._refresh_row(self.cursor_row)
        self.scroll_to_region(
            Region(0, self.cursor_row + 1, 1, 1),
            animate=False,
            spacing=Spacing(top=1),
            force=True,
            x_axis=False,
        )

    def _refresh_row(self, index: int) -> None:
        y = index + 1 - self.scroll_offset.y
        if 1 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    def _visible_rows(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def action_cursor(self, step: int) -> None:
        self.move_cursor(self.cursor_row + step)

    def action_page(self, step: int) -> None:
        self.move_cursor(self.cursor_row + step * self._visible_rows())

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(len(self.shown) - 1)

    def on_click(self, event: events.Click) -> None:
        row = event.style.meta.get("row")
        if isinstance(row, int):
            self.move_cursor(row)

    def on_focus(self) -> None:
        self.refresh()  # the header and cursor change colour with the focus

    def on_blur(self) -> None:
        self.refresh()
