"""Quitting never waits on a backend that does not answer: the connections are closed in
a thread of their own for at most CLOSE_TIMEOUT, and the private copies go either way."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from kubeha_tui.config import Settings
from kubeha_tui.services import SECRET_PREFIX, Services, build_services


@pytest.fixture
def services(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Services:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    return build_services(Settings(fleet_endpoint="http://127.0.0.1:9", kube_server="http://127.0.0.1:9",
                                   ceph_conf=str(tmp_path / "none.conf")))  # fmt: skip


def private_copy(tmp_path: Path) -> Path:
    secret = tmp_path / f"{SECRET_PREFIX}{os.getpid()}-x"
    secret.mkdir(mode=0o700)
    (secret / "keyring").write_text("[client.admin]\n")
    return secret


def test_a_close_that_blocks_is_left_behind_and_the_secret_still_goes(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = private_copy(tmp_path)
    release, closed = threading.Event(), []
    monkeypatch.setattr(services.kube, "close", lambda: release.wait(60))  # a frozen API
    monkeypatch.setattr(services.ceph, "close", lambda: closed.append("ceph"))
    try:
        assert services.close(timeout=0.5) is False
        assert not secret.exists()
        assert closed == []  # the others wait behind the frozen one, in the thread
    finally:
        release.set()


def test_a_close_that_raises_still_closes_the_others(
    services: Services, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret, closed = private_copy(tmp_path), []

    def broken() -> None:
        raise OSError("socket already gone")

    monkeypatch.setattr(services.fleet, "close", broken)
    monkeypatch.setattr(services.ceph, "close", lambda: closed.append("ceph"))
    assert services.close(timeout=10) is True
    assert closed == ["ceph"] and not secret.exists()
