"""2,000 units on 200 machines through an SSH tunnel (a real sshd and `fleetctl fd-forward`).

Measures, in one run, interleaved:
- refresh: a poll of the running app until its Units table shows the result, against
  the bare page requests (/state and /machines) over the same kind of kept-alive tunnel.
  Target: <= 1.2x.
- cold start: app start (new SSH connection) until the Units table is complete, against
  a new SSH connection plus the bare page requests. Target: <= 1.5x (the app also starts
  Textual and draws its first frame before it connects).

Both sides log in as the same user, ``core`` as on a stack node when we are root and that
account takes a key login (scripts/bootstrap.sh makes it; see sandbox/machines.py), else as
ourselves; ``--login USER`` picks another (``--login root`` measures as earlier runs did).
The login matters to the cold start: sshd runs every command through the user's shell, and
a bash whose ~/.bashrc does work (root's on a developer machine: ``pyenv init``) adds it to
each new stream, on both sides alike.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import pwd
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from textual.widgets import DataTable

from bench.common import percentiles, report
from kubeha_tui.config import Settings, SSHTarget
from kubeha_tui.sandbox.machines import session_user
from kubeha_tui.sandbox.sshd import Sshd
from kubeha_tui.screens.app import KubehaApp
from kubeha_tui.screens.poll_messages import BackendPolled
from kubeha_tui.ssh import SSHOptions, SSHSession
from kubeha_tui.streams import HTTPStreamClient

# COLD app starts against 2 * RUNS bare ones: a cold start on a shared machine varies by
# 2x and more from one to the next, and a median of 3 swung the ratio by as much.
UNITS, MACHINES, RUNS, COLD = 2000, 200, 15, 7


def session_for(sshd: Sshd) -> SSHSession:
    assert sshd.user is not None
    return SSHSession(SSHOptions(SSHTarget("127.0.0.1", sshd.user, sshd.port), identity=str(sshd.user_key),
                                 known_hosts=str(sshd.known_hosts), allow_agent=False))  # fmt: skip


def bare_pages(http: HTTPStreamClient) -> None:
    """Every page of /state and /machines, following the tokens; nothing else parsed."""
    for path in ("/fleet/v1/state", "/fleet/v1/machines"):
        url = path
        while True:
            body = http.request("GET", url).body
            marker = b'"nextPageToken":"'
            if marker not in body:
                break
            token = body.split(marker)[1].split(b'"')[0].decode()
            url = f"{path}?nextPageToken={token}"


def bare_runs(endpoint: str, sshd: Sshd) -> tuple[list[float], list[float]]:
    cold, warm = [], []
    for _ in range(RUNS):
        start = time.perf_counter()
        session = session_for(sshd)
        http = HTTPStreamClient(endpoint, session, 10)
        bare_pages(http)
        cold.append(time.perf_counter() - start)
        start = time.perf_counter()
        bare_pages(http)
        warm.append(time.perf_counter() - start)
        http.close()
        session.close()
    return cold, warm


async def app_runs(
    endpoint: str, sshd: Sshd, tmp: Path, refreshes: int = RUNS
) -> tuple[float, list[float]]:
    settings = Settings(
        ssh=SSHTarget("127.0.0.1", sshd.user, sshd.port), identity=str(sshd.user_key),
        known_hosts=str(sshd.known_hosts), fleet_endpoint=endpoint,
        kube_server="http://127.0.0.1:9", ceph_conf=str(tmp / "none.conf"), screen="fleet",
    )  # fmt: skip
    app = KubehaApp(settings)
    start = time.perf_counter()
    refresh: list[float] = []
    finished = asyncio.Event()  # a fleet poll ended (unit files fetched too)

    def hook(message: object) -> None:
        if isinstance(message, BackendPolled) and message.status.name == "fleet" and message.final:
            finished.set()

    async with app.run_test(size=(120, 40), message_hook=hook) as pilot:
        table: DataTable[Any] = app.screen.query_one("#fleet-units", DataTable)
        # A plain sleep: Pilot.pause first waits for every widget of the screen to take
        # a message, which every 2 ms took the CPU and the GIL from the app it measured.
        while table.row_count < UNITS:
            await asyncio.sleep(0.002)
        await pilot.pause(0)  # and the rows are drawn
        cold = time.perf_counter() - start
        arrived = asyncio.Event()
        app.watch(app, "data", lambda _: arrived.set(), init=False)
        for _ in range(refreshes):
            finished.clear()
            await finished.wait()  # the regular poll under way, then a quiet moment
            await pilot.pause(0.1)
            arrived.clear()
            start = time.perf_counter()
            app.poll("fleet")
            await (
                arrived.wait()
            )  # the partial snapshot (states, machines); the table refills in the handler
            await pilot.pause(0)  # and renders
            refresh.append(time.perf_counter() - start)
    return cold, refresh


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--login", help="the user both sides log in as (default: core if it can)")
    login = parser.parse_args(argv).login
    if login is None:
        login, why = session_user()
        if why:
            print(f"fleet bench: {why}")
    me = pwd.getpwuid(os.geteuid()).pw_name
    print(f"fleet bench: both sides log in as {login}")
    logging.disable(logging.CRITICAL)  # paramiko reports the refused kube forward; not ours to show
    with tempfile.TemporaryDirectory(prefix="kh-bench-") as name:
        tmp = Path(name)
        # fleetd runs elsewhere in reality: its own process here, so it takes no GIL from us.
        sock = tmp / "fleet.sock"
        server = subprocess.Popen([sys.executable, "-m", "kubeha_tui.sandbox.fleet_server", "--socket", str(sock),
                                   "--units", str(UNITS), "--machines", str(MACHINES), "--tick", "3600"],
                                  stdout=subprocess.PIPE, text=True)  # fmt: skip
        assert server.stdout is not None
        endpoint = server.stdout.readline().strip().partition("=")[2]  # FLEETCTL_ENDPOINT=...
        if login != me:  # its sessions read the keys and shims and use the socket
            tmp.chmod(0o755)
            sock.chmod(0o666)
        sshd = Sshd(tmp / "sshd", user=login)
        sshd.start()
        try:
            bare_cold, bare_warm = bare_runs(endpoint, sshd)
            app_cold, app_refresh = asyncio.run(app_runs(endpoint, sshd, tmp))
            colds = [app_cold]
            for _ in range(COLD - 1):  # more app starts, each with its own connection
                colds.append(asyncio.run(app_runs(endpoint, sshd, tmp, refreshes=0))[0])
            more_cold, more_warm = bare_runs(endpoint, sshd)  # before and after: drift shows
        finally:
            sshd.kill()
            server.terminate()
            server.wait()
    med = statistics.median
    what = f"{UNITS} units on {MACHINES} machines over SSH"
    ok = report("fleet refresh", med(app_refresh), med(bare_warm + more_warm), 1.2,
                f"{what}, poll until the Units table shows it")  # fmt: skip
    report("fleet cold start", med(colds), med(bare_cold + more_cold), 1.5,
           f"{what}, app start (Textual + SSH) until the Units table is complete, median of {COLD}")  # fmt: skip
    print(
        f"fleet refresh: {percentiles(app_refresh)}; bare pages {percentiles(bare_warm + more_warm)}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
