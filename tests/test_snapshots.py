"""SVG snapshots of every screen at 80x24 and 120x40 (pytest-textual-snapshot), so layout
regressions show. Fixed data: every backend points at nothing (a closed port, a missing
ceph.conf), the snapshot is taken once all three say why; no clock or age is on screen.
Update with `pytest tests/test_snapshots.py --snapshot-update` and review the SVGs."""

from __future__ import annotations

from typing import Any

import pytest

from kubeha_tui.config import Settings
from kubeha_tui.screens.app import SCREEN_TITLES, KubehaApp
from kubeha_tui.screens.diagnosing import DiagnosingScreen

from .support.ui import until

SIZES = [(80, 24), (120, 40)]


def app_on(screen: str) -> KubehaApp:
    return KubehaApp(Settings(fleet_endpoint="http://127.0.0.1:9", kube_server="http://127.0.0.1:9",
                              ceph_conf="/nonexistent/ceph.conf", screen=screen))  # fmt: skip


async def all_probed(pilot: Any) -> None:
    app = pilot.app
    await until(
        pilot,
        lambda: all(b.state == "unreachable" for b in app.backends.values()),
        timeout=30,
        what="every backend probed",
    )
    screen = app.screen
    if isinstance(screen, DiagnosingScreen):  # the verdict is made in a worker, after them
        await until(pilot, lambda: not screen._busy and not screen._again, timeout=30,
                    what="the verdict of the last poll")  # fmt: skip
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("screen", list(SCREEN_TITLES))
def test_screen(snap_compare: Any, screen: str, size: tuple[int, int]) -> None:
    assert snap_compare(app_on(screen), terminal_size=size, run_before=all_probed)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help(snap_compare: Any, size: tuple[int, int]) -> None:
    async def help_open(pilot: Any) -> None:
        await all_probed(pilot)
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(app_on("fleet"), terminal_size=size, run_before=help_open)
