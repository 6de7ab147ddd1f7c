"""The text dialog: status and describe open at their first line, a journal at its newest."""

from __future__ import annotations

import pytest
from textual.app import App
from textual.widgets import RichLog

from kubeha_tui.screens.dialogs import OutputScreen

from .support.ui import until

TEXT = "\n".join(["● pidalio-apiserver.service - first line", *(f"line {i}" for i in range(1, 300)), "newest line"])  # fmt: skip


@pytest.mark.parametrize("end", [False, True], ids=["status-at-top", "journal-at-end"])
async def test_output_opens_at_the_top_or_at_the_newest_line(end: bool) -> None:
    app: App[None] = App()
    async with app.run_test(size=(80, 24)) as pilot:
        await app.push_screen(OutputScreen("status: x", lambda: TEXT, end=end))
        log = app.screen.query_one(RichLog)
        await until(pilot, lambda: len(log.lines) > 250 and log.max_scroll_y > 0, what="the text")
        await pilot.pause(0.2)  # let any deferred scroll land
        assert log.max_scroll_y > 200
        assert log.scroll_y == (log.max_scroll_y if end else 0)
        await pilot.press("r")  # a reload keeps the same start
        await until(pilot, lambda: len(log.lines) > 250, what="the reloaded text")
        await pilot.pause(0.2)
        assert log.scroll_y == (log.max_scroll_y if end else 0)
