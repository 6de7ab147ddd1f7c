"""Ceph through the cluster's ``ceph/ceph-conf-combined`` secret, when the node's ceph.conf
is only a template: real Ceph, the sandbox Kubernetes API holding the secret."""

from __future__ import annotations

import logging
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeha_tui.ceph import CephService, CephStatusService
from kubeha_tui.ceph.osds import health
from kubeha_tui.config import Settings
from kubeha_tui.errors import ServiceError
from kubeha_tui.sandbox.ceph import CephSandbox
from kubeha_tui.sandbox.kube.cluster import Sandbox
from kubeha_tui.screens.app import KubehaApp
from kubeha_tui.screens.dialogs import ConfirmScreen
from kubeha_tui.services import build_services

from .support.kube import kube_sandbox
from .support.ui import until

pytestmark = pytest.mark.ceph
TEMPLATE = "[global]\nfsid = {{FSID}}\nmon_host = 127.0.0.1:1\n"  # what a stack node has


@pytest.fixture
def kube(ceph_cluster: CephSandbox) -> Iterator[Sandbox]:
    with kube_sandbox("1.5", ceph=ceph_cluster) as sandbox:
        yield sandbox


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    return run


def admin_key(cluster: CephSandbox) -> str:
    return next(
        line.split("=", 1)[1].strip()
        for line in cluster.admin_keyring.read_text().splitlines()
        if "key" in line
    )


def test_the_secret_connects_ceph_privately_and_is_removed_on_close(
    kube: Sandbox,
    ceph_cluster: CephSandbox,
    runtime: Path,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    template = tmp_path / "ceph.conf"
    template.write_text(TEMPLATE)
    services = build_services(
        Settings(
            ceph_conf=str(template),
            kube_server=kube.server.url,
            fleet_endpoint="http://127.0.0.1:9",
        )
    )
    services.ceph = CephStatusService(CephService(str(template), timeout=2))
    with pytest.raises(ServiceError):
        health(services.ceph.ceph)

    said = services.ceph_from_secret()
    [directory] = list(runtime.iterdir())
    assert said == f"Ceph now uses the secret ceph/ceph-conf-combined (copied to {directory})"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert sorted((p.name, stat.S_IMODE(p.stat().st_mode)) for p in directory.iterdir()) == [
        ("ceph.client.admin.keyring", 0o600), ("ceph.conf", 0o600)]  # fmt: skip
    assert health(services.ceph.ceph)[0] == "HEALTH_OK"
    assert admin_key(ceph_cluster) not in caplog.text + said
    services.close()
    assert list(runtime.iterdir()) == []


def test_a_missing_secret_is_a_clear_error_and_writes_nothing(runtime: Path) -> None:
    with kube_sandbox("modern") as sandbox:  # seeded without Ceph: no secret
        services = build_services(Settings(ceph_conf="/nonexistent", kube_server=sandbox.server.url,
                                           fleet_endpoint="http://127.0.0.1:9", ceph_via="rados"))  # fmt: skip
        with pytest.raises(
            ServiceError, match=r"cannot read the secret ceph/ceph-conf-combined: .*404.* not found"
        ):
            services.ceph_from_secret()
        assert list(runtime.iterdir()) == []
        assert isinstance(services.ceph.ceph, CephService)
        assert services.ceph.ceph.conf == "/nonexistent"
        services.close()


async def test_the_ceph_screen_offers_the_secret_and_connects_with_it(
    kube: Sandbox, runtime: Path
) -> None:
    # librados only: through the pod (what auto would take here) Ceph needs no secret copy.
    settings = Settings(ceph_conf="/nonexistent/ceph.conf", kube_server=kube.server.url,
                        fleet_endpoint="http://127.0.0.1:9", screen="ceph", ceph_via="rados")  # fmt: skip
    app = KubehaApp(settings)
    async with app.run_test(size=(120, 36)) as pilot:
        offer = app.screen.query_one("#ceph-offer")
        await until(pilot, lambda: not offer.has_class("hidden"), what="the offer")
        await pilot.press("k")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.click("#confirm")
        await until(
            pilot,
            lambda: app.backends["ceph"].state == "connected",
            timeout=30,
            what="Ceph connected",
        )
        await until(pilot, lambda: offer.has_class("hidden"), what="the offer gone")
        assert len(list(runtime.iterdir())) == 1
    assert list(runtime.iterdir()) == []  # removed when the app ends


async def test_read_only_never_copies_the_secret(kube: Sandbox, runtime: Path) -> None:
    settings = Settings(ceph_conf="/nonexistent/ceph.conf", kube_server=kube.server.url,
                        fleet_endpoint="http://127.0.0.1:9", screen="ceph", read_only=True,
                        ceph_via="rados")  # fmt: skip
    app = KubehaApp(settings)
    async with app.run_test(size=(120, 36)) as pilot:
        await until(
            pilot,
            lambda: (
                (app.backends["kube"].state, app.backends["ceph"].state)
                == ("connected", "unreachable")
            ),
            timeout=30,
            what="kube up, Ceph down",
        )
        await pilot.press("k")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert app.screen.query_one("#ceph-offer").has_class("hidden")
        await app.screen.run_action("ceph_from_secret")  # as the palette would
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        assert list(runtime.iterdir()) == []
