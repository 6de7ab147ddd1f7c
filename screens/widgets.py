"""Small widgets shared by the screens: the status bar, a backend's status line, the
footer."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer, Static

from kubeha_tui.status import BackendStatus

from .plain import clean

ICONS = {"connected": ("●", "green"), "connecting": ("◌", "yellow"), "unreachable": ("✖", "red")}


SHORT = {"kube": "kube"}


def trouble(status: BackendStatus) -> str:
    """ "warn" or "error" when a connected backend reports a problem (Ceph's health, a
    part of the stack not running on fleet), else ""."""
    if status.state != "connected":
        return ""
    if status.name == "ceph" and status.detail.startswith("HEALTH_ERR"):
        return "error"
    if status.name == "ceph" and status.detail.startswith("HEALTH_WARN"):
        return "warn"
    if status.name == "fleet" and " not running" in status.detail:
        return "warn"
    return ""


TROUBLE_ICONS = {"warn": ("▲", "yellow"), "error": ("▲", "red")}


def status_text(status: BackendStatus, *, detail: bool, short: bool = False) -> Text:
    icon, style = TROUBLE_ICONS.get(trouble(status)) or ICONS[status.state]
    label = SHORT.get(status.name, status.label) if short else status.label
    text = Text.assemble((f"{icon} ", style), (label, "bold"))
    if detail:
        text.append(f" {status.state}", style)
        if status.detail:
            text.append(f": {clean(status.detail)}")
    return text


class StatusBar(Static):
    """Top line: the screens (this one highlighted, with their keys) and each backend's
    state; the reasons live on the screens."""

    DEFAULT_CSS = "StatusBar { height: 1; background: $panel; }"
    SCREENS = (
        ("Cluster", "1"),
        ("Fleet", "2"),
        ("Kube", "3"),
        ("Ceph", "4"),
        ("Wizard", "5"),
        ("Doctor", "6"),
    )

    def __init__(self, title: str) -> None:
        super().__init__(id="status-bar")
        self.title = title

    def on_mount(self) -> None:
        self.watch(self.app, "backends", self._render_bar)

    def _screens(self, names: bool) -> Text:
        bar = Text()
        for name, key in self.SCREENS:
            current = self.title.startswith(name)
            bar.append(f" {key}", "dim" if not current else "bold reverse")
            if names or current:
                bar.append(f" {name} ", "bold reverse" if current else "")
        return bar

    def _render_bar(self, backends: dict[str, BackendStatus]) -> None:
        right = Text()
        if getattr(self.app, "read_only", False):
            right.append("RO ", "bold magenta")
        for status in backends.values():
            right.append_text(status_text(status, detail=False, short=True))
            right.append(" ")
        width = self.size.width or 80
        bar = self._screens(names=True)
        if bar.cell_len + right.cell_len >= width:  # e.g. with ssh and RO at 80 columns
            bar = self._screens(names=False)
        gap = max(1, width - bar.cell_len - right.cell_len)
        self.update(bar + Text(" " * gap) + right)

    def on_resize(self) -> None:
        self._render_bar(getattr(self.app, "backends", {}))


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
        self.set_class(bool(trouble(status)), "-trouble")


class KeysFooter(Footer):
    """Textual's Footer with its keys composed at once, and composed again only when the
    keys it shows change. The stock one mounts empty, then recomposes when the screen's
    bindings signal comes (one more style and layout pass before the first frame), and
    again at every focus change, whether or not its keys changed."""

    _shown: tuple[Any, ...] | None = None

    def _keys(self) -> tuple[Any, ...]:
        return tuple(
            (binding.key, binding.description, enabled, tooltip)
            for _, binding, enabled, tooltip in self.screen.active_bindings.values()
            if binding.show
        )

    def compose(self) -> ComposeResult:
        self.set_reactive(Footer._bindings_ready, True)
        self._shown = self._keys()
        yield from super().compose()

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if screen is self.screen and self.is_attached and self._keys() == self._shown:
            return
        super().bindings_changed(screen)
