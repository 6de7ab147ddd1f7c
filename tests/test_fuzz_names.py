"""Names from the cluster that look like markup, escape codes, RTL or wide text, or are very
long: every screen and dialog shows them as plain text and nothing raises.

Real sandbox fleet and Kubernetes API servers and the session's real Ceph cluster. Fleet
units and Kubernetes objects with such names are put straight into the servers' stores
(a real API refuses most of them, but events, images, annotations and log lines are free
text, and a console must survive any server); Ceph takes them as they are.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, OptionList, Select, TabbedContent

from kubeha_tui.ceph.connection import CephService, import_binding
from kubeha_tui.config import Settings
from kubeha_tui.sandbox.ceph import CephSandbox
from kubeha_tui.sandbox.fleet_registry import FleetRegistry, seed_stack, settle
from kubeha_tui.sandbox.fleet_server import FleetServer
from kubeha_tui.sandbox.fleet_units import Unit, UnitOption
from kubeha_tui.sandbox.kube.cluster import Sandbox
from kubeha_tui.sandbox.kube.store import new_meta, now
from kubeha_tui.screens.app import KubehaApp
from kubeha_tui.screens.ceph_dialogs import CreateImageScreen, UnlockScreen
from kubeha_tui.screens.dialogs import ConfirmScreen
from kubeha_tui.screens.doctor import DoctorScreen, EvidenceScreen
from kubeha_tui.screens.help import HelpScreen
from kubeha_tui.screens.kube_logs import LogScreen
from kubeha_tui.screens.pane_table import PaneTable
from kubeha_tui.screens.plain import clean

from .support.kube import kube_sandbox
from .support.ui import text_of, until

pytestmark = pytest.mark.ceph

ODD = (
    "[b]bold",
    "[/]",
    '[x]c"',
    "[link='x]y",
    "\x1b[31mred",
    "\u05e9\u05dc\u05d5\u05dd-\u0645\u0631\u062d\u0628\u0627",  # Hebrew and Arabic (RTL)
    "\u5bbd\u5b57\u7b26\u540d\u524d",  # wide characters
    "n" * 250,
)
TAG = uuid.uuid4().hex[:6]


def image_name(n: int, odd: str) -> str:
    return f"fz{TAG}{n}-{odd}"[:250]


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[FleetServer]:
    registry = FleetRegistry(tick=0.05)
    seed_stack(registry)
    registry.add_machine("127.0.1.9", {"region": ODD[0], "[x]": ODD[4]})
    for n, odd in enumerate(ODD):
        options = (UnitOption("Unit", "Description", odd), UnitOption("Service", "ExecStart", odd))
        registry.create(Unit(f"{odd}-{n}.service", options, "launched"))
    settle(registry)
    server = FleetServer(registry, tmp_path / "fleet.sock", ("127.0.0.1", 0))
    yield server
    server.close()


def put(kube: Sandbox, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Store ``obj`` as the API server would after a create, without its validation."""
    obj["metadata"] = new_meta(obj["metadata"], obj["metadata"].get("namespace", ""))
    return kube.api.store.put(plural, obj, "ADDED")


