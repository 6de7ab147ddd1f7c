"""Table helpers: refill a DataTable from fresh rows without losing the cursor,
with a filter and a sort order, so live data never makes the operator lose place."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import chain, compress, repeat, zip_longest
from operator import is_not
from typing import Any

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual._segment_tools import line_crop
from textual.cache import LRUCache
from textual.coordinate import Coordinate
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import CellKey, DuplicateKey, RowKey
from textual.widgets.data_table import Row as DataRow

from .plain import clean
from .rows import STYLES, Cell, Row, text_width

AWAY = Coordinate(-2, 0)  # the cursor as rows other than the cursor's row see it: on none


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
                key=lambda r: sort_key(r.cells[col]) if col < len(r.cells) else "",
                reverse=self.reverse,
            )
        return rows


def sort_key(cell: object) -> Any:
    """How a column sorts: by a cell's own ``sort_key`` (ages: by time), else its text."""
    key = getattr(cell, "sort_key", None)
    return key if key is not None else str(cell)


def styled(row: Row) -> list[Cell]:
    """The cells to store: ``str`` and plain ``Text`` are drawn literally (never as markup,
    control codes escaped) by FastTable._render_cell."""
    style = STYLES.get(row.style)
    if not style:
        return list(row.cells)
    return [Text(str(c), style=style) for c in row.cells]


def _discard(cache: LRUCache[Any, Any], stale: Callable[[Any], bool]) -> None:
    for key in [key for key in cache.keys() if stale(key)]:  # noqa: SIM118 - not a dict
        cache.discard(key)


def _empty(cache: LRUCache[Any, Any]) -> None:
    """Clear ``cache`` so that what it held is freed at once: LRUCache.clear drops its
    entries as a ring of linked lists, a cycle only a full collection frees. With
    10,000 pods each clear left the table's row order (10,000 rows) and every rendered
    line to wait for one (the app runs them rarely, see heap.py): ~50,000 objects per
    relist, and RSS up by what had piled up when one finally ran."""
    for link in cache._cache.values():  # the ring is Textual's own
        link.clear()
    cache.clear()


def _width(cell: object) -> int:
    return text_width(cell.plain if isinstance(cell, Text) else str(cell))


