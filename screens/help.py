"""F1: what this screen is for and every key that works on it now."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from .plain import plain
from .workers import ReportsWorkerErrors

STANDARD = frozenset({"app.focus-next", "app.focus-previous"})  # Tab, Shift+Tab


def key_table(screen: Screen[object]) -> Table:
    """Our bindings on ``screen`` (those with an id). Keys that do not apply right here
    (another tab's) are listed as such; refused ones (read-only mode) are left out.

    Widgets' own keys (table cursor movement and so on) are standard and omitted, as
    are Tab and Shift+Tab.
    """
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column()
    seen = set()
    for active in screen.app.active_bindings.values():
        binding = active.binding
        if binding.id is None or binding.id in seen or binding.id in STANDARD:
            continue
        seen.add(binding.id)
        key = binding.key_display or screen.app.get_key_display(binding)
        what = Text(binding.tooltip or binding.description)
        if not active.enabled:
            what.append(" (not on this tab)", style="dim")
        grid.add_row(Text(key), what)
    return grid


class HelpScreen(ReportsWorkerErrors, ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close", id="help.close")]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 70; max-width: 95%; height: auto; max-height: 90%;
        border: round $accent; padding: 0 1; background: $surface; }
    """

    def __init__(self, title: str, text: str, keys: Table) -> None:
        super().__init__()
        self._title, self._text, self._keys = title, text, keys

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = f"Help: {self._title}"
            yield Static(plain(self._text), id="help-text")
            yield Static(self._keys, id="help-keys")
            yield Static(
                Text("Ctrl+P opens the command palette. Esc closes this help.", style="dim")
            )
