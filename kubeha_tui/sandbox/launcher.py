"""``kubeha-tui sandbox up|down``: start and stop a local cluster in a directory.

The state file ``DIR/sandbox.json`` records every process started (pid and
kernel start time) and the environment lines to use it, so ``down`` stops
exactly those processes and nothing else, and removes the directories it made
outside ``DIR``. Components: the fleet API server (with a ``fleetctl fd-forward`` shim
in ``DIR/bin``), an sshd on each fleet machine's address (machines.py), the Ceph
cluster and the Kubernetes API server.
"""

from __future__ import annotations

import json
import shlex
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from kubeha_tui.sandbox import fleetctl_shim
from kubeha_tui.sandbox.ceph import CephSandbox
from kubeha_tui.sandbox.machines import start_machines
from kubeha_tui.sandbox.procs import ProcRecord, is_running, spawn, stop
from kubeha_tui.sandbox.sshd import free_port

STATE_FILE = "sandbox.json"


class SandboxError(RuntimeError):
    pass


@dataclass(frozen=True)
class SandboxState:
    root: Path
    records: tuple[ProcRecord, ...]
    env: dict[str, str]
    paths: tuple[str, ...] = ()  # directories made outside root, removed by down()
    notes: tuple[str, ...] = ()  # what differs from a stack node, and why

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
    paths, notes = tuple(doc.get("paths", ())), tuple(doc.get("notes", ()))
    return SandboxState(root, records, dict(doc["env"]), paths, notes)


def start_fleet(root: Path, *, attached: bool) -> tuple[ProcRecord, dict[str, str], str]:
    """The sandbox fleet API server as its own process, and the node's `fleetctl` shim.

    It also answers on 127.0.0.1 (the URL returned), for the machines' sessions: they may
    run as another user, to whom ``root`` (and its socket) is closed."""
    sock = root / "fleet.sock"
    fleetctl_shim.install(root / "bin")
    tcp = f"127.0.0.1:{free_port()}"
    _, record = spawn(
        "fleet",
        [sys.executable, "-m", "kubeha_tui.sandbox.fleet_server", "--socket", str(sock),
         "--tcp", tcp],
        root / "fleet.log",
        attached=attached,
    )  # fmt: skip
    deadline = time.monotonic() + 15
    while not _answers(sock):
        if not is_running(record) or time.monotonic() > deadline:
            raise SandboxError(f"the sandbox fleet server did not start; see {root / 'fleet.log'}")
        time.sleep(0.05)
    return record, {"FLEETCTL_ENDPOINT": f"unix://{sock}"}, f"http://{tcp}"


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


def up(root: Path, *, attached: bool, machine_port: int | None = 22) -> SandboxState:
    """Start the sandbox in ``root``; when it already runs there, return its state.

    The machines' sshd listen on ``machine_port`` where they can (None: free ports).
    What differs from a stack node is printed on stderr and kept in the state's notes."""
    root = root.resolve()
    state = read_state(root)
    if state is not None:
        if len(state.running()) == len(state.records):
            return state
        down(root)
    root.mkdir(parents=True, exist_ok=True)
    records: list[ProcRecord] = []
    env: dict[str, str] = {}
    paths: list[str] = []
    notes: list[str] = []
    try:
        record, fleet_env, fleet_url = start_fleet(root, attached=attached)
        records.append(record)
        env.update(fleet_env)
        try:
            machines = start_machines(root / "machines", root / "fleet.sock", fleet_url,
                                      attached=attached, port=machine_port)  # fmt: skip
        except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
            # The rest of the sandbox is still worth having: only status and journal fail.
            notes.append(f"the fleet machines answer no SSH, their sshd did not start: {exc}")
        else:
            records += machines.records
            if not machines.shared.is_relative_to(root):
                paths.append(str(machines.shared))
            env.update(machines.env())
            notes += machines.notes
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
        _remove(paths)
        raise
    state = SandboxState(root, tuple(records), env, tuple(paths), tuple(notes))
    doc = {"records": [r.to_json() for r in state.records], "env": state.env,
           "paths": paths, "notes": notes}  # fmt: skip
    (root / STATE_FILE).write_text(json.dumps(doc, indent=2) + "\n")
    for note in notes:
        print(f"kubeha-tui sandbox: {note}", file=sys.stderr)
    return state


def _remove(paths: list[str] | tuple[str, ...]) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)


def down(root: Path) -> list[str]:
    """Stop the sandbox's own processes; returns those that needed SIGKILL."""
    root = root.resolve()
    state = read_state(root)
    if state is None:
        raise SandboxError(f"no sandbox in {root} (no {STATE_FILE})")
    killed = stop(state.records)
    _remove(state.paths)
    (root / STATE_FILE).unlink()
    return killed