class FastTable(DataTable[Any]):
    """A DataTable that sizes its columns with ``cell_len`` of the plain text.

    DataTable measures each new cell through Rich (~80 µs a cell), so 1,000 rows of
    four columns took 0.3 s to appear, and re-measures a whole column for each updated
    cell that got narrower (quadratic when details fill in). Our cells are one-line
    ``str`` or ``Text``, whose width is simply their cell length.

    Every row is one line high, so a row's place is its index: DataTable sums the
    heights of all rows above it, O(rows) for each cursor move. And a redraw drops the
    rendered lines only: DataTable's ``_update_count`` would also make it rebuild its
    row order and line offsets, O(rows) lists at every redraw that the garbage
    collector then has to walk. A line is cached with the cursor only when the cursor is
    on it: DataTable keys every line by the cursor's place, so each move re-rendered the
    whole visible table.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shown: list[Row] = []  # what show() last put here, in order

    def show(self, rows: Sequence[Row], columns: Sequence[str] | None = None) -> None:
        """Replace the content with ``rows``, keeping the cursor on the same row key.

        With the same keys in the same order only the rows that are new objects are
        looked at (found by identity at C speed: a loop in Python over 10,000 rows at
        every snapshot cost milliseconds the keys waited for), and the table is drawn
        again only when one of them is on screen. DataTable.update_cell costs O(rows)
        each, far too slow for 2,000 rows.
        """
        if columns is not None and tuple(str(c.label) for c in self.columns.values()) != tuple(
            columns
        ):
            self.clear(columns=True)
            self.add_columns(*columns)
        old, known = self.shown, len(self.shown)
        if known and len(rows) >= known and len(self.rows) == known and self._same_keys(rows):
            self._update_rows(rows[:known])
            self._append(rows[known:])  # new rows after the known ones: append only
        else:
            keys = [r.key for r in rows]
            at = self.cursor_row
            cursor_key = old[at].key if 0 <= at < len(old) else None
            self.clear()
            self._append(rows)
            if cursor_key in keys:
                self.move_cursor(row=keys.index(cursor_key), animate=False)
        self.shown = list(rows)

    def _same_keys(self, rows: Sequence[Row]) -> bool:
        """The first rows have the keys of the rows shown, in order: the rows that are the
        same objects do, so only the others' keys are compared."""
        old = self.shown
        return all(old[i].key == rows[i].key for i in self._changed(rows))

    def _changed(self, rows: Sequence[Row]) -> Iterable[int]:
        """Indexes of the rows shown that ``rows`` has as another object."""
        old = self.shown
        return compress(range(len(old)), map(is_not, old, rows))

    def _append(self, rows: Sequence[Row]) -> None:
        """Add ``rows`` after the last row: what ``add_row`` does for each, with the work
        that is the same for every row done once. DataTable.add_row lists the columns in
        order twice and sets the cursor (a reactive, with its validator and watchers) for
        every row: ~50 µs a row, half a second of the UI thread for 10,000 pods."""
        if not rows:
            return
        column_keys = [column.key for column in self.ordered_columns]
        locations, data, table_rows, new = (
            self._row_locations,
            self._data,
            self.rows,
            self._new_rows,
        )
        was_empty = not table_rows
        index = len(table_rows)
        for row in rows:
            row_key = RowKey(row.key)
            if row_key in locations:
                raise DuplicateKey(f"The row key {row_key!r} already exists.")
            cells = styled(row)
            if len(cells) > len(column_keys):
                raise ValueError("More values provided than there are columns.")
            locations[row_key] = index
            index += 1
            data[row_key] = dict(zip_longest(column_keys, cells))
            table_rows[row_key] = DataRow(row_key, 1)
            new.add(row_key)
        self._require_update_dimensions = True
        self.cursor_coordinate = self.cursor_coordinate  # clamped to the rows there are now
        if was_empty and self.columns and self.show_cursor and self.cursor_type != "none":
            self._highlight_cursor()  # a row to highlight, where there was none
        self._update_count += 1
        self.check_idle()

    def add_row(
        self,
        *cells: Any,
        height: int | None = 1,
        key: str | None = None,
        label: Any = None,
    ) -> RowKey:
        if height != 1:
            raise ValueError("FastTable rows are one line high")
        return super().add_row(*cells, height=1, key=key, label=label)

    def _update_rows(self, rows: Sequence[Row]) -> None:
        """Rewrite the rows (same keys, same order as shown) that changed, forget what was
        drawn of them, and draw again those on screen: a redraw of the whole table for
        each snapshot cost ~10 ms of every second frame under churn."""
        column_keys = list(self.columns)
        old = self.shown
        changed: dict[RowKey, int] = {}
        for i in list(self._changed(rows)):
            row = rows[i]
            if old[i] == row:
                continue
            key = RowKey(row.key)
            cells = self._data[key]
            for col_key, cell in zip(column_keys, styled(row), strict=False):
                cells[col_key] = cell
                self._updated_cells.add(CellKey(key, col_key))
            changed[key] = i
        if not changed:
            return
        self._forget(changed)
        for i in changed.values():
            self.refresh_row(i)  # nothing when off screen
        self.check_idle()  # columns widen for the new cells in DataTable's idle pass

    def _forget(self, rows: dict[RowKey, int]) -> None:
        """Drop the cached renders of ``rows`` (row key: index)."""
        lines = {i + self._header_lines for i in rows.values()}
        _discard(self._cell_render_cache, lambda key: key[0] in rows)
        _discard(self._row_render_cache, lambda key: key[0] in rows)
        _discard(self._line_cache, lambda key: key[0] in lines)

    def redraw(self) -> None:
        """Render the visible rows again (cells such as ages change with time alone)."""
        _empty(self._row_render_cache)
        _empty(self._cell_render_cache)
        _empty(self._line_cache)
        self.refresh()

    def _clear_caches(self) -> None:
        for cache in (self._row_render_cache, self._cell_render_cache,
                      self._row_renderable_cache, self._line_cache, self._offset_cache,
                      self._ordered_row_cache):  # fmt: skip
            _empty(cache)
        super()._clear_caches()

    @property
    def _header_lines(self) -> int:
        return self.header_height if self.show_header else 0

    def _get_row_region(self, row_index: int) -> Region:
        if not self.is_valid_row_index(row_index):
            return Region(0, 0, 0, 0)
        width = sum(c.get_render_width(self) for c in self.columns.values())
        width += self._row_label_column_width
        return Region(0, row_index + self._header_lines, max(self.size.width, width), 1)

    def _get_cell_region(self, coordinate: Coordinate) -> Region:
        if not self.is_valid_coordinate(coordinate):
            return Region(0, 0, 0, 0)
        row_index, column_index = coordinate
        columns = self.ordered_columns
        x = sum(c.get_render_width(self) for c in columns[:column_index])
        x += self._row_label_column_width
        width = columns[column_index].get_render_width(self)
        return Region(x, row_index + self._header_lines, width, 1)

    def clear(self, columns: bool = False) -> FastTable:
        self.shown = []
        super().clear(columns)
        return self

    def _render_cell(  # noqa: PLR0917 - DataTable's signature
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        """Body cells of one line of plain text (a str, or a Text with one style) straight to
        segments, cached as DataTable caches them: what Rich's console does for them, without
        the console (it cost ~0.4 ms a cell, so a screen of rows took ~200 ms to draw).
        Headers, labels, fixed cells and richer cells take DataTable's own path."""
        if row_index < max(0, self.fixed_rows) or column_index < max(0, self.fixed_columns):
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        cell = self._data[row_key].get(column_key, "")
        if isinstance(cell, Text) and cell.spans:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        cache_key = (row_key, column_key, base_style, cursor, hover, self._show_hover_cursor,
                     self._update_count, self._pseudo_class_state)  # fmt: skip
        cached = self._cell_render_cache.get(cache_key)
        if cached is not None:
            return cached
        component_style, post_style = self._get_styles_to_render_cell(
            False, False, False, hover, cursor, self.show_cursor, self._show_hover_cursor,
            self.cursor_foreground_priority == "css", self.cursor_background_priority == "css",
        )  # fmt: skip
        pre = base_style + Style.from_meta({"row": row_index, "column": column_index})
        pre += component_style
        plain = cell.plain if isinstance(cell, Text) else str(cell)
        own = cell.style if isinstance(cell, Text) else ""
        own_style = Style.parse(own) if isinstance(own, str) else own
        pad = " " * self.cell_padding
        inner = max(0, width - 2 * self.cell_padding)
        text = set_cell_size(clean(plain.replace("\n", " ")), inner)
        lines = [[
            Segment(pad, pre + post_style),
            Segment(text, pre + own_style + post_style),
            Segment(pad, pre + post_style),
        ]]  # fmt: skip
        self._cell_render_cache[cache_key] = lines
        return lines

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        """DataTable's, with the cursor and hover places seen from this line's row."""
        width = self.size.width
        try:
            row_key, line_no = self._get_offsets(y)
        except LookupError:
            return Strip.blank(width, base_style)
        cursor, hover = self.cursor_coordinate, self.hover_coordinate
        if self.cursor_type == "row":
            row = self._row_locations.get(row_key)
            row_index = -1 if row is None else row
            cursor = cursor if cursor.row == row_index else AWAY
            hover = hover if hover.row == row_index else AWAY
        cache_key = (y, x1, x2, width, cursor, hover, base_style, self.cursor_type,
                     self._show_hover_cursor, self._update_count, self._pseudo_class_state)  # fmt: skip
        cached = self._line_cache.get(cache_key)
        if cached is not None:
            return cached
        fixed, scrollable = self._render_line_in_row(
            row_key, line_no, base_style, cursor_location=cursor, hover_location=hover
        )
        fixed_width = sum(
            c.get_render_width(self) for c in self.ordered_columns[: self.fixed_columns]
        )
        fixed_line: list[Segment] = list(chain.from_iterable(fixed)) if fixed else []
        scrollable_line: list[Segment] = list(chain.from_iterable(scrollable))
        segments = fixed_line + line_crop(scrollable_line, x1 + fixed_width, x2, width)
        strip = Strip(segments).adjust_cell_length(width, base_style).simplify()
        self._line_cache[cache_key] = strip
        return strip

    def _update_column_widths(self, updated_cells: set[CellKey]) -> None:
        """Widen columns for the updated cells only: O(changed cells), never O(rows).

        DataTable re-measures a whole column per narrower cell; a column that is a little
        too wide until the next full refill costs nothing, a 10,000-row scan per event does.
        """
        wider = False
        for row_key, column_key in updated_cells:
            column = self.columns.get(column_key)
            row = self._data.get(row_key)
            if column is not None and row is not None:
                width = _width(row.get(column_key, ""))
                if width > column.content_width:
                    column.content_width, wider = width, True
        if wider:  # every line drawn is at the old widths
            self._update_count += 1
            self.refresh()
        self._require_update_dimensions = True

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        """Widen the columns for the new rows (column by column, a C-level loop over the
        rows: cell by cell in Python it took ~0.1 s of the UI thread for 10,000 pods)."""
        columns = self.ordered_columns
        before = [column.content_width for column in columns]
        data, locations = self._data, self._row_locations
        rows = [data[key] for key in new_rows if key in locations]  # not removed meanwhile
        for column in columns:
            cells = map(dict.get, rows, repeat(column.key), repeat(""))
            column.content_width = max(column.content_width, max(map(_width, cells), default=0))
        if [column.content_width for column in columns] != before:
            self._update_count += 1  # lines drawn meanwhile were cached at the old widths
        data_width = sum(column.get_render_width(self) for column in self.columns.values())
        header_height = self.header_height if self.show_header else 0
        self.virtual_size = Size(
            data_width + self._row_label_column_width, self._total_row_height + header_height
        )


def table(table_id: str, columns: Sequence[str]) -> FastTable:
    t = FastTable(id=table_id, cursor_type="row", zebra_stripes=True)
    t.add_columns(*columns)
    return t


def selected_key(table: DataTable[Any]) -> str | None:
    if not table.row_count:
        return None
    key = list(table.rows)[table.cursor_row].value
    return str(key) if key is not None else None
