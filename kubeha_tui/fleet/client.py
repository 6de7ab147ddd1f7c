"""Client for fleet's HTTP API v1 over a unix socket, TCP or SSH.

Uses only what fleet 0.11 serves; v1.0 extras only when the ``Server`` header
says fleetd 1.0 or later. Follows ``nextPageToken`` and reads ``{}`` as an
empty page.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from kubeha_tui.errors import ServiceError
from kubeha_tui.fleet.models import Machine, Unit, UnitState
from kubeha_tui.ssh import SSHSession
from kubeha_tui.streams import HTTPResult, HTTPStreamClient

API = "/fleet/v1"
MAX_PAGES = 10_000


class FleetAPIError(ServiceError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def error_message(result: HTTPResult) -> str:
    """fleet's ``{"error":{"code","message"}}`` body as a sentence."""
    try:
        message = str(json.loads(result.body)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = result.body.decode(errors="replace").strip()[:200]
    if result.status == 503:
        return (
            "fleet cannot reach etcd (503 from fleetd); the cluster's etcd is down or partitioned"
        )
    return f"fleet answered {result.status}: {message or 'no message'}"


def parse_version(server: str) -> tuple[int, ...]:
    m = re.match(r"fleetd/(\d+)\.(\d+)(?:\.(\d+))?", server)
    return tuple(int(x) for x in m.groups(default="0")) if m else ()


@dataclass(frozen=True)
class FleetSnapshot:
    """Everything the fleet tables show, fetched together."""

    states: tuple[UnitState, ...]
    units: tuple[Unit, ...]
    machines: dict[str, Machine]
    server: str = ""
    fetched_at: float = field(default_factory=time.time)


class FleetClient:
    def __init__(self, endpoint: str, ssh: SSHSession | None = None, timeout: float = 10.0) -> None:
        self.endpoint, self.ssh = endpoint, ssh
        self.http = HTTPStreamClient(endpoint, ssh, timeout)
        self.server = ""

    @property
    def timeout(self) -> float:
        return self.http.timeout

    @timeout.setter
    def timeout(self, value: float) -> None:
        self.http.timeout = value

    @property
    def version(self) -> tuple[int, ...]:
        return parse_version(self.server)

    def close(self) -> None:
        self.http.close()

    # -- requests ----------------------------------------------------------

    def request(self, method: str, path: str, doc: dict[str, Any] | None = None) -> HTTPResult:
        body = headers = None
        if doc is not None:
            body, headers = json.dumps(doc).encode(), {"Content-Type": "application/json"}
        result = self.http.request(method, API + path, body, headers)
        self.server = result.headers.get("server", self.server)
        return result

    def get_json(self, path: str) -> dict[str, Any]:
        result = self.request("GET", path)
        if result.status != 200:
            raise FleetAPIError(result.status, error_message(result))
        try:
            doc = json.loads(result.body or b"{}")
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            raise ServiceError(
                f"{self.endpoint} is not a fleet API (GET {API}{path} gave no JSON object)"
            )
        return doc

    def pages(
        self, path: str, key: str, query: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Every item of a paginated collection; ``{}`` is an empty page."""
        items: list[dict[str, Any]] = []
        params = dict(query or {})
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            doc = self.get_json(path + ("?" + urlencode(params) if params else ""))
            items += doc.get(key) or []
            token = doc.get("nextPageToken")
            if not token:
                return items
            if token in seen:
                raise ServiceError(f"fleet repeated page token {token!r} for {path}")
            seen.add(token)
            params["nextPageToken"] = token
        raise ServiceError(f"fleet returned over {MAX_PAGES} pages for {path}")

    # -- reads ---------------------------------------------------------------

    def units(self) -> list[Unit]:
        return [Unit.from_json(d) for d in self.pages("/units", "units")]

    def unit(self, name: str) -> Unit | None:
        try:
            return Unit.from_json(self.get_json(f"/units/{quote(name)}"))
        except FleetAPIError as exc:
            if exc.status == 404:
                return None
            raise

    def states(self, machine_id: str = "", unit_name: str = "") -> list[UnitState]:
        query = {k: v for k, v in (("machineID", machine_id), ("unitName", unit_name)) if v}
        return [UnitState.from_json(d) for d in self.pages("/state", "states", query)]

    def machines(self) -> list[Machine]:
        return [Machine.from_json(d) for d in self.pages("/machines", "machines")]

    def snapshot(self) -> FleetSnapshot:
        states = self.states()
        machines = {m.id: m for m in self.machines()}
        units = self.units()
        return FleetSnapshot(tuple(states), tuple(units), machines, self.server)

    # -- writes --------------------------------------------------------------

    def set_desired_state(self, name: str, state: str) -> None:
        result = self.request("PUT", f"/units/{quote(name)}", {"desiredState": state})
        if result.status not in (201, 204):
            raise FleetAPIError(result.status, error_message(result))

    def destroy(self, name: str) -> bool:
        """DELETE the unit; False when it did not exist (fleetctl ignores that too)."""
        result = self.request("DELETE", f"/units/{quote(name)}")
        if result.status == 404:
            return False
        if result.status != 204:
            raise FleetAPIError(result.status, error_message(result))
        return True
