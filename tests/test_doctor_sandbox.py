"""The Doctor on a whole sandbox (its own fleet, Kubernetes API and Ceph cluster): each
staged scenario found by the core, the CLI and the Doctor screen, and the fixes carried
out through the screen on the real Ceph. The destructive lost-node case runs last."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from textual.widgets import Button, DataTable

from kubeha_tui.ceph.connection import CephService
from kubeha_tui.ceph.images import blocklisted, image_details
from kubeha_tui.ceph.osds import osd_tree
from kubeha_tui.cli import main, with_env
from kubeha_tui.config import Settings
from kubeha_tui.doctor.diagnose import diagnose
from kubeha_tui.doctor.findings import REMOVE_OSDS, UNLOCK, Finding, headline
from kubeha_tui.doctor.gather import collect
from kubeha_tui.sandbox import launcher, scenarios
from kubeha_tui.screens.app import KubehaApp
from kubeha_tui.screens.ceph_dialogs import UnlockScreen
from kubeha_tui.screens.dialogs import ConfirmScreen
from kubeha_tui.screens.doctor import DoctorScreen, EvidenceScreen, HostRemovalScreen
from kubeha_tui.services import build_services

from .support.ui import text_of, until
from .support.waiting import wait_for

pytestmark = pytest.mark.ceph


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[launcher.SandboxState]:
    root = tmp_path_factory.mktemp("doctor-sandbox")
    state = launcher.up(root, attached=True)
    try:
        yield state
    finally:
        launcher.down(root)


def settings(state: launcher.SandboxState, **kw: Any) -> Settings:
    return with_env(Settings(screen="doctor", **kw), state.env)


def findings(state: launcher.SandboxState) -> list[Finding]:
    services = build_services(settings(state))
    try:
        return diagnose(collect(services, timeout=20))
    finally:
        services.close()


def run_cli(
    state: launcher.SandboxState, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> tuple[int, Any]:
    for name, value in state.env.items():
        monkeypatch.setenv(name, value)
    status = main(["doctor", "--json", "--timeout", "20"])
    return status, json.loads(capsys.readouterr().out)


def shown(app: KubehaApp) -> DoctorScreen:
    screen = app.screen
    assert isinstance(screen, DoctorScreen)
    return screen


def codes(app: KubehaApp) -> set[str]:
    screen = app.screen
    return {f.code for f in screen.findings} if isinstance(screen, DoctorScreen) else set()


def headline_has(app: KubehaApp, text: str) -> Callable[[], bool]:
    return lambda: text in text_of(app.screen.query_one("#doctor-headline"))


async def select(pilot: Any, app: KubehaApp, code: str) -> Finding:
    screen = shown(app)
    index = next(i for i, f in enumerate(screen.findings) if f.code == code)
    screen.query_one("#doctor-findings", DataTable).move_cursor(row=index)
    await pilot.pause()
    finding: Finding | None = screen.selected()
    assert finding is not None and finding.code == code
    return finding


def test_a_healthy_sandbox_gives_no_finding(
    sandbox: launcher.SandboxState, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    # Right after start-up its pods are still being created (findings then, rightly).
    wait_for(lambda: findings(sandbox) == [], 60, what="the started sandbox to settle")
    status, doc = run_cli(sandbox, monkeypatch, capsys)
    assert status == 0 and doc["findings"] == [] and set(doc["verdict"].values()) == {"healthy"}


@pytest.mark.parametrize(
    "case",
    [
        ("etcd-down", "fleet.etcd", "fleet answers 503: etcd is unreachable"),
        ("unit-failed", "fleet.unit-failed", "pidalio-scheduler.service is failed on"),
        ("apiserver-down", "fleet.unit-failed", "pidalio-apiserver.service is failed on"),
    ],
)
def test_start_up_scenarios_are_found_by_the_core_and_the_cli(
    sandbox: launcher.SandboxState, monkeypatch: pytest.MonkeyPatch, capsys: Any,
    case: tuple[str, str, str],
) -> None:  # fmt: skip
    scenario, code, text = case
    scenarios.break_scenario(sandbox.root, scenario)
    try:
        top = wait_for(lambda: headline(findings(sandbox)), 30, what=scenario)
        assert top is not None and top.code == code and text in top.problem
        assert any(("503" in e) or ("failed" in e) for e in top.evidence)
        if scenario == "apiserver-down":
            api = next(f for f in findings(sandbox) if f.code == "kube.unreachable")
            assert "pidalio-apiserver.service is failed" in api.cause
        status, doc = run_cli(sandbox, monkeypatch, capsys)
        assert status == 1 and doc["headline"]["code"] == code
    finally:
        scenarios.heal(sandbox.root)
    wait_for(lambda: findings(sandbox) == [], 60, what="healed")


async def test_start_up_scenarios_come_and_go_on_the_doctor_screen(
    sandbox: launcher.SandboxState,
) -> None:
    app = KubehaApp(settings(sandbox))
    async with app.run_test(size=(120, 40)) as pilot:
        await until(
            pilot, lambda: "no findings" in text_of(app.screen.query_one("#doctor-headline")), 40
        )
        for scenario, text in (
            ("etcd-down", "etcd is unreachable"),
            ("unit-failed", "pidalio-scheduler.service is failed"),
        ):
            scenarios.break_scenario(sandbox.root, scenario)
            await until(
                pilot,
                headline_has(app, text),
                40,
                scenario,
            )
            assert text in text_of(app.screen.query_one("#doctor-verdict"))
            scenarios.heal(sandbox.root)
            await until(
                pilot,
                headline_has(app, "no findings"),
                40,
                f"{scenario} healed",
            )
        app.action_refresh()
        await pilot.press("1")
        await until(
            pilot,
            lambda: text_of(app.screen.query_one("#cluster-verdict")).count("healthy") == 3,
            20,
        )


def test_locked_volume_found_by_the_core_with_its_evidence(sandbox: launcher.SandboxState) -> None:
    scenarios.break_scenario(sandbox.root, "locked-volume")
    found = wait_for(lambda: [f for f in findings(sandbox) if f.code == "volume.locked"], 30)
    f = found[0]
    top = headline(findings(sandbox))
    assert top is not None and top.key == f.key
    assert f.object == "image rbd/doctor-db" and "pod default/db-0" in f.problem
    text = "\n".join(f.evidence)
    assert "FailedMount" in text and "is still being used" in text
    assert "cookie 'kubelet_lock_magic_127.0.1.2'" in text and "stale (no watch)" in text
    assert "node 127.0.1.2 Ready" in text and "machine 127.0.1.2 present" in text
    assert f.next_step.action == UNLOCK and f.next_step.target[:2] == ("rbd", "doctor-db")


async def test_locked_volume_fixed_through_the_doctor_screen(
    sandbox: launcher.SandboxState,
) -> None:
    """Needs the previous test's staging; the fenced unlock from the Doctor screen."""
    ceph = CephService(sandbox.env["CEPH_CONF"])
    try:
        locker = image_details(ceph, "rbd", "doctor-db").lockers[0]
        app = KubehaApp(settings(sandbox))
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: "volume.locked" in codes(app), 40, "the lock finding")
            await select(pilot, app, "volume.locked")
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, EvidenceScreen))
            assert "kubelet_lock_magic_127.0.1.2" in text_of(
                app.screen.query_one("#evidence-lines")
            )
            await pilot.press("a")
            await until(
                pilot, lambda: isinstance(app.screen, UnlockScreen), 20, "the unlock dialog"
            )
            app.screen.query_one("#break", Button).press()
            await until(
                pilot,
                lambda: isinstance(app.screen, DoctorScreen) and "volume.locked" not in codes(app),
                60,
                "the finding to go",
            )
            assert "fenced and unlocked" in text_of(app.screen.query_one("#doctor-note"))
        assert image_details(ceph, "rbd", "doctor-db").lockers == ()
        assert locker.address in blocklisted(ceph)
        # The cause is gone: the pod mounts its volume and runs.
        kube = scenarios.Sandbox(sandbox.root)
        wait_for(
            lambda: (
                kube.kube("GET", "/api/v1/namespaces/default/pods/db-0")["status"].get("phase")
                == "Running"
            ),
            20,
            what="the pod to run",
        )
    finally:
        ceph.close()
        scenarios.heal(sandbox.root)


