"""``kubeha-tui sandbox up|down`` with the installed command: a real cluster, only its own
processes stopped; and the sandbox fleet's own unit files checked against fleet's references."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubeha_tui.ceph.connection import CephService
from kubeha_tui.ceph.osds import health, osd_tree
from kubeha_tui.config import SSHTarget
from kubeha_tui.fleet.actions import MachineShell, journal_command, status_command
from kubeha_tui.fleet.client import FleetClient
from kubeha_tui.fleet.models import Machine
from kubeha_tui.kube.client import KubeClient
from kubeha_tui.sandbox.fleet_registry import FleetRegistry, seed_stack
from kubeha_tui.sandbox.fleet_server import APIError, FleetServer, decode_unit
from kubeha_tui.sandbox.fleet_units import Unit, UnitOption, serialize, unit_hash
from kubeha_tui.sandbox.procs import processes_mentioning
from kubeha_tui.sandbox.sshd import Sshd
from kubeha_tui.ssh import SSHOptions, SSHSession

EXE = str(Path(sys.executable).parent / "kubeha-tui")


def sandbox(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, "sandbox", *args], capture_output=True, text=True, timeout=120, check=False
    )


def parse_env(lines: str) -> dict[str, str]:
    env = {}
    for line in lines.splitlines():
        assignment = line.split(";")[0]
        name, _, value = assignment.partition("=")
        env[name] = value
    return env


@pytest.mark.ceph
def test_up_prints_env_then_down_stops_only_its_own(tmp_path: Path) -> None:
    root = tmp_path / "cluster"
    # Mentions the directory on its command line, but is not the sandbox's.
    decoy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", str(root)])
    try:
        up = sandbox("up", "--dir", str(root))
        assert up.returncode == 0, up.stderr
        env = parse_env(up.stdout)
        assert env == {
            "FLEETCTL_ENDPOINT": f"unix://{root}/fleet.sock",
            "CEPH_CONF": str(root / "ceph/ceph.conf"),
            "KUBECONFIG": str(root / "kubeconfig"),
            "KUBEHA_SSH_CONFIG": str(root / "machines/ssh_config"),
        }
        assert "CEPH_CONF=" in up.stdout and "export CEPH_CONF;" in up.stdout

        service = CephService(env["CEPH_CONF"])
        assert health(service)[0] == "HEALTH_OK"
        assert [o.up for o in osd_tree(service).osds] == [True, True, True]
        service.close()
        assert len(FleetClient(env["FLEETCTL_ENDPOINT"]).snapshot().states) == 10
        ours = [p for p, cmd in processes_mentioning(str(root)) if p != decoy.pid]
        # fleet, three machines' sshd, mon, mgr, three OSDs, kube, outliving the `up` command
        assert len(ours) == 10
        kube = KubeClient(kubeconfig=env["KUBECONFIG"])
        assert kube.info().git_version == "v1.31.4"
        secret = kube.request("GET", "/api/v1/namespaces/ceph/secrets/ceph-conf-combined")
        assert set(secret["data"]) == {"ceph.conf", "ceph.client.admin.keyring"}

        again = sandbox("up", "--dir", str(root))  # idempotent: same cluster, same lines
        assert (again.returncode, again.stdout) == (0, up.stdout)

        down = sandbox("down", "--dir", str(root))
        assert down.returncode == 0, down.stderr
        assert [p for p, _ in processes_mentioning(str(root))] == [decoy.pid]
        assert decoy.poll() is None
    finally:
        decoy.kill()
        decoy.wait()
        sandbox("down", "--dir", str(root))


def test_down_without_a_sandbox_is_a_clear_error(tmp_path: Path) -> None:
    down = sandbox("down", "--dir", str(tmp_path))
    assert down.returncode == 1
    assert "no sandbox in" in down.stderr


def test_module_entry_point() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kubeha_tui", "--version"], capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": ""}, cwd="/",
    )  # fmt: skip
    assert out.stdout.startswith("kubeha-tui ")


# -- the sandbox fleet's own unit files, against fleet's and go-systemd's references -----

SLEEP = (UnitOption("Service", "ExecStart", "/bin/sleep 100"),)
INTERLEAVED = (
    UnitOption("Unit", "Description", "Foo"),
    UnitOption("Service", "ExecStart", "/usr/bin/sleep infinity"),
    UnitOption("Unit", "BindsTo", "bar.service"),
)


@pytest.mark.parametrize("version", ["0.11.8", "1.0.0"])
def test_unit_hash_is_fleets_reference_value(version: str) -> None:
    """fleet's unit/unit_test.go TestUnitHash: ``[Service]\\nExecStart=/bin/sleep 100\\n``."""
    assert unit_hash(SLEEP, version) == "1c6fb6f3684bafb0c173d8b8b957ceff031180c1"


