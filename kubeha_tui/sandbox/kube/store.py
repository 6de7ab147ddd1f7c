"""The sandbox API server's storage: etcd-like, versioned objects.

One global resourceVersion counter; every write bumps it. Each object keeps its
versions since the last compaction, so a paginated list continues from the snapshot
it started on (as the real apiserver does), and a watch replays the events after a
resourceVersion, or ends with 410 Gone when that version was compacted away.
"""

from __future__ import annotations

import bisect
import copy
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace or "", name)
Match = Callable[[Obj], bool]


class ApiError(Exception):
    """A Kubernetes Status failure: code, reason and message as the apiserver words them."""

    def __init__(
        self, code: int, reason: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> Obj:
        doc: Obj = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details is not None:
            doc["details"] = self.details
        return doc


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Event:
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    resource: str
    obj: Obj


class Store:
    """Objects per resource (plural name), keyed by (namespace, name)."""

    def __init__(self, history: int = 50_000) -> None:
        self.cond = threading.Condition()
        self.rv = 1
        self.compacted = 1  # the oldest resourceVersion still served
        self.history = history
        self._versions: dict[str, dict[Key, list[tuple[int, Obj | None]]]] = {}
        self._keys: dict[str, list[Key]] = {}  # sorted, including tombstones until compaction
        self.events: deque[Event] = deque()

    # -- reads -------------------------------------------------------------------

    def get(self, resource: str, key: Key) -> Obj | None:
        with self.cond:
            versions = self._versions.get(resource, {}).get(key)
            return versions[-1][1] if versions else None

    def items(self, resource: str, namespace: str = "") -> list[Obj]:
        """The current objects, in key order (namespace "" = all)."""
        with self.cond:
            table = self._versions.get(resource, {})
            keys = self._keys.get(resource, [])
            if namespace:
                keys = keys[bisect.bisect_left(keys, (namespace, "")) :]
            out = []
            for key in keys:
                if namespace and key[0] != namespace:
                    break
                obj = table[key][-1][1]
                if obj is not None:
                    out.append(obj)
            return out

    def page(
        self,
        resource: str,
        namespace: str,
        at_rv: int,
        after: Key | None,
        *,
        limit: int,
        match: Match,
    ) -> tuple[list[Obj], Key | None]:
        """Up to ``limit`` matching objects as they were at ``at_rv``, after key ``after``.

        Returns the objects and the last key when more may follow.
        """
        with self.cond:
            if at_rv < self.compacted:
                raise ApiError(
                    410,
                    "Expired",
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter.",
                )
            table = self._versions.get(resource, {})
            keys = self._keys.get(resource, [])
            start = (namespace, "") if namespace else ("", "")
            i = bisect.bisect_right(keys, after) if after else bisect.bisect_left(keys, start)
            out: list[Obj] = []
            while i < len(keys):
                key = keys[i]
                if namespace and key[0] != namespace:
                    break
                obj = _at(table[key], at_rv)
                if obj is not None and match(obj):
                    if limit and len(out) == limit:
                        return out, keys[i - 1]
                    out.append(obj)
                i += 1
            return out, None

    # -- writes ------------------------------------------------------------------

    def put(self, resource: str, obj: Obj, event: str) -> Obj:
        """Store ``obj`` (already validated) as the next version; returns it."""
        with self.cond:
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self._append(resource, key_of(obj), obj)
            self.events.append(Event(self.rv, event, resource, obj))
            self._maybe_compact()
            self.cond.notify_all()
            return obj

    def remove(self, resource: str, key: Key) -> Obj:
        with self.cond:
            current = self.get(resource, key)
            if current is None:
                raise KeyError(key)
            self.rv += 1
            gone = copy.deepcopy(current)
            gone["metadata"]["resourceVersion"] = str(self.rv)
            self._append(resource, key, None)
            self.events.append(Event(self.rv, "DELETED", resource, gone))
            self._maybe_compact()
            self.cond.notify_all()
            return gone

    def _append(self, resource: str, key: Key, obj: Obj | None) -> None:
        table = self._versions.setdefault(resource, {})
        versions = table.get(key)
        if versions is None:
            table[key] = [(self.rv, obj)]
            bisect.insort(self._keys.setdefault(resource, []), key)
        else:
            versions.append((self.rv, obj))

    def _maybe_compact(self) -> None:
        if len(self.events) <= self.history * 5 // 4:
            return
        while len(self.events) > self.history:
            self.events.popleft()
        self.compacted = self.events[0].rv
        for resource, table in self._versions.items():
            dead = []
            for key, versions in table.items():
                keep = [v for v in versions if v[0] >= self.compacted]
                older = [v for v in versions if v[0] < self.compacted]
                if older and older[-1][1] is not None:
                    keep.insert(0, older[-1])
                if keep:
                    table[key] = keep
                else:
                    dead.append(key)
            for key in dead:
                del table[key]
            self._keys[resource] = sorted(table)

    # -- watch -------------------------------------------------------------------

    def watch(
        self, resource: str, since: int, stop: threading.Event, wait: float = 1.0
    ) -> Iterator[Event | None]:
        """Events of ``resource`` after ``since``; yields None after ``wait`` s of quiet."""
        with self.cond:
            if since < self.compacted - 1:
                raise ApiError(
                    410, "Expired", f"too old resource version: {since} ({self.compacted})"
                )
        last = since
        while not stop.is_set():
            with self.cond:
                if self.rv <= last:
                    self.cond.wait(wait)
                if last < self.compacted - 1:
                    raise ApiError(
                        410, "Expired", f"too old resource version: {last} ({self.compacted})"
                    )
                fresh = [e for e in _after(self.events, last) if e.resource == resource]
                last = self.rv
            if not fresh:
                yield None
            yield from fresh


def _at(versions: list[tuple[int, Obj | None]], rv: int) -> Obj | None:
    found: Obj | None = None
    for version_rv, obj in versions:
        if version_rv > rv:
            break
        found = obj
    return found


def _after(events: deque[Event], rv: int) -> list[Event]:
    """Events newer than rv (events are in rv order; search from the right)."""
    out = []
    for event in reversed(events):
        if event.rv <= rv:
            break
        out.append(event)
    out.reverse()
    return out


def key_of(obj: Obj) -> Key:
    meta = obj["metadata"]
    return (meta.get("namespace", ""), meta["name"])


def new_meta(meta: Obj, namespace: str) -> Obj:
    """Server-set metadata of a created object."""
    meta = dict(meta)
    if namespace:
        meta["namespace"] = namespace
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = now()
    meta.pop("resourceVersion", None)
    meta.pop("deletionTimestamp", None)
    return meta
