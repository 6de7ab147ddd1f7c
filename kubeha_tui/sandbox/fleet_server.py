"""A fleet API v1 server for the sandbox, faithful to fleetd 0.11.8's routing,
status codes, error bodies, ``{}`` pages and page tokens (and the v1.0 item
state endpoint when posing as 1.0). Serves a unix socket and optionally TCP.

Run: ``python -m kubeha_tui.sandbox.fleet_server --socket PATH [--tcp H:P]``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import fnmatch
import json
import logging
import posixpath
import signal
import socketserver
import struct
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from kubeha_tui.sandbox.fleet_registry import FleetRegistry, seed_large, seed_stack
from kubeha_tui.sandbox.fleet_units import Unit, unit_from_json

log = logging.getLogger(__name__)

TOKEN_LIMIT = 100
VALID_TYPES = {
    "service", "socket", "busname", "target", "snapshot", "device", "mount",
    "automount", "swap", "timer", "path", "slice", "scope",
}  # fmt: skip
VALID_CHARS = set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ:-_.\\@")
DISCOVERY = {
    "kind": "discovery#restDescription",
    "discoveryVersion": "v1",
    "id": "fleet:v1",
    "name": "schema",
    "version": "v1",
    "title": "fleet API",
    "description": "Programmatically manage fleet clusters",
    "protocol": "rest",
    "basePath": "/fleet/v1/",
    "resources": {
        "Machines": {
            "methods": {
                "List": {"id": "fleet.Machine.List", "httpMethod": "GET", "path": "machines"}
            }
        },
        "Units": {
            "methods": {
                "List": {"id": "fleet.Unit.List", "httpMethod": "GET", "path": "units"},
                "Get": {"id": "fleet.Unit.Get", "httpMethod": "GET", "path": "units/{unitName}"},
                "Delete": {
                    "id": "fleet.Unit.Delete",
                    "httpMethod": "DELETE",
                    "path": "units/{unitName}",
                },
                "Set": {"id": "fleet.Unit.Set", "httpMethod": "PUT", "path": "units/{unitName}"},
            }
        },
        "UnitState": {
            "methods": {
                "List": {"id": "fleet.UnitState.List", "httpMethod": "GET", "path": "state"}
            }
        },
    },
}


class APIError(Exception):
    def __init__(self, code: int, message: str = "") -> None:
        super().__init__(message)
        self.code, self.message = code, message


def go_json(doc: Any) -> bytes:
    """JSON as Go's encoding/json writes it: compact, HTML characters escaped."""
    text = json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026").encode()


def encode_token(page: int, limit: int = TOKEN_LIMIT) -> str:
    return base64.urlsafe_b64encode(struct.pack("<HH", limit, page)).decode()


def decode_token(query: dict[str, list[str]]) -> int:
    """The page a ``nextPageToken`` asks for (1 without one), or APIError(400)."""
    values = query.get("nextPageToken", [])
    if len(values) > 1:
        raise APIError(400, "too many values for page token")
    if not values:
        return 1
    try:
        raw = base64.urlsafe_b64decode(values[0].encode())
    except (binascii.Error, ValueError):
        raise APIError(400, "illegal base64 data at input byte 0") from None
    if len(raw) < 4:
        raise APIError(400, "unexpected EOF" if raw else "EOF")
    limit, page = struct.unpack("<HH", raw[:4])
    assert isinstance(page, int)
    if limit != TOKEN_LIMIT:
        raise APIError(400, f"token limit must be {TOKEN_LIMIT}")
    if page == 0:
        raise APIError(400, "token page must be greater than zero")
    return page


def page_of(items: list[dict[str, Any]], key: str, page: int) -> dict[str, Any]:
    """fleet's paging: a token whenever the page is full, so an exact multiple of the
    limit ends with an empty ``{}`` page."""
    start, stop = (page - 1) * TOKEN_LIMIT, page * TOKEN_LIMIT
    doc: dict[str, Any] = {}
    if start < len(items):
        if stop <= len(items):
            doc["nextPageToken"] = encode_token(page + 1)
        if items[start:stop]:
            doc[key] = items[start:stop]
    return doc


