"""RBD volumes: list (names at once, details in parallel), create, delete and unlock.
Facts and pitfalls: shared/reference/ceph-ops.md ("RBD images", "Locks and stale lockers")."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from kubeha_tui.ceph import headers
from kubeha_tui.ceph.connection import CephService, import_binding
from kubeha_tui.errors import ServiceError

FEATURES = {
    "layering": 1,
    "exclusive-lock": 4,
    "object-map": 8,
    "fast-diff": 16,
    "deep-flatten": 32,
    "journaling": 64,
}
NEEDS = {"object-map": "exclusive-lock", "journaling": "exclusive-lock", "fast-diff": "object-map"}
LEGACY_FEATURES = ("layering",)  # what CoreOS-era krbd maps
MODERN_FEATURES = ("layering", "exclusive-lock", "object-map", "fast-diff", "deep-flatten")
KUBELET_COOKIE = "kubelet_lock_magic_"
UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
DETAIL_THREADS = 16
BATCH_EVERY = 0.5  # seconds between batches of details


def parse_size(text: str) -> int:
    """``10G``, ``512M``, ``1T`` (binary units, as rbd takes them) or plain bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGTPB]?)(?:I?B)?\s*", text.upper())
    if not m:
        raise ServiceError(
            f"size {text!r}: expected a number with an optional unit, e.g. 10G, 512M, 1T"
        )
    size = int(float(m[1]) * UNITS[m[2]])
    if size <= 0:
        raise ServiceError(f"size {text!r}: must be more than 0")
    return size


