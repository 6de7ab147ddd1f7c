"""Ceph dialogs: create an image, pick a lock to break, follow an image delete or an OSD
removal."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Input,
    Label,
    Log,
    OptionList,
    ProgressBar,
    RadioButton,
    RadioSet,
    Select,
    Static,
)
from textual.widgets.option_list import Option

from kubeha_tui.ceph.images import LEGACY_FEATURES, MODERN_FEATURES, CreateRequest, Image, Locker
from kubeha_tui.ceph.osds import Step
from kubeha_tui.errors import ServiceError

from .messages import CreateChecked, StepReported
from .plain import plain, plain_text
from .workers import ReportsWorkerErrors

DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical, {name} > VerticalScroll {{ width: 80; max-width: 95%; height: auto; max-height: 95%;
    border: thick $accent; background: $surface; padding: 0 1; }}
{name} .error {{ color: $error; }}
{name} .warning {{ color: $warning; }}
{name} Horizontal {{ height: auto; align-horizontal: right; }}
{name} Button {{ margin-left: 2; }}
{name} Input, {name} Select {{ margin-bottom: 1; }}
"""


class CreateImageScreen(ReportsWorkerErrors, ModalScreen["CreateRequest | None"]):
    """Name, size, pool and features; checked against the cluster before it closes."""

    AUTO_FOCUS = "#image-name"  # typing starts at once
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="create.cancel")]
    DEFAULT_CSS = (
        DIALOG_CSS.format(name="CreateImageScreen")
        + """
    CreateImageScreen Input, CreateImageScreen Select { margin-bottom: 0; }
    CreateImageScreen Label { margin-top: 0; }
    """
    )

    def __init__(
        self,
        pools: tuple[str, ...],
        pool: str,
        check: Callable[[str, str, str, tuple[str, ...]], CreateRequest],
    ) -> None:
        super().__init__()
        self._pools, self._pool, self._check = pools, pool, check

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:  # scrolls on an 80x24 terminal
            box.border_title = "New RBD image"
            yield Label("Name")
            yield Input(placeholder="db", id="image-name")
            yield Label("Size (10G, 512M, 1T or bytes)")
            yield Input(value="10G", id="image-size")
            yield Label("Pool")
            yield Select(
                [(plain_text(p), p) for p in self._pools],
                value=self._pool,
                allow_blank=False,
                id="image-pool",
            )
            with RadioSet(id="image-features"):
                yield RadioButton(
                    "layering only: maps on old kernels (CoreOS-era krbd)", value=True, id="legacy"
                )
                yield RadioButton(
                    f"modern: {', '.join(MODERN_FEATURES)} (kernel 5.3+)", id="modern"
                )
            yield Static("", classes="error", id="create-error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Create", variant="primary", id="create")

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#create")
    @on(Input.Submitted)
    def _submit(self) -> None:
        features = (
            MODERN_FEATURES if self.query_one("#modern", RadioButton).value else LEGACY_FEATURES
        )
        pool = str(self.query_one("#image-pool", Select).value)
        self._validate(
            pool,
            self.query_one("#image-name", Input).value,
            self.query_one("#image-size", Input).value,
            features,
        )

    @work(thread=True, exclusive=True, exit_on_error=False, group="create-check")
    def _validate(self, pool: str, name: str, size: str, features: tuple[str, ...]) -> None:
        try:
            self.post_message(CreateChecked(self._check(pool, name, size, features)))
        except ServiceError as exc:
            self.post_message(CreateChecked(None, str(exc)))

    @on(CreateChecked)
    def _checked(self, message: CreateChecked) -> None:
        if message.error:
            self.query_one("#create-error", Static).update(plain(message.error))
        else:
            self.dismiss(message.request)  # type: ignore[arg-type]


