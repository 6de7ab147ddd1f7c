"""One error path for every worker: a worker of any screen or dialog that raises is logged
with its traceback and shown as a notification (Worker.StateChanged does not bubble)."""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
from functools import partial
from pathlib import Path
from typing import Any, NoReturn

import pytest
from textual.screen import Screen

import kubeha_tui.screens as screens_package
from kubeha_tui.config import Settings
from kubeha_tui.fleet.service import FleetService
from kubeha_tui.screens.app import SCREEN_TITLES, KubehaApp
from kubeha_tui.screens.ceph_dialogs import OSDRemovalScreen
from kubeha_tui.screens.dialogs import ConfirmScreen, OutputScreen
from kubeha_tui.screens.workers import ReportsWorkerErrors

from .support.ui import until


def screen_classes() -> list[type[Screen[Any]]]:
    found = []
    for info in pkgutil.iter_modules(screens_package.__path__):
        module = importlib.import_module(f"kubeha_tui.screens.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Screen) and cls.__module__ == module.__name__:
                found.append(cls)
    return found


def test_every_screen_and_dialog_reports_its_workers_errors() -> None:
    classes = screen_classes()
    assert {"ConfirmScreen", "LogScreen", "WizardScreen", "CephScreen"} <= {
        c.__name__ for c in classes
    }
    assert [c.__name__ for c in classes if not issubclass(c, ReportsWorkerErrors)] == []


@pytest.fixture
def app(tmp_path: Path) -> KubehaApp:
    return KubehaApp(Settings(fleet_endpoint="http://127.0.0.1:9", kube_server="http://127.0.0.1:9",
                              ceph_conf=str(tmp_path / "none.conf")))  # fmt: skip


def notified(app: KubehaApp, text: str) -> bool:
    return any(text in n.message and n.severity == "error" for n in app._notifications)


def boom(where: str) -> NoReturn:
    raise RuntimeError(f"injected in {where} [b]")


async def test_a_raising_worker_of_each_screen_is_shown_and_logged(
    app: KubehaApp, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    async with app.run_test(size=(100, 30)) as pilot:
        for mode in SCREEN_TITLES:
            await app.switch_mode(mode)
            screen = app.screen
            screen.run_worker(partial(boom, mode), name=f"w-{mode}", thread=True,
                              exit_on_error=False)  # fmt: skip
            expected = f"w-{mode} failed unexpectedly: RuntimeError: injected in {mode} [b]"
            await until(pilot, partial(notified, app, expected), what=f"{mode}'s error")
        for dialog in (ConfirmScreen("t", "s", "r", (), "go"),):
            await app.push_screen(dialog)
            dialog.run_worker(lambda: boom("dialog"), name="w-dialog", thread=True,
                              exit_on_error=False)  # fmt: skip
            await until(pilot, lambda: notified(app, "w-dialog failed"), what="the dialog's")
    assert "worker w-fleet failed" in caplog.text and "Traceback" in caplog.text


async def test_real_workers_that_raise_reach_the_user(
    app: KubehaApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    def plan(*_: object) -> None:
        raise KeyError("a bug in plan")

    monkeypatch.setattr(FleetService, "plan", plan)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.switch_mode("fleet")
        app.screen._plan("stop", "x.service")
        await until(pilot, lambda: notified(app, "_plan failed unexpectedly: KeyError"))
        await app.push_screen(OutputScreen("status", lambda: boom("fetch")))
        await until(pilot, lambda: notified(app, "_load failed unexpectedly: RuntimeError"))
        await app.pop_screen()
        removal = OSDRemovalScreen(7, lambda *_: iter([boom("removal")]))
        await app.push_screen(removal)
        await until(pilot, lambda: notified(app, "_run failed unexpectedly: RuntimeError"))
