"""A real OpenSSH sshd with throwaway host and user keys: the remote side of ``--ssh``
in the tests and benchmarks (127.0.0.1, a free port), and each sandbox fleet machine's
own sshd on its address (machines.py)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from kubeha_tui.sandbox import fleetctl_shim, systemd_shim
from kubeha_tui.sandbox.procs import ProcRecord, proc_start_time, spawn, stop

SSHD = "/usr/sbin/sshd"


def keygen(path: Path, kind: str = "ed25519") -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "kubeha-test", "-f", str(path)], check=True
    )
    return path


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        port: int = s.getsockname()[1]
        return port


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (sshd's per-connection children call setsid)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@dataclass
class Sshd:
    """One sshd on ``address:port`` (a free port when 0).

    ``identity`` is a user key shared with other sshds (one is made in ``root`` when
    None). ``shared`` holds what the session user must read (authorized_keys and the
    sessions' ``bin``); it defaults to ``root``, which only the sshd's own user may
    need to read. ``user`` limits logins to that account."""

    root: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    extra_config: str = ""
    env: dict[str, str] = field(default_factory=dict)  # more variables for the sessions
    address: str = "127.0.0.1"
    identity: Path | None = None
    shared: Path | None = None
    user: str | None = None
    host_key: Path = field(init=False)
    user_key: Path = field(init=False)
    known_hosts: Path = field(init=False)
    bin_dir: Path = field(init=False)
    record: ProcRecord | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        shared = self.shared or self.root
        self.host_key = keygen(self.root / "ssh_host_ed25519_key")
        self.user_key = self.identity or keygen(self.root / "id_ed25519")
        shutil.copy(self.user_key.with_suffix(".pub"), shared / "authorized_keys")
        self.port = self.port or free_port(self.address)
        self.known_hosts = self.root / "known_hosts"
        self.known_hosts.write_text(self.known_hosts_line())
        if os.geteuid() == 0:  # sshd run by root wants its privilege-separation dir
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        # Sessions find the sandbox's `fleetctl fd-forward` shim first on their PATH ...
        self.bin_dir = fleetctl_shim.install(shared / "bin").parent
        # ... and `systemctl status` / `journalctl` answering from the sandbox fleet.
        systemd_shim.install(self.bin_dir)

    @property
    def host_name(self) -> str:
        """The host as known_hosts and ssh name it: ``[address]:port`` unless port 22."""
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"

    def known_hosts_line(self, key: Path | None = None) -> str:
        kind, blob = (key or self.host_key.with_suffix(".pub")).read_text().split()[:2]
        return f"{self.host_name} {kind} {blob}\n"

    def fingerprint(self) -> str:
        out = subprocess.run(
            ["ssh-keygen", "-l", "-E", "sha256", "-f", str(self.host_key.with_suffix(".pub"))],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        return out.split()[1]

    def start(self, *, attached: bool = True) -> ProcRecord:
        """Start listening; ``attached`` (see procs.spawn) ties it to this process's life."""
        shared = self.shared or self.root
        config = self.root / "sshd_config"
        env = " ".join(f"{k}={v}" for k, v in self.env.items())
        config.write_text(
            f"""Port {self.port}
ListenAddress {self.address}
HostKey {self.host_key}
PidFile {self.root}/sshd.pid
AuthorizedKeysFile {shared}/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
AllowTcpForwarding yes
X11Forwarding no
PrintMotd no
PrintLastLog no
MaxSessions 100
MaxStartups 100
LogLevel VERBOSE
SetEnv PATH={self.bin_dir}:/usr/local/bin:/usr/bin:/bin {env}
{f"AllowUsers {self.user}" if self.user else ""}
{self.extra_config}
"""
        )
        argv = [SSHD, "-D", "-e", "-f", str(config)]
        self.proc, self.record = spawn(
            f"sshd {self.host_name}", argv, self.root / "sshd.log", attached=attached
        )
        deadline = time.monotonic() + 10
        while not self._listening():
            if time.monotonic() > deadline:
                raise RuntimeError(f"sshd did not listen on {self.address} port {self.port}")
            time.sleep(0.02)
        return self.record

    def _listening(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {(self.root / 'sshd.log').read_text()[-2000:]}")
        with socket.socket() as s:
            return s.connect_ex((self.address, self.port)) == 0

    def kill(self) -> None:
        """Kill the listener and every live session, as a crashed or rebooted node would."""
        if self.proc is None:
            return
        pids = [self.proc.pid, *descendants(self.proc.pid)]
        records = [ProcRecord("sshd", p, proc_start_time(p) or -1) for p in pids]
        stop(records, timeout=5)
        self.proc.wait(timeout=5)
        self.proc = None