@pytest.fixture
def kube(ceph_cluster: CephSandbox) -> Iterator[Sandbox]:
    with kube_sandbox("modern", ceph=ceph_cluster) as sandbox:
        odd_ns = ODD[2]
        put(sandbox, "namespaces", {"metadata": {"name": odd_ns}})
        node = copy.deepcopy(sandbox.api.store.items("nodes")[0])
        node["metadata"] = {"name": ODD[3], "labels": {ODD[0]: ODD[1], "x": ODD[4]}}
        put(sandbox, "nodes", node)
        for n, odd in enumerate(ODD):
            for ns in ("default", odd_ns):
                pod = put(sandbox, "pods", {
                    "metadata": {"name": f"{odd}-{n}", "namespace": ns, "labels": {"app": odd}},
                    "spec": {"nodeName": "127.0.1.1",
                             "containers": [{"name": "c", "image": f"{odd}:1"}]},
                    "status": {"phase": "Pending"},
                })  # fmt: skip
                put(sandbox, "events", {
                    "metadata": {"name": f"ev-{n}-{uuid.uuid4().hex[:6]}", "namespace": ns},
                    "involvedObject": {"kind": "Pod", "namespace": ns, "name": pod["metadata"]["name"],
                                       "uid": pod["metadata"]["uid"]},
                    "reason": odd, "message": f"{odd} " * 20, "type": "Warning", "count": 1,
                    "firstTimestamp": now(), "lastTimestamp": now(), "source": {"component": odd},
                })  # fmt: skip
            put(sandbox, "services", {
                "metadata": {"name": f"{odd}-{n}", "namespace": "default"},
                "spec": {"type": "NodePort", "clusterIP": "10.0.0.9",
                         "ports": [{"port": 80, "nodePort": 30100 + n, "name": odd}]},
            })  # fmt: skip
            put(sandbox, "deployments", {
                "metadata": {"name": f"{odd}-{n}", "namespace": "default"},
                "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "none"}},
                         "template": {"metadata": {"labels": {"app": "none"}},
                                      "spec": {"containers": [{"name": "c", "image": odd}]}}},
            })  # fmt: skip
        # A pod waiting on the locked image (test_odd_names_...): the Doctor traces it from
        # this FailedMount event to the image's odd lock cookies. Its name is one Kubernetes
        # allows: the Doctor reads the pod back by name to find its RBD volumes.
        waiting = put(sandbox, "pods", {
            "metadata": {"name": "vol-waiting", "namespace": "default"},
            "spec": {"nodeName": "127.0.1.1", "containers": [{"name": "c", "image": "db:1"}],
                     "volumes": [{"name": ODD[0], "rbd": {"pool": "rbd", "image": image_name(0, ODD[0])}}]},
            "status": {"phase": "Pending"},
        })  # fmt: skip
        put(sandbox, "events", {
            "metadata": {"name": f"ev-vol-{uuid.uuid4().hex[:6]}", "namespace": "default"},
            "involvedObject": {"kind": "Pod", "namespace": "default", "name": waiting["metadata"]["name"],
                               "uid": waiting["metadata"]["uid"]},
            "reason": "FailedMount", "type": "Warning", "count": 1,
            "message": f'MountVolume.SetUp failed for volume "{ODD[0]}" : rbd image is locked by other nodes',
            "firstTimestamp": now(), "lastTimestamp": now(), "source": {"component": "kubelet"},
        })  # fmt: skip
        yield sandbox


@pytest.fixture
def ceph(ceph_cluster: CephSandbox) -> Iterator[CephService]:
    """Images named with each odd name (librbd takes any name, '/' included)."""
    service = CephService(str(ceph_cluster.conf))
    rbd = import_binding("rbd")
    with service.ioctx("rbd") as io:
        for n, odd in enumerate(ODD):
            rbd.RBD().create(io, image_name(n, odd), 4 << 20, old_format=False, features=1)
    yield service
    with service.ioctx("rbd") as io:  # librbd directly: the product refuses '/' in a name
        for n, odd in enumerate(ODD):
            rbd.RBD().remove(io, image_name(n, odd))
    service.close()


async def close_dialogs(pilot: Any, app: KubehaApp) -> None:
    await pilot.pause(0.1)  # a dialog that a worker's answer opens comes a little later
    while app.screen.is_modal:
        await app.pop_screen()
        await pilot.pause(0.05)


async def rows_of(pilot: Any, app: KubehaApp, table_id: str, count: int) -> DataTable[Any]:
    table: DataTable[Any] = app.screen.query_one(table_id, DataTable)
    await until(pilot, lambda: table.row_count >= count, timeout=30, what=f"{table_id} rows")
    return table


async def pane_rows(pilot: Any, app: KubehaApp, pane_id: str, count: int) -> PaneTable:
    pane = app.screen.query_one(pane_id, PaneTable)
    await until(pilot, lambda: pane.row_count >= count, timeout=30, what=f"{pane_id} rows")
    return pane


def is_odd(key: object) -> bool:
    return any(odd[:200] in str(key) for odd in ODD)


