"""Unit status and journal from the sandbox fleet machines' own sshd (one per 127.0.1.x,
free ports here), reached as the product reaches a real cluster's machines: with only
the SSH config the sandbox writes, locally and through ``--ssh`` to another node."""

from __future__ import annotations

import os
import pwd
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import RichLog

from kubeha_tui.cli import with_env
from kubeha_tui.config import Settings, SSHTarget
from kubeha_tui.errors import ServiceError
from kubeha_tui.fleet.client import FleetClient
from kubeha_tui.fleet.models import Machine
from kubeha_tui.sandbox import launcher
from kubeha_tui.sandbox import sshd as sshd_module
from kubeha_tui.sandbox.fleet_server import FleetServer
from kubeha_tui.sandbox.machines import Machines, start_machines
from kubeha_tui.sandbox.procs import processes_mentioning
from kubeha_tui.sandbox.sshd import Sshd
from kubeha_tui.screens.app import KubehaApp
from kubeha_tui.screens.dialogs import OutputScreen
from kubeha_tui.services import Services, build_services

from .support.ui import until

pytestmark = pytest.mark.sshd

ME = pwd.getpwuid(os.geteuid()).pw_name
APISERVER = "pidalio-apiserver.service"
APISERVER_FIRST_LINE = f"● {APISERVER} - Pidalio Master API Service"


@pytest.fixture
def machines(fleet: FleetServer, tmp_path: Path) -> Iterator[Machines]:
    started = start_machines(
        tmp_path / "machines", fleet.socket_path, fleet.tcp_endpoint, attached=True, port=None
    )
    yield started
    started.close()


def settings(fleet: FleetServer, tmp_path: Path, ssh_config: Path, **kw: Any) -> Settings:
    return Settings(fleet_endpoint=fleet.endpoint, kube_server="http://127.0.0.1:9",
                    ceph_conf=str(tmp_path / "none.conf"), ssh_config=str(ssh_config), **kw)  # fmt: skip


def machine_of(services: Services, unit: str) -> Machine:
    state = next(s for s in services.fleet.client.states() if s.name == unit)
    return next(m for m in services.fleet.client.machines() if m.id == state.machine_id)


def test_sessions_log_in_as_core_when_root(machines: Machines) -> None:
    assert machines.user == ("core" if os.geteuid() == 0 else ME), machines.notes
    assert {s.address for s in machines.sshds} == {"127.0.1.1", "127.0.1.2", "127.0.1.3"}
    assert len({s.host_key.with_suffix(".pub").read_text() for s in machines.sshds}) == 3