def validate_name(name: str) -> None:
    if not name:
        raise APIError(400, "unit name cannot be empty")
    if len(name) > 256:
        raise APIError(400, "unit name exceeds maximum length (256)")
    dot = name.rfind(".")
    if dot == -1:
        raise APIError(400, 'unit name must contain "."')
    if dot == len(name) - 1:
        raise APIError(400, 'unit name cannot end in "."')
    if name[dot + 1 :] not in VALID_TYPES:
        raise APIError(400, f'invalid unit type: "{name[dot + 1 :]}"')
    for char in name[:dot]:
        if char not in VALID_CHARS:
            raise APIError(400, f"invalid character {char!r} in unit name")
    if name.startswith("@"):
        raise APIError(400, 'unit name cannot start in "@"')


def validate_options(unit: Unit) -> None:
    """fleet's api.ValidateOptions (api/units.go), in its order."""
    conflicts, peers = set(unit.conflicts), set(unit.peers)
    for peer in sorted(peers):
        for conflict in sorted(conflicts):
            if fnmatch.fnmatchcase(peer, conflict):
                raise APIError(
                    400, f'unresolvable requirements: peer "{peer}" matches conflict "{conflict}"'
                )
    target = bool(unit.required_target)
    pairs = [
        (target and bool(peers), "MachineID cannot be used with Peers"),
        (target and bool(conflicts), "MachineID cannot be used with Conflicts"),
        (target and unit.is_global, "MachineID cannot be used with Global"),
        (unit.is_global and bool(peers), "Global cannot be used with Peers"),
        (unit.is_global and bool(conflicts), "Global cannot be used with Conflicts"),
    ]
    for refused, message in pairs:
        if refused:
            raise APIError(400, message)


def decode_unit(body: bytes, version: str) -> Unit:
    """The PUT body as fleetd's json.Decoder reads it, errors in Go's words."""
    if not body.strip():
        raise APIError(400, "unable to decode body: EOF")
    try:
        doc = json.loads(body)
    except json.JSONDecodeError as exc:
        if exc.pos >= len(exc.doc.rstrip()):
            why = "unexpected EOF"
        else:
            why = f"invalid character {exc.doc[exc.pos]!r} looking for beginning of value"
        raise APIError(400, f"unable to decode body: {why}") from None
    try:
        return replace(unit_from_json(doc), version=version)
    except ValueError as exc:
        raise APIError(400, f"unable to decode body: {exc}") from None


