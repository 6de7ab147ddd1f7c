"""Built snapshots for the Doctor's unit tests: a healthy stack, and ways to break it."""

from __future__ import annotations

import json
from dataclasses import replace

from kubeha_tui.ceph.images import Image, Locker
from kubeha_tui.ceph.osds import OSD, PGSummary, Tree
from kubeha_tui.ceph.service import CephSnapshot
from kubeha_tui.doctor.diagnose import diagnose
from kubeha_tui.doctor.findings import (
    REMOVE_BUCKET,
    REMOVE_OSDS,
    UNLOCK,
    headline,
    ordered,
    verdict,
)
from kubeha_tui.doctor.gather import from_polls
from kubeha_tui.doctor.observation import KubeEvent, Observation, VolumeRef
from kubeha_tui.doctor.report import FINDINGS, exit_status, text_report
from kubeha_tui.fleet.client import FleetSnapshot
from kubeha_tui.fleet.models import Machine, Unit, UnitState
from kubeha_tui.kube.client import ServerInfo
from kubeha_tui.kube.models import Deployment, Node, Pod, Service, ServicePort
from kubeha_tui.kube.service import KubeSnapshot
from kubeha_tui.status import BackendStatus

IPS = ("127.0.1.1", "127.0.1.2", "127.0.1.3")
MIDS = tuple(f"{n:x}" * 32 for n in (10, 11, 12))
ONE = (
    "pidalio.service",
    "pidalio-apiserver.service",
    "pidalio-controller.service",
    "pidalio-scheduler.service",
)
GLOBAL = ("pidalio-node.service", "pidalio-proxy.service")


def fleet(states: tuple[UnitState, ...] | None = None, machines: int = 3) -> FleetSnapshot:
    ms = {
        MIDS[i]: Machine(MIDS[i], IPS[i], {"region": "fr1" if i < 2 else "fr2"})
        for i in range(machines)
    }
    if states is None:
        rows = [
            UnitState(u, MIDS[i % 3], "h", "loaded", "active", "running") for i, u in enumerate(ONE)
        ]
        rows += [UnitState(u, m, "h", "loaded", "active", "running") for u in GLOBAL for m in MIDS]
        states = tuple(rows)
    units = tuple(Unit(u) for u in ONE + GLOBAL)
    return FleetSnapshot(states, units, ms, "fleetd/0.11.8")


def pod(ns: str, name: str, status: str = "Running", node: str = IPS[0], ready: str = "") -> Pod:
    ready = ready or ("1/1" if status == "Running" else "0/1")
    return Pod(ns, name, ready, status, 0, 0.0, node, "10.32.0.2", "")


def node(ip: str, status: str = "Ready") -> Node:
    return Node(ip, status, ip, "storage=true,type=fr1", "v1.31.0", 0.0)


def kube(pods: list[Pod] | None = None, nodes: list[Node] | None = None,
         deployments: list[Deployment] | None = None, services: list[Service] | None = None) -> KubeSnapshot:  # fmt: skip
    pods = pods if pods is not None else [
        pod("kube-system", "kube-dns-1"), pod("ceph", "ceph-mon-1"), pod("ceph", "ceph-osd-a", node=IPS[1]), pod("ceph", "ceph-osd-b", node=IPS[0]),
    ]  # fmt: skip
    nodes = nodes if nodes is not None else [node(ip) for ip in IPS]
    return KubeSnapshot(
        ServerInfo("v1.31.0", frozenset({"apps/v1"})), "http://127.0.0.1:1",
        {f"{p.namespace}/{p.name}": p for p in pods},
        {f"{s.namespace}/{s.name}": s for s in services or []},
        {f"{d.namespace}/{d.name}": d for d in deployments or []},
        {f"/{n.name}": n for n in nodes}, ("ceph", "default", "kube-system"), True,
    )  # fmt: skip


