"""``kubeha-tui sandbox break SCENARIO --dir DIR`` / ``sandbox heal --dir DIR``: stage the
stack's troubleshooting cases on a running sandbox, and undo them.

Talks to the sandbox's own servers only: fleet and Kubernetes over their HTTP APIs (plus
the fault files they watch, ``fleet-faults.json`` and ``kube-faults.json``), Ceph with
the rados/rbd bindings. What was staged is kept in ``DIR/scenarios.json`` for ``heal``.
Imports nothing from the product.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kubeha_tui.sandbox.launcher import STATE_FILE, read_state
from kubeha_tui.sandbox.procs import ProcRecord, is_running, proc_start_time, spawn, stop
from kubeha_tui.sandbox.sshd import SSHD, descendants

SCENARIOS = {
    "lost-node": "a machine and its OSDs die (its fleet heartbeat stops, its OSD daemon is killed, its node goes NotReady)",
    "locked-volume": "a client holding a kubelet lock on an RBD image is killed; a pod on that image waits with FailedMount",
    "apiserver-down": "the pidalio-apiserver unit fails and the Kubernetes API stops answering",
    "etcd-down": "fleet answers 503 (etcd unreachable)",
    "unit-failed": "pidalio-scheduler.service fails",
}  # fmt: skip
STAGED = "scenarios.json"
LOST_IP = "127.0.1.2"  # the fleet machine / Kubernetes node that lost-node takes down
LOCK_NODE = "127.0.1.2"  # the node whose kubelet took the lock that stayed
LOCK_IMAGE = "doctor-db"
POOL = "rbd"
WAIT = 60.0


class ScenarioError(RuntimeError):
    pass


# -- the sandbox's parts ------------------------------------------------------------


class _UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float = 10.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.path)


class Sandbox:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        state = read_state(self.root)
        if state is None:
            raise ScenarioError(
                f"no sandbox runs in {self.root} (start it: kubeha-tui sandbox up --dir {root})"
            )
        self.state = state
        self.conf = Path(state.env["CEPH_CONF"])
        doc = json.loads(Path(state.env["KUBECONFIG"]).read_text())
        self.kube_url = str(doc["clusters"][0]["cluster"]["server"])

    # fleet

    def fleet_machines(self) -> list[dict[str, Any]]:
        conn = _UnixHTTP(str(self.root / "fleet.sock"))
        try:
            conn.request("GET", "/fleet/v1/machines")
            reply = conn.getresponse()
            body = reply.read()
        finally:
            conn.close()
        if reply.status != 200:
            raise ScenarioError(f"the sandbox fleet answered {reply.status}: {body[:200]!r}")
        return list(json.loads(body).get("machines") or [])

    def faults(self, name: str) -> dict[str, Any]:
        path = self.root / name
        return dict(json.loads(path.read_text())) if path.exists() else {}

    def set_faults(self, name: str, doc: dict[str, Any]) -> None:
        path = self.root / name
        part = path.with_name(path.name + ".part")
        part.write_text(json.dumps(doc, indent=2) + "\n")
        part.replace(path)

    # Kubernetes

    def kube(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = ()) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.kube_url + path, data, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as reply:
                return json.loads(reply.read() or b"{}")
        except urllib.error.HTTPError as exc:
            if exc.code in ok:
                return None
            raise ScenarioError(
                f"Kubernetes {method} {path}: {exc.code} {exc.read()[:300]!r}"
            ) from None
        except OSError as exc:
            raise ScenarioError(f"Kubernetes {method} {path}: {exc}") from None

    def set_ready(self, node: str, ready: bool) -> None:
        obj = self.kube("GET", f"/api/v1/nodes/{node}")
        conditions = [c for c in obj["status"].get("conditions") or [] if c.get("type") != "Ready"]
        conditions.append(
            {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status"}
            if ready else
            {"type": "Ready", "status": "Unknown", "reason": "NodeStatusUnknown", "message": "Kubelet stopped posting node status."}
        )  # fmt: skip
        obj["status"]["conditions"] = conditions
        self.kube("PUT", f"/api/v1/nodes/{node}/status", obj)

    # Ceph

    @contextlib.contextmanager
    def ceph(self) -> Iterator[Any]:
        import rados  # noqa: PLC0415 - Debian's binding, needed only here

        cluster = rados.Rados(conffile=str(self.conf), rados_id="admin",
                              conf={"rados_mon_op_timeout": "10", "rados_osd_op_timeout": "10"})  # fmt: skip
        cluster.connect(timeout=10)
        try:
            yield cluster
        finally:
            cluster.shutdown()

    def mon(self, cluster: Any, cmd: dict[str, Any], ok: tuple[int, ...] = ()) -> Any:
        ret, out, errs = cluster.mon_command(json.dumps({**cmd, "format": "json"}), b"")
        if ret and ret not in ok:
            raise ScenarioError(f"ceph {cmd['prefix']}: {errs or os.strerror(-ret)}")
        if not out:
            return None
        doc, _ = json.JSONDecoder().raw_decode(out.decode())  # some commands add a text line
        return doc

    # processes

    def records(self) -> list[ProcRecord]:
        return list(self.state.records)

    def add_record(self, record: ProcRecord) -> None:
        path = self.root / STATE_FILE
        doc = json.loads(path.read_text())
        doc["records"] = [r for r in doc["records"] if r["name"] != record.name] + [
            record.to_json()
        ]
        path.write_text(json.dumps(doc, indent=2) + "\n")

    # staged scenarios

    def staged(self) -> dict[str, Any]:
        path = self.root / STAGED
        return dict(json.loads(path.read_text())) if path.exists() else {}

    def save(self, doc: dict[str, Any]) -> None:
        (self.root / STAGED).write_text(json.dumps(doc, indent=2) + "\n")


def wait_for(what: str, check: Any, timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise ScenarioError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def machine_id(sb: Sandbox, ip: str) -> str:
    for m in sb.fleet_machines():
        if m.get("primaryIP") == ip:
            return str(m["id"])
    raise ScenarioError(f"no fleet machine with IP {ip}")


# -- fleet-only scenarios ------------------------------------------------------------


def _fleet_fault(sb: Sandbox, **change: Any) -> None:
    doc = sb.faults("fleet-faults.json")
    for key, value in change.items():
        if key == "failed":
            doc["failed"] = [*doc.get("failed", []), *value]
        elif key == "gone":
            doc["gone"] = sorted({*doc.get("gone", []), *value})
        else:
            doc[key] = value
    sb.set_faults("fleet-faults.json", doc)


def fleet_status(sb: Sandbox) -> int:
    try:
        sb.fleet_machines()
    except ScenarioError as exc:
        return 503 if "503" in str(exc) else 500
    return 200


def break_etcd(sb: Sandbox) -> dict[str, Any]:
    _fleet_fault(sb, etcd_down=True)
    wait_for("fleet to answer 503", lambda: fleet_status(sb) == 503)
    return {}


def unit_failed(sb: Sandbox, unit: str) -> bool:
    conn = _UnixHTTP(str(sb.root / "fleet.sock"))
    try:
        conn.request("GET", f"/fleet/v1/state?unitName={unit}")
        states = json.loads(conn.getresponse().read()).get("states") or []
    finally:
        conn.close()
    return any(s.get("systemdActiveState") == "failed" for s in states)


def break_unit(sb: Sandbox, unit: str = "pidalio-scheduler.service") -> dict[str, Any]:
    _fleet_fault(sb, failed=[[unit, ""]])
    wait_for(f"{unit} to fail", lambda: unit_failed(sb, unit))
    return {"unit": unit}


def api_answers(sb: Sandbox) -> bool:
    try:
        urllib.request.urlopen(sb.kube_url + "/version", timeout=2).close()
    except OSError:
        return False
    return True


def break_apiserver(sb: Sandbox) -> dict[str, Any]:
    _fleet_fault(sb, failed=[["pidalio-apiserver.service", ""]])
    wait_for(
        "pidalio-apiserver.service to fail", lambda: unit_failed(sb, "pidalio-apiserver.service")
    )
    sb.set_faults("kube-faults.json", {"apiserver_down": True})

    wait_for("the Kubernetes API to stop answering", lambda: not api_answers(sb))
    return {}


# -- locked-volume ---------------------------------------------------------------------


def lockers_of(img: Any) -> list[tuple[str, str, str]]:
    found = img.list_lockers()  # [] when unlocked, else {"tag", "exclusive", "lockers"}
    return list(found.get("lockers", [])) if isinstance(found, dict) else []


def hold_lock(conf: str, pool: str, image: str, cookie: str) -> None:
    """The locking client (its own process): lock, say who we are, wait to be killed."""
    import rados  # noqa: PLC0415
    import rbd  # noqa: PLC0415

    cluster = rados.Rados(conffile=conf, rados_id="admin")
    cluster.connect(timeout=10)
    ioctx = cluster.open_ioctx(pool)
    img = rbd.Image(ioctx, image)
    img.lock_exclusive(cookie)
    print(f"locked client.{cluster.get_instance_id()}", flush=True)
    signal.pause()


def break_locked_volume(sb: Sandbox, node: str = LOCK_NODE) -> dict[str, Any]:
    import rbd  # noqa: PLC0415

    cookie = f"kubelet_lock_magic_{node}"
    with sb.ceph() as cluster, cluster.open_ioctx(POOL) as ioctx:
        if LOCK_IMAGE not in rbd.RBD().list(ioctx):
            rbd.RBD().create(ioctx, LOCK_IMAGE, 64 << 20, old_format=False, features=1)
    argv = [
        sys.executable,
        "-m",
        "kubeha_tui.sandbox.scenarios",
        "hold-lock",
        str(sb.conf),
        POOL,
        LOCK_IMAGE,
        cookie,
    ]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("locked "):
            raise ScenarioError(
                f"the locking client failed: {line or proc.stderr.read() if proc.stderr else ''}"
            )
    finally:
        proc.kill()  # the client dies holding its lock, as a kubelet on a dead node does
        proc.wait(10)
    client = line.split()[1]

    def unwatched() -> bool:
        with (
            sb.ceph() as cluster,
            cluster.open_ioctx(POOL) as ioctx,
            rbd.Image(ioctx, LOCK_IMAGE, read_only=True) as img,
        ):
            return not list(img.watchers_list())

    wait_for("the killed client's watch to time out", unwatched)
    volume = f"doctor-{LOCK_IMAGE}"
    sb.kube("POST", "/api/v1/persistentvolumes", {
        "metadata": {"name": volume},
        "spec": {"capacity": {"storage": "64Mi"}, "accessModes": ["ReadWriteOnce"], "persistentVolumeReclaimPolicy": "Retain",
                 "csi": {"driver": "rbd.csi.ceph.com", "volumeHandle": LOCK_IMAGE, "fsType": "ext4",
                         "volumeAttributes": {"pool": POOL, "staticVolume": "true", "imageFeatures": "layering"}}},
    }, ok=(409,))  # fmt: skip
    sb.kube("POST", "/api/v1/namespaces/default/persistentvolumeclaims", {
        "metadata": {"name": volume},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "64Mi"}},
                 "storageClassName": "", "volumeName": volume},
    }, ok=(409,))  # fmt: skip
    sb.kube("POST", "/api/v1/namespaces/default/pods", {
        "metadata": {"name": "db-0", "labels": {"app": "db"}},
        "spec": {"nodeName": "127.0.1.1", "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": volume}}],
                 "containers": [{"name": "db", "image": "mariadb:10", "volumeMounts": [{"name": "data", "mountPath": "/var/lib/mysql"}]}]},
    }, ok=(409,))  # fmt: skip

    def mount_failed() -> bool:
        doc = sb.kube(
            "GET", "/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Ddb-0"
        )
        return any(e.get("reason") == "FailedMount" for e in doc.get("items") or [])

    wait_for("the pod's FailedMount event", mount_failed)
    return {"client": client, "cookie": cookie, "volume": volume}


def heal_locked_volume(sb: Sandbox, staged: dict[str, Any]) -> None:
    import rbd  # noqa: PLC0415

    volume = staged.get("volume", f"doctor-{LOCK_IMAGE}")
    sb.kube("DELETE", "/api/v1/namespaces/default/pods/db-0", ok=(404,))
    sb.kube("DELETE", f"/api/v1/namespaces/default/persistentvolumeclaims/{volume}", ok=(404,))
    sb.kube("DELETE", f"/api/v1/persistentvolumes/{volume}", ok=(404,))
    with sb.ceph() as cluster, cluster.open_ioctx(POOL) as ioctx:
        if LOCK_IMAGE in rbd.RBD().list(ioctx):
            with rbd.Image(ioctx, LOCK_IMAGE) as img:
                for client, cookie, _addr in lockers_of(img):
                    img.break_lock(client, cookie)
            rbd.RBD().remove(ioctx, LOCK_IMAGE)
        for entry in sb.mon(cluster, {"prefix": "osd blocklist ls"}) or []:
            sb.mon(
                cluster,
                {"prefix": "osd blocklist", "blocklistop": "rm", "addr": entry["addr"]},
                ok=(-2,),
            )


# -- lost-node -------------------------------------------------------------------------


def break_lost_node(sb: Sandbox, ip: str = LOST_IP) -> dict[str, Any]:
    """The machine at ``ip`` dies with its OSD: the highest-numbered OSD that is up is put
    in a host bucket named after an OSD pod on that node (as the stack names them), then
    its daemon is killed; the machine stops heartbeating; its node goes NotReady."""
    mid = machine_id(sb, ip)
    pod = f"ceph-osd-{ip.replace('.', '-')}"
    sb.kube("POST", "/api/v1/namespaces/ceph/pods", {
        "metadata": {"name": pod, "labels": {"app": "ceph", "daemon": "osd"}},
        "spec": {"nodeName": ip, "containers": [{"name": "osd", "image": "ceph/daemon:tag-build-master-jewel-ubuntu-16.04"}]},
    }, ok=(409,))  # fmt: skip
    wait_for(f"pod ceph/{pod} to run", lambda: sb.kube("GET", f"/api/v1/namespaces/ceph/pods/{pod}")["status"].get("phase") == "Running")  # fmt: skip
    with sb.ceph() as cluster:
        tree = sb.mon(cluster, {"prefix": "osd tree"})
        up = sorted(
            n["id"] for n in tree["nodes"] if n.get("type") == "osd" and n.get("status") == "up"
        )
        host_of = {
            c: n["name"]
            for n in tree["nodes"]
            if n.get("type") == "host"
            for c in n.get("children", [])
        }
        if len(up) < 3:
            raise ScenarioError(f"lost-node needs 3 OSDs up to lose one safely; {len(up)} are")
        osd = up[-1]
        sb.mon(cluster, {"prefix": "osd crush add-bucket", "name": pod, "type": "host"}, ok=(-17,))
        sb.mon(cluster, {"prefix": "osd crush move", "name": pod, "args": ["root=default"]})
        weight = next(n["crush_weight"] for n in tree["nodes"] if n["id"] == osd)
        sb.mon(
            cluster,
            {"prefix": "osd crush set", "id": osd, "weight": weight, "args": [f"host={pod}"]},
        )
        record = next((r for r in sb.records() if r.name == f"osd.{osd}"), None)
        if record is not None and is_running(record):
            os.kill(record.pid, signal.SIGKILL)
        sb.mon(cluster, {"prefix": "osd down", "ids": [str(osd)]})
    sshd_name = stop_machine_sshd(sb, ip)
    _fleet_fault(sb, gone=[mid])
    wait_for(
        f"fleet to lose machine {ip}", lambda: all(m.get("id") != mid for m in sb.fleet_machines())
    )
    sb.set_ready(ip, False)
    return {
        "ip": ip,
        "machine": mid,
        "osd": osd,
        "host": pod,
        "from_host": host_of.get(osd, socket.gethostname()),
        "sshd": sshd_name,
    }


def _sshd_record(sb: Sandbox, ip: str) -> ProcRecord | None:
    """The machine's sshd, recorded as ``sshd ADDRESS`` or ``sshd [ADDRESS]:PORT``."""
    for record in sb.records():
        name = record.name.removeprefix("sshd ")
        if name != record.name and name.removeprefix("[").partition("]")[0] == ip:
            return record
    return None


