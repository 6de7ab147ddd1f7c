"""TabbedTableScreen: the live, tabbed tables that the Fleet and Ceph screens share:
render on new data (only while shown), a filter box, sort keys, result notes."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.binding import Binding
from textual.widgets import DataTable, Input, TabbedContent, TabPane

from .base import AreaScreen
from .messages import ActionFinished
from .tables import View


class SteadyTabbedContent(TabbedContent):
    """A TabbedContent that a focus already gone from a pane does not switch to it.

    Textual (8.2) shows the pane a focused widget is in when that pane's Focused message
    arrives, even if the focus has moved on meanwhile. With the screen's keys sent to the
    table of the tab just shown, two such moves in flight (the first tab's, from the
    start, and the operator's switch) switched the tab back and forth for as long as the
    screen was open."""

    def _on_tab_pane_focused(self, event: TabPane.Focused) -> None:
        focused = self.screen.focused
        if focused is None or event.tab_pane not in focused.ancestors_with_self:
            event.prevent_default()
            event.stop()


class TabbedTableScreen(AreaScreen):
    """Widget ids follow ``AREA``: ``#{AREA}-tabs``, ``#{AREA}-filter`` and one table
    ``#{AREA}-{tab}`` per tab pane. Subclasses set ``SNAPSHOT`` (the type their
    backend's poll delivers) and implement ``render_tables``."""

    AREA: ClassVar[str] = ""
    SNAPSHOT: ClassVar[type] = object
    TABS: ClassVar[tuple[str, ...]] = ()
    BINDINGS = [
        Binding("slash", "filter", "Filter", id="table.filter", tooltip="Filter rows by text"),
        Binding(
            "o",
            "sort",
            "Sort",
            id="table.sort",
            tooltip="Sort by the next column",
            show=False,
        ),
        Binding(
            "O", "reverse", "Reverse", id="table.reverse", tooltip="Reverse the sort", show=False
        ),
        Binding("escape", "clear_filter", "Clear filter", id="table.clear-filter", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.views = {tab: View() for tab in self.TABS}
        self.snapshot: object | None = None

    def filter_box(self) -> Input:
        return Input(
            placeholder="filter (Enter keeps it, Esc clears)",
            id=f"{self.AREA}-filter",
            classes="filter hidden",
        )

    def on_mount(self) -> None:
        self.watch(self.app, "data", self._data_changed)
        self.active_table().focus()

    def on_screen_resume(self) -> None:
        self.render_tables()

    def _data_changed(self, data: dict[str, object]) -> None:
        snap = data.get(self.AREA)
        if isinstance(snap, self.SNAPSHOT):
            self.snapshot = snap
            if self.is_current:  # hidden screens catch up when shown again
                self.render_tables()
                self._show_matches()

    def render_tables(self) -> None:
        raise NotImplementedError

    @property
    def tab(self) -> str:
        return self.query_one(f"#{self.AREA}-tabs", TabbedContent).active or self.TABS[0]

    def active_table(self) -> DataTable[object]:
        return self.query_one(f"#{self.AREA}-{self.tab}", DataTable)

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.render_tables()
        view = self.views[self.tab]
        box = self.query_one(f"#{self.AREA}-filter", Input)
        box.value = view.filter
        box.set_class(not view.filter, "hidden")
        self._show_matches()

    # -- filter and sort -------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one(f"#{self.AREA}-filter", Input)
        box.remove_class("hidden")
        box.focus()

    @on(Input.Changed, ".filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.views[self.tab].filter = event.value
        self.render_tables()
        self._show_matches()

    def _show_matches(self) -> None:
        """How many rows the filter lets through, on the filter box (none is said so)."""
        view = self.views[self.tab]
        box = self.query_one(f"#{self.AREA}-filter", Input)
        if not view.filter:
            box.border_title = ""
            return
        shown, total = len(view.visible()), len(view.rows)
        box.border_title = (
            f"no row matches ({total} rows)" if not shown else f"{shown} of {total} rows"
        )

    @on(Input.Submitted, ".filter")
    def _filter_kept(self) -> None:
        self.active_table().focus()

    def action_clear_filter(self) -> None:
        box = self.query_one(f"#{self.AREA}-filter", Input)
        box.value = ""
        box.add_class("hidden")
        self.active_table().focus()

    def action_sort(self) -> None:
        view = self.views[self.tab]
        columns = list(self.active_table().columns.values())
        view.sort_column = 0 if view.sort_column is None else (view.sort_column + 1) % len(columns)
        self.render_tables()
        self.notify(f"sorted by {columns[view.sort_column].label}", timeout=2)

    def action_reverse(self) -> None:
        view = self.views[self.tab]
        view.reverse = not view.reverse
        view.sort_column = view.sort_column or 0
        self.render_tables()

    # -- results of actions ------------------------------------------------------

    @on(ActionFinished)
    def _finished(self, message: ActionFinished) -> None:
        self.notify(message.text, severity="information" if message.ok else "error", timeout=8)
        self.kubeha.poll(self.AREA)
