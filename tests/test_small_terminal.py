"""The smallest terminals still show rows: 40x12 on the Cluster and Kubernetes screens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable

from kubeha_tui.config import Settings
from kubeha_tui.sandbox.fleet_server import FleetServer
from kubeha_tui.sandbox.kube.cluster import Sandbox
from kubeha_tui.screens.app import KubehaApp
from kubeha_tui.screens.pane_table import PaneTable

from .support.kube import kube_sandbox
from .support.ui import until


@pytest.fixture
def kube() -> Iterator[Sandbox]:
    with kube_sandbox("modern") as sandbox:
        yield sandbox


def rows_shown(table: DataTable[Any] | PaneTable) -> int:
    """Body rows on screen: the table's height less its header, if it has rows."""
    return min(table.row_count, max(0, table.size.height - 1)) if table.display else 0


@pytest.mark.parametrize("size", [(40, 12), (80, 24)])
async def test_cluster_and_kube_show_rows(
    fleet: FleetServer, kube: Sandbox, tmp_path: Path, size: tuple[int, int]
) -> None:
    app = KubehaApp(Settings(fleet_endpoint=fleet.endpoint, kube_server=kube.server.url,
                             ceph_conf=str(tmp_path / "none.conf")))  # fmt: skip
    async with app.run_test(size=size) as pilot:
        tables = [app.screen.query_one(f"#cluster-{t}", PaneTable) for t in ("units", "pods")]
        await until(pilot, lambda: all(t.row_count for t in tables), timeout=30, what="rows")
        await pilot.pause()
        assert [rows_shown(t) >= 1 for t in tables] == [True, True], [
            (t.region, t.row_count, t.display) for t in tables
        ]
        await pilot.press("3")
        pods = app.screen.query_one("#kube-pods", DataTable)
        await until(pilot, lambda: pods.row_count > 0, timeout=30, what="pods")
        await pilot.pause()
        assert rows_shown(pods) >= min(pods.row_count, 2)
