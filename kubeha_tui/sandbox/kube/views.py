"""Pod logs, and the ``as=Table`` printer the server answers kubectl with."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from .printers import parse_time, table
from .store import Obj

__all__ = ["LOG_EVERY", "log_lines", "table"]


# -- logs ------------------------------------------------------------------------

LOG_EVERY = 2.0  # seconds between two lines of a running container's log


def log_lines(pod: Obj, container: str, until: datetime | None = None) -> list[str]:
    """The container's log: a start line, then one line every LOG_EVERY seconds while running."""
    started = parse_time(pod.get("status", {}).get("startTime"))
    if started is None or pod.get("status", {}).get("phase") != "Running":
        return []
    image = next(
        (c.get("image", "") for c in pod["spec"]["containers"] if c["name"] == container), ""
    )
    seconds = ((until or datetime.now(UTC)) - started).total_seconds()
    count = min(5000, int(seconds / LOG_EVERY) + 1)
    seed = hashlib.sha1(pod["metadata"]["name"].encode()).hexdigest()
    out = [f"{pod['metadata']['name']}/{container}: started {image}"]
    for i in range(1, count):
        when = datetime.fromtimestamp(started.timestamp() + i * LOG_EVERY, UTC)
        stamp = when.strftime("%d/%b/%Y:%H:%M:%S +0000")
        client = f"10.32.0.{int(seed[i % 32], 16) + 1}"
        out.append(f'{client} - - [{stamp}] "GET / HTTP/1.1" 200 612 "-" "curl/7.88.1"')
    return out
