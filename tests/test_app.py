"""Pilot tests of the app shell: header states, screens, help, palette, read-only."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
from textual.binding import Binding
from textual.command import CommandList
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable

from kubeha_tui.config import Settings
from kubeha_tui.sandbox.ceph import CephSandbox
from kubeha_tui.screens.app import KubehaApp
from kubeha_tui.screens.base import AreaScreen
from kubeha_tui.screens.poll_messages import BackendPolled, SSHStateChanged
from kubeha_tui.screens.widgets import KeysFooter

from .support.stall import stalled_server
from .support.ui import text_of, until

pytestmark = pytest.mark.ceph  # the settings fixture connects to the session's Ceph


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def settings(ceph_cluster: CephSandbox, tmp_path: Any) -> Settings:
    return Settings(
        fleet_endpoint=f"unix://{tmp_path}/no-fleet.sock",
        kube_server=f"http://127.0.0.1:{closed_port()}",
        ceph_conf=str(ceph_cluster.conf),
    )


def states(app: KubehaApp) -> dict[str, str]:
    return {name: s.state for name, s in app.backends.items()}


async def test_header_shows_each_backend_and_reasons(settings: Settings) -> None:
    messages: list[Message] = []
    app = KubehaApp(settings)
    async with app.run_test(size=(80, 24), message_hook=messages.append) as pilot:
        assert set(states(app)) == {"fleet", "kube", "ceph"}
        await until(pilot, lambda: "connecting" not in states(app).values(), what="all probed")
        assert states(app) == {"fleet": "unreachable", "kube": "unreachable", "ceph": "connected"}
        probed = {m.status.name: m.status for m in messages if isinstance(m, BackendPolled)}
        assert "no socket at" in probed["fleet"].detail
        assert "cannot reach the Kubernetes API" in probed["kube"].detail
        assert probed["ceph"].detail.startswith("HEALTH_OK, 3 OSDs (3 up, 3 in)")
        bar = text_of(app.screen.query_one("#status-bar"))
        assert "Cluster" in bar and "✖ fleet" in bar and "● ceph" in bar
        lines = [text_of(w) for w in app.screen.query(".backend-line")]
        assert any("fleet unreachable: no socket at" in line for line in lines)
        assert any(line.startswith("● ceph connected: HEALTH_OK") for line in lines), lines


async def test_keys_and_palette_switch_screens(settings: Settings) -> None:
    app = KubehaApp(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        for key, mode, table in (
            ("2", "fleet", "#fleet-units"),
            ("3", "kube", "#kube-pods"),
            ("4", "ceph", "#ceph-images"),
        ):
            await pilot.press(key)
            assert app.current_mode == mode
            assert app.screen.query_one(table, DataTable)
        await pilot.press("5")
        assert app.current_mode == "wizard"
        await pilot.press("ctrl+p")
        await pilot.press(*"gofleet")
        await until(
            pilot, lambda: app.screen.query_one(CommandList).option_count > 0, what="palette hits"
        )
        assert "Go: Fleet" in str(app.screen.query_one(CommandList).get_option_at_index(0).prompt)
        await pilot.press("enter")
        await until(pilot, lambda: app.current_mode == "fleet", what="palette switched")
        await pilot.press("1")
        assert app.current_mode == "cluster"


@pytest.mark.parametrize("screen", ["ceph", "wizard"])
async def test_start_screen_from_settings(
    settings: Settings, screen: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []  # the screens built, in order
    for mode, factory in list(KubehaApp.MODES.items()):
        assert callable(factory)

        def recorded(mode: str = mode, factory: Callable[[], Screen[Any]] = factory) -> Any:
            made.append(mode)
            return factory()

        monkeypatch.setitem(KubehaApp.MODES, mode, recorded)
    app = KubehaApp(Settings(**{**settings.__dict__, "screen": screen}))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.current_mode == screen != Settings().screen
        assert made == [screen]  # the asked screen at once, not the Cluster screen first
        shown = app.screen
        assert isinstance(shown, AreaScreen)
        assert {"ceph": "Ceph", "wizard": "Wizard"}[screen] == shown.TITLE_TEXT
        assert app.screen.query(f"#{screen}-tabs" if screen == "ceph" else "#wizard-steps")


async def test_f1_help_lists_keys_of_this_screen(settings: Settings) -> None:
    app = KubehaApp(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f1")
        help_text = text_of(app.screen.query_one("#help-keys")) + text_of(
            app.screen.query_one("#help-text")
        )
        assert "fleet units" in help_text and "Quit" in help_text and "Kubernetes" in help_text
        await pilot.press("escape")
        assert app.screen.__class__.__name__ == "ClusterScreen"


@pytest.mark.parametrize(("width", "wide"), [(80, False), (119, False), (120, True), (200, True)])
async def test_cluster_panes_side_by_side_only_when_wide(
    settings: Settings, width: int, wide: bool
) -> None:
    app = KubehaApp(settings)
    async with app.run_test(size=(width, 40)) as pilot:
        await pilot.pause()
        panes = list(app.screen.query(".pane"))
        assert len(panes) == 3
        xs = {p.region.x for p in panes}
        ys = {p.region.y for p in panes}
        assert (len(xs), len(ys)) == ((3, 1) if wide else (1, 3))


class DangerScreen(AreaScreen):  # type: ignore[misc]
    TITLE_TEXT = "Danger"
    DESTRUCTIVE = frozenset({"wipe"})
    BINDINGS: ClassVar[list[Binding]] = [
        Binding("w", "wipe", "Wipe", id="danger.wipe"),
        Binding("v", "view", "View", id="danger.view"),
    ]
    done: ClassVar[list[str]] = []

    def action_wipe(self) -> None:
        self.done.append("wipe")

    def action_view(self) -> None:
        self.done.append("view")


@pytest.mark.parametrize("read_only", [False, True])
async def test_read_only_hides_destructive_actions(settings: Settings, read_only: bool) -> None:
    DangerScreen.done.clear()
    app = KubehaApp(Settings(**{**settings.__dict__, "read_only": read_only}))
    async with app.run_test(size=(100, 30)) as pilot:
        await app.push_screen(DangerScreen())
        await pilot.press("w", "v")
        footer_keys = {b.binding.action for b in app.active_bindings.values() if b.enabled}
        footer = app.screen.query_one(KeysFooter).render().plain
        palette = {c.title for c in app.get_system_commands(app.screen)}
    assert DangerScreen.done == (["view"] if read_only else ["wipe", "view"])
    assert ("wipe" in footer_keys) is not read_only
    assert footer == ("v View f1 Help q Quit" if read_only else "w Wipe v View f1 Help q Quit")
    assert ("Danger: Wipe" in palette) is not read_only
    assert "Danger: View" in palette


async def test_the_footer_follows_the_bindings_and_a_click_presses_a_key(
    settings: Settings,
) -> None:
    DangerScreen.done.clear()
    app = KubehaApp(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await app.push_screen(DangerScreen())
        await pilot.pause()
        footer = app.screen.query_one(KeysFooter)
        assert footer.render().plain == "w Wipe v View f1 Help q Quit"
        await pilot.click(KeysFooter, offset=(8, 0))  # on "View"
        await pilot.click(KeysFooter, offset=(6, 0))  # the gap between two keys: nothing
        assert DangerScreen.done == ["view"]
        hover = footer.get_component_rich_style("keys-footer--hover").bgcolor
        await pilot.hover(KeysFooter, offset=(8, 0))  # the key under the mouse is lit
        assert footer.render().get_style_at_offset(app.console, 8).bgcolor == hover
        assert footer.render().get_style_at_offset(app.console, 0).bgcolor != hover
        assert footer.styles.pointer == "pointer"
        await pilot.hover(KeysFooter, offset=(6, 0))  # the gap: no key is
        assert footer.render().get_style_at_offset(app.console, 8).bgcolor != hover
        assert footer.styles.pointer == "default"
        app.read_only = True  # the bindings change: the footer follows
        app.screen.refresh_bindings()
        await until(pilot, lambda: footer.render().plain == "v View f1 Help q Quit",
                    what="the footer without Wipe")  # fmt: skip
        await pilot.click(KeysFooter, offset=(0, 0))
        assert DangerScreen.done == ["view", "view"]


@pytest.fixture
def stalled() -> Iterator[int]:
    with stalled_server() as port:
        yield port


async def test_hung_backend_times_out_while_others_work(settings: Settings, stalled: int) -> None:
    app = KubehaApp(
        Settings(**{**settings.__dict__, "fleet_endpoint": f"http://127.0.0.1:{stalled}"})
    )
    app.services.fleet.timeout = 1.0
    async with app.run_test(size=(80, 24)) as pilot:
        await until(
            pilot, lambda: states(app)["ceph"] == "connected", what="ceph while fleet hangs"
        )
        assert states(app)["fleet"] == "connecting"
        await pilot.press("2")  # the UI answers keys meanwhile
        assert app.current_mode == "fleet"
        await until(pilot, lambda: states(app)["fleet"] == "unreachable", timeout=10)
        assert "did not answer" in app.backends["fleet"].detail


async def test_r_polls_every_backend_now(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        "kubeha_tui.screens.app.POLL_EVERY", dict.fromkeys(("fleet", "kube", "ceph"), 600.0)
    )
    messages: list[Message] = []
    app = KubehaApp(settings)
    async with app.run_test(size=(80, 24), message_hook=messages.append) as pilot:
        await until(pilot, lambda: "connecting" not in states(app).values(), what="all probed")

        def polls() -> dict[str, int]:
            counts = dict.fromkeys(("fleet", "kube", "ceph"), 0)
            for m in messages:
                if isinstance(m, BackendPolled) and m.final:
                    counts[m.status.name] += 1
            return counts

        before = polls()  # ceph is connected: its next poll is 600 s away, unless r
        await pilot.press("r")
        await until(pilot, lambda: polls()["ceph"] > before["ceph"], what="ceph polled again")
        assert states(app)["ceph"] == "connected"


async def test_the_ssh_state_shows_in_the_header(settings: Settings) -> None:
    app = KubehaApp(settings)
    async with app.run_test(size=(100, 24)) as pilot:
        app.post_message(SSHStateChanged("unreachable", "connection refused"))
        bar = app.screen.query_one("#status-bar")
        await until(pilot, lambda: "✖ ssh" in text_of(bar), what="ssh down in the header")
        app.post_message(SSHStateChanged("connected", None))
        await until(pilot, lambda: "● ssh" in text_of(bar), what="ssh up in the header")