def tree(down: tuple[int, ...] = (), hosts: dict[str, tuple[int, ...]] | None = None) -> Tree:
    hosts = hosts if hosts is not None else {"ceph-osd-a": (0,), "ceph-osd-b": (1, 2)}
    host_of = {i: h for h, ids in hosts.items() for i in ids}
    osds = tuple(
        OSD(i, host_of.get(i, "-"), i not in down, True, 1.0, 1.0) for i in sorted(host_of)
    )
    return Tree(osds, hosts)


def ceph(
    health: str = "HEALTH_OK", checks: tuple[str, ...] = (), t: Tree | None = None
) -> CephSnapshot:
    pgs = PGSummary(8, 8, {"active+clean": 8})
    return CephSnapshot(health, checks, ("rbd",), "rbd", (), t or tree(), pgs)


def healthy() -> Observation:
    return Observation(fleet(), "", kube(), "", ceph(), "", endpoints={})


def event(
    ns: str, name: str, reason: str, message: str, last: str = "2026-01-01T00:00:01Z"
) -> KubeEvent:
    return KubeEvent(ns, "Pod", name, reason, message, "Warning", 3, last)


LOCK_MESSAGE = 'MountVolume.SetUp failed for volume "data" : rbd: image db is locked by other nodes'


def locked(alive: bool = False, locker_node: str = "127.0.1.9") -> Observation:
    """default/db-0 waits for rbd/db, locked by a kubelet cookie of ``locker_node``."""
    obs = healthy()
    k = obs.kube
    assert k is not None
    waiting = pod("default", "db-0", "ContainerCreating", node=IPS[2])
    lk = Locker("client.4123", f"kubelet_lock_magic_{locker_node}", "127.0.0.1:0/3141", alive)
    image = Image("rbd", "db", "id1", 1 << 30, ("layering",), (lk,),
                  ("127.0.0.1:0/3141 client.4123 cookie=1",) if alive else (), watched=True)  # fmt: skip
    return replace(
        obs,
        kube=replace(k, pods={**k.pods, "default/db-0": waiting}),
        events=(event("default", "db-0", "FailedMount", LOCK_MESSAGE),),
        pod_volumes={("default", "db-0"): (VolumeRef("data", "rbd", "db"),)},
        images={("rbd", "db"): image},
    )


# -- the rules ---------------------------------------------------------------------


def codes(obs: Observation) -> list[str]:
    return [f.code for f in diagnose(obs)]


def test_a_healthy_stack_gives_no_finding() -> None:
    assert diagnose(healthy()) == []
    assert verdict([]) == {"fleet": "healthy", "kube": "healthy", "ceph": "healthy"}


def test_fleet_503_is_the_headline_with_etcd_as_cause() -> None:
    obs = replace(healthy(), fleet=None, fleet_error="fleet cannot reach etcd (503 from fleetd); ...",
                  kube=None, kube_error="connection refused")  # fmt: skip
    found = diagnose(obs)
    top = headline(found)
    assert top is not None and top.code == "fleet.etcd"
    assert "503" in top.problem and "etcd" in top.cause
    assert any("503" in line for line in top.evidence)
    assert {f.code for f in found} >= {"fleet.etcd", "kube.unreachable"}


def test_fleet_unreachable_otherwise() -> None:
    obs = replace(
        healthy(), fleet=None, fleet_error="connection refused on unix:///var/run/fleet.sock"
    )
    assert codes(obs)[0] == "fleet.unreachable"


def test_no_machines() -> None:
    assert "fleet.no-machines" in codes(replace(healthy(), fleet=fleet(states=(), machines=0)))


def test_failed_apiserver_unit_is_named_with_its_machine_and_explains_the_api() -> None:
    f = fleet()
    states = tuple(
        replace(s, active_state="failed", sub_state="failed") if s.name == "pidalio-apiserver.service" else s
        for s in f.states
    )  # fmt: skip
    obs = replace(
        healthy(), fleet=replace(f, states=states), kube=None, kube_error="connection refused"
    )
    found = diagnose(obs)
    top = headline(found)
    assert top is not None and top.code == "fleet.unit-failed"
    assert "pidalio-apiserver.service is failed on" in top.problem and IPS[1] in top.problem
    api = next(x for x in found if x.code == "kube.unreachable")
    assert "pidalio-apiserver.service is failed" in api.cause