class FleetAPI:
    """Routing and handlers, independent of the HTTP server class."""

    def __init__(self, registry: FleetRegistry) -> None:
        self.registry = registry

    @property
    def v1_0(self) -> bool:
        return int(self.registry.version.split(".")[0]) >= 1

    def handle(
        self, method: str, raw_path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        try:
            if self.registry.etcd_down:
                raise APIError(503, "fleet server unable to communicate with etcd")
            url = urlsplit(raw_path)
            path = unquote(url.path)
            clean = posixpath.normpath(path) + ("/" if path.endswith("/") and path != "/" else "")
            if clean != path:  # Go's ServeMux redirects to the clean path
                return 301, {"Location": clean}, b""
            status, doc = self.route(method, path, parse_qs(url.query), headers, body)
        except APIError as exc:
            status, doc = exc.code, {"error": {"code": exc.code, "message": exc.message}}
        if doc is None:
            return status, {}, b""
        return status, {"Content-Type": "application/json"}, go_json(doc)

    def route(
        self, method: str, path: str, query: dict[str, list[str]], headers: Any, body: bytes
    ) -> tuple[int, Any]:
        if path == "/":
            raise APIError(405)
        for prefix in ("/v1-alpha", "/fleet/v1"):
            if path == prefix:
                raise APIError(405)
            if not path.startswith(prefix + "/"):
                continue
            rest = path[len(prefix) + 1 :]
            if rest == "discovery":
                if method != "GET":
                    raise APIError(400, "only HTTP GET supported against this resource")
                return 200, DISCOVERY
            if rest == "machines":
                if method != "GET":
                    raise APIError(400, "only HTTP GET supported against this resource")
                machines = [m.to_json() for m in self.registry.live_machines()]
                return 200, page_of(machines, "machines", decode_token(query))
            if rest == "state":
                if method != "GET":
                    raise APIError(405, "only GET supported against this resource")
                return 200, self.states(query)
            if self.v1_0 and rest.startswith("state/") and "/" not in rest[6:] and rest[6:]:
                return self.state_item(method, rest[6:])
            if rest == "units":
                if method != "GET":
                    raise APIError(405, "only GET supported against this resource")
                units = [u.to_json() for u in self.registry.list_units()]
                return 200, page_of(units, "units", decode_token(query))
            if rest.startswith("units/") and rest[6:] and "/" not in rest[6:]:
                return self.unit_item(method, rest[6:], headers, body)
        raise APIError(404)

    def states(self, query: dict[str, list[str]]) -> dict[str, Any]:
        page = decode_token(query)
        machine = (query.get("machineID") or [""])[0]
        name = (query.get("unitName") or [""])[0]
        states = [
            s.to_json()
            for s in self.registry.list_states()
            if (not machine or s.machine_id == machine) and (not name or s.name == name)
        ]
        return page_of(states, "states", page)

    def state_item(self, method: str, name: str) -> tuple[int, Any]:
        if method != "GET":
            raise APIError(405, "only GET supported against this resource")
        for state in self.registry.list_states():
            if state.name == name:
                return 200, state.to_json()
        raise APIError(404, "unit state does not exist")

    def unit_item(self, method: str, name: str, headers: Any, body: bytes) -> tuple[int, Any]:
        if method == "GET":
            unit = self.registry.get(name)
            if unit is None:
                raise APIError(404, "unit does not exist")
            return 200, unit.to_json()
        if method == "DELETE":
            with self.registry.lock:
                if self.registry.get(name) is None:
                    raise APIError(404, "unit does not exist")
                self.registry.destroy(name)
            return 204, None
        if method == "PUT":
            return self.put_unit(name, headers, body)
        raise APIError(405, "only GET, PUT and DELETE supported against this resource")

    def put_unit(self, name: str, headers: Any, body: bytes) -> tuple[int, Any]:
        types = headers.get_all("Content-Type") or []
        if len(types) != 1:
            raise APIError(415, f"expected 1 Content-Type, got {len(types)}")
        if types[0].split(";")[0].strip() != "application/json":
            raise APIError(415, "only acceptable Content-Type is application/json")
        unit = decode_unit(body, self.registry.version)
        unit_name = unit.name or name
        if unit_name != name:
            raise APIError(
                400, f'name in URL "{name}" differs from unit name in request body "{unit_name}"'
            )
        validate_name(name)
        with self.registry.lock:
            existing = self.registry.get(name)
            if existing is None:
                if not unit.options:
                    raise APIError(409, "unit does not exist and options field empty")
                validate_options(unit)
                self.registry.create(Unit(name, unit.options, unit.desired_state or "inactive"))
                return 201, None
            if not unit.desired_state:
                raise APIError(409, "must provide DesiredState to update existing unit")
            if "@." in name and unit.desired_state != "inactive":
                raise APIError(400, f'cannot activate template "{name}"')
            self.registry.set_desired(name, unit.desired_state)
        return 204, None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    api: FleetAPI

    def version_string(self) -> str:
        return f"fleetd/{self.api.registry.version}"

    def address_string(self) -> str:
        return str(self.client_address[0]) if self.client_address else "unix"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def handle(self) -> None:
        """Serve the connection; a client that hangs up mid-request or mid-response
        (fleetctl killed, a stream closed at quit) ends it quietly, as with fleetd,
        instead of a traceback from socketserver."""
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError) as exc:
            log.debug("%s hung up: %s", self.address_string(), exc)
            self.close_connection = True

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, payload = self.api.handle(self.command, self.path, self.headers, body)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if status != 204:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_PUT = do_DELETE = do_POST = do_PATCH = do_HEAD = do_OPTIONS = _serve  # noqa: N815


