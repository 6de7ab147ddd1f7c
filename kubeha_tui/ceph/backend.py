"""The one seam between the Ceph screens, the wizard and a Ceph cluster. Two backends
plug in: librados in this process (connection.CephService) and a helper running
inside a Ceph pod through the Kubernetes exec API (pod.PodCeph). The safety rules
(refuse while watched, fence before breaking, refuse an up OSD, ask safe-to-destroy)
live above it, in images.py and osds.py, once for both."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

from kubeha_tui.ceph.models import Capabilities, CreateRequest, Image, Locker
from kubeha_tui.errors import ServiceError

# Called as a long removal goes, (objects done, objects in all); False stops it.
Progress = Callable[[int, int], bool]


class Stopped(ServiceError):
    """A long operation stopped on the caller's word, part done."""


def stopped_text(pool: str, name: str, done: int, total: int) -> str:
    return (f"stopped after {done} of {total} objects: {pool}/{name} is half-deleted "
            "(its data is partly gone); delete it again to finish")  # fmt: skip


class CephBackend(Protocol):
    closing: bool  # True while the app quits: long loops stop early

    @property
    def via(self) -> str:
        """What carries the calls, for the header: ``librados`` or ``pod NS/NAME``."""
        ...

    def command(
        self, cmd: dict[str, Any], *, mgr: bool = False, check: bool = True
    ) -> tuple[int, Any, str]:
        """A mon (or mgr) command with JSON output: ``(ret, parsed, status text)``;
        ServiceError when ``check`` and ret is not 0, or when Ceph cannot be asked."""
        ...

    def json(self, cmd: dict[str, Any], *, mgr: bool = False) -> Any: ...

    def capabilities(self) -> Capabilities: ...

    def list_images(self, pool: str) -> list[Image]:
        """Names (and ids where the release has them), sorted; no details."""
        ...

    def read_details(self, images: Sequence[Image], first: Iterable[str] = ()) -> Iterator[list[Image]]:  # fmt: skip
        """Size, features, lockers and watchers in batches, the names in ``first`` first.
        An image may come twice: without watchers (``watched`` False), then with."""
        ...

    def create_image(self, request: CreateRequest) -> None: ...

    def remove_image(self, pool: str, name: str, progress: Progress | None = None) -> None:
        """Remove it; ServiceError when a client has it open (ImageBusy); Stopped when
        ``progress`` said stop."""
        ...

    def break_lock(self, pool: str, name: str, locker: Locker) -> None:
        """Break one lock (no checks here: images.unlock decides whether it may)."""
        ...

    def forget(self) -> None: ...

    def close(self) -> None: ...


def screen_first(order: Sequence[Image], shown: int, size: int) -> Iterator[Sequence[Image]]:
    """``order``'s first ``shown`` (the rows on screen) alone, then ``size`` at a time."""
    if shown:
        yield order[:shown]
    for at in range(shown, len(order), size):
        yield order[at : at + size]


def answer(prefix: str, ret: int, out: bytes, errs: str, *, check: bool) -> tuple[int, Any, str]:
    """A mon/mgr command's raw answer as ``(ret, parsed JSON or text, status text)``."""
    if check and ret:
        raise ServiceError(f"Ceph {prefix!r} failed ({ret}): {errs.strip() or 'no message'}")
    try:
        # `osd blocklist ls` answers two JSON documents back to back; the first is the list.
        parsed = json.JSONDecoder().raw_decode(out.decode().strip())[0] if out.strip() else None
    except ValueError:
        parsed = out.decode(errors="replace")
    return ret, parsed, errs


def prefixes(descriptions: Any) -> frozenset[str]:
    """Command prefixes from ``get_command_descriptions`` (sig: literal words first)."""
    out = set()
    for cmd in (descriptions or {}).values() if isinstance(descriptions, dict) else ():
        words = [w for w in cmd.get("sig", []) if isinstance(w, str)]
        if words:
            out.add(" ".join(words))
    return frozenset(out)
