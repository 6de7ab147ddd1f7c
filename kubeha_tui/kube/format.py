"""Formatting shared by the console and the sandbox API server's tables (kubectl's rules)."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(stamp: str | None) -> datetime | None:
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp[:19]).replace(tzinfo=UTC)
    except ValueError:
        return None


def human_duration(seconds: float) -> str:
    """kubectl's ``HumanDuration``: 45s, 3m20s, 15m, 5h10m, 30h, 3d4h, 120d, 3y20d."""
    if seconds < -1:
        return "<invalid>"
    s = max(0, int(seconds))
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m{s % 60}s" if s % 60 else f"{m}m"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h{m % 60}m" if m % 60 else f"{h}h"
    if h < 48:
        return f"{h}h"
    if h < 192:
        return f"{h // 24}d{h % 24}h" if h % 24 else f"{h // 24}d"
    if h < 24 * 365 * 2:
        return f"{h // 24}d"
    y = h // (24 * 365)
    if y < 8:
        return f"{y}y{(h // 24) % 365}d"
    return f"{y}y"


def epoch(stamp: str | None) -> float:
    """Seconds since the epoch of an RFC 3339 time (0.0 when absent or unreadable)."""
    when = parse_time(stamp)
    return when.timestamp() if when else 0.0


def age_since(created: float, now: float) -> str:
    return human_duration(now - created) if created else "<unknown>"


def age(stamp: str | None, now: datetime | None = None) -> str:
    when = parse_time(stamp)
    if when is None:
        return "<unknown>"
    return human_duration(((now or datetime.now(UTC)) - when).total_seconds())
