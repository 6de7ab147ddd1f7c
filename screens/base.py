"""AreaScreen: the frame every screen shares (status bar, body, footer) and the
read-only rule: actions named in DESTRUCTIVE are hidden and refused."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, ClassVar, cast

from textual import events
from textual._context import NoActiveAppError
from textual.app import ComposeResult
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.screen import Screen

from .compositor import VisibleCompositor
from .widgets import KeysFooter, StatusBar
from .workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from textual.widgets import TabbedContent

    from .app import KubehaApp


class FramePainted(Message):
    """An area screen handed its first frame to the terminal (posted to the app)."""


class AreaScreen(ReportsWorkerErrors, Screen[None]):
    TITLE_TEXT: ClassVar[str] = ""
    HELP: ClassVar[str] = ""
    HELP_READ_ONLY: ClassVar[str] = ""  # the help with --read-only, when HELP names changes
    # Action names that change the cluster; never offered in read-only mode.
    DESTRUCTIVE: ClassVar[frozenset[str]] = frozenset()

    BINDINGS = [
        Binding("right_square_bracket", "switch_tab(1)", "Next tab", id="area.next-tab", show=False,
                tooltip="Next tab"),
        Binding("left_square_bracket", "switch_tab(-1)", "Previous tab", id="area.previous-tab", show=False),
    ]  # fmt: skip

    def action_switch_tab(self, step: int) -> None:
        # Imported here: the Cluster screen, drawn first, has no tabs.
        from textual.widgets import TabbedContent, TabPane  # noqa: PLC0415

        tabs = self.query(TabbedContent)
        if not tabs:
            return
        box = tabs.first()
        panes = [p.id for p in box.query(TabPane) if p.id]
        if box.active in panes:
            box.active = panes[(panes.index(box.active) + step) % len(panes)]

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        """Keys go to the table of the tab just shown (a hidden table keeps none). A late
        activation of a tab since left (the first tab's, when the operator switched before
        the first frame) moves nothing."""
        # Imported here: the Cluster screen, drawn first, has no DataTable.
        from textual.widgets import DataTable  # noqa: PLC0415

        if event.tabbed_content.active != event.pane.id:
            return
        tables = event.pane.query(DataTable)
        if tables:
            tables.first().focus()

    SHORT_BELOW: ClassVar[int] = 20  # lines; fewer: the compact layout (class -short)

    def __init__(self) -> None:
        super().__init__()
        self._compositor = VisibleCompositor()  # renders only lines that show
        # Styled as it mounts, with the stylesheet as it is now. Textual (8.2) counts a new
        # screen as out of date and re-parses every stylesheet when it is first shown: twice
        # over before the first frame (~10 ms).
        with contextlib.suppress(NoActiveAppError):  # made outside an app (tests)
            self._css_update_count = self.app._css_update_count

    _resumed = False

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        # Shown for the first time: every node was styled as it mounted, moments ago.
        # Textual (8.2) styles them all again here (~8% of the way to the first frame).
        if not self._resumed:
            self._resumed = True
            event.refresh_styles = False
        super()._on_screen_resume(event)

    _painted = False  # FramePainted was posted
    _paint_deferred = False  # a paint was skipped in a batch, none made since
    _layout_deferred = False  # a layout was skipped in a batch, none made since

    def _refresh_layout(self, size: Size | None = None, scroll: bool = False) -> None:
        """Lay the screen out, but not before its first frame while the app batches: the
        first screen resumes while the app still mounts, in a batch, and Textual (8.2) laid
        it out then, again for the Resize that layout posts to the screen itself, and again
        for the app's start-up Resize; only that third one painted. Now the layout waits
        for the batch to end and is made once."""
        if not self._painted and self.app._batch_count and not scroll:
            self._layout_deferred = True
            self._defer_paint()
            return
        if self._layout_deferred:  # a scroll's partial layout does not stand for it
            scroll, self._layout_deferred = False, False
        super()._refresh_layout(size, scroll)

    async def _on_resize(self, event: events.Resize) -> None:
        """A Resize to the size the screen was just laid out at, with no layout asked for
        since (the one its own layout posts to it, the app's start-up one), changes
        nothing: skip the full layout Textual would make again. Textual calls this
        class's handler, then Screen's, which lays the screen out, unless the default
        is prevented."""
        self.set_class(event.size.height < self.SHORT_BELOW, "-short")
        if (
            event.size == self._compositor.size
            and not self._layout_widgets
            and not self._layout_deferred
        ):
            event.prevent_default()
            event.stop()
            for screen in self.app._background_screens:
                screen._screen_resized(event.size)

    def _compositor_refresh(self) -> None:
        """Paint the screen, but not while the app batches updates: Textual (8.2) renders
        the frame then and drops it (as if painted). That is how the first screen, which
        resumes while the app still mounts inside a batch, lost a whole-screen render
        (30-60 ms) and then showed only a partial frame until a later full one."""
        if self.app._batch_count:
            self._defer_paint()
            return
        self._paint_deferred = False
        super()._compositor_refresh()
        if not self._painted and self is self.app.screen:
            self._painted = True
            self.app.post_message(FramePainted())

    def _defer_paint(self) -> None:
        if not self._paint_deferred:
            self._paint_deferred = True
            self.app.call_later(self._paint_after_batch)

    def _paint_after_batch(self) -> None:
        """Lay out and paint the whole screen once the batch is over, unless that came
        first (the app's start-up Resize, after the batch, lays it out and paints it)."""
        if self.app._batch_count:
            self.set_timer(0.01, self._paint_after_batch)
            return
        self._paint_deferred = False  # a later batch defers again, whatever happens now
        if not self.is_attached:
            return
        if self._layout_deferred:
            self._refresh_layout(self.app.size)
        else:
            self.refresh()

    def compose(self) -> ComposeResult:
        yield StatusBar(self.TITLE_TEXT)
        yield from self.compose_body()
        yield KeysFooter()  # Ctrl+P is in F1 help

    def compose_body(self) -> ComposeResult:
        yield from ()

    @property
    def kubeha(self) -> KubehaApp:
        """The app, typed (screens reach services and polls through it)."""
        return cast("KubehaApp", self.app)

    def offered_bindings(self) -> list[Binding]:
        """This screen's own bindings that apply now (destructive ones vanish in read-only)."""
        return [
            b for b in self.BINDINGS
            if isinstance(b, Binding) and b.description and self.check_action(b.action.split("(")[0], ())
        ]  # fmt: skip

    @property
    def read_only(self) -> bool:
        return bool(getattr(self.app, "read_only", False))

    def help_text(self) -> str:
        """What F1 says: in read-only mode without the keys that are gone."""
        return (self.HELP_READ_ONLY or self.HELP) if self.read_only else self.HELP

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in self.DESTRUCTIVE and self.read_only)
