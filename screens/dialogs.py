"""Modal dialogs: confirm a cluster-changing action, and show command output."""

from __future__ import annotations

from collections.abc import Callable

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, RichLog, Static

from kubeha_tui.errors import ServiceError

from .messages import OutputFetched
from .plain import plain, plain_text
from .workers import ReportsWorkerErrors


class ConfirmScreen(ReportsWorkerErrors, ModalScreen[bool]):
    """Shows exactly what will happen; Cancel has the focus, so Enter alone does nothing harmful.

    Every text may hold names from the cluster: all of it is shown as plain text."""

    AUTO_FOCUS = "#cancel"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="confirm.cancel")]
    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 76; max-width: 95%; height: auto; border: thick $error;
        background: $surface; padding: 0 1; }
    ConfirmScreen .request { color: $text-muted; margin: 1 0; }
    ConfirmScreen .warning { color: $warning; }
    ConfirmScreen Horizontal { height: auto; align-horizontal: right; }
    ConfirmScreen Button { margin-left: 2; }
    """

    def __init__(
        self, title: str, summary: str, request: str, warnings: tuple[str, ...], verb: str
    ) -> None:
        super().__init__()
        self._title, self._summary, self._request = title, summary, request
        self._warnings, self._verb = warnings, verb

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = plain(self._title)
            yield Static(plain(self._summary, "bold"), id="confirm-summary")
            yield Static(plain(self._request), classes="request", id="confirm-request")
            for warning in self._warnings:
                yield Static(plain(f"⚠ {warning}"), classes="warning")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button(self._verb.capitalize(), variant="error", id="confirm")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")

    def action_cancel(self) -> None:
        self.dismiss(False)


class OutputScreen(ReportsWorkerErrors, ModalScreen[None]):
    """Scrollable text fetched by a thread worker (unit status, journal, describe); long
    lines wrap (a FailedMount event's message is read in full), shown as plain text.
    It opens at the top (status, describe) or, with ``end``, at the newest line (journal)."""

    BINDINGS = [
        Binding("escape,q", "dismiss", "Close", id="output.close"),
        Binding("r", "reload", "Reload", id="output.reload"),
    ]
    DEFAULT_CSS = """
    OutputScreen { align: center middle; }
    OutputScreen > RichLog { width: 95%; height: 90%; border: round $accent; background: $surface; }
    """

    def __init__(self, title: str, fetch: Callable[[], str], *, end: bool = False) -> None:
        super().__init__()
        self._title, self._fetch, self._end = title, fetch, end

    def compose(self) -> ComposeResult:
        log = RichLog(
            id="output",
            highlight=False,
            markup=False,
            wrap=True,
            max_lines=20_000,
            auto_scroll=False,
        )
        log.border_title = plain(self._title)
        log.border_subtitle = "r reload · Esc close"
        yield log

    def on_mount(self) -> None:
        self.action_reload()

    def action_reload(self) -> None:
        log = self.query_one(RichLog)
        log.clear()
        log.write(plain_text("loading..."))
        self._load()

    @work(thread=True, exclusive=True, exit_on_error=False, group="output")
    def _load(self) -> None:
        try:
            self.post_message(OutputFetched(self._fetch(), ok=True))
        except ServiceError as exc:
            self.post_message(OutputFetched(str(exc), ok=False))

    @on(OutputFetched)
    def _fetched(self, message: OutputFetched) -> None:
        log = self.query_one(RichLog)
        log.clear()
        text = message.text if message.ok else f"failed: {message.text}"
        log.write(plain_text(text), scroll_end=self._end)
