"""KubehaApp: one screen per area (MODES), the backend polls, keys and palette.

The first frame comes first: the screens are imported when first shown, and the
services (with the kubernetes and paramiko packages behind them) are built in a worker
once that frame is on the terminal (the first FramePainted, not Textual's Ready, which
comes before the first screen has painted anything); the polls start from there. Over
SSH, fleet alone connects and polls from the app's start (see ``on_load``), and the
others share its connection.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual import events, on
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.reactive import reactive
from textual.screen import Screen

from kubeha_tui.config import Settings
from kubeha_tui.errors import ServiceError
from kubeha_tui.polling import Pollable
from kubeha_tui.status import BACKENDS, BackendStatus

from . import heap
from .base import AreaScreen, FramePainted
from .plain import clean
from .poll_messages import BackendPolled, SSHStateChanged
from .workers import ReportsWorkerErrors

if TYPE_CHECKING:
    from kubeha_tui.fleet.service import FleetLink
    from kubeha_tui.services import Services

log = logging.getLogger(__name__)


# Each screen module (and the backend modules it uses) is imported when first shown.
def _cluster_screen() -> Screen[None]:
    from .areas import ClusterScreen  # noqa: PLC0415 - see above

    return ClusterScreen()


def _fleet_screen() -> Screen[None]:
    from .fleet import FleetScreen  # noqa: PLC0415

    return FleetScreen()


def _kube_screen() -> Screen[None]:
    from .kube import KubeScreen  # noqa: PLC0415

    return KubeScreen()


def _ceph_screen() -> Screen[None]:
    from .ceph import CephScreen  # noqa: PLC0415

    return CephScreen()


def _wizard_screen() -> Screen[None]:
    from .wizard import WizardScreen  # noqa: PLC0415

    return WizardScreen()


def _doctor_screen() -> Screen[None]:
    from .doctor import DoctorScreen  # noqa: PLC0415

    return DoctorScreen()


@dataclass
class ServicesBuilt(Message):
    """The backend services were built (in a worker, after the first frame)."""

    services: Services


SCREEN_TITLES = {
    "cluster": "Cluster",
    "fleet": "Fleet",
    "kube": "Kubernetes",
    "ceph": "Ceph",
    "wizard": "Wizard",
    "doctor": "Doctor",
}
FOOTER_LABELS = {"kube": "Kube"}  # short enough for the footer at 80 columns
POLL_EVERY = {
    "fleet": 2.0,
    "kube": 5.0,
    "ceph": 5.0,
}  # seconds between polls of a connected backend
BACKOFF_MAX = 4.0  # seconds: a backend that comes back is seen within a few seconds
EXIT_GRACE = 5.0  # seconds a crash or SIGTERM may take to shut down before a hard exit
# Tests only: with this set to "f12", F12 raises in the UI thread (a crash, end to end).
TEST_CRASH_ENV = "KUBEHA_TUI_TEST_CRASH"


class KubehaApp(ReportsWorkerErrors, App[None]):
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "kubeha-tui"
    # The screen drawn first is the default mode's, set for each app to the screen asked
    # for: a switch from Textual's own empty default screen re-parsed the whole stylesheet
    # twice before the first frame, and one from the Cluster screen built that one first.
    DEFAULT_MODE = "cluster"
    MODES = {
        "cluster": _cluster_screen,
        "fleet": _fleet_screen,
        "kube": _kube_screen,
        "ceph": _ceph_screen,
        "wizard": _wizard_screen,
        "doctor": _doctor_screen,
    }
    BINDINGS = [
        *(
            Binding(
                str(n),
                f"switch_mode('{mode}')",
                FOOTER_LABELS.get(mode, title),
                id=f"screen.{mode}",
                tooltip=f"Go to the {title} screen",
                show=False,  # the status bar shows the screens and their keys
            )
            for n, (mode, title) in enumerate(SCREEN_TITLES.items(), start=1)
        ),
        # Priority: resolved as the key arrives. Otherwise Tab bubbles up from the focused
        # widget, and keys typed right after it reach the field Tab was leaving.
        Binding("tab", "focus_next", "Next field", id="app.focus-next", show=False, priority=True),
        Binding(
            "shift+tab",
            "focus_previous",
            "Previous field",
            id="app.focus-previous",
            show=False,
            priority=True,
        ),
        Binding("f1", "help", "Help", id="app.help", tooltip="Help for this screen"),
        Binding(
            "ctrl+p",
            "command_palette",
            "Palette",
            id="app.palette",
            tooltip="Command palette",
            show=False,
        ),
        Binding(
            "r",
            "refresh",
            "Refresh",
            id="app.refresh",
            tooltip="Poll every backend now",
            show=False,
        ),
        Binding(
            "q",
            "quit",
            "Quit",
            id="app.quit",
            tooltip="Quit kubeha-tui (a --sandbox cluster stops too)",
        ),
    ]

    # Read through watchers only; a repaint of the app would redraw the whole screen at
    # every poll (five times a second under Kubernetes churn).
    backends: reactive[dict[str, BackendStatus]] = reactive(dict, always_update=True, repaint=False)
    data: reactive[dict[str, object]] = reactive(
        dict, always_update=True, repaint=False
    )  # latest snapshot per backend

    def __init__(
        self,
        settings: Settings,
        services: Services | None = None,
        hangup: Callable[[], None] | None = None,
        hard_exit: Callable[[int], None] | None = None,
    ) -> None:
        # Per app: App.__init__ (Textual 8.2) reads it for the first mode and nothing after.
        self.DEFAULT_MODE = settings.screen  # type: ignore[misc]
        super().__init__()
        self.hangup = hangup or (lambda: os._exit(129))
        self.hard_exit = hard_exit or os._exit
        self.crashed: BaseException | None = None
        self._test_crash_key = os.environ.get(TEST_CRASH_ENV, "")
        self.settings = settings
        self.read_only = settings.read_only
        self._services = services  # built after the first frame unless given
        self._fleet_first: Future[FleetLink] | None = None  # over SSH: built at the start
        self._wakeups: dict[str, threading.Event] = {}
        self._pollers: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._watchdog: threading.Timer | None = None
        self._frozen: set[str] = set()  # backends whose first full load was frozen (gc)
        self._collector = heap.Collector()
        self._painted = False  # the first frame is on the terminal
        self._after_paint: list[Callable[[], None]] = []
        initial = {name: BackendStatus(name) for name in BACKENDS}
        if settings.ssh:
            initial = {"ssh": BackendStatus("ssh", detail=str(settings.ssh)), **initial}
        self.set_reactive(KubehaApp.backends, initial)

    @property
    def services(self) -> Services:
        """The backend services; built here, on the UI thread, only if asked for before
        the worker that builds them after the first frame has finished."""
        if self._services is None:
            self._services = self._build_services()
        return self._services

    @property
    def built_services(self) -> Services | None:
        """The services once built, else None: for callers that must not build them."""
        return self._services

    def _build_services(self) -> Services:
        from kubeha_tui.services import build_services  # noqa: PLC0415 - 0.3 s of imports

        # fleet's link is built without network I/O: its future is soon done
        link = self._fleet_first.result(timeout=30) if self._fleet_first else None
        return build_services(self.settings, self._ssh_state_from_thread, link)

    # -- lifecycle -------------------------------------------------------------

    def on_load(self) -> None:
        """Over SSH, fleet connects and polls as the app starts: the connection (kex,
        authentication, a session per stream) and the Units table's pages then overlap
        Textual's start-up instead of following the first frame and the other backends'
        imports. A local fleet socket has no round trips worth that: the first frame
        keeps the CPU, and fleet starts with the others."""
        if self._services is None and self.settings.ssh:
            self._fleet_first = Future()
            self._start_poller("fleet", self._poll_fleet_first)

    def _poll_fleet_first(self) -> None:
        """Thread: build fleet and its SSH session (paramiko loads with the connection),
        hand them to the services built later, and poll fleet."""
        from kubeha_tui.fleet.service import build_fleet  # noqa: PLC0415 - see on_load

        assert self._fleet_first is not None
        try:
            link = build_fleet(self.settings, self._ssh_state_from_thread)
        except Exception as exc:  # a bug: the services' worker raises it, and it is reported
            self._fleet_first.set_exception(exc)
            return
        self._fleet_first.set_result(link)
        if self._stopping.is_set():  # quit meanwhile: on_unmount may have found no link
            link.close()
            return
        self._poll_loop("fleet", link.fleet)

    def after_first_frame(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the first frame is on the terminal (now if it is)."""
        if self._painted:
            callback()
        else:
            self._after_paint.append(callback)

    @on(FramePainted)
    def _frame_painted(self) -> None:
        """The first frame is on the terminal: now import, build and connect."""
        if self._painted:
            return
        self._painted = True
        callbacks, self._after_paint = self._after_paint, []
        if self._services is not None:
            self._start_polls(self._services)
        else:
            self.run_worker(
                lambda: self.post_message(ServicesBuilt(self._build_services())),
                name="build services",
                group="services",
                thread=True,
                exit_on_error=False,
            )
        for callback in callbacks:
            callback()

    @on(ServicesBuilt)
    def _services_built(self, message: ServicesBuilt) -> None:
        if self._services is None:
            self._services = message.services
        else:  # built meanwhile on the UI thread: that one is in use (fleet's link too)
            message.services.close(keep=self._services)
        if not self._stopping.is_set():
            self._start_polls(self._services)

    def _start_polls(self, services: Services) -> None:
        """One long-lived poller thread per backend. Daemon threads of our own, not
        workers: Textual's executor would wait for them at exit, and a crash that
        skips on_unmount left the process alive on a blank screen."""
        for name, service in services.by_name().items():
            if name not in self._wakeups:  # fleet may be polled since the start (on_load)
                self._start_poller(name, partial(self._poll_loop, name, service))

    def _start_poller(self, name: str, loop: Callable[[], None]) -> None:
        self._wakeups[name] = threading.Event()
        thread = threading.Thread(target=loop, name=f"poll {name}", daemon=True)
        self._pollers.append(thread)
        thread.start()

    def on_mount(self) -> None:
        self._collector.start()
        self.set_interval(0.5, self._collector.tick, name="full collections")
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._terminated)
        # The terminal is gone: Textual's own shutdown would block writing to it.
        loop.add_signal_handler(signal.SIGHUP, self._hung_up)

    def _hung_up(self) -> None:
        self.stop_polls()
        if self._services is not None:
            self._services.remove_secrets()  # the exit that follows runs no cleanup
        self.hangup()

    def _terminated(self) -> None:
        log.warning("SIGTERM: quitting")
        self._arm_watchdog(143)
        self.exit(return_code=143)

    def stop_polls(self) -> None:
        self._stopping.set()
        for wakeup in self._wakeups.values():
            wakeup.set()

    def on_unmount(self) -> None:
        self._collector.stop()
        self.stop_polls()
        if self._services is not None:
            self._services.close()
        elif (first := self._fleet_first) and first.done() and not first.exception():
            first.result().close()  # quit before the other backends were built

    def _arm_watchdog(self, code: int) -> None:
        """If the normal shutdown does not end the process in EXIT_GRACE seconds (a thread
        blocked in a backend call, a stuck shutdown), remove the secrets and exit hard."""
        if self._watchdog is not None or self.is_headless:
            return  # never under Pilot: it would end the test run

        def expire() -> None:
            log.error("shutdown did not finish in %.0f s: exiting hard (%d)", EXIT_GRACE, code)
            if self._services is not None:
                self._services.remove_secrets()
            logging.shutdown()
            self.hard_exit(code)

        self._watchdog = threading.Timer(EXIT_GRACE, expire)
        self._watchdog.daemon = True
        self._watchdog.start()

    def _handle_exception(self, error: Exception) -> None:
        """A crash: log the traceback, stop the polls, and make sure the process ends."""
        if self.crashed is None:
            self.crashed = error
            log.critical("kubeha-tui crashed", exc_info=error)
        self.stop_polls()
        self._arm_watchdog(1)
        super()._handle_exception(error)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.InputEvent):
            self._collector.input_seen()
        await super().on_event(event)

    def on_key(self, event: events.Key) -> None:
        if self._test_crash_key and event.key == self._test_crash_key:
            raise RuntimeError(f"crash injected by {TEST_CRASH_ENV}")

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Every notification is plain text: most carry names or errors from a cluster."""
        super().notify(
            clean(message), title=clean(title), severity=severity, timeout=timeout, markup=False
        )

    # -- polls: thread workers that only post messages ------------------------------

    def poll(self, name: str) -> None:
        """Poll one backend now (or right after the poll under way); before the polls
        started, nothing (the first poll is on its way)."""
        if name in self._wakeups:
            self._wakeups[name].set()

    def _poll_loop(self, name: str, service: Pollable) -> None:
        """Thread: poll, post what came back, wait (less after a wake-up), again.

        One thread per backend, so polls never overlap; a failing backend is retried
        with exponential backoff, a healthy one every POLL_EVERY seconds.
        """
        failures = 0
        wakeup = self._wakeups[name]
        while not self._stopping.is_set():
            wakeup.clear()
            failures = 0 if self._poll_once(name, service) else failures + 1
            wakeup.wait(POLL_EVERY[name] if not failures else min(BACKOFF_MAX, 2.0**failures))

    def _poll_once(self, name: str, service: Pollable) -> bool:
        try:
            for result in service.poll():
                status = BackendStatus(name, "connected", result.detail)
                self.post_message(BackendPolled(status, result.data, result.final))
            return True
        except ServiceError as exc:
            status = BackendStatus(name, "unreachable", str(exc))
        except Exception as exc:  # a bug, not an outage: logged in full, shown in one line
            log.exception("poll of %s failed", name)
            status = BackendStatus(
                name, "unreachable", f"unexpected error: {type(exc).__name__}: {exc}"
            )
        self.post_message(BackendPolled(status))
        return False

    def _ssh_state_from_thread(self, state: str, reason: str | None) -> None:
        self.post_message(SSHStateChanged(state, reason))

    @on(BackendPolled)
    def _backend_polled(self, message: BackendPolled) -> None:
        status = message.status
        previous = self.backends.get(status.name)
        if previous is None or previous.state != status.state:
            log.info("%s", status.describe())
        if previous != status:  # an unchanged status redraws nothing
            self.backends = {**self.backends, status.name: status}
        if message.data is not None:
            self.data = {**self.data, status.name: message.data}
            if message.final and status.name not in self._frozen:
                self.call_after_refresh(self._freeze_heap, status.name)

    def _freeze_heap(self, backend: str) -> None:
        """After a backend's first complete load, move what is alive to the permanent
        generation: with 10,000 pods on screen a full collection took 0.1-0.9 s, a frozen
        UI under the operator's keys. Acyclic garbage (rows, models) is still freed."""
        self._frozen.add(backend)
        gc.freeze()

    @on(SSHStateChanged)
    def _ssh_state_changed(self, message: SSHStateChanged) -> None:
        if message.state == "connected":
            status = BackendStatus("ssh", "connected", str(self.settings.ssh))
        else:
            status = BackendStatus("ssh", "unreachable", message.reason or "")
        self.backends = {**self.backends, "ssh": status}

    # -- actions ---------------------------------------------------------------

    def action_refresh(self) -> None:
        for name in BACKENDS:
            self.poll(name)

    def action_help(self) -> None:
        from .help import HelpScreen, key_table  # noqa: PLC0415 - not needed for the first frame

        screen = self.screen
        if isinstance(screen, HelpScreen):
            return
        title = getattr(screen, "TITLE_TEXT", "kubeha-tui")
        text = screen.help_text() if isinstance(screen, AreaScreen) else ""
        self.push_screen(HelpScreen(title, text, key_table(screen)))

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        for mode, title in SCREEN_TITLES.items():
            yield SystemCommand(
                f"Go: {title}", f"Open the {title} screen", partial(self.switch_mode, mode)
            )
        yield SystemCommand("App: Refresh", "Poll every backend now", self.action_refresh)
        yield SystemCommand("App: Help", "Keys and help for this screen", self.action_help)
        if isinstance(screen, AreaScreen):
            for binding in screen.offered_bindings():
                yield SystemCommand(
                    f"{screen.TITLE_TEXT}: {binding.description}",
                    binding.tooltip or binding.description,
                    partial(screen.run_action, binding.action),
                )
        yield from (
            cmd for cmd in super().get_system_commands(screen) if cmd.title in {"Quit", "Keys"}
        )
