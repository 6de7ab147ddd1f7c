"""PaneTable, the Cluster screen's light table: it draws its lines as FastTable does,
moves its row cursor with keys and clicks and scrolls to keep it in view, and show()
replaces its rows keeping the cursor on its row's key."""

from __future__ import annotations

from textual import events
from textual.app import App, ComposeResult
from textual.strip import Strip

from kubeha_tui.screens.pane_table import PaneTable
from kubeha_tui.screens.rows import Row
from kubeha_tui.screens.tables import FastTable, table

COLUMNS = ("NAMESPACE", "NAME", "STATUS")


def rows(count: int, start: int = 0) -> list[Row]:
    return [
        Row(f"ns/pod-{i}", ("ns", f"pod-{i:03}", "Running"), "failed" if i == 2 else "")
        for i in range(start, start + count)
    ]


class PaneApp(App[None]):
    def compose(self) -> ComposeResult:
        yield PaneTable(COLUMNS, id="pane")
        yield table("fast", COLUMNS)

    def on_mount(self) -> None:
        self.query_one(PaneTable).styles.height = 10
        self.query_one(FastTable).styles.height = 10


def drawn(strip: Strip) -> list[tuple[str, object, object, bool | None]]:
    """A line as one (text, colour, background, bold) per cell."""
    return [
        (ch, s.style.color, s.style.bgcolor, s.style.bold) if s.style else (ch, None, None, None)
        for s in strip
        for ch in s.text
    ]


async def test_lines_look_as_fast_tables_do() -> None:
    app = PaneApp()
    async with app.run_test(size=(60, 24)) as pilot:
        pane, fast = app.query_one(PaneTable), app.query_one(FastTable)
        pane.show(rows(12))
        fast.show(rows(12))
        pane.move_cursor(1)
        fast.move_cursor(row=1)
        ys = (0, 1, 2, 3, 9)  # the header, the first rows (the cursor's, a failed one), the last
        app.set_focus(None)
        await pilot.pause()
        assert [drawn(pane.render_line(y)) for y in ys] == [drawn(fast.render_line(y)) for y in ys]
        pane.focus()
        await pilot.pause()
        focused = [drawn(pane.render_line(y)) for y in ys]
        fast.focus()
        await pilot.pause()
        assert focused == [drawn(fast.render_line(y)) for y in ys]


async def test_cursor_keys_move_and_scroll() -> None:
    app = PaneApp()
    async with app.run_test(size=(60, 24)) as pilot:
        pane = app.query_one(PaneTable)
        pane.show(rows(30))
        pane.focus()
        await pilot.press("down", "down")
        assert pane.cursor_row == 2
        await pilot.press("up")
        assert pane.cursor_row == 1
        assert pane.scroll_offset.y == 0
        await pilot.press("end")
        assert pane.cursor_row == 29
        await pilot.pause()
        visible = pane.size.height - 1  # less the header
        assert pane.scroll_offset.y == 30 - visible
        assert "pod-029" in pane.render_line(visible).text
        assert "NAMESPACE" in pane.render_line(0).text  # the header stays
        await pilot.press("home")
        await pilot.pause()
        assert (pane.cursor_row, pane.scroll_offset.y) == (0, 0)
        await pilot.press("pagedown")
        assert pane.cursor_row == visible
        await pilot.press("pageup")
        assert pane.cursor_row == 0
        await pilot.press("up")
        assert pane.cursor_row == 0


async def test_click_moves_the_cursor_and_the_wheel_scrolls() -> None:
    app = PaneApp()
    async with app.run_test(size=(60, 24)) as pilot:
        pane = app.query_one(PaneTable)
        pane.show(rows(30))
        await pilot.pause()
        await pilot.click(PaneTable, offset=(3, 4))  # below the header: the fourth row
        assert pane.cursor_row == 3
        await pilot._post_mouse_events([events.MouseScrollDown], PaneTable, offset=(3, 4))
        await pilot.pause()
        assert pane.scroll_offset.y > 0
        assert pane.cursor_row == 3  # the wheel scrolls the rows, as DataTable's does


async def test_show_replaces_rows_and_keeps_the_cursor_on_its_key() -> None:
    app = PaneApp()
    async with app.run_test(size=(60, 24)) as pilot:
        pane = app.query_one(PaneTable)
        pane.show(rows(5))
        pane.move_cursor(3)
        pane.show(rows(6, start=1))  # pod-3 is now the third row
        await pilot.pause()
        assert pane.row_count == 6
        assert pane.shown[pane.cursor_row].key == "ns/pod-3"
        assert "pod-001" in pane.render_line(1).text
        changed = list(pane.shown)
        changed[0] = Row("ns/pod-1", ("ns", "pod-001-with-a-longer-name", "Pending"))
        pane.show(changed)
        await pilot.pause()
        line = pane.render_line(1).text
        assert "pod-001-with-a-longer-name" in line and "Pending" in line  # column widened
        assert pane.shown[pane.cursor_row].key == "ns/pod-3"
        pane.show(rows(2, start=10))  # the cursor's key gone: the first row
        assert pane.cursor_row == 0
        pane.show([])
        await pilot.pause()
        assert pane.row_count == 0
        assert pane.render_line(1).text.strip() == ""
