"""``kubeha-tui sandbox up|down`` with the installed command: a real cluster, only its own processes stopped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubeha_tui.ceph.connection import CephService
from kubeha_tui.ceph.osds import health, osd_tree
from kubeha_tui.fleet.client import FleetClient
from kubeha_tui.kube.client import KubeClient
from kubeha_tui.sandbox.procs import processes_mentioning

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
        }
        assert "CEPH_CONF=" in up.stdout and "export CEPH_CONF;" in up.stdout

        service = CephService(env["CEPH_CONF"])
        assert health(service)[0] == "HEALTH_OK"
        assert [o.up for o in osd_tree(service).osds] == [True, True, True]
        service.close()
        assert len(FleetClient(env["FLEETCTL_ENDPOINT"]).snapshot().states) == 10
        ours = [p for p, cmd in processes_mentioning(str(root)) if p != decoy.pid]
        assert len(ours) == 7  # fleet, mon, mgr, three OSDs, kube, outliving the `up` command
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
