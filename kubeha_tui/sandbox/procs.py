"""Child processes of the sandbox: started with a record that lets us stop
exactly them later (pid plus kernel start time), and optionally tied to our
own life with a parent-death signal so nothing outlives a killed run."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class ProcRecord:
    name: str
    pid: int
    start_time: int  # field 22 of /proc/PID/stat: tells a reused pid apart

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def proc_start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def is_running(rec: ProcRecord) -> bool:
    """True while the recorded process (not merely its pid) is alive and not a zombie."""
    if proc_start_time(rec.pid) != rec.start_time:
        return False
    try:
        state = Path(f"/proc/{rec.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    # The parent may already have died between fork and prctl.
    if os.getppid() == 1:
        os._exit(1)


def spawn(
    name: str, argv: Sequence[str], log: Path, *, attached: bool, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], ProcRecord]:
    """Start ``argv`` with stdout/stderr to ``log``.

    ``attached`` processes get SIGKILL when the process that spawned them dies
    (from the main thread); detached ones start their own session and outlive us.
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=not attached,
            preexec_fn=_die_with_parent if attached else None,  # noqa: PLW1509
        )
    start = None
    for _ in range(100):
        start = proc_start_time(proc.pid)
        if start is not None:
            break
        time.sleep(0.001)
    return proc, ProcRecord(name, proc.pid, start or 0)


def stop(records: Iterable[ProcRecord], timeout: float = 5.0) -> list[str]:
    """Stop the recorded processes that still run, in reverse start order.

    Clients go before the servers they report to (OSDs before the mon), so each
    exits at once instead of waiting for a server that is gone. Each gets
    SIGTERM, then SIGKILL after ``timeout``. Returns the names that needed SIGKILL.
    """
    killed = []
    for rec in reversed(list(records)):
        if not is_running(rec):
            _reap([rec])
            continue
        _signal(rec, signal.SIGTERM)
        if not _wait_gone(rec, timeout):
            _signal(rec, signal.SIGKILL)
            killed.append(rec.name)
            _wait_gone(rec, 5.0)
    return killed


def _wait_gone(rec: ProcRecord, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        _reap([rec])
        if not is_running(rec):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)


def _signal(rec: ProcRecord, sig: int) -> None:
    if is_running(rec):
        with contextlib.suppress(ProcessLookupError):
            os.kill(rec.pid, sig)


def _reap(records: Iterable[ProcRecord]) -> None:
    """Collect our own exited children so they do not linger as zombies."""
    for rec in records:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(rec.pid, os.WNOHANG)


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """(pid, command line) of every live process whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd and is_running(
            ProcRecord("", int(entry.name), proc_start_time(int(entry.name)) or -1)
        ):
            found.append((int(entry.name), cmd.strip()))
    return found