class _UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class FleetServer:
    """The API on a unix socket (and TCP when ``tcp`` is given), in daemon threads."""

    def __init__(
        self, registry: FleetRegistry, socket_path: Path, tcp: tuple[str, int] | None = None
    ) -> None:
        self.registry = registry
        handler = type("Handler", (_Handler,), {"api": FleetAPI(registry)})
        socket_path.unlink(missing_ok=True)
        self.socket_path = socket_path
        self.servers: list[socketserver.BaseServer] = [_UnixServer(str(socket_path), handler)]
        if tcp:
            tcp_server = ThreadingHTTPServer(tcp, handler)
            tcp_server.daemon_threads = True
            self.servers.append(tcp_server)
        for server in self.servers:
            threading.Thread(
                target=server.serve_forever, args=(0.05,), name="fleet-api", daemon=True
            ).start()
        self.engine = registry.start()

    @property
    def endpoint(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def tcp_endpoint(self) -> str:
        server = self.servers[1]
        assert isinstance(server, ThreadingHTTPServer)
        return f"http://{server.server_address[0]!s}:{server.server_address[1]}"

    def close(self) -> None:
        self.registry.stop()
        for server in self.servers:
            server.shutdown()
            server.server_close()
        self.socket_path.unlink(missing_ok=True)


def apply_faults(registry: FleetRegistry, doc: dict[str, Any], applied: dict[str, Any]) -> None:
    """Stage what ``kubeha-tui sandbox break`` asks for, and undo what it no longer asks:
    ``etcd_down`` (every call answers 503), ``gone`` machine ids (they stopped
    heartbeating long enough ago that their TTL passed), ``failed`` [unit, machine id]
    pairs (systemd reports them failed; an empty machine id means wherever it runs)."""
    with registry.lock:
        registry.etcd_down = bool(doc.get("etcd_down"))
        gone = {str(m) for m in doc.get("gone") or [] if str(m) in registry.machines}
        for mid in set(applied.get("gone", ())) - gone:
            registry.start_machine(mid)
        for mid in gone:
            registry.stop_machine(mid)
            registry.machines[mid].last_beat = registry.clock() - registry.machine_ttl - 1
        failed = {(str(u), str(m)) for u, m in doc.get("failed") or []}
        for name, mid in set(applied.get("failed", ())) - failed:
            registry.failed = {f for f in registry.failed if f[0] != name or (mid and f[1] != mid)}
        for name, mid in failed:
            registry.fail_unit(name, mid)
        applied.update(gone=gone, failed=failed)


def watch_faults(registry: FleetRegistry, path: Path, stop: threading.Event) -> None:
    """Apply ``path`` (JSON, see apply_faults) whenever it changes; no file, no faults."""
    seen: object = None
    applied: dict[str, Any] = {}
    while not stop.wait(0.1):
        try:
            stat = path.stat()
            mark: object = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            mark = None
        if mark == seen:
            continue
        seen = mark
        try:
            doc = json.loads(path.read_text()) if mark is not None else {}
        except (OSError, ValueError):
            continue  # being written: read it on the next round
        apply_faults(registry, doc, applied)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Sandbox fleet API server")
    parser.add_argument("--socket", required=True, type=Path)
    parser.add_argument("--tcp", help="also listen on HOST:PORT")
    parser.add_argument("--version", default="0.11.8", help="fleetd version to pose as")
    parser.add_argument(
        "--units", type=int, default=0, help="generate a large cluster with this many units"
    )
    parser.add_argument("--machines", type=int, default=100)
    parser.add_argument("--tick", type=float, default=0.2, help="seconds between engine rounds")
    args = parser.parse_args(argv)
    registry = FleetRegistry(version=args.version, tick=args.tick)
    if args.units:
        seed_large(registry, args.units, args.machines)
    else:
        seed_stack(registry)
    tcp = None
    if args.tcp:
        host, _, port = args.tcp.rpartition(":")
        tcp = (host, int(port))
    server = FleetServer(registry, args.socket, tcp)
    done = threading.Event()
    faults = args.socket.with_name("fleet-faults.json")
    threading.Thread(target=watch_faults, args=(registry, faults, done), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print(f"FLEETCTL_ENDPOINT={server.endpoint}", flush=True)
    done.wait()
    server.close()


if __name__ == "__main__":
    main()
