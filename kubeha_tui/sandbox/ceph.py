"""A real, throwaway Ceph cluster: one mon, one mgr and memstore OSDs on
127.0.0.1 with cephx, in its own directory and on its own ports.

Recipe and settings: shared/reference/ceph-ops.md. It reaches HEALTH_OK with
every PG active+clean in a few seconds; data lives in RAM.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubeha_tui.sandbox.procs import ProcRecord, spawn

MGR_MODULES = [
    "balancer",
    "crash",
    "devicehealth",
    "orchestrator",
    "pg_autoscaler",
    "progress",
    "rbd_support",
    "status",
    "telemetry",
    "volumes",
    "iostat",
]
MGR_MODULE_SRC = Path("/usr/share/ceph/mgr")
RBD_POOL = "rbd"


class CephSandboxError(RuntimeError):
    pass


def gen_key() -> str:
    """A cephx secret as ceph-authtool --gen-print-key makes it (CryptoKey encoding)."""
    now = int(time.time())
    return base64.b64encode(struct.pack("<HIIH", 1, now, 0, 16) + os.urandom(16)).decode()


def _keyring(entity: str, key: str, caps: dict[str, str]) -> str:
    lines = [f"[{entity}]", f"\tkey = {key}"]
    lines += [f'\tcaps {svc} = "{cap}"' for svc, cap in caps.items()]
    return "\n".join(lines) + "\n"


def free_port_range(count: int) -> int:
    """The first port of ``count`` consecutive free ports on 127.0.0.1."""
    rng = int.from_bytes(os.urandom(2), "little")
    for attempt in range(200):
        base = 20000 + (rng + attempt * 137) % 35000
        socks = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise CephSandboxError("no free port range on 127.0.0.1")


@dataclass
class CephSandbox:
    """Lay out and run the cluster in ``root``. ``attached`` ties the daemons to this process."""

    root: Path
    osds: int = 3
    attached: bool = True
    osd_bytes: int = 512 * 1024 * 1024
    records: list[ProcRecord] = field(default_factory=list)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    fsid: str = ""

    @property
    def conf(self) -> Path:
        return self.root / "ceph.conf"

    @property
    def admin_keyring(self) -> Path:
        return self.root / "ceph.client.admin.keyring"

    def env(self) -> dict[str, str]:
        return {"CEPH_CONF": str(self.conf)}

    # -- lay-out -------------------------------------------------------------

    def _write_conf(self, base_port: int) -> None:
        r = self.root
        mon_addr = f"[v2:127.0.0.1:{base_port}],[v1:127.0.0.1:{base_port + 1}]"
        self.conf.write_text(
            f"""[global]
fsid = {self.fsid}
mon host = {mon_addr}
public addr = 127.0.0.1
ms bind ipv6 = false
ms bind port min = {base_port + 2}
ms bind port max = {base_port + 99}
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
run dir = {r}/run
pid file = {r}/run/$name.pid
log file = {r}/log/$name.log
log to stderr = false
err to stderr = true
osd pool default size = 2
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 1
mon data avail crit = 0
mon osd min down reporters = 1
mon osd reporter subtree level = osd
osd heartbeat grace = 5
osd heartbeat interval = 1

[mon]
admin socket = {r}/run/$name.asok
mon data = {r}/mon/ceph-$id
paxos propose interval = 0.05
paxos min wait = 0.01

[mgr]
admin socket = {r}/run/$name.asok
mgr data = {r}/mgr/ceph-$id
mgr module path = {r}/mgr-modules
keyring = {r}/mgr/ceph-$id/keyring

[osd]
admin socket = {r}/run/$name.asok
osd objectstore = memstore
memstore device bytes = {self.osd_bytes}
osd data = {r}/osd/ceph-$id
keyring = {r}/osd/ceph-$id/keyring
osd recovery sleep hdd = 0
osd client watch timeout = 5