def test_unit_file_text_follows_the_go_systemd_each_fleetd_vendors() -> None:
    """0.11.8's go-systemd starts a header at each section change; 1.0's groups sections
    in first-seen order (go-systemd unit/serialize_test.go, "options are grouped")."""
    assert serialize(INTERLEAVED, "0.11.8") == (
        b"[Unit]\nDescription=Foo\n\n[Service]\nExecStart=/usr/bin/sleep infinity\n\n"
        b"[Unit]\nBindsTo=bar.service\n"
    )
    assert serialize(INTERLEAVED, "1.0.0") == (
        b"[Unit]\nDescription=Foo\nBindsTo=bar.service\n\n"
        b"[Service]\nExecStart=/usr/bin/sleep infinity\n"
    )
    assert serialize((), "1.0.0") == b""


@pytest.mark.parametrize(
    ("value", "on_0_11", "on_1_0"),
    [("true", True, True), ("TRUE", True, True), ("yes", False, True), ("1", False, True),
     ("t", False, True), ("false", False, False)],
)  # fmt: skip
def test_global_truthiness_per_fleetd_version(value: str, on_0_11: bool, on_1_0: bool) -> None:
    """job.Unit.IsGlobal: 0.11.8 compares with "true"; 1.0 takes isTruthyValue."""
    opts = (*SLEEP, UnitOption("X-Fleet", "Global", value))
    assert (
        Unit("g.service", opts).is_global,
        Unit("g.service", opts, version="1.0.0").is_global,
    ) == (
        on_0_11,
        on_1_0,
    )


def test_fleetd_1_0_answers_options_grouped_as_stored() -> None:
    """fleetd keeps the unit file text in etcd and parses it again on every read."""
    old, new = FleetRegistry(), FleetRegistry(version="1.0.0")
    for registry in (old, new):
        registry.create(Unit("x.service", INTERLEAVED))
    assert [o.section for o in old.units["x.service"].options] == ["Unit", "Service", "Unit"]
    assert [o.section for o in new.units["x.service"].options] == ["Unit", "Unit", "Service"]
    assert old.units["x.service"].hash != new.units["x.service"].hash


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"", "EOF"), (b"[]", "json: cannot unmarshal array into Go value of type schema.Unit"),
     (b'"x"', "json: cannot unmarshal string into Go value of type schema.Unit"),
     (b'{"name": 1}', "json: cannot unmarshal number into Go value of type string"),
     (b"{", "unexpected EOF"), (b"nope", "invalid character 'n' looking for beginning of value")],
)  # fmt: skip
def test_put_bodies_fleetd_cannot_decode(body: bytes, message: str) -> None:
    with pytest.raises(APIError) as err:
        decode_unit(body, "0.11.8")
    assert (err.value.code, err.value.message) == (400, f"unable to decode body: {message}")


# -- fleet machines answer `systemctl status` and `journalctl` over SSH ------------------


@pytest.mark.sshd
def test_status_and_journal_over_two_hops_answer_from_fleet(tmp_path: Path) -> None:
    """--ssh to one node, then the unit's machine (the same test sshd stands for both):
    the sandbox's systemctl/journalctl say what fleet's state for that machine says."""
    registry = FleetRegistry(tick=0.05)
    seed_stack(registry)
    fleet = FleetServer(registry, tmp_path / "fleet.sock")
    unit = registry.get("pidalio-apiserver.service")
    assert unit is not None
    sshd = Sshd(tmp_path / "sshd", env={"SANDBOX_FLEET_SOCKET": str(fleet.socket_path),
                                        "SANDBOX_MACHINE_ID": unit.machine_id})  # fmt: skip
    sshd.start()
    options = SSHOptions(SSHTarget("127.0.0.1", "root", sshd.port), identity=str(sshd.user_key),
                         known_hosts=str(sshd.known_hosts), allow_agent=False, timeout=5,
                         ssh_config=sshd.root / "none")  # fmt: skip
    first = SSHSession(options)
    shell = MachineShell(options, via=first, port=sshd.port, local_id="")
    machine = Machine(unit.machine_id, "127.0.0.1")
    try:
        shown = shell.run(machine, status_command(unit.name))
        assert shown.exit_status == 0, shown.stderr
        assert (
            shown.stdout.splitlines()[0]
            == "● pidalio-apiserver.service - Pidalio Master API Service"
        )
        assert "   Active: active (running)" in shown.stdout
        logged = shell.run(machine, journal_command(unit.name, 2))
        assert logged.stdout.splitlines()[-1].endswith("pidalio-apiserver[1025]: running")
        assert len(logged.stdout.splitlines()) == 2
        registry.fail_unit(unit.name, unit.machine_id)
        failed = shell.run(machine, status_command(unit.name))
        assert failed.exit_status == 3 and "   Active: failed (failed)" in failed.stdout
        missing = shell.run(machine, status_command("nope.service"))
        assert (
            missing.exit_status == 4 and "Unit nope.service could not be found." in missing.stderr
        )
        assert shell.session(machine).via is first
    finally:
        shell.close()
        first.close()
        sshd.kill()
        fleet.close()
