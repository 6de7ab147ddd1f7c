"""List + watch of one resource kind, kept in a local cache (client-go's reflector).

A paginated list (``limit``/``continue`` where served) gives the objects and a
resourceVersion; a watch from there applies ADDED/MODIFIED/DELETED and BOOKMARK
events. A 410 Gone (on the watch or an expired continue token) means relist; other
failures retry with backoff. A user who may not list cluster-wide falls back to the
kubeconfig context's namespace.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from .client import KubeClient, KubeError, ServerInfo, Stream, unexpected

log = logging.getLogger(__name__)

PAGE = 500
HEAD = 4096  # bytes of a page where its metadata (and continue token) must be
BACKOFF_MAX = 30.0  # an answer that is an error (403, 500): it will not change soon
OUTAGE_BACKOFF_MAX = 2.0  # no answer at all: retry often, to be back soon after the API


class Gone(Exception):
    """The resourceVersion is too old: list again."""


class Stopped(Exception):
    """The reflector was stopped in the middle of a list."""


def continue_hint(data: bytes) -> str | None:
    """The continue token of a list page, read from the head of its body (the apiserver
    writes ``metadata`` before ``items``), without decoding the items; None when there is
    none or the head is not of that shape (the page's decoded metadata then says)."""
    end = data.find(b'"items":', 0, HEAD)
    if end < 0:
        return None
    try:
        head = json.loads(data[:end].rstrip().rstrip(b",") + b"}")
        token = head["metadata"].get("continue")
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    return token if isinstance(token, str) and token else None


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic garbage collection in the block (in any thread): for work that makes
    many objects and no cycles. Left as it is when the collector is off already."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class _Fetch:
    """One page's request, made by a thread of its own while the caller decodes the page
    before it."""

    def __init__(self, client: KubeClient, path: str, query: dict[str, Any]) -> None:
        self._done = threading.Event()
        self._data: bytes = b""
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(client, path, query), name="list-page", daemon=True
        )
        self._thread.start()

    def _run(self, client: KubeClient, path: str, query: dict[str, Any]) -> None:
        try:
            self._data = client.request_raw(path, query)
        except BaseException as exc:  # handed to the reflector's thread, which reports it
            self._error = exc
        finally:
            self._done.set()

    def result(self, stop: threading.Event) -> bytes:
        """The page's body; its KubeError (410 Gone for an expired continue token);
        Stopped if ``stop`` is set first. The request has its own timeouts."""
        while not self._done.wait(0.5):
            if stop.is_set():
                raise Stopped
        if isinstance(self._error, KubeError) and self._error.code == 410:
            raise Gone from None  # the continue token expired: start over
        if self._error is not None:
            raise self._error
        return self._data


@dataclass(frozen=True)
class Kind:
    plural: str
    namespaced: bool
    parse: Callable[[dict[str, Any]], Any]


