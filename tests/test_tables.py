"""FastTable draws what DataTable would: the cursor's row and only it highlighted after a
move, rows placed where DataTable places them, and a redraw showing cells that changed
with time alone."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.strip import Strip
from textual.widgets import DataTable

from kubeha_tui.screens.tables import FastTable, Row, table


class TableApp(App[None]):
    def __init__(self, rows: int) -> None:
        super().__init__()
        self.rows = [Row(f"ns/pod-{i}", ("ns", f"pod-{i:05}", "Running")) for i in range(rows)]

    def compose(self) -> ComposeResult:
        yield table("t", ("NAMESPACE", "NAME", "STATUS"))

    def on_mount(self) -> None:
        grid = self.query_one(FastTable)
        grid.show(self.rows)
        grid.focus()


def looks(strip: Strip) -> list[object]:
    """The colours of a rendered line, without its text or the row it belongs to."""
    return [(s.style.color, s.style.bgcolor, s.style.bold) if s.style else None for s in strip]


async def test_a_cursor_move_redraws_the_row_it_left_and_the_row_it_reached() -> None:
    app = TableApp(20)
    async with app.run_test(size=(60, 12)) as pilot:
        grid = app.query_one(FastTable)
        cursor_look, plain_look = looks(grid.render_line(1)), looks(grid.render_line(3))
        assert cursor_look != plain_look  # row 0 has the cursor, row 2 the same stripe
        await pilot.press("down")
        assert grid.cursor_row == 1
        assert looks(grid.render_line(1)) == plain_look
        assert looks(grid.render_line(2)) == cursor_look
        await pilot.press("up")
        assert looks(grid.render_line(1)) == cursor_look
        assert looks(grid.render_line(2)) != cursor_look


async def test_rows_sit_where_datatable_puts_them_and_the_last_one_scrolls_into_view() -> None:
    app = TableApp(5000)
    async with app.run_test(size=(60, 12)) as pilot:
        grid = app.query_one(FastTable)
        for index in (0, 1, 77, 4999):
            assert grid._get_row_region(index) == DataTable._get_row_region(grid, index)
            for column in range(3):
                at = (index, column)
                assert grid._get_cell_region(at) == DataTable._get_cell_region(grid, at)  # type: ignore[arg-type]
        grid.move_cursor(row=4999, animate=False)
        await pilot.pause()
        top = int(grid.scroll_y)
        assert top <= 4999 < top + grid.size.height - 1  # one line is the header
        assert "pod-04999" in grid.render_line(grid.size.height - 1).text


class Clock:
    """A cell whose text changes with time alone, like an AGE."""

    def __init__(self) -> None:
        self.now = "1m"

    def __str__(self) -> str:
        return self.now


async def test_redraw_shows_cells_that_changed_with_time() -> None:
    clock = Clock()
    app = TableApp(0)
    async with app.run_test(size=(60, 12)) as pilot:
        grid = app.query_one(FastTable)
        grid.show([Row("a", ("ns", "pod", clock))])
        await pilot.pause()
        assert "1m" in grid.render_line(1).text
        clock.now = "2m"
        grid.redraw()
        await pilot.pause()
        assert "2m" in grid.render_line(1).text
