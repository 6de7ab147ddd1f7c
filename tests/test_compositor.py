"""VisibleCompositor renders only the lines that show, and paints what Textual's own
compositor paints: full frames and partial updates, cell for cell."""

from __future__ import annotations

from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.containers import Container, Vertical
from textual.geometry import Region
from textual.reactive import reactive
from textual.strip import Strip
from textual.widgets import Static

from kubeha_tui.screens.areas import Pane
from kubeha_tui.screens.compositor import VisibleCompositor, runs
from kubeha_tui.screens.pane_table import PaneTable
from kubeha_tui.screens.rows import Row

rendered: dict[str, list[int]] = {}  # widget id -> the lines it rendered


class Counted(Container):
    def render_lines(self, crop: Region) -> list[Strip]:
        rendered.setdefault(self.id or "", []).extend(crop.line_range)
        return super().render_lines(crop)


class Boxes(App[None]):
    CSS = """
    #back { background: red; height: 1fr; }
    #box { border: round green; height: 10; }
    Static { background: blue; }
    """

    def compose(self) -> ComposeResult:
        with Counted(id="back"):  # covered by its children but for one line
            yield Static("top", id="top")
            with Vertical(id="box"):  # a border around a covered inside
                yield Static("inside\n" * 8, id="inside")
            yield Static("under", id="under")


def texts(strips: list[Strip]) -> list[list[tuple[str, str]]]:
    return [[(s.text, str(s.style)) for s in strip.simplify()] for strip in strips]


def test_runs_of_lines() -> None:
    assert list(runs([])) == []
    assert list(runs([3])) == [(3, 4)]
    assert list(runs([0, 1, 2, 5, 6, 9])) == [(0, 3), (5, 7), (9, 10)]


async def test_the_same_frame_with_the_covered_lines_left_unrendered() -> None:
    app = Boxes()
    async with app.run_test(size=(40, 20)) as pilot:
        screen = app.screen
        size = screen.size
        stock = screen._compositor
        ours = VisibleCompositor()
        ours.reflow(screen, size)
        rendered.clear()
        frame = texts(ours.render_strips())
        # #back is 20 lines; its children cover lines 0-11 (top, the box, under).
        assert rendered.pop("back") == list(range(12, 20))
        assert frame == texts(stock.render_strips())
        assert rendered.pop("back") == list(range(20))

        # A partial update (a child changed): the same chops as Textual's.
        inside: Any = screen.query_one("#inside", Static)
        inside.update("changed\n" * 8)
        await pilot.pause()
        region = screen.find_widget(inside).region
        updates = []
        for compositor in (stock, ours):
            compositor.reflow(screen, size)
            compositor._dirty_regions.clear()
            compositor._dirty_regions.add(region)
            update = compositor.render_partial_update()
            assert update is not None
            updates.append([{x: s.text for x, s in line.items() if s} for line in update.chops])
        assert updates[0] == updates[1]
        assert any("changed" in text for line in updates[1] for text in line.values())


class Panes(App[None]):
    """A Cluster screen pane: a titled box around a backend line and a table."""

    CSS = ".pane { border: round green; height: 1fr; } .pane PaneTable { height: 1fr; }"
    backends: reactive[dict[str, Any]] = reactive(dict)

    def compose(self) -> ComposeResult:
        yield Pane("Units", "fleet", PaneTable(("UNIT", "STATE"), id="table"))


def stock(widget: Any, crop: Region) -> list[list[tuple[str, str]]]:
    widget._styles_cache.clear()  # every line rendered on its own, as Textual renders
    return texts(super(type(widget), widget).render_lines(crop))


@pytest.mark.parametrize("shown", [0, 3, 14])
async def test_a_pane_and_its_table_share_the_strips_of_lines_alike(shown: int) -> None:
    app = Panes()
    async with app.run_test(size=(30, 16)) as pilot:
        table = app.query_one(PaneTable)
        table.show([Row(f"u{i}", (f"unit-{i}", "active")) for i in range(shown)])
        await pilot.pause()
        if shown > 10:  # more rows than lines: scrolled to the last rows, none are alike
            table.scroll_end(animate=False, immediate=True)
            await pilot.pause()
            assert table.scroll_offset.y > 0
        for widget in (app.query_one(Pane), table):
            height, width = widget.region.height, widget.region.width
            for crop in (Region(0, 0, width, height), Region(2, 1, width - 4, height - 2),
                         Region(0, height - 3, width, 3), Region(0, 0, width, 2)):  # fmt: skip
                widget._styles_cache.clear()
                strips = widget.render_lines(crop)
                assert len(strips) == crop.height
                assert texts(strips) == stock(widget, crop), (widget, crop)
        if shown > 10:
            return
        table._styles_cache.clear()
        lines = table.render_lines(Region(0, 0, table.region.width, table.region.height))
        blank = lines[shown + 1 :]  # past the rows: one strip for every line
        assert len(blank) >= 2 and all(strip is blank[0] for strip in blank)
