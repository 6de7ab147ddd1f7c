"""The fleet client against the sandbox fleet server: unix socket, TCP and SSH."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from pathlib import Path

import pytest

from kubeha_tui.config import SSHTarget
from kubeha_tui.errors import ServiceError
from kubeha_tui.fleet.actions import PIDALIO_WARNING, MachineShell, execute, plan
from kubeha_tui.fleet.client import (
    FleetAPIError,
    FleetClient,
    FleetSnapshot,
    page_number,
    page_token,
)
from kubeha_tui.fleet.models import Unit, UnitOption
from kubeha_tui.fleet.render import UNIT_COLUMNS, fleetctl_table, unit_file_row, unit_row
from kubeha_tui.fleet.service import FleetService
from kubeha_tui.sandbox.fleet_registry import FleetRegistry, seed_large, seed_stack
from kubeha_tui.sandbox.fleet_server import FleetServer
from kubeha_tui.sandbox.sshd import Sshd
from kubeha_tui.ssh import SSHOptions, SSHSession
from kubeha_tui.streams import http_request

from .support.stall import stalled_server
from .support.waiting import wait_for


def raw(
    server: FleetServer,
    method: str,
    path: str,
    body: object = None,
    ctype: str | None = "application/json",
) -> tuple[int, object]:
    headers = {"Content-Type": ctype} if ctype else {}
    data = json.dumps(body).encode() if body is not None else None
    result = http_request(
        server.endpoint, None, method, path, timeout=5, body=data, headers=headers
    )
    assert result.headers["server"] == "fleetd/0.11.8"
    return result.status, (json.loads(result.body) if result.body else None)


def test_stack_lists_ten_active_running_rows(fleet: FleetServer) -> None:
    client = FleetClient(fleet.endpoint)
    snap = client.snapshot()
    rows = [unit_row(s, snap.machines) for s in snap.states]
    assert len(rows) == 10
    assert {(r[2], r[3]) for r in rows} == {("active", "running")}
    assert sorted({r[0] for r in rows}) == [
        "pidalio-apiserver.service", "pidalio-controller.service", "pidalio-node.service",
        "pidalio-proxy.service", "pidalio-scheduler.service", "pidalio.service",
    ]  # fmt: skip
    assert client.server == "fleetd/0.11.8" and client.version == (0, 11, 8)


def test_fleetctl_formatting_parity(tmp_path: Path) -> None:
    """The stack's example, byte for byte as fleetctl 0.11 prints it (tabwriter, tabs)."""
    registry = FleetRegistry()
    seed_stack(registry, [("84.39.36.87", "fr1"), ("84.39.36.88", "fr1"), ("84.39.36.89", "fr2")])
    server = FleetServer(registry, tmp_path / "f.sock")
    try:
        snap = FleetClient(server.endpoint).snapshot()
    finally:
        server.close()
    text = fleetctl_table(UNIT_COLUMNS, [unit_row(s, snap.machines) for s in snap.states])
    lines = text.splitlines()
    assert lines[0] == "UNIT\t\t\t\tMACHINE\t\t\tACTIVE\tSUB"
    assert (
        lines[1]
        == f"pidalio-apiserver.service\t{snap.states[0].machine_id[:8]}.../84.39.36.88\tactive\trunning"
    )
    assert lines[-1].startswith("pidalio.service\t\t\t") and lines[-1].endswith("\tactive\trunning")
    assert all(line.split("\t")[0] for line in lines)
    node_rows = [line for line in lines if line.startswith("pidalio-node.service")]
    assert len(node_rows) == 3 and all("\t\t" in r for r in node_rows)
    files = [unit_file_row(u, snap.machines) for u in snap.units]
    assert ("pidalio-node.service", snap.units[2].hash[:7], "launched", "-", "global") == files[2]


def test_machine_legend_without_ip_once_gone_and_dash_without_machine(fleet: FleetServer) -> None:
    snap = FleetClient(fleet.endpoint).snapshot()
    state = snap.states[0]
    assert unit_row(state, {})[1] == f"{state.machine_id[:8]}..."
    assert unit_row(type(state)("x.service"), snap.machines)[1] == "-"


