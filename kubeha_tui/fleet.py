"""fleet API service (v1, as fleet 0.11 serves it). See shared/reference/fleet-api.md."""

from __future__ import annotations

import json
from dataclasses import dataclass

from kubeha_tui.errors import ServiceError
from kubeha_tui.ssh import SSHSession
from kubeha_tui.streams import HTTPResult, http_request

API = "/fleet/v1"


def error_message(result: HTTPResult) -> str:
    """fleet's ``{"error":{"code","message"}}`` body as a sentence."""
    try:
        message = str(json.loads(result.body)["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = result.body.decode(errors="replace").strip()[:200] or "no message"
    if result.status == 503:
        return f"fleet cannot reach etcd (503: {message})"
    return f"fleet answered {result.status}: {message}"


@dataclass
class FleetService:
    endpoint: str
    ssh: SSHSession | None = None
    timeout: float = 10.0

    def get(self, path: str) -> dict[str, object]:
        result = http_request(self.endpoint, self.ssh, "GET", API + path, timeout=self.timeout)
        if result.status != 200:
            raise ServiceError(error_message(result))
        try:
            doc = json.loads(result.body or b"{}")
        except ValueError:
            raise ServiceError(f"{self.endpoint}: not a fleet API (answer is not JSON)") from None
        if not isinstance(doc, dict):
            raise ServiceError(f"{self.endpoint}: not a fleet API (answer is not an object)")
        return doc

    def probe(self) -> str:
        """A one-line description of the fleet we reach, or ServiceError."""
        doc = self.get("/machines")
        machines = doc.get("machines") or []  # an empty page is {}
        via = f" via {self.ssh.options.target}" if self.ssh else ""
        return (
            f"{len(machines) if isinstance(machines, list) else 0} machines at {self.endpoint}{via}"
        )