[client.admin]
keyring = {self.admin_keyring}
"""
        )

    def _write_keys(self) -> str:
        admin, mgr = gen_key(), gen_key()
        all_caps = {"mon": "allow *", "osd": "allow *", "mgr": "allow *", "mds": "allow *"}
        self.admin_keyring.write_text(_keyring("client.admin", admin, all_caps))
        self.admin_keyring.chmod(0o600)
        mgr_caps = {"mon": "allow profile mgr", "osd": "allow *", "mds": "allow *"}
        (self.root / "mgr/ceph-x").mkdir(parents=True)
        (self.root / "mgr/ceph-x/keyring").write_text(_keyring("mgr.x", mgr, mgr_caps))
        mon_keyring = self.root / "mon.keyring"
        mon_keyring.write_text(
            _keyring("mon.", gen_key(), {"mon": "allow *"})
            + _keyring("client.admin", admin, all_caps)
            + _keyring("mgr.x", mgr, mgr_caps)
        )
        return str(mon_keyring)

    def _mgr_modules(self) -> None:
        dst = self.root / "mgr-modules"
        dst.mkdir()
        for entry in MGR_MODULE_SRC.iterdir():
            if entry.is_file() or entry.name in MGR_MODULES:
                (dst / entry.name).symlink_to(entry)

    def _run(self, *argv: str) -> None:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode:
            raise CephSandboxError(
                f"{' '.join(argv)} failed: {done.stderr.strip() or done.stdout.strip()}"
            )

    def start_daemon(self, name: str, *argv: str) -> None:
        """Start (or restart) one daemon of this cluster, recorded like the others."""
        proc, rec = spawn(name, argv, self.root / "log" / f"{name}.out", attached=self.attached)
        self.procs[name] = proc
        self.records.append(rec)

    # -- start ---------------------------------------------------------------

    def start(self, timeout: float = 90.0) -> None:
        for tool in ("ceph-mon", "ceph-mgr", "ceph-osd", "monmaptool"):
            if not shutil.which(tool):
                raise CephSandboxError(
                    f"{tool} not found: install ceph-mon ceph-mgr ceph-osd (make install)"
                )
        self.root.mkdir(parents=True, exist_ok=True)
        for sub in ("run", "log", "mon"):
            (self.root / sub).mkdir(exist_ok=True)
        self.fsid = str(uuid.uuid4())
        base = free_port_range(100)
        self._write_conf(base)
        mon_keyring = self._write_keys()
        self._mgr_modules()
        monmap = str(self.root / "monmap")
        self._run(
            "monmaptool", "--create", "--fsid", self.fsid, "--addv", "a",
            f"[v2:127.0.0.1:{base},v1:127.0.0.1:{base + 1}]", monmap,
        )  # fmt: skip
        conf = str(self.conf)
        self._run(
            "ceph-mon",
            "-c",
            conf,
            "--mkfs",
            "-i",
            "a",
            "--monmap",
            monmap,
            "--keyring",
            mon_keyring,
        )
        self.start_daemon("mon.a", "ceph-mon", "-f", "-c", conf, "-i", "a")
        self.start_daemon("mgr.x", "ceph-mgr", "-f", "-c", conf, "-i", "x")
        deadline = time.monotonic() + timeout
        cluster = self.connect()
        try:
            for _ in range(self.osds):
                self.add_osd(cluster)
            self._command(
                cluster, {"prefix": "osd pool create", "pool": "device_health_metrics", "pg_num": 1}
            )
            self._command(cluster, {"prefix": "osd pool create", "pool": RBD_POOL, "pg_num": 8})
            import rbd  # noqa: PLC0415 - Debian's binding, optional for the rest of the app

            with cluster.open_ioctx(RBD_POOL) as ioctx:
                rbd.RBD().pool_init(ioctx, True)
            self.wait_healthy(cluster, deadline - time.monotonic())
        finally:
            cluster.shutdown()

    def connect(self, timeout: int = 10) -> Any:
        import rados  # noqa: PLC0415

        cluster = rados.Rados(
            conffile=str(self.conf),
            rados_id="admin",
            conf={
                "rados_mon_op_timeout": str(timeout),
                "rados_osd_op_timeout": str(timeout),
                "client_mount_timeout": str(timeout),
            },
        )
        cluster.connect(timeout=timeout)
        return cluster

    def _command(self, cluster: Any, cmd: dict[str, Any], inbuf: bytes = b"") -> str:
        ret, out, errs = cluster.mon_command(json.dumps(cmd), inbuf)
        if ret:
            raise CephSandboxError(f"{cmd['prefix']}: {errs or os.strerror(-ret)}")
        return str(out.decode() if out else errs)

    def add_osd(self, cluster: Any) -> int:
        osd_uuid, secret = str(uuid.uuid4()), gen_key()
        out = self._command(
            cluster,
            {"prefix": "osd new", "uuid": osd_uuid, "format": "json"},
            json.dumps({"cephx_secret": secret}).encode(),
        )
        osd_id = int(json.loads(out)["osdid"])
        data = self.root / "osd" / f"ceph-{osd_id}"
        data.mkdir(parents=True)
        (data / "keyring").write_text(_keyring(f"osd.{osd_id}", secret, {}))
        conf = str(self.conf)
        self._run("ceph-osd", "-c", conf, "-i", str(osd_id), "--mkfs", "--osd-uuid", osd_uuid)
        self.start_daemon(f"osd.{osd_id}", "ceph-osd", "-f", "-c", conf, "-i", str(osd_id))
        return osd_id

    def wait_healthy(self, cluster: Any, timeout: float) -> None:
        """Until HEALTH_OK with every PG active+clean, or CephSandboxError."""
        deadline = time.monotonic() + max(timeout, 1)
        last = ""
        while time.monotonic() < deadline:
            status = json.loads(self._command(cluster, {"prefix": "status", "format": "json"}))
            pgs = status["pgmap"]
            clean = sum(
                s["count"] for s in pgs.get("pgs_by_state", []) if s["state_name"] == "active+clean"
            )
            health = status["health"]["status"]
            last = f"{health}, {clean}/{pgs['num_pgs']} PGs active+clean, checks: {list(status['health']['checks'])}"
            if health == "HEALTH_OK" and pgs["num_pgs"] and clean == pgs["num_pgs"]:
                return
            time.sleep(0.2)
        raise CephSandboxError(f"cluster not healthy after {timeout:.0f}s: {last}")
