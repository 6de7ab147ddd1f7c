"""What the rbd and ceph CLIs print, in Jewel's shapes and modern ones (reach.md,
"Jewel (10.2) CLI JSON shapes"): pure parsers, tested on recorded outputs."""

from __future__ import annotations

import json
import re
from typing import Any

from kubeha_tui.ceph.models import FEATURES, plain_addr
from kubeha_tui.errors import ServiceError


def _load(text: str, what: str) -> Any:
    try:
        return json.loads(text) if text.strip() else None
    except ValueError:
        raise ServiceError(f"{what}: not JSON: {text.strip()[:120]!r}") from None


def image_names(text: str) -> list[str]:
    """``rbd ls --format json``: a list of names (every release)."""
    doc = _load(text, "rbd ls") or []
    return sorted(str(n) for n in doc if isinstance(n, str))


def image_info(text: str) -> tuple[int, int]:
    """``rbd info --format json``: (size in bytes, feature bits); unknown features ignored."""
    doc = _load(text, "rbd info") or {}
    names = doc.get("features") or []
    return int(doc.get("size", 0)), sum(FEATURES.get(n, 0) for n in names)


def lockers(text: str) -> list[tuple[str, str, str]]:
    """``rbd lock ls --format json``: Jewel answers an object keyed by lock id
    (``{"id": {"locker", "address"}}``), later releases a list of ``{"id", "locker",
    "address"}``. Both as (client.N, cookie, address)."""
    doc = _load(text, "rbd lock ls")
    if not doc:
        return []
    if isinstance(doc, dict):
        rows = [
            (str(v.get("locker", "")), str(k), str(v.get("address", ""))) for k, v in doc.items()
        ]
    else:
        rows = [
            (str(r.get("locker", "")), str(r.get("id", "")), str(r.get("address", ""))) for r in doc
        ]
    return [(c, cookie, plain_addr(a)) for c, cookie, a in rows]


WATCHER = re.compile(r"watcher=(\S+)")


def watchers(text: str) -> list[str]:
    """``rbd status``: the plain form (``watcher=ADDR client.N cookie=C`` a line) in every
    release, or the JSON forms: a list under ``watchers`` (Luminous+), or Jewel's
    ``{"watchers": {"watcher": {...}}}`` (duplicate keys: a JSON parser keeps only the
    last, so the caller asks for the plain form there)."""
    stripped = text.strip()
    if stripped.startswith("{"):
        doc = _load(stripped, "rbd status") or {}
        found = doc.get("watchers") or []
        if isinstance(found, dict):
            found = list(found.values())
        return [plain_addr(str(w.get("address", ""))) for w in found if isinstance(w, dict)]
    return [plain_addr(m) for m in WATCHER.findall(text)]


def health_lines(doc: dict[str, Any]) -> list[str]:
    """``health -f json``: check codes with summaries (Luminous+), or Jewel's ``summary``
    list of ``{"severity", "summary"}`` strings."""
    checks = doc.get("checks")
    if isinstance(checks, dict) and checks:
        return [
            f"{name}: {c.get('summary', {}).get('message', '')}"
            for name, c in sorted(checks.items())
        ]
    return [str(s.get("summary", "")) for s in doc.get("summary") or [] if isinstance(s, dict)]


def cli_error(result: list[Any], what: str) -> ServiceError | None:
    """A CLI run's ``[rc, stdout, stderr]`` as an error (None when it succeeded)."""
    rc, _, err = result
    if rc == 0:
        return None
    lines = [line for line in str(err).splitlines() if line.strip()]
    return ServiceError(f"{what} failed ({rc}): {lines[-1].strip() if lines else 'no message'}")
