"""Small widgets shared by the screens: the status bar, a backend's status line, the
footer."""

from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

from rich.style import Style
from rich.text import Text
from textual import events
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Static

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


class KeysFooter(Widget, can_focus=False):
    """The keys of the screen's bindings on one line, drawn as Textual's compact Footer
    draws them (the key in bold, its description, a space between keys; a disabled key
    dim). One widget: the stock Footer is a container of one widget per key, composed
    again at every focus change, and cost the first frame a widget tree, its styles and
    its layout. A click on a key presses it; the key under the mouse is highlighted, as
    there, and shows its tooltip."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "keys-footer--key", "keys-footer--description", "keys-footer--hover"
    }  # fmt: skip
    DEFAULT_CSS = """
    KeysFooter {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        & > .keys-footer--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        & > .keys-footer--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        & > .keys-footer--hover {
            background: $block-hover-background;
        }
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self._keys: tuple[FooterKey, ...] = ()
        self._spans: list[tuple[int, int, FooterKey]] = []  # cells each key covers
        self._hovered: FooterKey | None = None  # the enabled key under the mouse

    def on_mount(self) -> None:
        self._keys = self._shown_keys()
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _shown_keys(self) -> tuple[FooterKey, ...]:
        """One key per action (its first binding), as the stock Footer shows them."""
        keys: dict[str, FooterKey] = {}
        for _, binding, enabled, tooltip in self.screen.active_bindings.values():
            if binding.show and binding.action not in keys:
                keys[binding.action] = FooterKey(
                    binding.key, self.app.get_key_display(binding), binding.description,
                    enabled, tooltip or binding.tooltip,
                )  # fmt: skip
        return tuple(keys.values())

    def _bindings_changed(self, screen: Screen[Any]) -> None:
        keys = self._shown_keys()
        if keys != self._keys:
            self._keys = keys
            self.refresh()

    def render(self) -> Text:
        key_style = self.get_component_rich_style("keys-footer--key")
        description_style = self.get_component_rich_style("keys-footer--description")
        hover = Style(bgcolor=self.get_component_rich_style("keys-footer--hover").bgcolor)
        line = Text(no_wrap=True, overflow="crop", end="")
        self._spans = []
        for key in self._keys:
            if self._spans:
                line.append(" ")  # the stock Footer's margin between keys
            start = line.cell_len
            if not key.enabled:
                look = Style(dim=True)
            else:
                look = hover if key == self._hovered else Style()
            line.append(key.display, key_style + look)
            if key.description:
                line.append(f" {key.description}", description_style + look)
            self._spans.append((start, line.cell_len, key))
        return line

    def _key_at(self, x: int) -> FooterKey | None:
        return next((key for start, end, key in self._spans if start <= x < end), None)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        key = self._key_at(event.x)
        if key is None:
            return
        if key.enabled:
            self.app.simulate_key(key.key)
        else:
            self.app.bell()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        key = self._key_at(event.x)
        self.tooltip = key.tooltip if key is not None and key.tooltip else None
        self._hover(key if key is not None and key.enabled else None)

    def on_leave(self) -> None:
        self._hover(None)

    def _hover(self, key: FooterKey | None) -> None:
        if key != self._hovered:
            self._hovered = key
            self.styles.pointer = "default" if key is None else "pointer"
            self.refresh()


class FooterKey(NamedTuple):
    key: str
    display: str
    description: str
    enabled: bool
    tooltip: str
