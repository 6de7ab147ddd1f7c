"""The guided OSD removal when a call fails but was applied (a timeout after the mon
acted), and when recovery cannot finish: against a scripted cluster state whose
answers have the shapes a Pacific mon gives (`osd tree`, `pg stat`, `osd pool ls
detail`). The real-cluster removal runs in test_ceph.py on both backends."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from kubeha_tui.ceph.backend import answer
from kubeha_tui.ceph.models import Capabilities, CreateRequest, Image, Locker
from kubeha_tui.ceph.osds import Cancelled, osd_tree, removal_warning, remove_osd
from kubeha_tui.errors import ServiceError

TIMED_OUT = ServiceError(
    "Ceph 'osd out' failed: [errno 110] RADOS timed out (error in mon_command)"
)


class Cluster:
    """A cluster's state, changed by the commands; ``late`` names commands that apply
    and then report a timeout, ``broken`` commands that fail without applying."""

    closing = False
    via = "scripted"

    def __init__(self, osds: int = 3, size: int = 2, late: frozenset[str] = frozenset(),
                 broken: frozenset[str] = frozenset()) -> None:  # fmt: skip
        self.osds = {i: {"up": i != osds - 1, "in": True} for i in range(osds)}
        self.size, self.late, self.broken = size, late, broken
        self.clean = True
        self.sent: list[str] = []

    def command(self, cmd: dict[str, Any], *, mgr: bool = False, check: bool = True) -> tuple[int, Any, str]:  # fmt: skip
        prefix = cmd["prefix"]
        self.sent.append(prefix)
        if prefix in self.broken:
            raise ServiceError(f"Ceph {prefix!r} failed: [errno 110] RADOS timed out")
        doc: Any = None
        if prefix == "osd tree":
            doc = {"nodes": [{"id": -2, "name": "node1", "type": "host", "children": list(self.osds)}]
                   + [{"id": i, "name": f"osd.{i}", "type": "osd", "status": "up" if o["up"] else "down",
                       "reweight": 1.0 if o["in"] else 0.0, "crush_weight": 0.01} for i, o in self.osds.items()],
                   "stray": []}  # fmt: skip
        elif prefix == "osd pool ls":
            doc = [{"pool_name": "rbd", "size": self.size, "application_metadata": {"rbd": {}}}]
        elif prefix == "pg stat":
            state = "active+clean" if self.clean else "active+undersized+degraded"
            doc = {"pg_summary": {"num_pg_by_state": [{"name": state, "num": 8}], "num_pgs": 8}}
        elif prefix == "osd out":
            self.osds[int(cmd["ids"][0])]["in"] = False
        elif prefix == "osd safe-to-destroy":
            doc = {
                "safe_to_destroy": [int(cmd["ids"][0])],
                "active": [],
                "missing_stats": [],
                "stored_pgs": [],
            }
        elif prefix == "osd purge":
            self.osds.pop(int(cmd["id"]))
        elif prefix == "health":
            doc = {"status": "HEALTH_OK", "checks": {}}
        if prefix in self.late:
            raise ServiceError(f"Ceph {prefix!r} failed: [errno 110] RADOS timed out")
        return answer(
            prefix, 0, json.dumps(doc).encode() if doc is not None else b"", "", check=check
        )

    def json(self, cmd: dict[str, Any], *, mgr: bool = False) -> Any:
        return self.command(cmd, mgr=mgr)[1]

    def capabilities(self) -> Capabilities:
        return Capabilities(frozenset({"osd blocklist", "osd out"}), frozenset({"osd purge", "osd safe-to-destroy"}), True, True)  # fmt: skip

    def list_images(self, pool: str) -> list[Image]:
        return []

    def read_details(self, images: Any, first: Any = ()) -> Iterator[list[Image]]:
        return iter(())

    def create_image(self, request: CreateRequest) -> None:
        raise AssertionError

    def remove_image(self, pool: str, name: str, progress: Any = None) -> None:
        raise AssertionError

    def break_lock(self, pool: str, name: str, locker: Locker) -> None:
        raise AssertionError

    def forget(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_an_out_and_a_purge_that_report_a_timeout_but_were_applied_go_on() -> None:
    cluster = Cluster(late=frozenset({"osd out", "osd purge"}))
    steps = [s.text for s in remove_osd(cluster, 2, interval=0.01)]
    assert steps[1] == "marked osd.2 out; Ceph now moves its data to the other OSDs (the call reported Ceph 'osd out' failed: [errno 110] RADOS timed out, but osd.2 is out)"  # fmt: skip
    assert "purged osd.2 (the call reported Ceph 'osd purge' failed: [errno 110] RADOS timed out, but the OSD is gone)" in steps  # fmt: skip
    assert steps[-1] == "done: HEALTH_OK" and 2 not in cluster.osds


def test_an_out_that_was_not_applied_stops_and_says_so() -> None:
    cluster = Cluster(broken=frozenset({"osd out"}))
    flow = remove_osd(cluster, 2, interval=0.01)
    assert next(flow).text == "osd.2 on host node1 is down"
    with pytest.raises(
        ServiceError, match=r"marking osd.2 out failed \(.*timed out\); it is still in"
    ):
        next(flow)
    assert "osd purge" not in cluster.sent


def test_health_that_does_not_answer_after_the_purge_is_not_a_failure() -> None:
    cluster = Cluster(broken=frozenset({"health"}))
    steps = list(remove_osd(cluster, 2, interval=0.01))
    assert steps[-1].done and steps[-1].text.startswith("done: osd.2 is removed; health unknown (")


def test_recovery_that_cannot_finish_is_said_once_with_the_reason() -> None:
    cluster = Cluster(osds=2, size=2)  # osd.1 down, osd.0 alone for a pool of size 2
    tree = osd_tree(cluster)
    warning = removal_warning(tree, {"rbd": 2}, 1)
    assert warning.startswith("without osd.1 only 1 OSD(s) are up and in, fewer than the 2 copies of pool(s) rbd")  # fmt: skip
    assert removal_warning(tree, {"rbd": 1}, 1) == ""
    cluster.clean = False
    cancel = threading.Event()
    flow = remove_osd(cluster, 1, cancel=cancel, interval=0.01)
    texts = [next(flow).text, next(flow).text, next(flow).text]
    assert texts[2] == f"recovery cannot finish: {warning}. 0/8 PGs active+clean"
    polls = cluster.sent.count("pg stat")
    timer = threading.Timer(0.2, cancel.set)
    timer.start()
    with pytest.raises(Cancelled):
        next(flow)  # no new line while nothing changes: the next event is the cancel
    assert cluster.sent.count("pg stat") > polls  # it kept asking meanwhile