async def each_row(
    pilot: Any, app: KubehaApp, table: DataTable[Any], actions: tuple[str, ...]
) -> int:
    """On every row named oddly run one of the actions (in turn: what the screen's keys do)
    and show whatever dialog it opens. Actions, not key presses: Pilot waits for the CPU
    to be idle after every key, up to a second each with the polls running."""
    screen = app.screen
    visited = 0
    for index, row in enumerate(list(table.rows)):
        if not is_odd(row.value):
            continue
        table.move_cursor(row=index)
        await screen.run_action(actions[visited % len(actions)])
        await close_dialogs(pilot, app)
        visited += 1
    return visited


async def walk_fleet(pilot: Any, app: KubehaApp) -> None:
    await pilot.press("2")
    units = await rows_of(pilot, app, "#fleet-units", 10 + len(ODD))
    assert await each_row(
        pilot, app, units, ("status", "journal", "unit_destroy", "unit_stop")
    ) == len(ODD)
    await pilot.press("w", "right_square_bracket")
    await rows_of(pilot, app, "#fleet-machines", 4)
    await pilot.press("right_square_bracket")
    files = await rows_of(pilot, app, "#fleet-files", 6 + len(ODD))
    assert await each_row(pilot, app, files, ("status", "unit_start")) == len(ODD)


async def walk_kube(pilot: Any, app: KubehaApp) -> None:
    await pilot.press("3")
    for tab in ("pods", "services", "deployments", "nodes"):
        app.screen.query_one(TabbedContent).active = tab
        table = await rows_of(pilot, app, f"#kube-{tab}", 2 if tab == "nodes" else len(ODD))
        actions = (
            ("describe", "logs", "kube_delete") if tab == "pods" else ("describe", "kube_delete")
        )
        assert await each_row(pilot, app, table, actions) > 0
    app.screen.query_one(TabbedContent).active = "pods"
    pods = await rows_of(pilot, app, "#kube-pods", len(ODD))
    pods.move_cursor(row=next(i for i, r in enumerate(pods.rows) if ODD[4] in str(r.value)))
    await pilot.press("l")
    await until(pilot, lambda: isinstance(app.screen, LogScreen), timeout=30, what="the log")
    await pilot.press("f", "c")
    await close_dialogs(pilot, app)
    await pilot.press("n", "enter")  # the namespace list, with the odd namespace
    await pilot.pause(0.1)
    namespaces = app.screen.query_one("#kube-ns", Select)
    assert ODD[2] in [v for _, v in namespaces._options]
    await pilot.press("escape", "escape")
    await pilot.press("slash", *"[b]", "enter")


