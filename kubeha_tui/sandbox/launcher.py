"""``kubeha-tui sandbox up|down``: start and stop a local cluster in a directory.

The state file ``DIR/sandbox.json`` records every process started (pid and
kernel start time) and the environment lines to use it, so ``down`` stops
exactly those processes and nothing else. Components: the fleet API server
(with a ``fleetctl fd-forward`` shim in ``DIR/bin``) and the Ceph cluster; the
Kubernetes API server plugs in here next to them.
"""

from __future__ import annotations

import json
import shlex
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from kubeha_tui.sandbox import fleetctl_shim
from kubeha_tui.sandbox.ceph import CephSandbox
from kubeha_tui.sandbox.procs import ProcRecord, is_running, spawn, stop

STATE_FILE = "sandbox.json"


class SandboxError(RuntimeError):
    pass


@dataclass(frozen=True)
class SandboxState:
    root: Path
    records: tuple[ProcRecord, ...]
    env: dict[str, str]

    def shell_lines(self) -> str:
        """``NAME=value; export NAME`` lines, as ssh-agent prints them, for ``eval``."""
        return "".join(f"{k}={shlex.quote(v)}; export {k};\n" for k, v in self.env.items())

    def running(self) -> list[ProcRecord]:
        return [r for r in self.records if is_running(r)]


def read_state(root: Path) -> SandboxState | None:
    path = root / STATE_FILE
    if not path.exists():
        return None
    doc = json.loads(path.read_text())
    records = tuple(ProcRecord(**r) for r in doc["records"])
    return SandboxState(root, records, dict(doc["env"]))


def start_fleet(root: Path, *, attached: bool) -> tuple[ProcRecord, dict[str, str]]:
    """The sandbox fleet API server as its own process, and the node's `fleetctl` shim."""
    sock = root / "fleet.sock"
    fleetctl_shim.install(root / "bin")
    _, record = spawn(
        "fleet",
        [sys.executable, "-m", "kubeha_tui.sandbox.fleet_server", "--socket", str(sock)],
        root / "fleet.log",
        attached=attached,
    )
    deadline = time.monotonic() + 15
    while not _answers(sock):
        if not is_running(record) or time.monotonic() > deadline:
            raise SandboxError(f"the sandbox fleet server did not start; see {root / 'fleet.log'}")
        time.sleep(0.05)
    return record, {"FLEETCTL_ENDPOINT": f"unix://{sock}"}


def start_kube(
    root: Path, ceph: CephSandbox, *, attached: bool
) -> tuple[ProcRecord, dict[str, str]]:
    """The sandbox Kubernetes API (its own process), checking RBD images in the sandbox Ceph."""
    kubeconfig = root / "kubeconfig"
    kubeconfig.unlink(missing_ok=True)
    argv = [sys.executable, "-m", "kubeha_tui.sandbox.kube.cluster", "--kubeconfig", str(kubeconfig),
            "--ceph-conf", str(ceph.conf), "--keyring", str(ceph.admin_keyring)]  # fmt: skip
    _, record = spawn("kube", argv, root / "kube.log", attached=attached)
    deadline = time.monotonic() + 15
    while not kubeconfig.exists():
        if not is_running(record) or time.monotonic() > deadline:
            raise SandboxError(f"the sandbox Kubernetes API did not start; see {root / 'kube.log'}")
        time.sleep(0.05)
    return record, {"KUBECONFIG": str(kubeconfig)}


def _answers(sock: Path) -> bool:
    with socket.socket(socket.AF_UNIX) as s:
        return s.connect_ex(str(sock)) == 0


def up(root: Path, *, attached: bool) -> SandboxState:
    """Start the sandbox in ``root``; when it already runs there, return its state."""
    root = root.resolve()
    state = read_state(root)
    if state is not None:
        if len(state.running()) == len(state.records):
            return state
        down(root)
    root.mkdir(parents=True, exist_ok=True)
    records: list[ProcRecord] = []
    env: dict[str, str] = {}
    try:
        record, fleet_env = start_fleet(root, attached=attached)
        records.append(record)
        env.update(fleet_env)
        ceph = CephSandbox(root / "ceph", attached=attached)
        try:
            ceph.start()
        finally:
            records += ceph.records
        env.update(ceph.env())
        record, kube_env = start_kube(root, ceph, attached=attached)
        records.append(record)
        env.update(kube_env)
    except Exception:
        stop(records)
        raise
    state = SandboxState(root, tuple(records), env)
    doc = {"records": [r.to_json() for r in state.records], "env": state.env}
    (root / STATE_FILE).write_text(json.dumps(doc, indent=2) + "\n")
    return state


def down(root: Path) -> list[str]:
    """Stop the sandbox's own processes; returns those that needed SIGKILL."""
    root = root.resolve()
    state = read_state(root)
    if state is None:
        raise SandboxError(f"no sandbox in {root} (no {STATE_FILE})")
    killed = stop(state.records)
    (root / STATE_FILE).unlink()
    return killed
