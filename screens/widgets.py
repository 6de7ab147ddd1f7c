"""Small widgets shared by the screens: the status bar and a backend's status line."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from kubeha_tui.status import BackendStatus

ICONS = {"connected": ("●", "green"), "connecting": ("◌", "yellow"), "unreachable": ("✖", "red")}


def status_text(status: BackendStatus, *, detail: bool) -> Text:
    icon, style = ICONS[status.state]
    text = Text.assemble((f"{icon} ", style), (status.label, "bold"))
    if detail:
        text.append(f" {status.state}", style)
        if status.detail:
            text.append(f": {status.detail}")
    return text


class StatusBar(Static):
    """Top line: screen title, then each backend's state (reasons live on the screens)."""

    DEFAULT_CSS = "StatusBar { height: 1; background: $panel; }"

    def __init__(self, title: str) -> None:
        super().__init__(id="status-bar")
        self.title = title

    def on_mount(self) -> None:
        self.watch(self.app, "backends", self._render_bar)

    def _render_bar(self, backends: dict[str, BackendStatus]) -> None:
        bar = Text.assemble(("kubeha-tui ", "bold"), (self.title, "bold cyan"))
        for status in backends.values():
            bar.append("  ")
            bar.append_text(status_text(status, detail=False))
        if getattr(self.app, "read_only", False):
            bar.append("  [read-only]", "bold magenta")
        self.update(bar)


class BackendLine(Static):
    """One backend's full state with its reason, on the screens that use it."""

    DEFAULT_CSS = "BackendLine { height: auto; padding: 0 1; }"

    def __init__(self, backend: str) -> None:
        super().__init__(classes="backend-line")
        self.backend = backend

    def on_mount(self) -> None:
        self.watch(self.app, "backends", self._render_line)

    def _render_line(self, backends: dict[str, BackendStatus]) -> None:
        status = backends.get(self.backend, BackendStatus(self.backend))
        self.update(status_text(status, detail=True))
        self.set_class(status.state == "unreachable", "-unreachable")
