"""known_hosts read as OpenSSH reads it (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT").

A line is ``[@marker] patterns keytype base64-key [comment]``. Patterns are
comma-separated globs (``*``, ``?``, ``!`` negates), ``[host]:port`` for other ports,
or one hashed name ``|1|salt|hmac``. A key is accepted when any plain line for the
host holds it; ``@revoked`` refuses it whatever else says; ``@cert-authority`` lines
sign host certificates, so they say nothing about a plain host key. Lines that cannot
be read are skipped, as OpenSSH does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path

REVOKED, CERT_AUTHORITY = "@revoked", "@cert-authority"


@dataclass(frozen=True)
class Entry:
    line: int
    marker: str  # "", REVOKED or CERT_AUTHORITY
    patterns: str
    keytype: str
    blob: bytes

    def matches(self, name: str) -> bool:
        return host_matches(self.patterns, name)


def parse(text: str) -> list[Entry]:
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        fields = raw.split()
        if not fields or fields[0].startswith("#"):
            continue
        marker = ""
        if fields[0].startswith("@"):
            marker, fields = fields[0], fields[1:]
            if marker not in {REVOKED, CERT_AUTHORITY}:
                continue
        if len(fields) < 3:
            continue
        try:
            blob = base64.b64decode(fields[2], validate=True)
        except (binascii.Error, ValueError):
            continue
        entries.append(Entry(number, marker, fields[0], fields[1], blob))
    return entries


def load(path: Path) -> list[Entry]:
    try:
        return parse(path.read_text(errors="replace"))
    except FileNotFoundError:
        return []


def _glob(pattern: str, name: str) -> bool:
    regex = "".join(
        ".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern.lower()
    )
    return re.fullmatch(regex, name.lower()) is not None


def host_matches(patterns: str, name: str) -> bool:
    """Whether ``name`` (``host`` or ``[host]:port``) is one of ``patterns``."""
    if patterns.startswith("|1|"):
        try:
            salt, digest = (base64.b64decode(p) for p in patterns[3:].split("|", 1))
        except (binascii.Error, ValueError):
            return False
        mine = hmac.new(salt, name.encode(), hashlib.sha1).digest()
        return hmac.compare_digest(mine, digest)
    matched = False
    for pattern in patterns.split(","):
        negated = pattern.startswith("!")
        if _glob(pattern[1:] if negated else pattern, name):
            if negated:
                return False
            matched = True
    return matched


@dataclass(frozen=True)
class Verdict:
    status: str  # "ok", "revoked", "changed" (same type, other key), "unknown"
    lines: tuple[Entry, ...] = ()  # the lines behind a revoked or changed verdict
    other_types: tuple[str, ...] = ()  # key types known for the host, when unknown


def check(entries: list[Entry], name: str, keytype: str, blob: bytes) -> Verdict:
    mine = [e for e in entries if e.matches(name)]
    revoked = tuple(e for e in mine if e.marker == REVOKED and e.blob == blob)
    if revoked:
        return Verdict("revoked", revoked)
    plain = [e for e in mine if not e.marker]
    if any(e.blob == blob for e in plain):
        return Verdict("ok")
    same_type = tuple(e for e in plain if e.keytype == keytype)
    if same_type:
        return Verdict("changed", same_type)
    return Verdict("unknown", other_types=tuple(dict.fromkeys(e.keytype for e in plain)))


def known_types(entries: list[Entry], name: str) -> list[str]:
    """The key types recorded for ``name``: the ones to ask the server for first."""
    return list(dict.fromkeys(e.keytype for e in entries if not e.marker and e.matches(name)))
