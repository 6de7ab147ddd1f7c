"""Pilot tests of the Kubernetes screen against the sandbox Kubernetes API."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.widgets import DataTable, Log, RichLog, Select, TabbedContent

from kubeha_tui.config import Settings
from kubeha_tui.sandbox.kube.cluster import Sandbox
from kubeha_tui.sandbox.kube.store import new_meta
from kubeha_tui.screens.app import KubehaApp
from kubeha_tui.screens.dialogs import ConfirmScreen, OutputScreen
from kubeha_tui.screens.kube_logs import LogScreen

from .support.kube import kube_sandbox
from .support.ui import text_of, until


@pytest.fixture
def kube() -> Iterator[Sandbox]:
    with kube_sandbox("modern") as sandbox:
        yield sandbox


def make_app(kube: Sandbox, tmp_path: Path, **kw: Any) -> KubehaApp:
    settings = Settings(
        fleet_endpoint="http://127.0.0.1:9", kube_server=kube.server.url,
        ceph_conf=str(tmp_path / "none.conf"), screen="kube", **kw,
    )  # fmt: skip
    return KubehaApp(settings)


def table(app: KubehaApp, tab: str) -> DataTable[Any]:
    found: DataTable[Any] = app.screen.query_one(f"#kube-{tab}", DataTable)
    return found


def cells(t: DataTable[Any]) -> list[list[str]]:
    return [[str(c) for c in t.get_row_at(i)] for i in range(t.row_count)]


def column(t: DataTable[Any], name: str) -> list[str]:
    labels = [str(c.label) for c in t.columns.values()]
    return [row[labels.index(name)] for row in cells(t)]


async def running(pilot: Any, app: KubehaApp, count: int = 4) -> None:
    await until(pilot, lambda: column(table(app, "pods"), "STATUS") == ["Running"] * count,
                what=f"{count} running pods")  # fmt: skip


async def show_tab(pilot: Any, app: KubehaApp, tab: str) -> None:
    app.screen.query_one("#kube-tabs", TabbedContent).active = tab
    await pilot.pause()


async def test_four_tables_fill_from_the_watches(kube: Sandbox, tmp_path: Path) -> None:
    svc = kube.api.ref("services", "default")
    kube.api.create(svc, {"metadata": {"name": "web"},
                          "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80}]}})  # fmt: skip
    port = kube.api.store.get("services", ("default", "web"))["spec"]["ports"][0]["nodePort"]  # type: ignore[index]
    app = make_app(kube, tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await running(pilot, app)
        pods = table(app, "pods")
        assert [str(c.label) for c in pods.columns.values()] == [
            "NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "NODE", "IP"]  # fmt: skip
        assert column(pods, "NAMESPACE") == ["ceph", "ceph", "ceph", "kube-system"]
        assert column(pods, "READY") == ["1/1"] * 4
        await show_tab(pilot, app, "services")
        await until(pilot, lambda: table(app, "services").row_count == 4, what="four services")
        web = next(r for r in cells(table(app, "services")) if r[1] == "web")
        cluster_ip = kube.api.store.get("services", ("default", "web"))["spec"]["clusterIP"]  # type: ignore[index]
        assert cluster_ip and web[2:5] == ["NodePort", cluster_ip, f"80:{port}/TCP"]
        assert web[5] == " ".join(f"http://127.0.1.{i}:{port}" for i in (1, 2, 3))
        await show_tab(pilot, app, "deployments")
        await until(pilot, lambda: table(app, "deployments").row_count == 2, what="deployments")
        assert [r[1:3] for r in cells(table(app, "deployments"))] == [
            ["ceph-mon", "3/3"],
            ["kube-dns", "1/1"],
        ]
        await show_tab(pilot, app, "nodes")
        await until(pilot, lambda: table(app, "nodes").row_count == 3, what="nodes")
        assert cells(table(app, "nodes"))[2][:4] == [
            "127.0.1.3",
            "Ready",
            "127.0.1.3",
            "type=fr2,storage=false",
        ]


async def test_a_watched_change_updates_the_row_in_place_keeping_the_cursor(
    kube: Sandbox, tmp_path: Path
) -> None:
    app = make_app(kube, tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await running(pilot, app)
        pods = table(app, "pods")
        pods.move_cursor(row=2)
        name = column(pods, "NAME")[2]
        pod = copy.deepcopy(kube.api.store.get("pods", ("ceph", name)))
        assert pod is not None
        pod["status"]["containerStatuses"][0].update(
            ready=False, restartCount=7, state={"waiting": {"reason": "CrashLoopBackOff"}})  # fmt: skip
        pod["metadata"].pop("resourceVersion")
        kube.api.store.put("pods", pod, "MODIFIED")
        await until(
            pilot, lambda: column(pods, "STATUS")[2] == "CrashLoopBackOff", what="the new status"
        )
        assert pods.cursor_row == 2 and column(pods, "NAME")[2] == name
        assert column(pods, "RESTARTS")[2] == "7" and column(pods, "READY")[2] == "0/1"
        cell = pods.get_row_at(2)[3]
        assert isinstance(cell, Text) and "red" in str(cell.style)  # a failing pod stands out


async def test_filter_and_namespace_switch(kube: Sandbox, tmp_path: Path) -> None:
    app = make_app(kube, tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await running(pilot, app)
        await pilot.press("slash", *"dns", "enter")
        assert column(table(app, "pods"), "NAMESPACE") == ["kube-system"]
        await pilot.press("escape")
        assert table(app, "pods").row_count == 4
        select = app.screen.query_one("#kube-ns", Select)
        await until(
            pilot,
            lambda: len(getattr(app.data.get("kube"), "namespaces", ())) == 3,
            what="namespaces",
        )
        select.value = "ceph"
        await pilot.pause()
        assert column(table(app, "pods"), "NAMESPACE") == ["ceph"] * 3


async def test_delete_asks_first_and_cancel_changes_nothing(kube: Sandbox, tmp_path: Path) -> None:
    app = make_app(kube, tmp_path)
    async with app.run_test(size=(160, 40)) as pilot:
        await running(pilot, app)
        pods = table(app, "pods")
        pods.focus()
        pods.move_cursor(row=3)
        name = column(pods, "NAME")[3]
        await pilot.press("ctrl+d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        summary = text_of(app.screen.query_one("#confirm-summary"))
        assert f"Delete pod kube-system/{name}" in summary
        assert "a new pod replaces it" in text_of(app.screen.query_one(".warning"))
        await pilot.press("enter")  # Cancel has the focus
        await until(pilot, lambda: not isinstance(app.screen, ConfirmScreen), what="closed")
        await pilot.pause()  # whatever the dialog's answer started has run by now
        assert kube.api.store.get("pods", ("kube-system", name)) is not None

        await pilot.press("ctrl+d")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        await pilot.click("#confirm")
        await until(
            pilot, lambda: kube.api.store.get("pods", ("kube-system", name)) is None, what="deleted"
        )
        await until(pilot, lambda: name not in column(pods, "NAME"), what="the row gone")


async def test_read_only_offers_no_delete(kube: Sandbox, tmp_path: Path) -> None:
    app = make_app(kube, tmp_path, read_only=True)
    async with app.run_test(size=(160, 40)) as pilot:
        await running(pilot, app)
        table(app, "pods").focus()
        await pilot.press("ctrl+d")
        await pilot.pause()  # the key is handled: no fixed sleep
        assert not isinstance(app.screen, ConfirmScreen)
        assert len(kube.api.store.items("pods")) == 4
        assert "kube_delete" not in {b.binding.action for b in app.active_bindings.values()}


async def test_log_switches_container_and_follow_shows_the_newest_lines(
    kube: Sandbox, tmp_path: Path
) -> None:
    started = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    pod = {
        "metadata": new_meta({"name": "chatty", "namespace": "default"}, "default"),
        "spec": {"nodeName": "127.0.1.1", "containers": [
            {"name": "first", "image": "busybox:1"}, {"name": "second", "image": "nginx:1"}]},
        "status": {"phase": "Running", "startTime": started, "podIP": "10.32.0.99"},
    }  # fmt: skip
    kube.api.store.put("pods", pod, "ADDED")
    app = make_app(kube, tmp_path)
    async with app.run_test(size=(100, 24)) as pilot:
        pods = table(app, "pods")
        await until(pilot, lambda: "chatty" in column(pods, "NAME"), what="the pod")
        pods.move_cursor(row=column(pods, "NAME").index("chatty"))
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LogScreen), what="the log")
        log = app.screen.query_one(Log)
        await until(pilot, lambda: log.line_count > 400, what="the tail")
        assert log.border_title is not None and "(first)" in log.border_title
        assert "chatty/first: started busybox:1" not in "\n".join(log.lines)  # only the tail
        await pilot.press("c")
        await until(pilot, lambda: "(second)" in str(log.border_title), what="next container")
        await until(pilot, lambda: log.line_count > 400 and "GET" in log.lines[-1], what="lines")
        await pilot.press("f")
        assert "following" in str(log.border_subtitle)
        count = log.line_count
        await until(pilot, lambda: log.line_count > 0 and log.line_count != count, timeout=20,
                    what="followed lines")  # fmt: skip
        await pilot.pause()
        assert log.is_vertical_scroll_end and log.max_scroll_y > 0


def _event(pod: dict[str, Any], reason: str, message: str, ago: timedelta, kind: str) -> Any:
    meta = pod["metadata"]
    stamp = (datetime.now(UTC) - ago).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "metadata": new_meta({"name": f"{meta['name']}.{reason.lower()}"}, meta["namespace"]),
        "involvedObject": {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"],
                           "uid": meta["uid"]},
        "reason": reason, "message": message, "type": kind, "count": 1,
        "firstTimestamp": stamp, "lastTimestamp": stamp,
    }  # fmt: skip


async def test_describe_opens_on_the_newest_events_in_full(kube: Sandbox, tmp_path: Path) -> None:
    pod = {
        "metadata": new_meta({"name": "mounter", "namespace": "default"}, "default"),
        "spec": {"nodeName": "127.0.1.1", "containers": [{"name": "app", "image": "busybox:1"}]},
        "status": {"phase": "Pending", "podIP": "10.32.0.98"},
    }
    kube.api.store.put("pods", pod, "ADDED")
    failed = (
        'MountVolume.WaitForAttach failed for volume "data" : rbd: map failed exit status 110, '
        "rbd output: rbd: sysfs write failed In some cases useful info is found in syslog"
    )
    for reason, message, ago, kind in [
        ("Scheduled", "Successfully assigned default/mounter to 127.0.1.1", timedelta(hours=2), "Normal"),
        ("FailedMount", failed, timedelta(minutes=1), "Warning"),
        ("Pulled", "Container image \"busybox:1\" already present", timedelta(hours=1), "Normal"),
    ]:  # fmt: skip
        kube.api.store.put("events", _event(pod, reason, message, ago, kind), "ADDED")
    app = make_app(kube, tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        pods = table(app, "pods")
        await until(pilot, lambda: "mounter" in column(pods, "NAME"), what="the pod")
        pods.focus()
        pods.move_cursor(row=column(pods, "NAME").index("mounter"))
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, OutputScreen), what="describe")
        log = app.screen.query_one(RichLog)
        await until(pilot, lambda: any("mounter" in s.text for s in log.lines), what="loaded")
        await pilot.pause()
        shown = [s.text.strip() for s in log.lines[: log.scrollable_content_region.height]]
        assert log.scroll_y == 0
        reasons = [r for line in shown for r in ("Scheduled", "FailedMount", "Pulled") if r in line]
        assert reasons[:3] == ["FailedMount", "Pulled", "Scheduled"]  # newest first, on screen
        # the warning is there in full, wrapped rather than cut at the edge
        assert " ".join(" ".join(shown).split()).count(" ".join(failed.split())) == 1
