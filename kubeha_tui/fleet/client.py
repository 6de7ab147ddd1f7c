"""Client for fleet's HTTP API v1 over a unix socket, TCP or SSH.

Uses only what fleet 0.11 serves; v1.0 extras only when the ``Server`` header
says fleetd 1.0 or later. Follows ``nextPageToken`` and reads ``{}`` as an
empty page.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import struct
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from kubeha_tui.errors import ServiceError
from kubeha_tui.fleet.models import Machine, Unit, UnitState
from kubeha_tui.ssh import SSHSession
from kubeha_tui.streams import HTTPResult, HTTPStreamClient

API = "/fleet/v1"
MAX_PAGES = 10_000
PAGE_LIMIT = 100  # fleetd's only page size (api/pagination.go: tokenLimit)
PARALLEL = 3  # pages asked for at once when the tokens are fleetd's


def page_token(page: int) -> str:
    """fleetd's ``nextPageToken``: base64url of little-endian uint16 Limit, uint16 Page."""
    return base64.urlsafe_b64encode(struct.pack("<HH", PAGE_LIMIT, page)).decode()


def page_number(token: str) -> int | None:
    """The page a token of fleetd's format names; None for any other token (then the
    client follows tokens one by one, as it must with opaque ones)."""
    try:
        raw = base64.urlsafe_b64decode(token.encode())
    except (binascii.Error, ValueError):
        return None
    if len(raw) != 4:
        return None
    limit, page = struct.unpack("<HH", raw)
    return int(page) if limit == PAGE_LIMIT and page > 1 and page_token(page) == token else None


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
    def __init__(
        self,
        endpoint: str,
        ssh: SSHSession | None = None,
        timeout: float = 10.0,
        parallel: int = PARALLEL,
    ) -> None:
        self.endpoint, self.ssh = endpoint, ssh
        self.http = HTTPStreamClient(endpoint, ssh, timeout)
        self.server = ""
        self.parallel = parallel  # streams pages are read over; 1: one by one, always
        self._closed = False
        self._fleetd_tokens = False  # pages came with fleetd's own tokens: read-ahead works
        self._streams: list[HTTPStreamClient] = []  # page fetchers, see open_page_streams
        self._pool: ThreadPoolExecutor | None = None
        self._ready: list[Future[HTTPResult]] = []

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
        """Close the streams for good: a poll still under way (reading the unit files at
        quit) fails at its next request instead of opening a stream, and with it maybe
        the SSH connection, again."""
        self._closed = True
        for stream in self._streams[1:]:
            stream.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False)
        self._streams, self._pool = [], None
        self.http.close()

    # -- requests ----------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        doc: dict[str, Any] | None = None,
        http: HTTPStreamClient | None = None,
    ) -> HTTPResult:
        """One call on the main stream, or on ``http`` (a page fetcher's)."""
        if self._closed:
            raise ServiceError(f"the connection to fleet at {self.endpoint} was closed")
        body = headers = None
        if doc is not None:
            body, headers = json.dumps(doc).encode(), {"Content-Type": "application/json"}
        result = (http or self.http).request(method, API + path, body, headers)
        self.server = result.headers.get("server", self.server)
        return result

    def get_json(self, path: str, http: HTTPStreamClient | None = None) -> dict[str, Any]:
        result = self.request("GET", path, http=http)
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
        """Every item of a paginated collection; ``{}`` is an empty page.

        Tokens are followed one by one, except that when they are fleetd's own (page and
        limit, see ``page_token``) and the page streams are open (``open_page_streams``),
        the next pages are asked for ``parallel`` at a time: each page costs a round trip,
        over SSH about 10 ms."""
        items: list[dict[str, Any]] = []
        params = dict(query or {})
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            doc = self.get_json(self._url(path, params))
            items += doc.get(key) or []
            token = doc.get("nextPageToken")
            if not token:
                return items
            if token in seen:
                raise ServiceError(f"fleet repeated page token {token!r} for {path}")
            seen.add(token)
            params["nextPageToken"] = token
            page = page_number(token)
            self._fleetd_tokens = page is not None
            if page is not None and self._helpers() is not None:
                return items + self._parallel_pages(path, key, params, page)
        raise ServiceError(f"fleet returned over {MAX_PAGES} pages for {path}")

    @staticmethod
    def _url(path: str, params: dict[str, str]) -> str:
        return path + ("?" + urlencode(params) if params else "")

    def _parallel_pages(
        self, path: str, key: str, params: dict[str, str], first: int
    ) -> list[dict[str, Any]]:
        """Pages ``first``, ``first + 1``... in waves, until a page has no next token."""
        items: list[dict[str, Any]] = []
        page = first
        while page < MAX_PAGES:
            wave = [self._url(path, {**params, "nextPageToken": page_token(n)})
                    for n in range(page, page + self.parallel)]  # fmt: skip
            pool = self._helpers()
            assert pool is not None
            docs = list(pool.map(self._helper_get, range(self.parallel), wave))
            for n, doc in enumerate(docs, start=page):
                items += doc.get(key) or []
                if doc.get("nextPageToken") != page_token(n + 1):
                    return items  # the last page (pages asked for beyond it are empty)
            page += self.parallel
        raise ServiceError(f"fleet returned over {MAX_PAGES} pages for {path}")

    def open_page_streams(self) -> None:
        """Open the streams that later pages are read ahead over, in the background, once
        pages came with fleetd's tokens. Call it when the reads under way are done: each
        stream is a new SSH session (and ``fleetctl fd-forward``) on the node, work that
        would slow them."""
        if self._pool is None and self._fleetd_tokens and self.parallel > 1 and not self._closed:
            self._streams = [self.http] + [
                HTTPStreamClient(self.endpoint, self.ssh, self.timeout)
                for _ in range(self.parallel - 1)
            ]
            self._pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="fleet-pages")
            self._ready = [
                self._pool.submit(s.request, "GET", API + "/machines") for s in self._streams[1:]
            ]

    @property
    def reads_ahead(self) -> bool:
        """The page streams are open and answered: fleetd's pages are read ahead."""
        return self._helpers() is not None

    def _helpers(self) -> ThreadPoolExecutor | None:
        """The page fetchers, once their streams are open and answered (else: sequential)."""
        if self._pool is None or not all(f.done() and not f.exception() for f in self._ready):
            return None
        return self._pool

    def _helper_get(self, stream: int, url: str) -> dict[str, Any]:
        return self.get_json(url, self._streams[stream])

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
