"""Shared fixtures: a real sshd per test, a real Ceph cluster per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeha_tui.sandbox.ceph import CephSandbox
from kubeha_tui.sandbox.fleet_registry import FleetRegistry, seed_stack
from kubeha_tui.sandbox.fleet_server import FleetServer
from kubeha_tui.sandbox.procs import stop
from kubeha_tui.sandbox.sshd import Sshd


@pytest.fixture(autouse=True)
def _private_xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the developer's own config, state or SSH agent."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg-state"))
    for var in ("SSH_AUTH_SOCK", "KUBECONFIG", "CEPH_CONF", "FLEETCTL_ENDPOINT", "FLEETCTL_TUNNEL",
                "KUBEHA_SSH_CONFIG"):  # fmt: skip
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    server = Sshd(tmp_path / "sshd")
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="session")
def ceph_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CephSandbox]:
    """The session's real Ceph cluster (one mon, one mgr, three memstore OSDs)."""
    cluster = CephSandbox(tmp_path_factory.mktemp("ceph"))
    try:
        cluster.start()
        yield cluster
    finally:
        stop(cluster.records)


def env_without(*names: str) -> dict[str, Any]:
    return {k: v for k, v in os.environ.items() if k not in names}


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[FleetServer]:
    """The sandbox fleet API on a unix socket and TCP, seeded with the stack, fast engine."""
    registry = FleetRegistry(tick=0.05)
    seed_stack(registry)
    server = FleetServer(registry, tmp_path / "fleet.sock", ("127.0.0.1", 0))
    yield server
    server.close()