def test_the_real_ssh_client_reaches_a_machine_with_the_written_config(
    machines: Machines,
) -> None:
    done = subprocess.run(
        ["ssh", "-F", str(machines.ssh_config), "-o", "BatchMode=yes", "-o",
         "StrictHostKeyChecking=yes", "127.0.1.3", "id -un; systemctl status -l pidalio-node.service"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:2] == [
        machines.user,
        "● pidalio-node.service - Pidalio Node (kubelet)",
    ]


def test_status_and_journal_of_each_machine_through_machine_shell(
    fleet: FleetServer, machines: Machines, tmp_path: Path
) -> None:
    services = build_services(settings(fleet, tmp_path, machines.ssh_config))
    try:
        api = machine_of(services, APISERVER)
        shown = services.fleet.unit_output("status", APISERVER, api)
        assert shown.splitlines()[0] == APISERVER_FIRST_LINE
        assert "   Active: active (running)" in shown
        assert services.fleet.shell.run(api, "id -un").stdout.strip() == machines.user
        # A global unit: each machine's journal is its own (its IP on every line).
        for machine in services.fleet.client.machines():
            journal = services.fleet.unit_output("journal", "pidalio-node.service", machine)
            lines = journal.splitlines()
            assert len(lines) == 3 and all(f" {machine.primary_ip} " in ln for ln in lines)
        # Failed on one machine only: that machine's systemd says so, the others do not.
        first, second = sorted(services.fleet.client.machines(), key=lambda m: m.primary_ip)[:2]
        fleet.registry.fail_unit("pidalio-proxy.service", first.id)
        failed = services.fleet.unit_output("status", "pidalio-proxy.service", first)
        assert "   Active: failed (failed)" in failed
        running = services.fleet.unit_output("status", "pidalio-proxy.service", second)
        assert "   Active: active (running)" in running
    finally:
        services.close()


def test_a_machine_is_known_by_its_own_host_key(
    fleet: FleetServer, machines: Machines, tmp_path: Path
) -> None:
    """The host keys come from the config's UserKnownHostsFile: one machine's key written
    for another is refused as a changed key."""
    one, two = machines.by_ip("127.0.1.1"), machines.by_ip("127.0.1.2")
    known = tmp_path / "swapped_known_hosts"
    known.write_text(two.known_hosts_line(one.host_key.with_suffix(".pub")))
    config = tmp_path / "ssh_config"
    config.write_text(
        machines.ssh_config.read_text().replace(str(machines.root / "known_hosts"), str(known))
    )
    services = build_services(settings(fleet, tmp_path, config))
    try:
        with pytest.raises(ServiceError, match="REMOTE HOST IDENTIFICATION HAS CHANGED"):
            services.fleet.unit_output("status", APISERVER, Machine("m2", "127.0.1.2"))
    finally:
        services.close()


def two_hop_settings(
    fleet: FleetServer, tmp_path: Path, machines: Machines, sshd: Sshd
) -> Settings:
    """``--ssh`` to the suite's sshd with a laptop's SSH config: that first node, then the
    sandbox's machines."""
    config = tmp_path / "laptop_ssh_config"
    config.write_text(
        f"Host 127.0.0.1\n  User {ME}\n  IdentityFile {sshd.user_key}\n"
        f"  UserKnownHostsFile {sshd.known_hosts}\n" + machines.ssh_config.read_text()
    )
    return settings(fleet, tmp_path, config, ssh=SSHTarget("127.0.0.1", port=sshd.port))


def test_status_and_journal_over_two_hops(
    fleet: FleetServer, machines: Machines, sshd: Sshd, tmp_path: Path
) -> None:
    """--ssh to one node (the suite's sshd), then the unit's machine through it; when the
    first node goes, the machines cannot be reached although their sshd still run."""
    services = build_services(two_hop_settings(fleet, tmp_path, machines, sshd))
    try:
        assert services.ssh is not None
        api = machine_of(services, APISERVER)
        assert services.fleet.unit_output("status", APISERVER, api).splitlines()[0] == (
            APISERVER_FIRST_LINE
        )
        journal = services.fleet.unit_output("journal", APISERVER, api)
        assert journal.splitlines()[-1] == (
            f"Jan 01 00:00:02 {api.primary_ip} pidalio-apiserver[1025]: running"
        )
        assert services.fleet.shell.session(api).via is services.ssh
        assert services.fleet.shell.run(api, "id -un").stdout.strip() == machines.user
        other = next(m for m in services.fleet.client.machines() if m.id != api.id)
        sshd.kill()
        with pytest.raises(ServiceError) as err:
            services.fleet.unit_output("status", "pidalio-node.service", other)
        port = machines.by_ip(other.primary_ip).port
        assert str(err.value).startswith(
            f"cannot reach {machines.user}@{other.primary_ip}:{port} through 127.0.0.1:{sshd.port}: "
        ), err.value
    finally:
        services.close()


@pytest.mark.parametrize("hops", [1, 2])
def test_a_machine_whose_sshd_stopped_cannot_be_reached(
    hops: int, fleet: FleetServer, machines: Machines, tmp_path: Path, request: Any
) -> None:
    """Locally, and through ``--ssh`` to another node whose sshd still runs."""
    sshd: Sshd | None = request.getfixturevalue("sshd") if hops == 2 else None
    services = build_services(
        two_hop_settings(fleet, tmp_path, machines, sshd)
        if sshd
        else settings(fleet, tmp_path, machines.ssh_config)
    )
    try:
        api = machine_of(services, APISERVER)
        gone = machines.by_ip(api.primary_ip)
        gone.kill()
        with pytest.raises(ServiceError) as err:
            services.fleet.unit_output("status", APISERVER, api)
        through = f" through 127.0.0.1:{sshd.port}" if sshd else ""
        said = str(err.value)
        assert said.startswith(
            f"cannot reach {machines.user}@{api.primary_ip}:{gone.port}{through}: "
        )
        assert said.endswith("Connect failed')" if sshd else ": Connection refused"), said
    finally:
        services.close()


def output_text(app: KubehaApp) -> str:
    return "\n".join(s.text.rstrip() for s in app.screen.query_one(RichLog).lines)


async def test_s_and_j_on_the_fleet_screen_show_the_machines_answers(
    fleet: FleetServer, machines: Machines, tmp_path: Path
) -> None:
    from .test_fleet_screen import loaded, select, table  # noqa: PLC0415

    unit = fleet.registry.get(APISERVER)
    assert unit is not None
    ip = next(
        m.primary_ip for m in FleetClient(fleet.endpoint).machines() if m.id == unit.machine_id
    )
    # What `kubeha-tui --sandbox` runs with: the sandbox's env lines over the flags.
    plain = Settings(fleet_endpoint=fleet.endpoint, kube_server="http://127.0.0.1:9",
                     ceph_conf=str(tmp_path / "none.conf"), screen="fleet")  # fmt: skip
    app = KubehaApp(with_env(plain, machines.env()))
    async with app.run_test(size=(120, 40)) as pilot:
        await loaded(pilot, app)
        units = table(app, "units")
        select(units, APISERVER)
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, OutputScreen), what="status view")
        await until(pilot, lambda: "Active:" in output_text(app), what="status text")
        text = output_text(app)
        assert text.splitlines()[0] == APISERVER_FIRST_LINE, text
        assert "   Active: active (running)" in text
        assert str(app.screen.query_one(RichLog).border_title) == f"status: {APISERVER} on {ip}"
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, OutputScreen), what="closed")
        await pilot.press("j")
        await until(pilot, lambda: "running" in output_text(app), what="journal text")
        assert output_text(app).splitlines() == [
            f"Jan 01 00:00:00 {ip} systemd[1]: Starting Pidalio Master API Service...",
            f"Jan 01 00:00:01 {ip} systemd[1]: Started Pidalio Master API Service.",
            f"Jan 01 00:00:02 {ip} pidalio-apiserver[1025]: running",
        ]
        await pilot.press("escape")
        # The unit's machine goes away: the view says it cannot reach it.
        machines.by_ip(ip).kill()
        await pilot.press("s")
        await until(pilot, lambda: "failed:" in output_text(app), what="failure text")
        assert output_text(app).startswith(f"failed: cannot reach {machines.user}@{ip}:")


