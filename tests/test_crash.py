"""A crash or SIGTERM ends the process: terminal restored, threads stopped, the private
secret directory removed, the traceback logged, a non-zero exit. End to end, in tmux."""

from __future__ import annotations

import os
import shlex
import signal
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeha_tui.screens.app import TEST_CRASH_ENV

from .support.terminal import Terminal
from .support.waiting import wait_for

pytestmark = pytest.mark.tmux
EXE = str(Path(sys.executable).parent / "kubeha-tui")


@pytest.fixture
def terminal() -> Iterator[Terminal]:
    term = Terminal(f"kubeha-crash-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    yield term
    term.kill()


def start(terminal: Terminal, tmp_path: Path) -> tuple[int, Path]:
    """The TUI on backends that are all absent, with a secret directory of its own pid
    made as the Ceph screen's `k` makes one (the shell execs the TUI: same pid)."""
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    env = (f"TERM=xterm-256color XDG_RUNTIME_DIR={run} XDG_STATE_HOME={tmp_path}/state "
           f"{TEST_CRASH_ENV}=f12")  # fmt: skip
    tui = (f"{shlex.quote(EXE)} --fleet-endpoint http://127.0.0.1:9 "
           "--kube-server http://127.0.0.1:9 --ceph-conf /nonexistent/ceph.conf")  # fmt: skip
    script = (f"echo $$ > {tmp_path}/pid; mkdir -m 700 {run}/kubeha-ceph-$$-abc; "
              f"touch {run}/kubeha-ceph-$$-abc/ceph.client.admin.keyring; exec env {env} {tui}")  # fmt: skip
    terminal.start(f"sh -c {shlex.quote(script)}; echo EXIT=$?; sleep 600")
    terminal.wait_screen("Fleet units", "unreachable")
    pid = int((tmp_path / "pid").read_text())
    secret = run / f"kubeha-ceph-{pid}-abc"
    assert secret.is_dir()
    return pid, secret


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_crash_restores_the_terminal_removes_the_secret_and_exits_1(
    terminal: Terminal, tmp_path: Path
) -> None:
    pid, secret = start(terminal, tmp_path)
    terminal.keys("F12")
    screen = terminal.wait_screen("EXIT=1", timeout=30)
    assert f"kubeha-tui: crashed: RuntimeError: crash injected by {TEST_CRASH_ENV}" in screen
    assert "Fleet units" not in screen  # the TUI is gone from the terminal
    wait_for(lambda: gone(pid), timeout=10, what="the process gone")
    assert not secret.exists()
    log = tmp_path / "state" / "kubeha-tui" / "kubeha-tui.log"
    text = log.read_text()
    assert "CRITICAL kubeha_tui.screens.app: kubeha-tui crashed" in text
    assert "Traceback" in text and "RuntimeError: crash injected" in text
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700


def test_sigterm_ends_it_with_143_and_removes_the_secret(
    terminal: Terminal, tmp_path: Path
) -> None:
    pid, secret = start(terminal, tmp_path)
    os.kill(pid, signal.SIGTERM)
    terminal.wait_screen("EXIT=143", timeout=30)
    wait_for(lambda: gone(pid), timeout=10, what="the process gone")
    assert not secret.exists()


def test_what_a_killed_process_left_is_removed_at_the_next_start(
    terminal: Terminal, tmp_path: Path
) -> None:
    pid, secret = start(terminal, tmp_path)
    os.kill(pid, signal.SIGKILL)  # no cleanup can run
    terminal.wait_screen("EXIT=137", timeout=30)
    assert secret.exists()
    mine = secret.with_name(f"kubeha-ceph-{os.getpid()}-abc")  # a live process's: kept
    mine.mkdir(mode=0o700)
    start_again = (
        "from kubeha_tui.config import Settings; from kubeha_tui.services import build_services; "
        "build_services(Settings(fleet_endpoint='http://127.0.0.1:9', "
        "kube_server='http://127.0.0.1:9', ceph_conf='/nonexistent')).close()"
    )  # what the TUI does when it starts
    env = {**os.environ, "XDG_RUNTIME_DIR": str(secret.parent), "XDG_STATE_HOME": str(tmp_path)}
    subprocess.run([sys.executable, "-c", start_again], env=env, check=True, timeout=60)
    assert not secret.exists()
    assert mine.is_dir()