def test_units_are_checked_in_start_up_order() -> None:
    f = fleet()
    states = tuple(
        replace(s, active_state="failed") if s.name in ("pidalio-scheduler.service", "pidalio.service") else s
        for s in f.states
    )  # fmt: skip
    top = headline(diagnose(replace(healthy(), fleet=replace(f, states=states))))
    assert top is not None and "pidalio.service " in top.problem + " "


def test_a_global_unit_missing_on_one_machine() -> None:
    f = fleet()
    states = tuple(
        s for s in f.states if not (s.name == "pidalio-node.service" and s.machine_id == MIDS[2])
    )
    found = diagnose(replace(healthy(), fleet=replace(f, states=states)))
    assert [x.code for x in found] == ["fleet.unit-missing-on-machine"]
    assert IPS[2] in found[0].object


def test_a_unit_not_submitted() -> None:
    f = fleet()
    f = replace(f, states=tuple(s for s in f.states if s.name != "pidalio-controller.service"),
                units=tuple(u for u in f.units if u.name != "pidalio-controller.service"))  # fmt: skip
    assert codes(replace(healthy(), fleet=f)) == ["fleet.unit-missing"]


def test_machine_without_node_and_not_ready_node() -> None:
    obs = replace(healthy(), kube=kube(nodes=[node(IPS[0]), node(IPS[1], "NotReady")]))
    found = diagnose(obs)
    assert {x.code for x in found} == {"kube.node-missing", "kube.node-not-ready"}
    assert all(x.chain == 10 for x in found)


def test_system_pods_must_run() -> None:
    pods = [pod("kube-system", "kube-dns-1", "CrashLoopBackOff"), pod("ceph", "ceph-mon-1")]
    found = diagnose(replace(healthy(), kube=kube(pods=pods)))
    assert [x.code for x in found] == ["kube.system-pod"]


def test_ceph_unreachable() -> None:
    found = diagnose(replace(healthy(), ceph=None, ceph_error="timed out connecting to the mons"))
    assert [x.code for x in found] == ["ceph.unreachable"]
    assert "timed out" in found[0].evidence[0]


def test_ceph_health_checks_with_codes_and_jewel_summaries() -> None:
    obs = replace(healthy(), ceph=ceph("HEALTH_WARN", ("MON_DOWN: 1/3 mons down, quorum a,b",)))
    found = diagnose(obs)
    assert [x.code for x in found] == ["ceph.health.MON_DOWN"] and found[0].severity == "warning"
    jewel = replace(
        healthy(), ceph=ceph("HEALTH_ERR"), ceph_summary=("1 mons down, quorum 0,1 a,b",)
    )
    found = diagnose(jewel)
    assert [x.code for x in found] == ["ceph.health.summary"] and found[0].severity == "error"
    assert "1 mons down" in found[0].problem


def test_a_locked_volume_of_a_lost_node_offers_the_fenced_unlock() -> None:
    found = diagnose(locked())
    assert [x.code for x in found] == ["volume.locked"]
    f = found[0]
    assert f.object == "image rbd/db" and "default/db-0" in f.problem
    assert f.next_step.action == UNLOCK
    assert f.next_step.target == ("rbd", "db", "client.4123", "kubelet_lock_magic_127.0.1.9")
    assert "127.0.1.9" in f.cause and "gone" in f.cause
    text = "\n".join(f.evidence)
    assert "is locked by other nodes" in text and "stale (no watch)" in text
    assert "node 127.0.1.9 does not exist" in text and "gone from fleet" in text


def test_a_stale_lock_of_a_node_that_is_up() -> None:
    f = diagnose(locked(locker_node=IPS[1]))[0]
    assert f.code == "volume.locked" and "is up" in f.cause and f.next_step.action == UNLOCK