def stop_machine_sshd(sb: Sandbox, ip: str) -> str | None:
    """The dead machine answers no SSH either: its sshd and its sessions are killed."""
    record = _sshd_record(sb, ip)
    if record is None or not is_running(record):
        return None
    pids = [record.pid, *descendants(record.pid)]
    stop([ProcRecord("sshd", p, proc_start_time(p) or -1) for p in pids], timeout=5)
    return record.name


def start_machine_sshd(sb: Sandbox, ip: str, name: str) -> None:
    home = sb.root / "machines" / ip
    argv = [SSHD, "-D", "-e", "-f", str(home / "sshd_config")]
    _, record = spawn(name, argv, home / "sshd.log", attached=False)
    sb.add_record(record)


def heal_lost_node(sb: Sandbox, staged: dict[str, Any]) -> list[str]:
    notes: list[str] = []
    sb.set_ready(staged.get("ip", LOST_IP), True)
    if "osd" not in staged:
        return ["lost-node was staged only halfway; its node is Ready again"]
    _ip, osd, host = staged["ip"], int(staged["osd"]), staged["host"]
    doc = sb.faults("fleet-faults.json")
    doc["gone"] = [m for m in doc.get("gone", []) if m != staged["machine"]]
    sb.set_faults("fleet-faults.json", doc)
    with sb.ceph() as cluster:
        tree = sb.mon(cluster, {"prefix": "osd tree"})
        if any(n["id"] == osd for n in tree["nodes"] if n.get("type") == "osd"):
            # Back in the machine's own host bucket, as the daemon puts itself on start.
            weight = next(n["crush_weight"] for n in tree["nodes"] if n["id"] == osd)
            args = [f"host={staged['from_host']}"]
            sb.mon(cluster, {"prefix": "osd crush set", "id": osd, "weight": weight, "args": args})
            _, record = spawn(
                f"osd.{osd}", ["ceph-osd", "-f", "-c", str(sb.conf), "-i", str(osd)],
                sb.conf.parent / "log" / f"osd.{osd}.out", attached=False,
            )  # fmt: skip
            sb.add_record(record)
            sb.mon(cluster, {"prefix": "osd in", "ids": [str(osd)]})
        else:
            notes.append(f"osd.{osd} was removed meanwhile; the cluster now runs without it")
        tree = sb.mon(cluster, {"prefix": "osd tree"})
        if any(
            n["name"] == host and not n.get("children")
            for n in tree["nodes"]
            if n.get("type") == "host"
        ):
            sb.mon(cluster, {"prefix": "osd crush remove", "name": host})
    sb.kube("DELETE", f"/api/v1/namespaces/ceph/pods/{host}", ok=(404,))
    if staged.get("sshd"):
        start_machine_sshd(sb, staged["ip"], staged["sshd"])
    return notes