async def test_lost_node_found_and_its_osds_removed_through_the_doctor_screen(
    sandbox: launcher.SandboxState,
) -> None:
    """Last: it removes an OSD of the module's own Ceph cluster for good."""
    ip, port = "127.0.1.2", machine_port(sandbox, "127.0.1.2")
    assert answers_ssh(ip, port)
    scenarios.break_scenario(sandbox.root, "lost-node")
    staged = json.loads((sandbox.root / scenarios.STAGED).read_text())["lost-node"]
    assert not answers_ssh(ip, port)  # the dead machine answers no SSH either
    host, osd = staged["host"], int(staged["osd"])
    lost = wait_for(lambda: [f for f in findings(sandbox) if f.code == "ceph.host-lost"], 30)[0]
    assert lost.object == f"host {host}" and f"osd.{osd}" in lost.problem
    assert "127.0.1.2" in lost.cause and "gone from fleet" in lost.cause
    assert lost.next_step.action == REMOVE_OSDS and lost.next_step.target == (host, str(osd))
    assert any(
        f"left to do: remove osd.{osd}; then remove the emptied host bucket {host}" in e
        for e in lost.evidence
    )
    ceph = CephService(sandbox.env["CEPH_CONF"])
    try:
        app = KubehaApp(settings(sandbox))
        async with app.run_test(size=(120, 40)) as pilot:
            await until(pilot, lambda: "ceph.host-lost" in codes(app), 40, "the lost host")
            await select(pilot, app, "ceph.host-lost")
            await pilot.press("a")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            app.screen.query_one("#confirm", Button).press()
            await until(pilot, lambda: isinstance(app.screen, HostRemovalScreen))
            removal = app.screen
            assert isinstance(removal, HostRemovalScreen)
            await until(pilot, lambda: removal.finished, 180, "the removal")
            await pilot.press("escape")
            await until(pilot, lambda: "ceph.host-lost" not in codes(app), 40, "the finding to go")
        tree = osd_tree(ceph)
        assert tree.get(osd) is None and host not in tree.hosts
    finally:
        ceph.close()
        scenarios.heal(sandbox.root)
    wait_for(lambda: answers_ssh(ip, port), 10, what="the healed machine's sshd")


def machine_port(state: launcher.SandboxState, ip: str) -> int:
    """The machine's SSH port, as the sandbox's ssh_config tells clients."""
    text = (state.root / "machines" / "ssh_config").read_text()
    return int(text.split(f"Host {ip}\n")[1].split("\n")[0].split()[1])


def answers_ssh(ip: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex((ip, port)) == 0 and s.recv(4).startswith(b"SSH-")