def test_a_live_locker_is_not_called_stale() -> None:
    f = diagnose(locked(alive=True, locker_node=IPS[1]))[0]
    assert f.code == "volume.locked-live" and "still holds" in f.cause


def test_a_locked_volume_when_ceph_cannot_tell() -> None:
    obs = replace(locked(), ceph=None, ceph_error="no mons", images={})
    found = {x.code: x for x in diagnose(obs)}
    assert "volume.locked" in found and found["volume.locked"].next_step.action == ""
    assert "rbd lock list rbd/db" in found["volume.locked"].next_step.command


def test_csi_multi_attach_and_still_being_used_are_lock_events() -> None:
    for message in ('Multi-Attach error for volume "pvc-1" Volume is already exclusively attached to one node',
                    "MountVolume.MountDevice failed: rbd image rbd/db is still being used"):  # fmt: skip
        obs = replace(locked(), events=(event("default", "db-0", "FailedAttachVolume", message),))
        assert codes(obs) == ["volume.locked"]


def test_a_lock_gone_and_no_watcher_is_no_finding_while_the_kubelet_retries() -> None:
    obs = locked()
    free = replace(obs.images[("rbd", "db")], lockers=(), watchers=())
    assert diagnose(replace(obs, images={("rbd", "db"): free})) == []
    used = replace(free, watchers=("127.0.0.1:0/1 client.9 cookie=1",))
    assert codes(replace(obs, images={("rbd", "db"): used})) == ["volume.in-use"]


def test_a_running_pod_with_an_old_lock_event_is_no_finding() -> None:
    obs = locked()
    assert obs.kube is not None
    k = replace(obs.kube, pods={**obs.kube.pods, "default/db-0": pod("default", "db-0")})
    assert diagnose(replace(obs, kube=k)) == []


def lost_node() -> Observation:
    """Host ceph-osd-a (the OSD pod on 127.0.1.2) lost osd.0; the machine left fleet."""
    f = fleet()
    machines = {k: v for k, v in f.machines.items() if v.primary_ip != IPS[1]}
    k = kube(nodes=[node(IPS[0]), node(IPS[1], "NotReady"), node(IPS[2])])
    return replace(healthy(), fleet=replace(f, machines=machines), kube=k,
                   ceph=ceph("HEALTH_WARN", ("OSD_DOWN: 1 osds down", "PG_DEGRADED: Degraded data redundancy"), tree(down=(0,))))  # fmt: skip


def test_a_lost_ceph_node_offers_the_guided_removal_of_its_osds() -> None:
    found = diagnose(lost_node())
    host = next(x for x in found if x.code == "ceph.host-lost")
    assert host.object == "host ceph-osd-a" and "osd.0" in host.problem
    assert host.next_step.action == REMOVE_OSDS and host.next_step.target == ("ceph-osd-a", "0")
    assert (
        "127.0.1.2" in host.cause and "gone from fleet" in host.cause and "NotReady" in host.cause
    )
    text = "\n".join(host.evidence)
    assert (
        "osd.0 on host ceph-osd-a: down" in text
        and "left to do: remove osd.0; then remove the emptied host bucket ceph-osd-a" in text
    )
    # The health checks the lost host explains are not repeated as findings of their own.
    assert not [x for x in found if x.code.startswith("ceph.health")]
    assert "fleet.machine-gone" in {x.code for x in found}


def test_osds_down_on_a_live_node_are_not_offered_for_removal() -> None:
    obs = replace(healthy(), ceph=ceph("HEALTH_WARN", ("OSD_DOWN: 1 osds down",), tree(down=(1,))))
    found = diagnose(obs)
    assert [x.code for x in found] == ["ceph.osds-down"]
    assert found[0].next_step.action == ""


