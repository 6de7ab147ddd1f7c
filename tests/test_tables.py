"""FastTable draws what DataTable would: the cursor's row and only it highlighted after a
move, rows placed where DataTable places them, and a redraw showing cells that changed
with time alone."""

from __future__ import annotations

import gc
import weakref
from dataclasses import dataclass

import pytest
from textual.app import App, ComposeResult
from textual.message import Message
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import DuplicateKey

from kubeha_tui.screens.kube_rows import RowCache
from kubeha_tui.screens.rows import Row
from kubeha_tui.screens.tables import FastTable, styled, table


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


def text_of(grid: FastTable, index: int) -> str:
    """The text of row ``index`` drawn (and cached) as if on screen (below the header)."""
    return str(grid._render_line(index + 1, 0, grid.size.width, grid.rich_style).text)


async def test_a_changed_row_is_drawn_anew_on_screen_and_when_scrolled_to() -> None:
    app = TableApp(500)
    async with app.run_test(size=(60, 12)) as pilot:
        grid = app.query_one(FastTable)
        assert "Running" in text_of(grid, 2) and "Running" in text_of(grid, 400)  # cached
        rows = list(app.rows)
        rows[2] = Row("ns/pod-2", ("ns", "pod-00002", "Pending"))
        rows[400] = Row("ns/pod-400", ("ns", "pod-00400", "Unknown"))
        grid.show(rows)
        await pilot.pause()
        assert "Pending" in grid.render_line(3).text  # on screen
        grid.scroll_to(y=395, animate=False)  # the cursor stays on row 0
        await pilot.pause()
        assert "Unknown" in grid.render_line(6).text  # row 400, drawn before at this width
        assert grid.shown == rows


async def test_a_changed_row_with_a_wider_cell_widens_its_column_on_every_row() -> None:
    app = TableApp(50)
    async with app.run_test(size=(80, 12)) as pilot:
        grid = app.query_one(FastTable)
        before = grid.render_line(1).text.index("Running")
        rows = list(app.rows)
        rows[1] = Row("ns/pod-1", ("ns", "pod-00001-with-a-longer-name", "Running"))
        grid.show(rows)
        await pilot.pause()
        at = [grid.render_line(y).text.index("Running") for y in (1, 2, 3)]
        assert at[0] > before and at == [at[0]] * 3, at


async def test_rows_in_another_order_refill_the_table_and_keep_the_cursor_on_its_row() -> None:
    app = TableApp(30)
    async with app.run_test(size=(60, 12)) as pilot:
        grid = app.query_one(FastTable)
        grid.move_cursor(row=5, animate=False)
        grid.show(list(reversed(app.rows)))
        await pilot.pause()
        assert [k.value for k in grid.rows][:2] == ["ns/pod-29", "ns/pod-28"]
        assert grid.cursor_row == 24  # still on ns/pod-5


async def test_rows_refilled_and_lines_redrawn_are_freed_without_waiting_for_a_full_collection() -> (
    None
):
    """DataTable's caches (its row order, rendered lines) are rings of lists: cleared,
    they held the old table's rows until a full collection, which the app runs rarely.
    (Rendered lines, Strips, are cycles of their own in Textual: not checked here.)"""
    app = TableApp(30)
    async with app.run_test(size=(60, 12)) as pilot:
        grid = app.query_one(FastTable)
        await pilot.pause()
        old = [weakref.ref(row) for row in grid.rows.values()]
        gc.disable()
        try:
            gc.collect()
            grid.show(list(reversed(app.rows)))  # another order: the table is refilled
            grid.redraw()
            await pilot.pause()
            assert [ref() for ref in old] == [None] * len(old)
        finally:
            gc.enable()


class PairApp(App[None]):
    """A FastTable next to a DataTable filled one ``add_row`` at a time."""

    def compose(self) -> ComposeResult:
        yield table("fast", ("NAMESPACE", "NAME", "STATUS"))
        plain = DataTable[object](id="plain", cursor_type="row", zebra_stripes=True)
        plain.add_columns("NAMESPACE", "NAME", "STATUS")
        yield plain


async def test_rows_shown_page_by_page_are_the_rows_add_row_makes() -> None:
    rows = [
        Row(f"ns/pod-{i}", ("ns", f"pod-{i:05}" + "-日本" * (i == 7), "Running" if i % 5 else
            "CrashLoopBackOff"), "failed" if i % 5 == 0 else "")
        for i in range(60)
    ]  # fmt: skip
    app, messages = PairApp(), list[Message]()
    async with app.run_test(size=(60, 12), message_hook=messages.append) as pilot:
        fast, plain = app.query_one("#fast", FastTable), app.query_one("#plain", DataTable)
        for end in (1, 25, 60):  # pages, as a first list arrives
            fast.show(rows[:end])
        for row in rows:
            plain.add_row(*styled(row), key=row.key)
        await pilot.pause()
        assert fast.row_count == plain.row_count == 60
        assert list(fast.rows.items()) == list(plain.rows.items())  # keys, heights, labels
        locations = [fast._row_locations.get(key) for key in fast.rows]
        assert locations == [plain._row_locations.get(key) for key in plain.rows] == [*range(60)]
        assert [fast.get_row_at(i) for i in range(60)] == [plain.get_row_at(i) for i in range(60)]
        assert [c.content_width for c in fast.ordered_columns] == [
            c.content_width for c in plain.ordered_columns
        ]
        highlighted = [m.data_table.id for m in messages if isinstance(m, DataTable.RowHighlighted)]
        assert fast.cursor_row == 0 and highlighted.count("fast") == highlighted.count("plain")
        assert fast.virtual_size == plain.virtual_size
        with pytest.raises(DuplicateKey):
            fast._append(rows[3:4])


@dataclass(frozen=True)
class Thing:
    name: str
    status: str
    namespace: str = "ns"
    created: float = 0.0


def test_row_cache_rebuilds_only_the_rows_of_changed_objects_in_key_order() -> None:
    built: list[str] = []

    def cells(thing: Thing, _age: object, *context: object) -> tuple[object, ...]:
        built.append(thing.name)
        return (thing.name, thing.status, *context)

    cache = RowCache(cells)
    models = {f"ns/{n}": Thing(n, "Running") for n in ("b", "a", "c")}
    first = cache.rows(models)
    assert [r.key for r in first] == ["ns/a", "ns/b", "ns/c"] and sorted(built) == ["a", "b", "c"]
    built.clear()
    models = {**models, "ns/b": Thing("b", "Failed")}
    second = cache.rows(models)
    assert built == ["b"] and second[1].cells == ("b", "Failed")
    assert second[0] is first[0] and second[2] is first[2]
    built.clear()
    del models["ns/a"]
    models["ns/d"] = Thing("d", "Pending", namespace="other")
    third = cache.rows(models)
    assert [r.key for r in third] == ["ns/b", "ns/c", "ns/d"] and built == ["d"]
    assert third[0] is second[1]
    assert [r.key for r in cache.rows(models, keep=lambda t: t.namespace == "ns")] == [
        "ns/b",
        "ns/c",
    ]
    built.clear()
    assert cache.rows(models, context=("x",))[0].cells == ("b", "Failed", "x")
    assert sorted(built) == ["b", "c", "d"]  # another context: every row anew