def human_size(size: int) -> str:
    for unit in ("P", "T", "G", "M", "K"):
        if size >= UNITS[unit] and size % (UNITS[unit] // 1024 or 1) == 0:
            value = size / UNITS[unit]
            return f"{value:.0f} {unit}iB" if value == int(value) else f"{value:.1f} {unit}iB"
    return f"{size} B"


def validate_name(name: str) -> None:
    if not name.strip():
        raise ServiceError("the image name is empty")
    if "/" in name or "@" in name:
        raise ServiceError(
            f"image name {name!r}: '/' and '@' are not allowed (they mean pool and snapshot)"
        )
    if name != name.strip() or len(name) > 255:
        raise ServiceError(f"image name {name!r}: no surrounding spaces, at most 255 characters")


def feature_bits(names: Iterable[str]) -> int:
    chosen = set(names)
    for name in chosen:
        if name not in FEATURES:
            raise ServiceError(f"unknown feature {name!r} (known: {', '.join(FEATURES)})")
        if NEEDS.get(name) and NEEDS[name] not in chosen:
            raise ServiceError(f"feature {name} needs {NEEDS[name]}")
    return sum(FEATURES[n] for n in chosen)


def feature_names(bits: int) -> tuple[str, ...]:
    return tuple(n for n, b in FEATURES.items() if bits & b)


def plain_addr(addr: str) -> str:
    """``v1:127.0.0.1:0/1234`` and ``127.0.0.1:0/1234`` name the same client."""
    return re.sub(r"^v[12]:", "", addr.strip())


@dataclass(frozen=True)
class Locker:
    client: str  # client.4123
    cookie: str
    address: str
    alive: bool  # the client still has a watch on the image
    tag: str = ""

    @property
    def label(self) -> str:
        if self.cookie.startswith(KUBELET_COOKIE):
            return f"Kubernetes node {self.cookie[len(KUBELET_COOKIE) :]}'s lock"
        if self.tag == "internal" or self.cookie.startswith("auto "):
            return "exclusive-lock feature"
        return "advisory lock"


@dataclass(frozen=True)
class Image:
    pool: str
    name: str
    id: str = ""
    size: int | None = None  # None: details not loaded yet
    features: tuple[str, ...] = ()
    lockers: tuple[Locker, ...] = ()
    watchers: tuple[str, ...] = ()
    error: str = ""
    watched: bool = False  # watchers known (they need an open image, so they come last)

    @property
    def loaded(self) -> bool:
        """Size, features and lockers known (or the image could not be read)."""
        return self.size is not None or bool(self.error)

    @property
    def complete(self) -> bool:
        return bool(self.error) or (self.loaded and self.watched)

    @property
    def state(self) -> str:
        if not self.loaded:
            return "…"
        if self.error:
            return "error"
        if self.watched and any(not lk.alive for lk in self.lockers):
            return "stale lock"
        if self.lockers:
            return "locked"
        if not self.watched:
            return "…"
        return "in use" if self.watchers else "free"


def list_names(service: CephService, pool: str) -> list[Image]:
    """Names and ids only, in one call: fast enough to show at once."""
    rbd = import_binding("rbd")
    with service.ioctx(pool) as ioctx:
        try:
            entries = rbd.RBD().list2(ioctx)
            return sorted((Image(pool, e["name"], e["id"]) for e in entries), key=lambda i: i.name)
        except AttributeError:  # before Nautilus: names only
            return [Image(pool, n) for n in sorted(rbd.RBD().list(ioctx))]


def _details(service: CephService, ioctx: Any, image: Image, watchers: bool) -> Image:
    rbd = import_binding("rbd")
    if service.closing:
        return image  # the app is quitting: stop opening images
    try:
        kw = {"image_id": image.id} if image.id else {"name": image.name}
        with rbd.Image(ioctx, read_only=True, **kw) as img:
            watching = tuple(plain_addr(w["addr"]) for w in img.watchers_list()) if watchers else ()
            found = img.list_lockers() or {}
            lockers = tuple(
                Locker(
                    client,
                    cookie,
                    plain_addr(addr),
                    plain_addr(addr) in watching,
                    found.get("tag", ""),
                )
                for client, cookie, addr in found.get("lockers", [])
            )
            return replace(
                image,
                size=img.size(),
                features=feature_names(img.features()),
                lockers=lockers,
                watchers=watching,
                watched=True,
            )
    except rbd.ImageNotFound:
        return replace(image, error="gone")
    except rbd.Error as exc:
        return replace(image, error=str(exc))


def iter_details(
    service: CephService, images: Sequence[Image], first: Iterable[str] = ()
) -> Iterator[list[Image]]:
    """Details in batches, rows on screen (``first``) first, in two passes: size, features
    and lockers from the header objects (three asynchronous calls an image, no open), then
    watchers by opening each image read-only in parallel (the bindings release the GIL).
    Without image ids (before Nautilus) the second pass does everything."""
    if not images:
        return
    front = set(first)
    order = sorted(images, key=lambda i: i.name not in front)
    if all(i.id for i in order):
        yield from _header_pass(service, order, len(front))
    yield from _open_pass(service, order, len(front))


def _header_pass(service: CephService, order: list[Image], front: int) -> Iterator[list[Image]]:
    step = max(front, 200)
    with service.ioctx(order[0].pool) as ioctx:
        for start in range(0, len(order), step):
            chunk = order[start : start + step]
            found = headers.read_headers(ioctx, [i.id for i in chunk])
            yield [_from_header(i, found[i.id]) for i in chunk]


def _from_header(image: Image, header: headers.Header) -> Image:
    if header.error:
        return replace(image, error=header.error)
    lockers = tuple(
        Locker(c, cookie, plain_addr(a), False, header.tag) for c, cookie, a in header.lockers
    )
    return replace(
        image, size=header.size, features=feature_names(header.features), lockers=lockers
    )


def _open_pass(service: CephService, order: list[Image], front: int) -> Iterator[list[Image]]:
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


def load_details(service: CephService, images: Sequence[Image]) -> list[Image]:
    """Every detail, watchers included (the last pass's answer for each image)."""
    latest = {image.name: image for batch in iter_details(service, images) for image in batch}
    return [latest.get(image.name, image) for image in images]


def image_details(service: CephService, pool: str, name: str) -> Image:
    for image in list_names(service, pool):
        if image.name == name:
            return load_details(service, [image])[0]
    raise ServiceError(f"image {pool}/{name} does not exist")


# -- create and delete -------------------------------------------------------------


@dataclass(frozen=True)
class CreateRequest:
    pool: str
    name: str
    size: int
    features: tuple[str, ...] = LEGACY_FEATURES


def check_create(
    service: CephService, pool: str, name: str, size: str, features: Iterable[str]
) -> CreateRequest:
    """Validate everything before anything is created; ServiceError says what is wrong."""
    validate_name(name)
    request = CreateRequest(pool, name, parse_size(size), tuple(features))
    feature_bits(request.features)
    if any(i.name == name for i in list_names(service, pool)):  # also checks the pool exists
        raise ServiceError(f"image {pool}/{name} already exists")
    return request


def create(service: CephService, request: CreateRequest) -> Image:
    rbd = import_binding("rbd")
    with service.ioctx(request.pool) as ioctx:
        try:
            rbd.RBD().create(
                ioctx,
                request.name,
                request.size,
                old_format=False,
                features=feature_bits(request.features),
            )
        except rbd.ImageExists:
            raise ServiceError(f"image {request.pool}/{request.name} already exists") from None
        except rbd.Error as exc:
            raise ServiceError(f"creating {request.pool}/{request.name} failed: {exc}") from None
    return image_details(service, request.pool, request.name)


def delete(service: CephService, pool: str, name: str) -> None:
    """Remove the image; refused while a client watches it or anyone holds a lock on it."""
    rbd = import_binding("rbd")
    image = image_details(service, pool, name)
    if image.watchers:
        raise ServiceError(
            f"{pool}/{name} is in use by {len(image.watchers)} client(s) ({', '.join(image.watchers)}); not deleting"
        )
    if image.lockers:
        # An advisory lock makes remove() spin forever on exclusive-lock images.
        raise ServiceError(f"{pool}/{name} is locked by {image.lockers[0].client}; unlock it first")
    with service.ioctx(pool) as ioctx:
        try:
            rbd.RBD().remove(ioctx, name)
        except rbd.ImageBusy:
            raise ServiceError(
                f"{pool}/{name} is busy (a client opened it); not deleting"
            ) from None
        except rbd.Error as exc:
            raise ServiceError(f"deleting {pool}/{name} failed: {exc}") from None


# -- unlock ----------------------------------------------------------------------


@dataclass(frozen=True)
class UnlockResult:
    locker: Locker
    fenced: bool  # the client's address is in the blocklist now
    text: str


def blocklisted(service: CephService) -> set[str]:
    op = service.capabilities().blocklist
    entries = service.json({"prefix": f"osd {op} ls"}) or []
    return {plain_addr(e["addr"]) for e in entries if isinstance(e, dict) and "addr" in e}


def unlock(
    service: CephService, pool: str, name: str, client: str, cookie: str, *, force: bool = False
) -> UnlockResult:
    """Break one lock. A stale locker is fenced first (blocklisted), which is what makes
    breaking safe; a live client's lock is refused unless ``force``."""
    rbd = import_binding("rbd")
    image = image_details(service, pool, name)
    locker = next((lk for lk in image.lockers if (lk.client, lk.cookie) == (client, cookie)), None)
    if locker is None:
        raise ServiceError(f"{pool}/{name} has no lock {cookie!r} held by {client} any more")
    if locker.alive and not force:
        raise ServiceError(
            f"{client} at {locker.address} is alive (it still watches {name}); breaking its lock would "
            "fence a working client. Force it only if you know that client is gone."
        )
    caps = service.capabilities()
    op = caps.blocklist
    service.command({"prefix": f"osd {op}", f"{op}op": "add", "addr": locker.address})
    with service.ioctx(pool) as ioctx, rbd.Image(ioctx, name=name) as img:
        try:
            if locker.label == "exclusive-lock feature" and caps.lock_owners:
                for owner in img.lock_get_owners():
                    img.lock_break(owner["mode"], owner["owner"])
            else:
                img.break_lock(client, cookie)
        except rbd.ImageNotFound:
            pass  # the lock went away meanwhile
        except rbd.Error as exc:
            raise ServiceError(f"breaking {client}'s lock on {pool}/{name} failed: {exc}") from None
    fenced = locker.address in blocklisted(service)
    verb = "fenced and unlocked" if fenced else "unlocked, but NOT fenced (check the blocklist)"
    return UnlockResult(locker, fenced, f"{pool}/{name}: {locker.client} ({locker.address}) {verb}")


def iter_pools(service: CephService) -> Iterator[str]:
    """Pools with the rbd application (all pools when none is tagged, as on Jewel)."""
    pools = service.json({"prefix": "osd pool ls", "detail": "detail"}) or []
    tagged = [p["pool_name"] for p in pools if "rbd" in (p.get("application_metadata") or {})]
    yield from tagged or [p["pool_name"] for p in pools]