# -- break and heal ------------------------------------------------------------------------


def break_scenario(root: Path, scenario: str) -> str:
    if scenario not in SCENARIOS:
        raise ScenarioError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    sb = Sandbox(root)
    staged = sb.staged()
    if scenario in staged:
        return f"{scenario} is already staged in {sb.root}"
    run = {
        "lost-node": break_lost_node, "locked-volume": break_locked_volume,
        "apiserver-down": break_apiserver, "etcd-down": break_etcd, "unit-failed": break_unit,
    }[scenario]  # fmt: skip
    staged[scenario] = {}  # recorded first: heal also undoes a break that failed halfway
    sb.save(staged)
    staged[scenario] = run(sb)
    sb.save(staged)
    return f"staged {scenario}: {SCENARIOS[scenario]}; `kubeha-tui doctor` or the Doctor screen (6) should find it; undo with: kubeha-tui sandbox heal --dir {root}"


def heal(root: Path) -> list[str]:
    sb = Sandbox(root)
    staged = sb.staged()
    notes = []
    if "locked-volume" in staged:
        heal_locked_volume(sb, staged["locked-volume"])
    if "lost-node" in staged:
        notes += heal_lost_node(sb, staged["lost-node"])
    sb.set_faults("fleet-faults.json", {})
    sb.set_faults("kube-faults.json", {})
    wait_for("fleet to answer again", lambda: fleet_status(sb) == 200)
    wait_for("the Kubernetes API to answer again", lambda: api_answers(sb))
    (sb.root / STAGED).unlink(missing_ok=True)
    return [f"healed: {', '.join(staged) or 'nothing was staged'}", *notes]


if __name__ == "__main__" and sys.argv[1:2] == ["hold-lock"]:
    hold_lock(*sys.argv[2:6])
