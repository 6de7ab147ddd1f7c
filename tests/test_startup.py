"""The first frame comes first: no backend library is imported before it, and the services
are built (and the polls started) only once it is on the terminal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from textual import events
from textual._compositor import Compositor, ReflowResult
from textual.geometry import Size
from textual.message import Message
from textual.widget import Widget
from textual.worker import Worker

from kubeha_tui.config import Settings
from kubeha_tui.screens.app import KubehaApp, ServicesBuilt
from kubeha_tui.screens.base import FramePainted
from kubeha_tui.screens.poll_messages import BackendPolled

from .support.ui import until

HEAVY = ("kubernetes", "paramiko", "rados", "rbd")
# Our own backend modules (and what they import): loaded with the services and the
# Doctor, after the first frame.
BACKEND = ("urllib3", "yaml", "kubeha_tui.kube.client", "kubeha_tui.fleet.client",
           "kubeha_tui.ceph.service", "kubeha_tui.doctor.gather")  # fmt: skip


def test_the_app_and_its_first_screen_load_no_backend_library(tmp_path: Path) -> None:
    code = f"""
import sys
import kubeha_tui.cli
from kubeha_tui.config import Settings, SSHTarget
from kubeha_tui.screens.app import KubehaApp
from kubeha_tui.screens.areas import ClusterScreen
KubehaApp(Settings(ssh=SSHTarget("127.0.0.1", "core", 22)))
ClusterScreen()
print(sorted(m for m in {HEAVY + BACKEND!r} if m in sys.modules))
"""
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd="/", env=env)  # fmt: skip
    assert out.stdout.strip() == "[]", out.stdout


async def test_services_are_built_after_the_first_frame_then_polled(tmp_path: Path) -> None:
    settings = Settings(
        fleet_endpoint=f"unix://{tmp_path}/no-fleet.sock",
        kube_server="http://127.0.0.1:9",
        ceph_conf=str(tmp_path / "none.conf"),
    )
    seen: list[Message] = []
    app = KubehaApp(settings)
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await until(
            pilot,
            lambda: (
                {m.status.name for m in seen if isinstance(m, BackendPolled)}
                >= {"fleet", "kube", "ceph"}
            ),
            what="every backend polled",
        )
        kinds = [type(m) for m in seen]
        painted, built = kinds.index(FramePainted), kinds.index(ServicesBuilt)
        first_poll = kinds.index(BackendPolled)
        started = next(i for i, m in enumerate(seen) if isinstance(m, Worker.StateChanged)
                       and m.worker.name in ("build services", "load the Doctor"))  # fmt: skip
        # Not Textual's Ready: it came before the first screen had painted anything.
        assert events.Ready in kinds
        assert painted < started < built < first_poll
        assert {s.state for s in app.backends.values()} == {"unreachable"}


def test_the_cluster_screen_loads_no_data_table(tmp_path: Path) -> None:
    """Its panes are PaneTables: DataTable and our FastTable load with the other screens."""
    code = """
import sys
from kubeha_tui.screens.app import KubehaApp
from kubeha_tui.screens.areas import ClusterScreen
print(sorted(m for m in ("textual.widgets._data_table", "kubeha_tui.screens.tables")
             if m in sys.modules))
"""
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd="/", env=env)  # fmt: skip
    assert out.stdout.strip() == "[]", out.stdout


async def test_the_first_screen_is_laid_out_once_before_its_first_frame(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Textual (8.2) laid the first screen out three times before painting it (in the
    start-up batch, for the Resize that layout posts to the screen itself, for the app's
    Resize). Once is enough: the others were at the same size, with nothing changed."""
    layouts: list[bool] = []  # one per full layout: was the first frame painted before it?
    reflow = Compositor.reflow

    def counted(self: Compositor, parent: Widget, size: Size) -> ReflowResult:
        layouts.append(bool(getattr(parent, "_painted", True)))
        return reflow(self, parent, size)

    monkeypatch.setattr(Compositor, "reflow", counted)
    settings = Settings(fleet_endpoint=f"unix://{tmp_path}/no-fleet.sock",
                        kube_server="http://127.0.0.1:9", ceph_conf=str(tmp_path / "none.conf"))  # fmt: skip
    seen: list[Message] = []
    app = KubehaApp(settings)
    async with app.run_test(size=(120, 40), message_hook=seen.append) as pilot:
        await until(pilot, lambda: any(isinstance(m, FramePainted) for m in seen),
                    what="the first frame")  # fmt: skip
        assert layouts.count(False) == 1, layouts
        units = app.screen.query_one("#cluster-units")
        assert units.region.width == 38  # one of three panes side by side
        await pilot.pause()
        screen, before = app.screen, len(layouts)
        resized: list[Size] = []  # the screen laid out for a Resize
        monkeypatch.setattr(screen, "_screen_resized", resized.append)
        screen.post_message(events.Resize(screen.size, screen.size))  # the same size again
        await pilot.pause()
        assert len(layouts) == before and resized == []  # changes nothing: no layout
        monkeypatch.undo()

        def counted_resize(size: Size) -> None:
            resized.append(size)
            type(screen)._screen_resized(screen, size)

        monkeypatch.setattr(screen, "_screen_resized", counted_resize)
        await pilot.resize_terminal(100, 30)  # a new size is laid out again: stacked panes
        await until(pilot, lambda: units.region.width == 98, what="the stacked layout")
        assert resized == [Size(100, 30)]  # once (it was twice)
