"""Pilot tests of the Wizard screen: sandbox Kubernetes API and the real Ceph cluster."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from textual.widgets import Button, ContentSwitcher, Input

from kubeha_tui.config import Settings
from kubeha_tui.sandbox.ceph import CephSandbox
from kubeha_tui.sandbox.kube.cluster import Sandbox
from kubeha_tui.sandbox.kube.store import ApiError
from kubeha_tui.screens.app import KubehaApp
from kubeha_tui.wizard.run import Wizard

from .support.kube import kube_sandbox
from .support.ui import text_of, until

pytestmark = pytest.mark.ceph


@pytest.fixture
def kube(ceph_cluster: CephSandbox) -> Iterator[Sandbox]:
    with kube_sandbox("1.5", ceph=ceph_cluster) as sandbox:
        yield sandbox


def make_app(kube: Sandbox, ceph_cluster: CephSandbox, **kw: Any) -> KubehaApp:
    return KubehaApp(Settings(kube_server=kube.server.url, ceph_conf=str(ceph_cluster.conf),
                              fleet_endpoint="http://127.0.0.1:9", screen="wizard", **kw))  # fmt: skip


def step(app: KubehaApp) -> str:
    return str(app.screen.query_one("#wizard-steps", ContentSwitcher).current)


def shown(app: KubehaApp, widget_id: str) -> str:
    return text_of(app.screen.query_one(widget_id))


async def choose(pilot: Any, app: KubehaApp, index: int) -> None:
    await until(pilot, lambda: app.backends["kube"].state == "connected", what="kube")
    for _ in range(index):
        await pilot.press("down")
    await pilot.press("enter")
    await until(pilot, lambda: step(app) == "wizard-form", what="the form")


async def test_nginx_walkthrough_ends_with_the_urls(
    kube: Sandbox, ceph_cluster: CephSandbox
) -> None:
    app = make_app(kube, ceph_cluster)
    async with app.run_test(size=(100, 40)) as pilot:
        await choose(pilot, app, 0)
        app.screen.query_one("#wizard-name", Input).value = "web"
        await pilot.click("#wizard-preview")
        await until(pilot, lambda: step(app) == "wizard-review", what="the preview")
        assert "Kubernetes: create Deployment default/web" in shown(app, "#wizard-summary")
        assert "apiVersion: extensions/v1beta1" in shown(app, "#wizard-yaml")
        await pilot.click("#wizard-apply")
        await until(
            pilot, lambda: "Done." in shown(app, "#wizard-result"), timeout=30, what="the result"
        )
        port = kube.api.store.get("services", ("default", "web"))["spec"]["ports"][0]["nodePort"]  # type: ignore[index]
        assert f"http://127.0.1.1:{port}" in shown(app, "#wizard-result")
        assert "The pod is running." in shown(app, "#wizard-result")


async def test_bad_input_is_shown_at_its_field_and_creates_nothing(
    kube: Sandbox, ceph_cluster: CephSandbox
) -> None:
    app = make_app(kube, ceph_cluster)
    async with app.run_test(size=(100, 40)) as pilot:
        await choose(pilot, app, 1)
        app.screen.query_one("#wizard-size", Input).value = "ten"
        await pilot.click("#wizard-preview")
        await until(pilot, lambda: "size:" in shown(app, "#wizard-error"), what="the error")
        assert step(app) == "wizard-form" and app.screen.focused is app.screen.query_one(
            "#wizard-size"
        )
        assert kube.api.store.items("deployments", "default") == []


async def test_a_failure_says_what_was_undone(kube: Sandbox, ceph_cluster: CephSandbox) -> None:
    kube.server.router.faults[("POST", "deployments")] = ApiError(
        422, "Invalid", "injected: rejected"
    )
    app = make_app(kube, ceph_cluster)
    async with app.run_test(size=(100, 40)) as pilot:
        await choose(pilot, app, 1)
        app.screen.query_one("#wizard-name", Input).value = "rejected"
        app.screen.query_one("#wizard-volume", Input).value = "rejected-db"
        app.screen.query_one("#wizard-size", Input).value = "1G"
        await pilot.click("#wizard-preview")
        await until(pilot, lambda: step(app) == "wizard-review", timeout=30, what="the preview")
        assert "Ceph: create the RBD image rbd/rejected-db, 1G" in shown(app, "#wizard-summary")
        await pilot.click("#wizard-apply")
        await until(
            pilot, lambda: "Failed:" in shown(app, "#wizard-result"), timeout=30, what="the failure"
        )
        result = shown(app, "#wizard-result")
        assert "injected: rejected" in result and "RBD image rbd/rejected-db removed" in result
        assert "Secret default/rejected-root removed" in result
        assert kube.api.store.get("secrets", ("default", "rejected-root")) is None


async def test_read_only_previews_but_cannot_apply(
    kube: Sandbox, ceph_cluster: CephSandbox
) -> None:
    app = make_app(kube, ceph_cluster, read_only=True)
    async with app.run_test(size=(100, 40)) as pilot:
        await choose(pilot, app, 0)
        await pilot.click("#wizard-preview")
        await until(pilot, lambda: step(app) == "wizard-review", what="the preview")
        assert app.screen.query_one("#wizard-apply", Button).disabled
        assert "Read-only mode: preview only." in shown(app, "#wizard-summary")


async def test_an_apply_that_raises_ends_with_done_and_a_way_back(
    kube: Sandbox, ceph_cluster: CephSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_: Any, **__: Any) -> None:
        raise RuntimeError("injected: a bug in apply")

    monkeypatch.setattr(Wizard, "apply", boom)
    app = make_app(kube, ceph_cluster)
    async with app.run_test(size=(100, 40)) as pilot:
        await choose(pilot, app, 0)
        app.screen.query_one("#wizard-name", Input).value = "boom"
        await pilot.click("#wizard-preview")
        await until(pilot, lambda: step(app) == "wizard-review", what="the preview")
        await pilot.click("#wizard-apply")
        await until(
            pilot, lambda: "Failed:" in shown(app, "#wizard-result"), timeout=30, what="failure"
        )
        assert "unexpected error: RuntimeError: injected: a bug in apply" in shown(
            app, "#wizard-result"
        )
        assert not app.screen.query_one("#wizard-done", Button).disabled
        await pilot.press("escape")
        assert step(app) == "wizard-form"
        assert app.screen.query_one("#wizard-name", Input).value == "boom"
