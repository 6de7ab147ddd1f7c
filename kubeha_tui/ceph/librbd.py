"""The RBD half of the librados backend: list, details in batches, create, remove and
break a lock through Debian's rbd binding. Facts: shared/reference/ceph-ops.md."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kubeha_tui.ceph import headers, watchlist
from kubeha_tui.ceph.backend import Progress, Stopped, screen_first, stopped_text
from kubeha_tui.ceph.models import (
    HALF_DELETED,
    CreateRequest,
    Image,
    Locker,
    feature_bits,
    feature_names,
    listed_watchers,
    plain_addr,
    with_watchers,
)
from kubeha_tui.errors import ServiceError

if TYPE_CHECKING:
    from kubeha_tui.ceph.connection import CephService

DETAIL_THREADS = 16
BATCH_EVERY = 0.5  # seconds between batches of details
HEADER_CHUNK = 200  # images whose headers and watchers are read at once
WATCHERS_TIMEOUT = 60.0  # seconds for one chunk's watcher lists (each bounded by the OSD timeout)


def _rbd() -> Any:
    from kubeha_tui.ceph.connection import import_binding  # noqa: PLC0415 - no cycle at import

    return import_binding("rbd")


def list_names(service: CephService, pool: str) -> list[Image]:
    """Names and ids only, in one call: fast enough to show at once."""
    rbd = _rbd()
    with service.ioctx(pool) as ioctx:
        try:
            entries = rbd.RBD().list2(ioctx)
            return sorted((Image(pool, e["name"], e["id"]) for e in entries), key=lambda i: i.name)
        except AttributeError:  # before Nautilus: names only
            return [Image(pool, n) for n in sorted(rbd.RBD().list(ioctx))]
        except rbd.Error as exc:
            service.forget()
            raise ServiceError(f"cannot list the images of {pool!r}: {exc}") from None


def _details(service: CephService, ioctx: Any, image: Image, watchers: bool) -> Image:
    rbd = _rbd()
    if service.closing:
        return image  # the app is quitting: stop opening images
    if image.error:
        return replace(image, watched=True)  # the header pass found it half-deleted
    try:
        kw = {"image_id": image.id} if image.id else {"name": image.name}
        with rbd.Image(ioctx, read_only=True, **kw) as img:
            watching = tuple(plain_addr(w["addr"]) for w in img.watchers_list()) if watchers else ()
            if image.size is not None:  # the header pass read the rest: only the watchers
                return with_watchers(image, watching)
            found = img.list_lockers() or {}
            lockers = tuple(
                Locker(client, cookie, plain_addr(addr), plain_addr(addr) in watching,
                       found.get("tag", ""))
                for client, cookie, addr in found.get("lockers", [])
            )  # fmt: skip
            return replace(
                image,
                size=img.size(),
                features=feature_names(img.features()),
                lockers=lockers,
                watchers=watching,
                watched=True,
            )
    except rbd.ImageNotFound:
        return replace(image, error=HALF_DELETED)
    except rbd.Error as exc:
        return replace(image, error=str(exc))


def iter_details(
    service: CephService, images: Sequence[Image], first: Iterable[str] = ()
) -> Iterator[list[Image]]:
    """Details in batches, rows on screen (``first``) first. With image ids (Nautilus+),
    each chunk's size, features and lockers come from its header objects (three
    asynchronous calls an image, no open) while its watchers are listed on those same
    objects alongside (watchlist.py), so every batch is complete. Where watchers cannot
    be listed so (or for an image whose listing failed), and without ids, the images are
    opened read-only in parallel instead (the bindings release the GIL)."""
    if not images:
        return
    front = set(first)
    order = sorted(images, key=lambda i: i.name not in front)
    if not all(i.id for i in order):
        yield from _open_pass(service, order, sum(i.name in front for i in order))
        return
    current = {i.name: i for i in order}
    for batch in _header_pass(service, order, sum(i.name in front for i in order)):
        current.update((i.name, i) for i in batch)
        yield batch
    rest = [current[i.name] for i in order if not current[i.name].complete]
    if rest:
        yield from _open_pass(service, rest, sum(i.name in front for i in rest))


def _header_pass(service: CephService, order: list[Image], front: int) -> Iterator[list[Image]]:
    lister = service.watch_lister()
    with (
        service.ioctx(order[0].pool) as ioctx,
        ThreadPoolExecutor(1, thread_name_prefix="rbd-watchers") as side,
    ):
        for chunk in screen_first(order, front, HEADER_CHUNK):
            if service.closing:
                return  # the app is quitting
            listing = (
                side.submit(lister.watchers, chunk[0].pool, [headers.header_object(i.id) for i in chunk])
                if lister is not None
                else None
            )  # fmt: skip
            found = headers.read_headers(ioctx, [(i.id, i.name) for i in chunk])
            batch = [headers.apply(i, found[i.id]) for i in chunk]
            if listing is not None:
                try:
                    watching = listing.result(timeout=WATCHERS_TIMEOUT)
                except (watchlist.Unavailable, TimeoutError) as exc:
                    service.lister_failed(exc)
                    lister = None
                else:
                    batch = [
                        listed_watchers(i, watching.get(headers.header_object(i.id))) for i in batch
                    ]
            yield batch


def _open_pass(service: CephService, order: list[Image], front: int) -> Iterator[list[Image]]:
    if service.closing:
        return
    watchers = service.capabilities().watchers_list
    batch: list[Image] = []
    last = time.monotonic()
    with service.ioctx(order[0].pool) as ioctx, ThreadPoolExecutor(DETAIL_THREADS) as pool:
        for n, result in enumerate(
            pool.map(lambda i: _details(service, ioctx, i, watchers), order), start=1
        ):
            batch.append(result)
            # The rows on screen at once, then at most twice a second: each batch costs a redraw.
            if n in (len(order), front) or time.monotonic() - last >= BATCH_EVERY:
                yield batch
                batch, last = [], time.monotonic()


def create(service: CephService, request: CreateRequest) -> None:
    rbd = _rbd()
    with service.ioctx(request.pool) as ioctx:
        try:
            rbd.RBD().create(ioctx, request.name, request.size, old_format=False,
                             features=feature_bits(request.features))  # fmt: skip
        except rbd.ImageExists:
            raise ServiceError(f"image {request.pool}/{request.name} already exists") from None
        except (rbd.Error, OverflowError) as exc:
            raise ServiceError(f"creating {request.pool}/{request.name} failed: {exc}") from None


def remove(service: CephService, pool: str, name: str, progress: Progress | None = None) -> None:
    rbd = _rbd()
    stopped: list[tuple[int, int]] = []

    def on_progress(done: int, total: int) -> int:
        if progress is None or progress(done, total):
            return 0
        stopped.append((done, total))
        return -1  # librbd stops and reports EPERM

    with service.ioctx(pool) as ioctx:
        try:
            rbd.RBD().remove(ioctx, name, on_progress=on_progress)
        except rbd.ImageBusy:
            raise ServiceError(
                f"{pool}/{name} is busy (a client opened it); not deleting"
            ) from None
        except rbd.ImageNotFound:
            raise ServiceError(f"{pool}/{name} does not exist any more") from None
        except rbd.Error as exc:
            if stopped:
                raise Stopped(stopped_text(pool, name, *stopped[0])) from None
            raise ServiceError(f"deleting {pool}/{name} failed: {exc}") from None


def break_lock(service: CephService, pool: str, name: str, locker: Locker) -> None:
    rbd = _rbd()
    caps = service.capabilities()
    with service.ioctx(pool) as ioctx:
        try:
            with rbd.Image(ioctx, name=name) as img:
                if locker.feature_lock and caps.lock_owners:
                    for owner in img.lock_get_owners():
                        img.lock_break(owner["mode"], owner["owner"])
                else:
                    img.break_lock(locker.client, locker.cookie)
        except rbd.ImageNotFound:
            raise ServiceError(f"{pool}/{name} does not exist any more; nothing unlocked") from None
        except rbd.Error as exc:
            raise ServiceError(
                f"breaking {locker.client}'s lock on {pool}/{name} failed: {exc}"
            ) from None
