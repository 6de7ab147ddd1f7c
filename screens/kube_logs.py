"""A pod's log: the last lines at once, then following it live, in a capped buffer."""

from __future__ import annotations

import threading

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Log

from kubeha_tui.errors import ServiceError
from kubeha_tui.kube import actions
from kubeha_tui.kube.actions import LOG_CAP, LOG_TAIL, Ref
from kubeha_tui.kube.client import KubeClient

from .messages import LogLinesRead
from .plain import plain
from .workers import ReportsWorkerErrors


class LogScreen(ReportsWorkerErrors, ModalScreen[None]):
    BINDINGS = [
        Binding("escape,q", "dismiss", "Close", id="log.close"),
        Binding("f", "follow", "Follow", id="log.follow", tooltip="Follow the log live (again: stop)"),
        Binding("c", "next_container", "Container", id="log.container", tooltip="Next container of the pod"),
        Binding("r", "reload", "Reload", id="log.reload"),
    ]  # fmt: skip
    DEFAULT_CSS = """
    LogScreen { align: center middle; }
    LogScreen > Log { width: 95%; height: 90%; border: round $accent; background: $surface; }
    """

    def __init__(self, client: KubeClient, ref: Ref) -> None:
        super().__init__()
        self.client, self.ref = client, ref
        self.containers: list[str] = []
        self.container = ""
        self._stop = threading.Event()
        self.following = False

    def compose(self) -> ComposeResult:
        yield Log(id="pod-log", highlight=False, max_lines=LOG_CAP)

    def on_mount(self) -> None:
        self.action_reload()

    def on_unmount(self) -> None:
        self._stop.set()

    def _titles(self) -> None:
        log = self.query_one(Log)
        log.border_title = plain(
            f"log {self.ref.namespace}/{self.ref.name}"
            + (f" ({self.container})" if self.container else "")
        )
        state = "following" if self.following else f"last {LOG_TAIL} lines"
        log.border_subtitle = f"{state} · f follow · c container · r reload · Esc close"

    def action_reload(self) -> None:
        self._stop.set()
        self.following = False
        self._titles()
        self._load(self.container)

    def action_follow(self) -> None:
        self._stop.set()
        self.following = not self.following
        self._titles()
        if self.following:
            self._stop = threading.Event()
            self._follow(self.container, self._stop)

    def action_next_container(self) -> None:
        if len(self.containers) > 1:
            i = self.containers.index(self.container)
            self.container = self.containers[(i + 1) % len(self.containers)]
            self.action_reload()

    @work(thread=True, exclusive=True, exit_on_error=False, group="pod-log")
    def _load(self, container: str) -> None:
        """The log's tail; the first time also the pod's containers (posted, not stored:
        the screen's attributes belong to the UI thread)."""
        containers: list[str] | None = None
        try:
            if not container:
                containers = actions.containers(self.client, self.ref)
                container = containers[0] if containers else ""
            text = actions.logs(self.client, self.ref, container)
            self.post_message(
                LogLinesRead(text.splitlines(), replace=True, containers=containers,
                             container=container)
            )  # fmt: skip
        except ServiceError as exc:
            self.post_message(LogLinesRead([], replace=True, note=f"failed: {exc}"))

    @work(thread=True, exclusive=True, exit_on_error=False, group="pod-log")
    def _follow(self, container: str, stop: threading.Event) -> None:
        first = True
        try:
            for lines in actions.follow_logs(self.client, self.ref, container, stop):
                self.post_message(LogLinesRead(lines, replace=first))
                first = False
            note = "the log stream ended"
        except ServiceError as exc:
            note = f"following failed: {exc}"
        if not stop.is_set():
            self.post_message(LogLinesRead([], replace=first, note=note))

    @on(LogLinesRead)
    def _lines(self, message: LogLinesRead) -> None:
        log = self.query_one(Log)
        if message.replace:
            log.clear()
        self._titles()
        if message.containers is not None:  # the pod's containers, read by the worker
            self.containers = message.containers
            self.container = message.container
            self._titles()
        if message.lines:
            # Following is tail -f: new lines are shown as they come.
            log.write_lines(message.lines, scroll_end=True if self.following else None)
        if message.note:
            log.write_line(f"-- {message.note}")