async def walk_ceph(pilot: Any, app: KubehaApp, locked: str) -> None:
    await pilot.press("4")
    images = await rows_of(pilot, app, "#ceph-images", len(ODD))
    assert await each_row(
        pilot, app, images, ("unlock_image", "delete_image", "create_image")
    ) == len(ODD)
    images.move_cursor(row=next(i for i, r in enumerate(images.rows) if r.value == locked))
    await pilot.press("u")
    await until(
        pilot, lambda: isinstance(app.screen, UnlockScreen), timeout=60, what="unlock dialog"
    )
    listed = app.screen.query_one(OptionList)
    prompts = [str(listed.get_option_at_index(i).prompt) for i in range(listed.option_count)]
    assert any("cookie '[x]c\"'" in p for p in prompts), prompts
    assert any("\\x1b[31mred" in p for p in prompts), prompts  # the escape shown, not run
    await pilot.click("#force")
    await until(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirm")
    assert locked in text_of(app.screen.query_one("#confirm-summary"))
    await close_dialogs(pilot, app)
    await pilot.press("n")
    await until(pilot, lambda: isinstance(app.screen, CreateImageScreen))
    await close_dialogs(pilot, app)
    await pilot.press("right_square_bracket")
    await rows_of(pilot, app, "#ceph-osds", 3)


async def walk_doctor(pilot: Any, app: KubehaApp, locked: str) -> None:
    """Every finding about an odd name in its evidence dialog, then the locked image's next
    step: the fenced unlock's dialog, listing the odd cookies."""
    await pilot.press("6")
    screen = app.screen
    assert isinstance(screen, DoctorScreen)
    await until(pilot, lambda: any(locked in f.object for f in screen.findings), timeout=60,
                what="the locked image's finding")  # fmt: skip
    table = await rows_of(pilot, app, "#doctor-findings", 1)
    odd_rows = [i for i, row in enumerate(table.rows) if is_odd(row.value)]
    assert len(odd_rows) > len(ODD)  # the locked image and the odd NodePort services
    for index in odd_rows:
        table.move_cursor(row=index)
        finding = screen.selected()
        assert finding is not None
        await screen.run_action("evidence")
        await until(pilot, lambda: bool(app.screen.query("#evidence-problem")), what="evidence")
        assert isinstance(app.screen, EvidenceScreen)
        problem = text_of(app.screen.query_one("#evidence-problem"))
        shown = " ".join(clean(finding.problem).split())  # control characters shown as \x1b
        assert " ".join(problem.split()).startswith(shown[:60])
        await close_dialogs(pilot, app)
    locked_row = next(i for i, row in enumerate(table.rows) if locked in str(row.value))
    table.move_cursor(row=locked_row)
    await screen.run_action("evidence")
    await until(pilot, lambda: bool(app.screen.query("#evidence-lines")), what="its evidence")
    assert isinstance(app.screen, EvidenceScreen)
    evidence = text_of(app.screen.query_one("#evidence-lines"))
    assert "cookie '[x]c\"'" in evidence and "FailedMount" in evidence, evidence
    await pilot.press("a")  # the next step: the fenced unlock, with the Ceph screen's dialog
    await until(pilot, lambda: isinstance(app.screen, UnlockScreen), timeout=60, what="unlock")
    listed = app.screen.query_one(OptionList)
    prompts = [str(listed.get_option_at_index(i).prompt) for i in range(listed.option_count)]
    assert any("cookie '[x]c\"'" in p for p in prompts), prompts
    await close_dialogs(pilot, app)


@contextmanager
def locked_image(ceph: CephService) -> Iterator[str]:
    """The first odd image, locked with five odd cookies (the Image kept open: it watches)."""
    rbd = import_binding("rbd")
    locked = image_name(0, ODD[0])
    with ceph.ioctx("rbd") as io, rbd.Image(io, locked) as img:
        for odd in ODD[:5]:
            img.lock_shared(odd, "tag")
        try:
            yield locked
        finally:
            for odd in ODD[:5]:
                img.unlock(odd)


def settings_for(fleet: FleetServer, kube: Sandbox, ceph_cluster: CephSandbox) -> Settings:
    return Settings(fleet_endpoint=fleet.endpoint, kube_server=kube.server.url,
                    ceph_conf=str(ceph_cluster.conf))  # fmt: skip


async def test_odd_names_everywhere_are_shown_as_text(
    fleet: FleetServer, kube: Sandbox, ceph: CephService, ceph_cluster: CephSandbox
) -> None:
    with locked_image(ceph) as locked:
        app = KubehaApp(settings_for(fleet, kube, ceph_cluster))
        async with app.run_test(size=(120, 40)) as pilot:
            await pane_rows(pilot, app, "#cluster-units", 10 + len(ODD))
            await pane_rows(pilot, app, "#cluster-pods", 2 * len(ODD))
            await pilot.press("f1")
            assert isinstance(app.screen, HelpScreen)
            await close_dialogs(pilot, app)
            await walk_kube(pilot, app)
            await walk_fleet(pilot, app)
            await walk_ceph(pilot, app, locked)
            await pilot.press("5", "f1")
            await close_dialogs(pilot, app)
        # Leaving run_test re-raises whatever the app raised meanwhile.


async def test_odd_names_on_the_doctor_screen_and_its_evidence(
    fleet: FleetServer, kube: Sandbox, ceph: CephService, ceph_cluster: CephSandbox
) -> None:
    with locked_image(ceph) as locked:
        app = KubehaApp(settings_for(fleet, kube, ceph_cluster))
        async with app.run_test(size=(120, 40)) as pilot:
            await walk_doctor(pilot, app, locked)
            await pilot.press("f1")
            assert isinstance(app.screen, HelpScreen)
            await close_dialogs(pilot, app)