def test_a_host_matching_nothing_is_taken_for_lost() -> None:
    obs = replace(
        healthy(), ceph=ceph(t=tree(down=(5,), hosts={"old-host": (5,), "ceph-osd-b": (1, 2)}))
    )
    found = diagnose(obs)
    assert [x.code for x in found] == ["ceph.host-lost"] and "probably gone" in found[0].cause


def test_an_empty_host_bucket() -> None:
    obs = replace(healthy(), ceph=ceph(t=tree(hosts={"ceph-osd-a": (), "ceph-osd-b": (1, 2)})))
    found = diagnose(obs)
    assert [x.code for x in found] == ["ceph.empty-bucket"]
    assert found[0].next_step.action == REMOVE_BUCKET and found[0].next_step.target == (
        "ceph-osd-a",
    )


def test_popeye_class_workload_checks() -> None:
    pods = [
        pod("kube-system", "kube-dns-1"), pod("ceph", "ceph-mon-1"),
        pod("default", "crash-1", "CrashLoopBackOff"), pod("default", "pull-1", "ImagePullBackOff"),
        pod("default", "pending-1", "Pending", node="<none>"), pod("default", "mount-1", "ContainerCreating"),
    ]  # fmt: skip
    dep = Deployment("default", "web", "0/2", 2, 0, "nginx", 0.0)
    svc = Service("default", "web", "NodePort", "10.0.0.1", (ServicePort(80, "TCP", 30080),), "80:30080/TCP", "app=web", 0.0)  # fmt: skip
    obs = replace(
        healthy(), kube=kube(pods=pods, deployments=[dep], services=[svc]),
        events=(event("default", "pending-1", "FailedScheduling", "0/3 nodes are available"),
                event("default", "mount-1", "FailedMount", 'secret "x" not found')),
        endpoints={("default", "web"): 0},
    )  # fmt: skip
    assert sorted(codes(obs)) == sorted([
        "kube.pod.CrashLoopBackOff", "kube.pod.ImagePullBackOff", "kube.pod.unschedulable",
        "kube.pod.mount", "kube.deployment-short", "kube.service-no-endpoints",
    ])  # fmt: skip


def test_order_is_worst_first_and_verdict_one_line_per_layer() -> None:
    found = diagnose(replace(lost_node(), ceph=None, ceph_error="down"))
    assert [x.severity for x in found] == sorted(
        (x.severity for x in found), key=["critical", "error", "warning"].index
    )
    assert ordered(reversed(found)) == found
    lines = verdict(found)
    assert lines["ceph"] == "Ceph does not answer"
    assert lines["fleet"].startswith("machine ") and lines["fleet"].endswith("(+1 more)")
    assert lines["kube"].startswith("node 127.0.1.2 is NotReady")


def test_findings_serialise_to_json() -> None:
    doc = diagnose(locked())[0].to_json()
    assert json.loads(json.dumps(doc))["next_step"]["target"][1] == "db"


def test_from_polls_gives_no_verdict_on_layers_still_connecting() -> None:
    k = kube()
    data: dict[str, object] = {"fleet": fleet(), "kube": replace(k, synced=False)}
    states = {
        "fleet": BackendStatus("fleet", "connected"),
        "ceph": BackendStatus("ceph", "unreachable", "no mons"),
    }
    obs = from_polls(data, states)
    assert obs.pending == frozenset({"kube"}) and obs.kube is None
    assert obs.ceph is None and obs.ceph_error == "no mons"
    assert codes(obs) == ["ceph.unreachable"]


def test_the_text_report_has_the_verdict_headline_and_one_block_per_finding() -> None:
    obs = locked()
    found = diagnose(obs)
    text = text_report(found)
    assert text.splitlines()[:3] == ["fleet       healthy", "kubernetes  healthy",
                                     "ceph        pod default/db-0 cannot mount rbd/db: the image is locked"]  # fmt: skip
    assert (
        "\nERROR ceph: image rbd/db\n" in text
        and "  run:   ceph osd blocklist add 127.0.0.1:0/3141" in text
    )
    assert exit_status(obs, found) == FINDINGS
