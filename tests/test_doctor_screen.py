"""Pilot tests of the Doctor screen with no cluster at all (every layer unreachable), and of
its evidence dialog: worst first, plain text only, read-only hides the next step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Button, DataTable, Static

from kubeha_tui.cli import main
from kubeha_tui.config import Settings
from kubeha_tui.doctor import diagnose as doctor_rules
from kubeha_tui.doctor.findings import UNLOCK, Finding, NextStep
from kubeha_tui.screens.app import KubehaApp
from kubeha_tui.screens.doctor import DoctorScreen, EvidenceScreen
from kubeha_tui.screens.help import HelpScreen

from .support.ui import text_of, until

MARKUP = "[bold red]pod[/] x"


def nowhere(tmp_path: Path, **kw: Any) -> Settings:
    return Settings(
        fleet_endpoint=f"unix://{tmp_path}/[b]none[/b].sock", kube_server="http://127.0.0.1:9",
        ceph_conf=str(tmp_path / "none.conf"), screen="doctor", **kw,
    )  # fmt: skip


def rows(app: KubehaApp) -> list[list[str]]:
    t: DataTable[Any] = app.screen.query_one("#doctor-findings", DataTable)
    return [[str(c) for c in t.get_row_at(i)] for i in range(t.row_count)]


async def test_unreachable_layers_are_findings_worst_first_in_plain_text(tmp_path: Path) -> None:
    app = KubehaApp(nowhere(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: len(rows(app)) == 3, 30, "three findings")
        assert [r[0] for r in rows(app)] == ["critical"] * 3
        assert [r[2] for r in rows(app)] == ["fleet API", "Kubernetes API", "Ceph cluster"]
        assert "headline: fleet does not answer" in text_of(
            app.screen.query_one("#doctor-headline")
        )
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, EvidenceScreen))
        # The socket path holds markup; it is shown as it is, never interpreted.
        assert "[b]none[/b].sock" in text_of(app.screen.query_one("#evidence-lines"))
        assert "systemctl status fleet" in text_of(app.screen.query_one("#evidence-next"))
        assert not app.screen.query("#act")  # nothing the console can run for this one
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DoctorScreen))
        await pilot.press("f1")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        keys = text_of(app.screen.query_one("#help-keys"))
        assert "Run the finding's next step" in keys and "Go to the Doctor screen" in keys
        await pilot.press("escape")
        await pilot.press("1")
        await until(
            pilot,
            lambda: "fleet does not answer" in text_of(app.screen.query_one("#cluster-verdict")),
            20,
        )
        verdict = text_of(app.screen.query_one("#cluster-verdict"))
        assert "Kubernetes API does not answer" in verdict and "Ceph does not answer" in verdict


async def test_read_only_offers_no_next_step(tmp_path: Path) -> None:
    app = KubehaApp(nowhere(tmp_path, read_only=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: len(rows(app)) == 3, 30)
        screen = app.screen
        assert isinstance(screen, DoctorScreen)
        assert not screen.check_action("next_step", ())
        assert "next_step" not in {b.action for b in screen.offered_bindings()}
        # Six screens, RO and three backends do not fit 80 columns: keys only, the states stay.
        bar = text_of(screen.query_one("#status-bar"))
        assert "RO" in bar and "✖ ceph" in bar and " 5 6 Doctor" in bar


def finding(action: str) -> Finding:
    return Finding(
        "error", "ceph", f"image rbd/{MARKUP}", f"pod default/{MARKUP} cannot mount",
        (f"event Warning FailedMount x1 on pod default/{MARKUP}: rbd: image {MARKUP} is locked by other nodes",),
        f"node {MARKUP} is gone", NextStep("fence and unlock", action, "rbd lock rm ...", ("rbd", MARKUP, "client.1", "c")),
        "volume.locked",
    )  # fmt: skip


class EvidenceApp(App[None]):
    def __init__(self, f: Finding, can_act: bool) -> None:
        super().__init__()
        self.f, self.can_act = f, can_act
        self.result: bool | None = None

    def compose(self) -> ComposeResult:
        yield Static("")

    def on_mount(self) -> None:
        self.push_screen(EvidenceScreen(self.f, self.can_act), self._evidence_closed)

    def _evidence_closed(self, result: bool | None) -> None:
        self.result = result


@pytest.mark.parametrize("can_act", [True, False])
async def test_evidence_is_plain_text_and_a_runs_the_step_only_when_offered(can_act: bool) -> None:
    app = EvidenceApp(finding(UNLOCK), can_act)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, EvidenceScreen))
        for part in ("#evidence-problem", "#evidence-lines", "#evidence-cause"):
            assert MARKUP in text_of(app.screen.query_one(part))
        assert bool(app.screen.query("#act")) == can_act
        await pilot.press("a")
        await pilot.pause()
        if can_act:
            assert app.result is True
        else:
            assert isinstance(app.screen, EvidenceScreen)
            app.screen.query_one("#close", Button).press()
            await until(pilot, lambda: app.result is False)


def test_cli_exit_2_when_nothing_answers(tmp_path: Path, capsys: Any) -> None:
    argv = ["doctor", "--json", "--fleet-endpoint", f"unix://{tmp_path}/none.sock",
            "--kube-server", "http://127.0.0.1:9", "--ceph-conf", str(tmp_path / "none.conf"), "--timeout", "10"]  # fmt: skip
    assert main(argv) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == 2 and doc["headline"]["code"] == "fleet.unreachable"
    assert [f["severity"] for f in doc["findings"]] == ["critical"] * 3
    assert main(argv[:1] + argv[2:]) == 2  # the text report
    out = capsys.readouterr().out
    assert (
        out.startswith("fleet       fleet does not answer")
        and "\nCRITICAL fleet: fleet API\n" in out
    )


async def test_a_failing_diagnosis_is_reported_and_the_next_one_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = doctor_rules.diagnose
    calls: list[int] = []

    def flaky(obs: Any) -> list[Finding]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("rule bug")
        found: list[Finding] = real(obs)
        return found

    monkeypatch.setattr(doctor_rules, "diagnose", flaky)  # read at each diagnosis
    app = KubehaApp(nowhere(tmp_path))
    notes: list[str] = []
    monkeypatch.setattr(app, "notify", lambda text, **_: notes.append(str(text)))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: len(rows(app)) == 3, 40, "a later diagnosis")
    assert any("rule bug" in n for n in notes) and len(calls) >= 2
