"""AreaScreen: the frame every screen shares (status bar, body, footer) and the
read-only rule: actions named in DESTRUCTIVE are hidden and refused."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer

from .widgets import StatusBar


class AreaScreen(Screen[None]):
    TITLE_TEXT: ClassVar[str] = ""
    HELP: ClassVar[str] = ""
    # Action names that change the cluster; never offered in read-only mode.
    DESTRUCTIVE: ClassVar[frozenset[str]] = frozenset()

    def compose(self) -> ComposeResult:
        yield StatusBar(self.TITLE_TEXT)
        yield from self.compose_body()
        yield Footer(compact=True, show_command_palette=False)  # Ctrl+P is in F1 help

    def compose_body(self) -> ComposeResult:
        yield from ()

    def offered_bindings(self) -> list[Binding]:
        """This screen's own bindings that apply now (destructive ones vanish in read-only)."""
        return [
            b for b in self.BINDINGS
            if isinstance(b, Binding) and b.description and self.check_action(b.action.split("(")[0], ())
        ]  # fmt: skip

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in self.DESTRUCTIVE and getattr(self.app, "read_only", False))
