"""``systemctl status -l UNIT`` and ``journalctl --unit UNIT ...`` for a sandbox machine,
answered from the sandbox fleet server's state for that machine (what its systemd
would say), so the commands ``fleetctl status|journal`` run over SSH have answers.

The machine is ``SANDBOX_MACHINE_ID`` (``SANDBOX_MACHINE_IP`` names it in the journal);
fleet is ``SANDBOX_FLEET_URL`` (``http://HOST:PORT``) or the unix socket
``SANDBOX_FLEET_SOCKET``. Exit codes follow systemctl: 0 active, 3 not active, 4 no such
unit. It needs only the standard library: it runs as a script, by whichever account the
session logs in as (``core`` on the machines), without the project on its path.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("domain-sock", timeout=5)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(5)
        self.sock.connect(self.path)


def _connection() -> http.client.HTTPConnection:
    url = urlsplit(os.environ.get("SANDBOX_FLEET_URL", ""))
    if url.hostname:
        return http.client.HTTPConnection(url.hostname, url.port or 80, timeout=5)
    return _UnixConnection(os.environ.get("SANDBOX_FLEET_SOCKET", "/var/run/fleet.sock"))


def _get(path: str) -> Any:
    conn = _connection()
    try:
        conn.request("GET", path)
        reply = conn.getresponse()
        body = reply.read()
        return json.loads(body) if reply.status == 200 and body else None
    finally:
        conn.close()


def _unit_state(unit: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    machine = os.environ.get("SANDBOX_MACHINE_ID", "")
    found = _get(f"/fleet/v1/units/{quote(unit)}")
    page = _get(f"/fleet/v1/state?unitName={quote(unit)}&machineID={quote(machine)}") or {}
    states = page.get("states") or []
    return found, (states[0] if states else None)


def _option(unit: dict[str, Any], section: str, name: str) -> str:
    values = [o.get("value", "") for o in unit.get("options") or []
              if o.get("section") == section and o.get("name") == name]  # fmt: skip
    return str(values[0]) if values else ""


def status(unit: str) -> int:
    found, state = _unit_state(unit)
    if found is None or state is None:
        print(f"Unit {unit} could not be found.", file=sys.stderr)
        return 4
    active, sub = state.get("systemdActiveState", ""), state.get("systemdSubState", "")
    description = _option(found, "Unit", "Description") or unit
    print(f"● {unit} - {description}")
    print(
        f"   Loaded: {state.get('systemdLoadState', 'loaded')} (/run/fleet/units/{unit}; linked-runtime; vendor preset: disabled)"
    )
    print(f"   Active: {active} ({sub})")
    if active == "active":
        exec_start = _option(found, "Service", "ExecStart")
        print(
            f" Main PID: 1{len(unit):03d} ({Path(exec_start.split()[0]).name[:15] if exec_start else unit})"
        )
    return 0 if active == "active" else 3


def journal(unit: str, lines: int) -> int:
    found, state = _unit_state(unit)
    if found is None or state is None:
        print("-- No entries --")
        return 0
    host = os.environ.get("SANDBOX_MACHINE_IP", "localhost")
    name = unit.rsplit(".", 1)[0]
    description = _option(found, "Unit", "Description") or unit
    entries = [f"Jan 01 00:00:00 {host} systemd[1]: Starting {description}..."]
    if state.get("systemdActiveState") in ("active", "activating"):
        entries.append(f"Jan 01 00:00:01 {host} systemd[1]: Started {description}.")
        entries.append(f"Jan 01 00:00:02 {host} {name}[1{len(unit):03d}]: running")
    elif state.get("systemdActiveState") == "failed":
        entries.append(
            f"Jan 01 00:00:01 {host} systemd[1]: {unit}: Main process exited, code=exited, status=1/FAILURE"
        )
        entries.append(
            f"Jan 01 00:00:01 {host} systemd[1]: {unit}: Failed with result 'exit-code'."
        )
    print("\n".join(entries[-lines:] if lines else entries))
    return 0


def main(argv: list[str]) -> int:
    prog, args = argv[0], argv[1:]
    if prog == "systemctl" and args[:1] == ["status"]:
        units = [a for a in args[1:] if not a.startswith("-")]
        if len(units) == 1:
            return status(units[0])
    if prog == "journalctl":
        unit, lines = "", 0
        for i, arg in enumerate(args):
            if arg in ("--unit", "-u") and i + 1 < len(args):
                unit = args[i + 1]
            elif arg == "-n" and i + 1 < len(args) and args[i + 1].isdigit():
                lines = int(args[i + 1])
        if unit:
            return journal(unit, lines)
    print(f"{prog} (kubeha-tui sandbox): only `systemctl status UNIT` and `journalctl --unit UNIT` are implemented", file=sys.stderr)  # fmt: skip
    return 1


def install(bin_dir: Path) -> None:
    """``systemctl`` and ``journalctl`` scripts in ``bin_dir`` that run a copy of this shim
    there with the system's Python (the venv may be unreadable by the session's user)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    shim = bin_dir / "systemd_shim.py"
    shutil.copyfile(__file__, shim)
    shim.chmod(0o644)
    python = os.path.realpath(sys.executable)
    for prog in ("systemctl", "journalctl"):
        script = bin_dir / prog
        script.write_text(f'#!/bin/sh\nexec {python} -I {shim} {prog} "$@"\n')
        script.chmod(0o755)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
