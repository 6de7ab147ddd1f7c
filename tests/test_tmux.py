"""End to end: the installed ``kubeha-tui --sandbox`` in a real terminal (tmux).

The command is the one a user gets: the wheel installed in a fresh venv outside the
work tree (tests/support/wheel.py), not the editable development install.
"""

from __future__ import annotations

import os
import shlex
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeha_tui.sandbox.procs import processes_mentioning

from .support.terminal import Terminal
from .support.waiting import wait_for
from .support.wheel import installed_wheel

# The first test may build and install the wheel (minutes on a busy machine).
pytestmark = [pytest.mark.tmux, pytest.mark.ceph, pytest.mark.timeout(1200)]


@pytest.fixture(scope="session")
def exe(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The installed wheel's ``kubeha-tui`` (built once per session, shared with test_wheel)."""
    return str(installed_wheel(tmp_path_factory.getbasetemp() / "wheel").exe)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    # One server per test: a killed server may still hold its socket for a moment.
    term = Terminal(f"kubeha-test-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    yield term
    term.kill()


def test_sandbox_tui_switches_screens_and_leaves_nothing(
    terminal: Terminal, tmp_path: Path, exe: str
) -> None:
    env = f"TMPDIR={tmp_path} XDG_STATE_HOME={tmp_path}/state TERM=xterm-256color"
    command = f"env {env} {shlex.quote(exe)} --sandbox; echo EXIT=$?; sleep 600"
    terminal.tmux(
        "new-session", "-d", "-s", "tui", "-x", "80", "-y", "24", command
    )  # the smallest we support

    screen = terminal.wait_screen(
        "● ceph", "● fleet", "● kube", "Fleet units", "Pods", "Services",
        "pidalio-apiserver.service", "ceph-mon-", "kube-dns",
    )  # fmt: skip
    assert "1 Cluster" in screen.splitlines()[0]
    assert "f1 Help" in screen and "q Quit" in screen
    terminal.keys("3")
    screen = terminal.wait_screen("Pods", "Services", "Deployments", "Nodes", "READY", "Running")
    assert screen.count("ceph-mon-") == 3
    terminal.keys("l")  # the first pod's log
    terminal.wait_screen("log ceph/ceph-mon-", "started ceph/daemon")
    terminal.keys("Escape")
    wait_for(lambda: "log ceph/" not in terminal.screen(), what="log closed")
    terminal.keys("4")
    terminal.wait_screen("Images", "OSDs", "HEALTH_OK, 3 OSDs (3 up, 3 in)", "NAME", "LOCKERS")
    terminal.keys("2")
    screen = terminal.wait_screen(
        "Unit files", "UNIT", "MACHINE", "ACTIVE", "SUB", "active", "running"
    )
    assert screen.count("pidalio-node.service") == 3
    terminal.keys("F1")
    terminal.wait_screen("Help: Fleet", "Filter rows by text", "Stop the unit (fleetctl stop)")
    terminal.keys("Escape")
    wait_for(lambda: "Help: Fleet" not in terminal.screen(), what="help closed")
    terminal.keys("q")
    terminal.wait_screen("EXIT=0", timeout=30)

    assert processes_mentioning(f"{tmp_path}/kubeha-sandbox-") == []
    assert not list(tmp_path.glob("kubeha-sandbox-*"))


def test_closed_terminal_stops_the_sandbox(terminal: Terminal, tmp_path: Path, exe: str) -> None:
    """A hangup (ssh dropped, terminal closed) must not leave the cluster running."""
    command = f"env TMPDIR={tmp_path} XDG_STATE_HOME={tmp_path}/state {shlex.quote(exe)} --sandbox"
    terminal.tmux("new-session", "-d", "-s", "tui", "-x", "80", "-y", "24", command)
    terminal.wait_screen("● ceph", "● fleet")
    assert processes_mentioning(f"{tmp_path}/kubeha-sandbox-")
    terminal.tmux("kill-server")  # SIGHUP to the app
    wait_for(
        lambda: not processes_mentioning(f"{tmp_path}/kubeha-sandbox-"),
        timeout=30,
        what="sandbox stopped",
    )
    wait_for(
        lambda: not [p for p, cmd in processes_mentioning(exe) if "--sandbox" in cmd],
        timeout=10,
        what="app gone",
    )


def test_the_wizard_deploys_nginx_in_a_real_terminal(
    terminal: Terminal, tmp_path: Path, exe: str
) -> None:
    env = f"TMPDIR={tmp_path} XDG_STATE_HOME={tmp_path}/state TERM=xterm-256color"
    command = f"env {env} {shlex.quote(exe)} --sandbox --screen wizard; echo EXIT=$?; sleep 600"
    terminal.tmux("new-session", "-d", "-s", "tui", "-x", "80", "-y", "24", command)
    terminal.wait_screen("● kube", "● ceph", "nginx: a Deployment and a NodePort service")
    terminal.keys("Enter")  # nginx
    terminal.wait_screen("Namespace", "default", "Replicas", "Preview")
    terminal.keys("Enter")  # Enter in a field previews
    screen = terminal.wait_screen(
        "Kubernetes: create Deployment default/nginx", "apiVersion: apps/v1", "Apply"
    )
    assert "Kubernetes: create Service default/nginx" in screen
    terminal.keys("Enter")  # Apply has the focus
    screen = terminal.wait_screen("Done. The pod is running.", "http://127.0.1.1:")
    assert "creating Deployment default/nginx" in screen and "1 pod(s) running" in screen
    terminal.keys("q")
    terminal.wait_screen("EXIT=0", timeout=30)