def key_of(obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


class Reflector:
    def __init__(
        self,
        client: KubeClient,
        kind: Kind,
        info: ServerInfo,
        on_change: Callable[[], None],
        stop: threading.Event,
    ) -> None:
        self.client, self.kind, self.info = client, kind, info
        self.on_change, self.stop = on_change, stop
        self.items: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.synced = False
        self.error: KubeError | None = None  # the last failure, until the next success
        self.note = ""  # e.g. "pods: only namespace team-a (forbidden cluster-wide)"
        self.namespace: str | None = None  # None: all namespaces
        self.relists = 0
        self._stream: Stream | None = None  # the open watch
        self.thread = threading.Thread(target=self.run, name=f"watch-{kind.plural}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return dict(self.items)

    # -- the loop ---------------------------------------------------------------------

    def run(self) -> None:
        backoff = 1.0
        while not self.stop.is_set():
            try:
                rv = self.list()
                backoff = 1.0
                while not self.stop.is_set():
                    rv = self.watch(rv)
            except Stopped:
                return
            except Gone:
                self.relists += 1
                log.info("%s: resourceVersion expired, relisting", self.kind.plural)
            except KubeError as exc:
                if exc.code == 403 and self.narrow():
                    continue
                self._failed(exc)
                cap = BACKOFF_MAX if exc.code else OUTAGE_BACKOFF_MAX
                backoff = min(cap, backoff)
                self.stop.wait(backoff * random.uniform(0.8, 1.2))
                backoff = min(cap, backoff * 2)
            except Exception as exc:  # a bug: keep the loop alive, report it (logged once)
                self._failed(unexpected(exc, f"the {self.kind.plural} reflector"))
                self.stop.wait(BACKOFF_MAX)

    def _failed(self, exc: KubeError) -> None:
        log.info("%s: %s", self.kind.plural, exc)
        self.error = exc
        self.on_change()

    def narrow(self) -> bool:
        """Forbidden cluster-wide: watch only the context's namespace (once)."""
        if self.namespace is not None or not self.kind.namespaced:
            return False
        self.namespace = self.client.namespace
        self.note = (
            f"{self.kind.plural}: only namespace {self.namespace} (not allowed cluster-wide)"
        )
        return True

    def list(self) -> str:
        """List all pages; the first list publishes page by page, a relist swaps at the end.

        The next page is asked for as soon as its continue token is read from the head of
        this one's body, and this one is decoded while the server makes the next: the
        server's time and ours overlap instead of adding up, page after page.
        """
        path = self.info.path(self.kind.plural, self.namespace)
        chunking = self.info.chunking
        fresh: dict[str, Any] = {}
        first = not self.synced
        pending = _Fetch(self.client, path, {"limit": PAGE} if chunking else {})
        while True:
            data = pending.result(self.stop)
            hint = continue_hint(data) if chunking else None
            if hint:
                pending = _Fetch(self.client, path, {"limit": PAGE, "continue": hint})
            token, rv = self._add_page(data, path, fresh)
            token = token if chunking else None
            if token and token != hint:  # a head that continue_hint does not read: ask now
                pending = _Fetch(self.client, path, {"limit": PAGE, "continue": token})
            if first or not token:
                with self.lock:
                    self.items = dict(fresh) if token else fresh
                self.synced = not token
                self.error = None
                self.on_change()
            if not token:
                return rv

    def _add_page(self, data: bytes, path: str, into: dict[str, Any]) -> tuple[str | None, str]:
        """Decode a page and add its objects to ``into``; its continue token and
        resourceVersion. With the collector paused: JSON makes no reference cycles, and a
        collection meanwhile would only walk the page's objects (each twice, as it moves
        them to the older generations), ~20 % of a big list's time. The page is gone when
        this returns."""
        parse = self.kind.parse
        with collector_paused():
            page = self.client.decode(data, f"GET {path}")
            if not isinstance(page, dict):
                raise KubeError(f"GET {path}: the Kubernetes API at {self.client.host} "
                                f"answered with JSON that is not a list")  # fmt: skip
            into.update((key_of(obj), parse(obj)) for obj in page.get("items") or [])
            meta = page.get("metadata") or {}
            del page
        token = meta.get("continue")
        return (str(token) if token else None), str(meta.get("resourceVersion", ""))

    def watch(self, rv: str) -> str:
        """Apply events from ``rv`` until the server ends the watch; returns the last rv."""
        timeout = random.randint(240, 300)
        query: dict[str, Any] = {
            "watch": "true",
            "resourceVersion": rv,
            "timeoutSeconds": timeout,
            "allowWatchBookmarks": "true" if self.info.bookmarks else None,
        }
        path = self.info.path(self.kind.plural, self.namespace)
        try:
            self._stream = self.client.open_stream(path, query, read_timeout=timeout + 30)
            for lines in self._stream.batches():
                for line in lines:
                    if self.stop.is_set():
                        return rv
                    rv = self.apply(json.loads(line), rv)
        except KubeError as exc:
            if exc.code == 410:
                raise Gone from None
            raise
        finally:
            self._stream = None
        return rv

    def restart_watch(self) -> None:
        """End the open watch now (from any thread); the loop watches again from the
        last resourceVersion. For a connection that may have died without a word."""
        stream = self._stream
        if stream is not None:
            stream.close()

    def apply(self, event: dict[str, Any], rv: str) -> str:
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                raise Gone
            raise KubeError(
                f"watch {self.kind.plural}: {obj.get('message')}", int(obj.get("code") or 0)
            )
        new_rv = str((obj.get("metadata") or {}).get("resourceVersion") or rv)
        if kind == "BOOKMARK":
            return new_rv
        key = key_of(obj)
        with self.lock:
            if kind == "DELETED":
                self.items.pop(key, None)
            else:
                self.items[key] = self.kind.parse(obj)
        self.error = None
        self.on_change()
        return new_rv