def test_pagination_over_1000_units_and_exact_multiple(tmp_path: Path) -> None:
    registry = FleetRegistry()
    seed_large(registry, units=1000, machines=100)
    server = FleetServer(registry, tmp_path / "big.sock")
    try:
        client = FleetClient(server.endpoint)
        assert len(client.units()) == 1000
        assert len(client.machines()) == 100  # exactly one full page, then {}
        states = client.states()
        assert len(states) == 1000 and len({s.name for s in states}) == 1000
        status, page = raw(server, "GET", "/fleet/v1/machines")
        assert status == 200 and isinstance(page, dict) and page["nextPageToken"] == "ZAACAA=="
        assert raw(server, "GET", "/fleet/v1/machines?nextPageToken=ZAACAA==") == (200, {})
        assert client.states(unit_name="app-00042.service")[0].name == "app-00042.service"
    finally:
        server.close()


def test_a_client_hanging_up_before_its_answer_is_no_error_for_the_server(
    fleet: FleetServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fleetd says nothing when a client goes away mid-response; socketserver printed a
    BrokenPipeError traceback for it (seen in bench_fleet's output)."""
    unix = fleet.servers[0]
    api = unix.RequestHandlerClass.api  # type: ignore[attr-defined]
    hung_up, finished, errors = threading.Event(), threading.Event(), []
    answer = api.handle

    def answer_once_hung_up(*args: object) -> object:
        hung_up.wait(5)
        return answer(*args)

    def shut_down(request: object, original: object = unix.shutdown_request) -> None:
        original(request)  # type: ignore[operator]
        finished.set()

    monkeypatch.setattr(api, "handle", answer_once_hung_up)
    monkeypatch.setattr(unix, "handle_error", lambda *args: errors.append(args))
    monkeypatch.setattr(unix, "shutdown_request", shut_down)
    with socket.socket(socket.AF_UNIX) as client:
        client.connect(str(fleet.socket_path))
        client.sendall(b"GET /fleet/v1/state HTTP/1.1\r\nHost: domain-sock\r\n\r\n")
    hung_up.set()  # the answer is written to a closed socket: EPIPE
    assert finished.wait(5)
    assert errors == []
    assert len(FleetClient(fleet.endpoint).states()) == 10  # and it serves on


@pytest.mark.parametrize("units", [1000, 1050])  # ten full pages then {}; a part page
def test_pages_read_ahead_over_three_streams_are_the_pages_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, units: int
) -> None:
    registry = FleetRegistry()
    seed_large(registry, units=units, machines=10)
    server = FleetServer(registry, tmp_path / "big.sock")
    api = server.servers[0].RequestHandlerClass.api  # type: ignore[attr-defined]
    served_by: list[str] = []
    answer = api.handle

    def answer_and_note(method: str, path: str, *args: object) -> object:
        if path.startswith("/fleet/v1/state"):
            served_by.append(threading.current_thread().name)  # a thread per connection
        return answer(method, path, *args)

    monkeypatch.setattr(api, "handle", answer_and_note)
    client = FleetClient(server.endpoint)
    try:
        one_by_one = client.states()
        assert len(one_by_one) == units and len(set(served_by)) == 1
        assert not client.reads_ahead  # until asked: opening streams would slow the reads
        client.open_page_streams()
        wait_for(lambda: client.reads_ahead, what="the page streams answered")
        served_by.clear()
        assert client.states() == one_by_one
        assert len(set(served_by)) == 3
        single = FleetClient(server.endpoint, parallel=1)
        single.states()
        single.open_page_streams()
        assert not single.reads_ahead
    finally:
        client.close()
        server.close()


def test_the_first_poll_reads_states_then_machines_on_one_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cold start pays one new stream (over SSH a session on the node), not two; later
    polls read the machines over a stream of their own while the states page in."""
    registry = FleetRegistry()
    seed_large(registry, units=250, machines=150)
    server = FleetServer(registry, tmp_path / "big.sock")
    api = server.servers[0].RequestHandlerClass.api  # type: ignore[attr-defined]
    asked: list[tuple[str, str]] = []  # (path, connection: a thread per connection)
    answer = api.handle

    def note_and_answer(method: str, path: str, *args: object) -> object:
        asked.append((path.partition("?")[0], threading.current_thread().name))
        return answer(method, path, *args)

    monkeypatch.setattr(api, "handle", note_and_answer)
    service = FleetService.build(server.endpoint, None, SSHOptions(SSHTarget("localhost")))
    try:
        poll = service.poll()
        first = next(poll)
        assert isinstance(first.data, FleetSnapshot) and not first.final
        assert (len(first.data.states), len(first.data.machines)) == (250, 150)
        paths = [p for p, _ in asked]
        assert paths == ["/fleet/v1/state"] * 3 + ["/fleet/v1/machines"] * 2
        assert len({conn for _, conn in asked}) == 1
        list(poll)  # the unit files, then the page streams open
        wait_for(lambda: service.client.reads_ahead, what="the page streams answered")
        asked.clear()
        list(service.poll())
        machines_on = {c for p, c in asked if p == "/fleet/v1/machines"}
        states_on = {c for p, c in asked if p == "/fleet/v1/state"}
        assert machines_on and not machines_on & states_on
    finally:
        service.close()
        server.close()


def test_a_closed_client_asks_nothing_more(fleet: FleetServer) -> None:
    """At quit a poll may still be reading pages: it stops at the next one, and opens no
    stream (nor SSH connection) again."""
    client = FleetClient(fleet.endpoint)
    assert len(client.states()) == 10
    client.close()
    with pytest.raises(ServiceError, match="was closed"):
        client.units()
    client.open_page_streams()
    assert not client.reads_ahead


def test_empty_cluster_pages_are_empty_objects(tmp_path: Path) -> None:
    server = FleetServer(FleetRegistry(), tmp_path / "empty.sock")
    try:
        assert raw(server, "GET", "/fleet/v1/units") == (200, {})
        snap = FleetClient(server.endpoint).snapshot()
        assert (snap.units, snap.states, snap.machines) == ((), (), {})
    finally:
        server.close()


@pytest.mark.parametrize(
    ("method", "path", "body", "ctype", "status", "message"),
    [
        ("GET", "/", None, None, 405, ""),
        ("GET", "/fleet/v1", None, None, 405, ""),
        ("GET", "/fleet/v1/", None, None, 404, ""),
        ("GET", "/fleet/v1/units/", None, None, 404, ""),
        ("GET", "/fleet/v1/units/nope.service", None, None, 404, "unit does not exist"),
        ("DELETE", "/fleet/v1/units/nope.service", None, None, 404, "unit does not exist"),
        ("POST", "/fleet/v1/units", None, None, 405, "only GET supported against this resource"),
        ("POST", "/fleet/v1/machines", None, None, 400, "only HTTP GET supported against this resource"),
        ("GET", "/fleet/v1/state/pidalio.service", None, None, 404, ""),
        ("PUT", "/fleet/v1/units/new.service", {"name": "new.service"}, "application/json", 409,
         "unit does not exist and options field empty"),
        ("PUT", "/fleet/v1/units/pidalio.service", {}, "application/json", 409,
         "must provide DesiredState to update existing unit"),
        ("PUT", "/fleet/v1/units/pidalio.service", {"desiredState": "loaded"}, "text/plain", 415,
         "only acceptable Content-Type is application/json"),
        ("PUT", "/fleet/v1/units/a.service", {"name": "b.service"}, "application/json", 400,
         'name in URL "a.service" differs from unit name in request body "b.service"'),
        ("PUT", "/fleet/v1/units/bad", {"desiredState": "loaded"}, "application/json", 400,
         'unit name must contain "."'),
        ("GET", "/fleet/v1/units?nextPageToken=AQABAA==", None, None, 400, "token limit must be 100"),
        ("GET", "/fleet/v1/units?nextPageToken=ZAAAAA==", None, None, 400,
         "token page must be greater than zero"),
        ("GET", "/fleet/v1/state?nextPageToken=ZAACAA==&nextPageToken=ZAACAA==", None, None, 400,
         "too many values for page token"),
        ("PUT", "/fleet/v1/units/x.service", {"desiredState": "loaded"}, None, 415,
         "expected 1 Content-Type, got 0"),
        ("PATCH", "/fleet/v1/units/pidalio.service", None, None, 405,
         "only GET, PUT and DELETE supported against this resource"),
        ("POST", "/fleet/v1/state", None, None, 405, "only GET supported against this resource"),
        ("POST", "/fleet/v1/discovery", None, None, 400, "only HTTP GET supported against this resource"),
        ("PUT", "/fleet/v1/units/x.foo", {"desiredState": "loaded"}, "application/json", 400,
         'invalid unit type: "foo"'),
        ("PUT", "/fleet/v1/units/@x.service", {"desiredState": "loaded"}, "application/json", 400,
         'unit name cannot start in "@"'),
        ("PUT", "/fleet/v1/units/g.service",
         {"options": [{"section": "X-Fleet", "name": "Global", "value": "true"},
                      {"section": "X-Fleet", "name": "Conflicts", "value": "g*"}]},
         "application/json", 400, "Global cannot be used with Conflicts"),
        ("PUT", "/fleet/v1/units/pidalio.service", [], "application/json", 400,
         "unable to decode body: json: cannot unmarshal array into Go value of type schema.Unit"),
    ],
)  # fmt: skip
def test_error_paths_match_fleetd(  # noqa: PLR0917 - parametrized
    # Every status and message is fleetd v0.11.8's own: api/mux.go (405/404 with no
    # message), api/units.go (set, ValidateName, ValidateOptions), api/state.go,
    # api/machines.go, api/discovery.go, api/pagination.go, api/serialization.go.
    fleet: FleetServer,
    method: str,
    path: str,
    body: object,
    ctype: str | None,
    status: int,
    message: str,
) -> None:
    assert raw(fleet, method, path, body, ctype) == (
        status,
        {"error": {"code": status, "message": message}},
    )


def test_unit_hash_is_fleets_reference_value() -> None:
    """fleet 0.11.8: SHA1 of the unit file its vendored go-systemd writes, a header at each
    section change (unit/unit_test.go TestUnitHash gives the first value)."""
    sleep = Unit("s.service", (UnitOption("Service", "ExecStart", "/bin/sleep 100"),))
    assert sleep.hash == "1c6fb6f3684bafb0c173d8b8b957ceff031180c1"
    mixed = (
        UnitOption("Unit", "Description", "Foo"),
        UnitOption("Service", "ExecStart", "/bin/true"),
        UnitOption("Unit", "After", "b.service"),
    )
    text = b"[Unit]\nDescription=Foo\n\n[Service]\nExecStart=/bin/true\n\n[Unit]\nAfter=b.service\n"
    assert Unit("m.service", mixed).hash == hashlib.sha1(text).hexdigest()


def test_put_create_then_states_move_over_time(fleet: FleetServer) -> None:
    client = FleetClient(fleet.endpoint)
    options = [UnitOption("Service", "ExecStart", "/bin/true").to_json()]
    assert raw(
        fleet, "PUT", "/fleet/v1/units/hello.service", {"name": "hello.service", "options": options}
    ) == (201, None)
    unit = client.unit("hello.service")
    assert unit is not None and unit.desired_state == "inactive" and unit.current_state == ""
    client.set_desired_state("hello.service", "launched")
    seen = set()

    def launched() -> bool:
        u = client.unit("hello.service")
        assert u is not None
        seen.add(u.current_state)
        return u.current_state == "launched"

    wait_for(launched, timeout=5)
    assert {"loaded", "launched"} <= seen
    state = wait_for(
        lambda: [s for s in client.states(unit_name="hello.service") if s.active_state == "active"]
    )
    assert (state[0].sub_state, state[0].hash) == (
        "running",
        Unit("hello.service", (UnitOption("Service", "ExecStart", "/bin/true"),)).hash,
    )
    assert client.destroy("hello.service") and not client.destroy("hello.service")


def test_503_while_etcd_is_down_is_a_clear_message(fleet: FleetServer) -> None:
    fleet.registry.etcd_down = True
    with pytest.raises(FleetAPIError, match="fleet cannot reach etcd") as err:
        FleetClient(fleet.endpoint).snapshot()
    assert err.value.status == 503


def test_stalled_server_times_out() -> None:
    with stalled_server() as port:
        client = FleetClient(f"http://127.0.0.1:{port}", timeout=0.5)
        started = time.monotonic()
        with pytest.raises(ServiceError, match="did not answer"):
            client.snapshot()
        assert time.monotonic() - started < 3


def test_missing_socket_is_a_clear_message(tmp_path: Path) -> None:
    with pytest.raises(ServiceError, match=r"no socket at .*/nope\.sock"):
        FleetClient(f"unix://{tmp_path}/nope.sock").snapshot()


def test_stopped_machine_leaves_after_ttl_and_its_unit_moves(fleet: FleetServer) -> None:
    registry = fleet.registry
    registry.machine_ttl = 0.5
    client = FleetClient(fleet.endpoint)
    api = client.unit("pidalio-apiserver.service")
    assert api is not None
    registry.stop_machine(api.machine_id)
    wait_for(lambda: api.machine_id not in {m.id for m in client.machines()}, timeout=5)
    moved = wait_for(
        lambda: (
            (u := client.unit("pidalio-apiserver.service"))
            and u.current_state == "launched"
            and u.machine_id != api.machine_id
            and u
        ),
        timeout=5,
    )
    assert moved
    assert all(s.machine_id != api.machine_id for s in client.states())


def test_actions_follow_fleetctl_semantics(fleet: FleetServer) -> None:
    client = FleetClient(fleet.endpoint)
    snap = client.snapshot()
    api = client.unit("pidalio-apiserver.service")
    stop = plan("stop", api, snap.machines)
    assert stop.refused is None and PIDALIO_WARNING in stop.warnings
    assert (
        stop.request == 'PUT /fleet/v1/units/pidalio-apiserver.service {"desiredState": "loaded"}'
    )
    assert execute(client, stop, wait=5) == "pidalio-apiserver.service is loaded"
    assert wait_for(
        lambda: [
            s for s in client.states(unit_name="pidalio-apiserver.service") if s.sub_state == "dead"
        ]
    )
    unload = plan("unload", client.unit("pidalio-apiserver.service"), snap.machines)
    assert execute(client, unload, wait=5) == "pidalio-apiserver.service is inactive"
    refused = plan("stop", client.unit("pidalio-apiserver.service"), snap.machines)
    assert refused.refused and "nothing to stop" in refused.refused
    with pytest.raises(ServiceError, match="nothing to stop"):
        execute(client, refused)
    start = plan("start", client.unit("pidalio-apiserver.service"), snap.machines)
    assert execute(client, start, wait=5) == "pidalio-apiserver.service is launched"
    destroy = plan("destroy", client.unit("pidalio-node.service"), snap.machines)
    assert destroy.request == "DELETE /fleet/v1/units/pidalio-node.service"
    assert "running on every machine" in destroy.warnings[0]
    assert execute(client, destroy) == "destroyed pidalio-node.service"
    assert (
        plan("start", None, snap.machines).refused == "the unit does not exist in fleet (any more)"
    )


# -- over SSH ------------------------------------------------------------------


def ssh_session(sshd: Sshd) -> SSHSession:
    return SSHSession(
        SSHOptions(
            SSHTarget("127.0.0.1", "root", sshd.port), identity=str(sshd.user_key),
            known_hosts=str(sshd.known_hosts), allow_agent=False, timeout=5,
            ssh_config=sshd.root / "none",
        )
    )  # fmt: skip


@pytest.mark.sshd
def test_client_over_ssh_exec_fd_forward(fleet: FleetServer, sshd: Sshd) -> None:
    session = ssh_session(sshd)
    client = FleetClient(
        fleet.endpoint, ssh=session
    )  # unix:// -> `fleetctl fd-forward` on the node
    try:
        snap = client.snapshot()
        assert len(snap.states) == 10 and len(snap.machines) == 3
        client.set_desired_state("pidalio-scheduler.service", "loaded")
        assert wait_for(lambda: client.unit("pidalio-scheduler.service").current_state == "loaded")  # type: ignore[union-attr]
    finally:
        client.close()
        session.close()


@pytest.mark.sshd
def test_client_over_ssh_direct_tcpip(fleet: FleetServer, sshd: Sshd) -> None:
    session = ssh_session(sshd)
    client = FleetClient(fleet.tcp_endpoint, ssh=session)
    try:
        assert len(client.snapshot().states) == 10
    finally:
        client.close()
        session.close()


@pytest.mark.sshd
def test_status_and_journal_run_on_the_units_machine_through_the_first_host(
    fleet: FleetServer, sshd: Sshd
) -> None:
    first = ssh_session(sshd)
    snap = FleetClient(fleet.endpoint).snapshot()
    machine = next(iter(snap.machines.values()))
    machine = type(machine)(
        machine.id, "127.0.0.1", machine.metadata
    )  # the test sshd stands in for it
    shell = MachineShell(first.options, via=first, port=sshd.port, local_id="")
    try:
        result = shell.run(machine, "echo status-of $(hostname); echo $SSH_CONNECTION")
        assert result.exit_status == 0 and result.stdout.startswith("status-of ")
        assert shell.session(machine).via is first
    finally:
        shell.close()
        first.close()


def test_only_fleetds_own_page_tokens_are_read_ahead() -> None:
    assert page_token(2) == "ZAACAA==" and page_number("ZAACAA==") == 2
    assert [page_number(t) for t in ("opaque-token", "ZAABAA==", "AQACAA==", "")] == [None] * 4
