"""Keys typed in a burst (as a fast typist or a paste sends them) land where the focus
was at each key: the ones right after Tab go to the next field, not the one it left."""

from __future__ import annotations

from pathlib import Path

from textual import events
from textual.widgets import ContentSwitcher, Input

from kubeha_tui.config import Settings
from kubeha_tui.screens.app import KubehaApp

from .support.ui import until


def burst(app: KubehaApp, *keys: str) -> None:
    """Post every key at once, as the terminal driver does for one read of the input."""
    for key in keys:
        char = {"tab": "\t", "shift+tab": None}.get(key, key)
        app.post_message(events.Key(key, char))


async def test_keys_right_after_tab_reach_the_next_field(tmp_path: Path) -> None:
    app = KubehaApp(Settings(fleet_endpoint="http://127.0.0.1:9", kube_server="http://127.0.0.1:9",
                             ceph_conf=str(tmp_path / "none.conf"), screen="wizard"))  # fmt: skip
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.press("enter")  # the nginx example
        steps = app.screen.query_one("#wizard-steps", ContentSwitcher)
        await until(pilot, lambda: steps.current == "wizard-form", what="the form")

        def field(name: str) -> str:
            return str(app.screen.query_one(f"#wizard-{name}", Input).value)

        assert (field("namespace"), field("name")) == ("default", "nginx")
        burst(app, "tab", "w", "e", "b", "tab", "7")
        await until(pilot, lambda: field("image") == "7", what="the image typed", timeout=5)
        assert (field("namespace"), field("name"), field("image")) == ("default", "web", "7")
        burst(app, "shift+tab", "x")
        await until(pilot, lambda: field("name") == "x", what="back to the name", timeout=5)
        assert field("image") == "7"