class UnlockScreen(ReportsWorkerErrors, ModalScreen["tuple[Locker, bool] | None"]):
    """The image's lockers, alive or stale; breaking a live one needs a second, explicit step."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="unlock.cancel")]
    DEFAULT_CSS = DIALOG_CSS.format(name="UnlockScreen")

    def __init__(self, image: Image) -> None:
        super().__init__()
        self.image = image

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = plain(f"Locks on {self.image.pool}/{self.image.name}")
            options = []
            for n, lk in enumerate(self.image.lockers):
                state = (
                    "alive (still watching)" if lk.alive else "STALE (no watch: the client is gone)"
                )
                options.append(
                    Option(
                        plain(
                            f"{lk.client}  cookie {lk.cookie!r}  {lk.address}\n  {lk.label}; {state}"
                        ),
                        id=str(n),
                    )
                )
            yield OptionList(*options, id="lockers")
            yield Static(
                "Breaking a stale lock first fences that client (blocklist), so it can never write again.",
                id="unlock-help",
            )
            yield Static("", classes="warning", id="unlock-warning")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Force break", variant="error", id="force", disabled=True)
                yield Button("Break stale lock", variant="warning", id="break")

    def on_mount(self) -> None:
        self.query_one(OptionList).highlighted = 0
        self._update()

    def selected(self) -> Locker:
        index = self.query_one(OptionList).highlighted or 0
        return self.image.lockers[index]

    @on(OptionList.OptionHighlighted)
    def _update(self) -> None:
        if not self.query("#break"):  # highlighted while the dialog is still mounting
            return
        lk = self.selected()
        self.query_one("#break", Button).disabled = lk.alive
        self.query_one("#force", Button).disabled = not lk.alive
        warning = (
            f"{lk.client} is alive. Breaking its lock fences it: whatever runs there loses the volume. "
            "Force it only if you know that client is gone."
            if lk.alive
            else ""
        )
        self.query_one("#unlock-warning", Static).update(plain(warning))

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self.dismiss(None)
        else:
            self.dismiss((self.selected(), event.button.id == "force"))

    def action_cancel(self) -> None:
        self.dismiss(None)


class OSDRemovalScreen(ReportsWorkerErrors, ModalScreen[bool]):
    """Runs the removal flow in a worker and shows every step; Cancel stops the wait."""

    BINDINGS = [Binding("escape", "close", "Close", id="osd-removal.close")]
    DEFAULT_CSS = (
        DIALOG_CSS.format(name="OSDRemovalScreen") + "OSDRemovalScreen Log { height: 14; }"
    )

    def __init__(
        self, osd_id: int, flow: Callable[[bool, threading.Event], Iterator[Step]]
    ) -> None:
        super().__init__()
        self.osd_id, self._flow = osd_id, flow
        self._cancel = threading.Event()
        self.finished = False

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"Removing osd.{self.osd_id}"
            yield Log(id="steps", highlight=False)
            yield Static("", classes="warning", id="removal-note")
            with Horizontal():
                yield Button("Cancel", id="cancel", variant="warning")
                yield Button("Force", id="force", variant="error", classes="hidden")
                yield Button("Close", id="close", classes="hidden")

    def on_mount(self) -> None:
        self._run(False)

    @work(thread=True, exclusive=True, exit_on_error=False, group="osd-removal")
    def _run(self, force: bool) -> None:
        try:
            for step in self._flow(force, self._cancel):
                self.post_message(StepReported(step))
        except ServiceError as exc:
            self.post_message(StepReported(Step(f"stopped: {exc}", done=True, failed=True)))

    @on(StepReported)
    def _show(self, message: StepReported) -> None:
        step = message.step
        assert isinstance(step, Step)
        self.query_one(Log).write_line(step.text)
        if step.needs_force:
            self.query_one("#removal-note", Static).update(
                "Removing it now can lose data that has no other copy. Force only if that data is lost anyway."
            )
            self.query_one("#force").remove_class("hidden")
        if step.done or step.needs_force:
            self.finished = step.done and not step.failed
            self.query_one("#cancel").add_class("hidden")
            self.query_one("#close").remove_class("hidden")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "cancel":
            self._cancel.set()
            self.query_one(Log).write_line("cancelling: the OSD stays out, nothing is removed ...")
        elif event.button.id == "force":
            event.button.add_class("hidden")
            self.query_one("#close").add_class("hidden")
            self.query_one("#cancel").remove_class("hidden")
            self._run(True)
        else:
            self.dismiss(self.finished)

    def action_close(self) -> None:
        self._cancel.set()
        self.dismiss(self.finished)


class DeleteImageScreen(ReportsWorkerErrors, ModalScreen[None]):
    """Follows an image delete that the Ceph screen runs in its own worker (so it goes on
    when this closes): a progress bar, Cancel (stops it, the image is then half-deleted)
    and Run in background. The screen feeds it ``progressed`` and ``ended``, which may
    come before this is mounted (a small image is gone in a fraction of a second)."""

    BINDINGS = [Binding("escape", "close", "Close", id="delete.close")]
    DEFAULT_CSS = DIALOG_CSS.format(name="DeleteImageScreen") + (
        "DeleteImageScreen ProgressBar { margin: 1 0; }"
    )

    def __init__(self, key: str, cancel: threading.Event, done: int = 0, total: int = 0) -> None:
        super().__init__()
        self.key, self._cancel = key, cancel
        self.progress = (done, total)
        self.end: tuple[str, bool, bool] | None = None  # text, ok, stopped

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = plain(f"Deleting {self.key}")
            yield Static(plain("removing its data objects ..."), id="delete-status")
            yield ProgressBar(id="delete-progress", show_eta=False)
            yield Static("", classes="warning", id="delete-note")
            yield Static(
                "Run in background keeps it going while you use the console (Ctrl+D on its row "
                "shows this again); quitting stops it, and the image is then half-deleted.",
                id="delete-help",
            )
            with Horizontal():
                yield Button("Cancel", id="cancel", variant="warning")
                yield Button("Run in background", id="background", variant="primary")
                yield Button("Close", id="close", classes="hidden")

    def on_mount(self) -> None:
        self._draw()

    def progressed(self, done: int, total: int) -> None:
        self.progress = (done, total)
        if self.is_mounted:
            self._draw()

    def ended(self, text: str, ok: bool, stopped: bool) -> None:
        self.end = (text, ok, stopped)
        if self.is_mounted:
            self._draw()

    def _draw(self) -> None:
        done, total = self.progress
        bar = self.query_one(ProgressBar)
        status = self.query_one("#delete-status", Static)
        if total:
            bar.update(total=total, progress=done)
            if not self._cancel.is_set():
                status.update(plain(f"removed {done:,} of {total:,} data objects"))
        if self.end is None:
            return
        text, ok, stopped = self.end
        if ok:
            bar.update(total=total or 1, progress=total or 1)
        status.update(plain(text))
        status.set_class(not ok, "error")
        note = "Ctrl+D on its row finishes the delete." if stopped else ""
        self.query_one("#delete-note", Static).update(plain(note))
        self.query_one("#delete-help").add_class("hidden")
        self.query_one("#cancel").add_class("hidden")
        self.query_one("#background").add_class("hidden")
        self.query_one("#close").remove_class("hidden")
        self.query_one("#close", Button).focus()

    @on(Button.Pressed, "#cancel")
    def _cancelled(self, event: Button.Pressed) -> None:
        self._cancel.set()
        event.button.disabled = True
        self.query_one("#delete-status", Static).update(
            plain("cancelling: the delete stops after the object being removed ...")
        )
        self.query_one("#delete-note", Static).update(
            plain(
                f"{self.key} will be half-deleted (part of its data gone); "
                "deleting it again finishes it."
            )
        )

    @on(Button.Pressed, "#background")
    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        """Closing never stops the delete: Cancel does."""
        self.dismiss(None)