def test_port_22_taken_moves_that_machine_to_a_free_port(
    fleet: FleetServer, tmp_path: Path
) -> None:
    """Whether we hold 127.0.1.1:22 here or something else already did, its sshd cannot
    have it: it listens elsewhere, the note says so, and the config leads there."""
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        blocker.bind(("127.0.1.1", 22))
        blocker.listen()
    except OSError:
        pass  # not root, or taken already: as good
    try:
        started = start_machines(tmp_path / "machines", fleet.socket_path, fleet.tcp_endpoint,
                                 attached=True, port=22)  # fmt: skip
    finally:
        blocker.close()
    try:
        moved = started.by_ip("127.0.1.1")
        assert moved.port != 22
        assert f"127.0.1.1:{moved.port}" in " ".join(started.notes)
        assert f"Host 127.0.1.1\n  Port {moved.port}\n" in started.ssh_config.read_text()
        done = subprocess.run(
            ["ssh", "-F", str(started.ssh_config), "-o", "BatchMode=yes", "127.0.1.1",
             "systemctl status -l pidalio-controller.service"],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert done.stdout.startswith("● pidalio-controller.service"), done.stderr
    finally:
        started.close()


@pytest.mark.ceph
def test_the_launcher_starts_and_stops_the_machines(tmp_path: Path) -> None:
    root = tmp_path / "sandbox"
    state = launcher.up(root, attached=True, machine_port=None)
    try:
        assert state.env["KUBEHA_SSH_CONFIG"] == str(root / "machines/ssh_config")
        assert len(processes_mentioning(str(root / "machines"))) == 3
        services = build_services(with_env(Settings(), state.env))
        try:
            api = machine_of(services, APISERVER)
            shown = services.fleet.unit_output("status", APISERVER, api)
            assert shown.splitlines()[0] == APISERVER_FIRST_LINE
        finally:
            services.close()
    finally:
        launcher.down(root)
    assert processes_mentioning(str(root / "machines")) == []
    assert all(not Path(p).exists() for p in state.paths)


@pytest.mark.ceph
def test_a_sandbox_whose_machines_sshd_cannot_start_still_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sshd_module, "SSHD", str(tmp_path / "no-sshd"))
    root = tmp_path / "sandbox"
    state = launcher.up(root, attached=True, machine_port=None)
    try:
        assert "KUBEHA_SSH_CONFIG" not in state.env and "KUBECONFIG" in state.env
        said = "the fleet machines answer no SSH, their sshd did not start: "
        assert any(n.startswith(said) for n in state.notes), state.notes
        assert f"kubeha-tui sandbox: {said}" in capsys.readouterr().err
        # Nothing of ours answers there (another sandbox's sshd may: its key is unknown).
        empty = tmp_path / "empty"
        empty.write_text("")
        alone = Settings(ssh_config=str(empty), known_hosts=str(empty))
        services = build_services(with_env(alone, state.env))
        try:
            api = machine_of(services, APISERVER)
            with pytest.raises(ServiceError, match=f"cannot reach core@{api.primary_ip}:22: |"
                               f"host {api.primary_ip} is not in {empty}"):  # fmt: skip
                services.fleet.unit_output("status", APISERVER, api)
        finally:
            services.close()
    finally:
        launcher.down(root)
