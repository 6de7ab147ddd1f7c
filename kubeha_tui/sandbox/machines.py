"""Each sandbox fleet machine answers SSH on its own address, as a stack node does: a real
OpenSSH sshd on its primary IP (127.0.1.x), port 22, with its own host key, one user key
for them all, and sessions whose ``systemctl status`` / ``journalctl -u`` answer for that
machine from the sandbox fleet server (systemd_shim.py).

What a client needs to reach them is written as OpenSSH client config, ``DIR/machines/
ssh_config`` (Port, User, IdentityFile, UserKnownHostsFile per machine), which both
``ssh -F`` and kubeha-tui (``--ssh-config``, ``$KUBEHA_SSH_CONFIG``) read.

Sessions log in as ``core`` when we are root and that account can take a key login;
otherwise as our own user (an sshd not run by root can switch to no other account).
A machine whose port 22 cannot be bound (not root, or taken, e.g. by a system sshd on
0.0.0.0:22) gets a free port instead, said in a note and written to the config.
"""

from __future__ import annotations

import http.client
import json
import os
import pwd
import shutil
import socket
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kubeha_tui.sandbox.procs import ProcRecord
from kubeha_tui.sandbox.sshd import Sshd, free_port, keygen

USER = "core"
DIR = "machines"
NO_LOGIN_SHELLS = ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/usr/bin/false")


@dataclass(frozen=True)
class Machines:
    """The machines' sshds as started: their records, the client config, the notes."""

    root: Path
    sshds: tuple[Sshd, ...]
    ssh_config: Path
    shared: Path  # what the session user reads; outside ``root`` when not ours
    user: str
    notes: tuple[str, ...]

    @property
    def records(self) -> list[ProcRecord]:
        return [s.record for s in self.sshds if s.record is not None]

    def env(self) -> dict[str, str]:
        return {"KUBEHA_SSH_CONFIG": str(self.ssh_config)}

    def by_ip(self, ip: str) -> Sshd:
        return next(s for s in self.sshds if s.address == ip)

    def close(self) -> None:
        """Stop every sshd with its sessions, and remove what was made outside ``root``."""
        for sshd in self.sshds:
            sshd.kill()
        if not self.shared.is_relative_to(self.root):
            shutil.rmtree(self.shared, ignore_errors=True)


def _password_field(user: str) -> str | None:
    try:
        lines = Path("/etc/shadow").read_text().splitlines()
    except OSError:
        return None
    return next((ln.split(":")[1] for ln in lines if ln.split(":")[0] == user), None)


def session_user() -> tuple[str, str | None]:
    """The account the machines' sessions log in as, and why when it is not ``core``."""
    me = pwd.getpwuid(os.geteuid()).pw_name
    if me == USER:
        return me, None
    if os.geteuid() != 0:
        return me, f"not root, so the machines' sshd log in only {me}, not {USER}"
    try:
        core = pwd.getpwnam(USER)
    except KeyError:
        return me, f"no user {USER} (scripts/bootstrap.sh makes it); sessions log in as {me}"
    if core.pw_shell in NO_LOGIN_SHELLS:
        return me, f"user {USER} has the shell {core.pw_shell}; sessions log in as {me}"
    if (_password_field(USER) or "").startswith("!"):
        return me, (
            f"user {USER} is locked ('!' password), which sshd without PAM refuses even to "
            f"keys (`usermod -p '*' {USER}` allows keys only); sessions log in as {me}"
        )
    return USER, None


def port_22_free(address: str) -> bool:
    """Whether sshd could listen on ``address:22`` now (root, and nobody else there)."""
    if os.geteuid() != 0:
        return False
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as sshd sets it
        try:
            s.bind((address, 22))
        except OSError:
            return False
    return True


def fleet_machines(fleet_socket: Path) -> list[tuple[str, str]]:
    """(machine id, primary IP) of every machine the fleet server has, over its socket."""

    class Unix(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.settimeout(5)
            self.sock.connect(str(fleet_socket))

    conn = Unix("fleet", timeout=5)
    try:
        conn.request("GET", "/fleet/v1/machines")
        doc = json.loads(conn.getresponse().read())
    finally:
        conn.close()
    found = [(m["id"], m["primaryIP"]) for m in doc.get("machines") or []]
    return sorted(found, key=lambda m: socket.inet_aton(m[1]))


def _shared_dir(root: Path, user: str) -> Path:
    """Where the session user reads authorized_keys and the shims: in ``root`` when the
    user is us, else a world-readable directory of its own in /tmp (``root``'s parents
    may be closed to others), holding nothing secret."""
    if user == pwd.getpwuid(os.geteuid()).pw_name:
        shared = root / "shared"
        shared.mkdir(exist_ok=True)
        return shared
    shared = Path(tempfile.mkdtemp(prefix="kubeha-sandbox-machines-", dir="/tmp"))
    shared.chmod(0o755)
    return shared


def ssh_config(sshds: Iterable[Sshd], user: str, identity: Path, known_hosts: Path) -> str:
    blocks = [f"Host {s.address}\n  Port {s.port}\n" for s in sshds]
    names = " ".join(s.address for s in sshds)
    common = (
        f"Host {names}\n  User {user}\n  IdentityFile {identity}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {known_hosts}\n"
    )
    head = "# The kubeha-tui sandbox's fleet machines (ssh -F THIS, kubeha-tui --ssh-config THIS)\n"
    return head + "".join(blocks) + common


def start_machines(
    root: Path, fleet_socket: Path, fleet_url: str, *, attached: bool, port: int | None = 22
) -> Machines:
    """An sshd for every machine of the fleet server, in ``root`` (``DIR/machines``).

    ``port`` is where they listen when they can (22, as on a stack node); None takes a
    free port for each, as does a machine whose port 22 cannot be bound. Keys are new
    each time: what an earlier run left in ``root`` is removed first."""
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    user, why = session_user()
    notes = [why] if why else []
    identity = keygen(root / "id_ed25519")
    shared = _shared_dir(root, user)
    sshds: list[Sshd] = []
    moved: list[str] = []
    try:
        for machine_id, ip in fleet_machines(fleet_socket):
            wanted = port if port is not None and (port != 22 or port_22_free(ip)) else 0
            env = {"SANDBOX_MACHINE_ID": machine_id, "SANDBOX_MACHINE_IP": ip,
                   "SANDBOX_FLEET_URL": fleet_url}  # fmt: skip
            machine_shared = shared / ip
            machine_shared.mkdir(exist_ok=True)
            sshd = Sshd(root / ip, wanted, env=env, address=ip, identity=identity,
                        shared=machine_shared, user=user)  # fmt: skip
            sshds.append(sshd)
            try:
                sshd.start(attached=attached)
            except RuntimeError:
                if wanted != 22:
                    raise
                sshd.port = free_port(ip)  # port 22 was taken since we looked
                sshd.start(attached=attached)
            if port == 22 and sshd.port != 22:
                moved.append(f"{ip}:{sshd.port}")
    except Exception:
        Machines(root, tuple(sshds), root, shared, user, ()).close()
        raise
    known_hosts = root / "known_hosts"
    known_hosts.write_text("".join(s.known_hosts_line() for s in sshds))
    config = root / "ssh_config"
    config.write_text(ssh_config(sshds, user, identity, known_hosts))
    if moved:
        reason = "we are not root" if os.geteuid() else "another sshd or sandbox listens there"
        notes.append(
            f"port 22 of the machines' addresses cannot be bound ({reason}): their sshd listen "
            f"on {', '.join(moved)} instead, as {config} says"
        )
    return Machines(root, tuple(sshds), config, shared, user, tuple(notes))
