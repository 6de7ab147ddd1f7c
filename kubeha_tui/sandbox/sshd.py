"""A real OpenSSH sshd on 127.0.0.1 with throwaway host and user keys, for the
tests and benchmarks (the remote side of ``--ssh``)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from kubeha_tui.sandbox import fleetctl_shim, systemd_shim
from kubeha_tui.sandbox.procs import ProcRecord, proc_start_time, stop

SSHD = "/usr/sbin/sshd"


def keygen(path: Path, kind: str = "ed25519") -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "kubeha-test", "-f", str(path)], check=True
    )
    return path


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
    root: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    extra_config: str = ""
    env: dict[str, str] = field(default_factory=dict)  # more variables for the sessions
    host_key: Path = field(init=False)
    user_key: Path = field(init=False)
    known_hosts: Path = field(init=False)
    bin_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.host_key = keygen(self.root / "ssh_host_ed25519_key")
        self.user_key = keygen(self.root / "id_ed25519")
        shutil.copy(self.user_key.with_suffix(".pub"), self.root / "authorized_keys")
        if not self.port:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                self.port = s.getsockname()[1]
        self.known_hosts = self.root / "known_hosts"
        self.known_hosts.write_text(self.known_hosts_line())
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege-separation dir
        # Sessions find the sandbox's `fleetctl fd-forward` shim first on their PATH.
        self.bin_dir = fleetctl_shim.install(self.root / "bin").parent
        # ... and `systemctl status` / `journalctl` answering from the sandbox fleet.
        systemd_shim.install(self.bin_dir)

    def known_hosts_line(self, key: Path | None = None) -> str:
        kind, blob = (key or self.host_key.with_suffix(".pub")).read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {blob}\n"

    def fingerprint(self) -> str:
        out = subprocess.run(
            ["ssh-keygen", "-l", "-E", "sha256", "-f", str(self.host_key.with_suffix(".pub"))],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        return out.split()[1]

    def start(self) -> None:
        config = self.root / "sshd_config"
        config.write_text(
            f"""Port {self.port}
ListenAddress 127.0.0.1
HostKey {self.host_key}
PidFile {self.root}/sshd.pid
AuthorizedKeysFile {self.root}/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
AllowTcpForwarding yes
X11Forwarding no
PrintMotd no
MaxSessions 100
MaxStartups 100
LogLevel VERBOSE
SetEnv PATH={self.bin_dir}:/usr/local/bin:/usr/bin:/bin {" ".join(f"{k}={v}" for k, v in self.env.items())}
{self.extra_config}
"""
        )
        log = (self.root / "sshd.log").open("ab")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
        deadline = time.monotonic() + 10
        while not self._listening():
            if time.monotonic() > deadline:
                raise RuntimeError(f"sshd did not listen on port {self.port}")
            time.sleep(0.02)

    def _listening(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {(self.root / 'sshd.log').read_text()[-2000:]}")
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def kill(self) -> None:
        """Kill the listener and every live session, as a crashed or rebooted node would."""
        if self.proc is None:
            return
        pids = [self.proc.pid, *descendants(self.proc.pid)]
        records = [ProcRecord("sshd", p, proc_start_time(p) or -1) for p in pids]
        stop(records, timeout=5)
        self.proc.wait(timeout=5)
        self.proc = None
