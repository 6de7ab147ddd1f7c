"""RBD volumes above the seam (backend.CephBackend): list (names at once, details in
batches), create, delete and unlock, with the safety rules written once for every
backend. Facts and pitfalls: shared/reference/ceph-ops.md ("RBD images", "Locks and
stale lockers")."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

from kubeha_tui.ceph.backend import CephBackend, Progress
from kubeha_tui.ceph.models import (
    FEATURES,
    KUBELET_COOKIE,
    LEGACY_FEATURES,
    MODERN_FEATURES,
    NEEDS,
    CreateRequest,
    Image,
    Locker,
    feature_bits,
    feature_names,
    plain_addr,
)
from kubeha_tui.errors import ServiceError

__all__ = [
    "FEATURES", "KUBELET_COOKIE", "LEGACY_FEATURES", "MODERN_FEATURES", "NEEDS", "CreateRequest",
    "Image", "Locker", "feature_bits", "feature_names", "plain_addr",
]  # fmt: skip

MAX_SIZE = (1 << 64) - 1  # librbd's size is a uint64
OBJECT_SIZE = 1 << 22  # order 22, the default
OBJECT_MAP_MAX = 256_000_000  # objects an object map can track (librbd refuses more)
UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}


def parse_size(text: str) -> int:
    """``10G``, ``512M``, ``1T`` (binary units, as rbd takes them) or plain bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGTPB]?)(?:I?B)?\s*", text.upper(), re.ASCII)
    if not m:
        raise ServiceError(
            f"size {text!r}: expected a number with an optional unit, e.g. 10G, 512M, 1T"
        )
    size = int(Fraction(m[1]) * UNITS[m[2]])
    if size <= 0:
        raise ServiceError(f"size {text!r}: must be more than 0")
    if size > MAX_SIZE:
        raise ServiceError(f"size {text!r}: more than librbd's limit of 16 EiB (2^64 - 1 bytes)")
    return size


def size_checks(service: CephBackend, request: CreateRequest) -> CreateRequest:
    """Refuse what librbd cannot make; warn (for a second confirmation) when the image is
    bigger than the cluster's raw capacity or the pool's byte quota (images are thin, so
    Ceph makes them, and writes fail once the space is gone)."""
    objects = -(-request.size // OBJECT_SIZE)
    if "object-map" in request.features and objects > OBJECT_MAP_MAX:
        most = human_size(OBJECT_MAP_MAX * OBJECT_SIZE)
        raise ServiceError(f"size {human_size(request.size)}: object-map takes at most "
                           f"{OBJECT_MAP_MAX:,} objects of 4 MiB ({most}); drop object-map or make it smaller")  # fmt: skip
    warnings = []
    raw = int(((service.json({"prefix": "df"}) or {}).get("stats") or {}).get("total_bytes", 0))
    if raw and request.size > raw:
        warnings.append(f"{human_size(request.size)} is more than the cluster's raw capacity "
                        f"({human_size(raw)}): writes will fail long before it is full")  # fmt: skip
    quota = service.json({"prefix": "osd pool get-quota", "pool": request.pool}) or {}
    max_bytes = int(quota.get("quota_max_bytes", 0)) if isinstance(quota, dict) else 0
    if max_bytes and request.size > max_bytes:
        warnings.append(f"{human_size(request.size)} is more than pool {request.pool}'s quota "
                        f"({human_size(max_bytes)})")  # fmt: skip
    return replace(request, warnings=tuple(warnings))


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


def list_names(service: CephBackend, pool: str) -> list[Image]:
    """Names (and ids) only, in one call: fast enough to show at once."""
    return service.list_images(pool)


def iter_details(
    service: CephBackend, images: Sequence[Image], first: Iterable[str] = ()
) -> Iterator[list[Image]]:
    """Details in batches, the rows on screen (``first``) first."""
    if not images:
        return iter(())
    return service.read_details(images, first)


def load_details(service: CephBackend, images: Sequence[Image]) -> list[Image]:
    """Every detail, watchers included (the last pass's answer for each image)."""
    latest = {image.name: image for batch in iter_details(service, images) for image in batch}
    return [latest.get(image.name, image) for image in images]


def image_details(service: CephBackend, pool: str, name: str) -> Image:
    for image in list_names(service, pool):
        if image.name == name:
            return load_details(service, [image])[0]
    raise ServiceError(f"image {pool}/{name} does not exist")


# -- create and delete -------------------------------------------------------------


def check_create(
    service: CephBackend, pool: str, name: str, size: str, features: Iterable[str]
) -> CreateRequest:
    """Validate everything before anything is created; ServiceError says what is wrong."""
    validate_name(name)
    request = CreateRequest(pool, name, parse_size(size), tuple(features))
    feature_bits(request.features)
    if any(i.name == name for i in list_names(service, pool)):  # also checks the pool exists
        raise ServiceError(f"image {pool}/{name} already exists")
    return size_checks(service, request)


def create(service: CephBackend, request: CreateRequest) -> Image:
    feature_bits(request.features)
    service.create_image(request)
    return image_details(service, request.pool, request.name)


def delete(service: CephBackend, pool: str, name: str, progress: Progress | None = None) -> None:
    """Remove the image; refused while a client watches it or anyone holds a lock on it.
    ``progress`` hears how far it is and may stop it (the image is then half-deleted)."""
    image = image_details(service, pool, name)
    if image.watchers:
        raise ServiceError(
            f"{pool}/{name} is in use by {len(image.watchers)} client(s) ({', '.join(image.watchers)}); not deleting"
        )
    if image.lockers:
        # An advisory lock makes remove() spin forever on exclusive-lock images.
        raise ServiceError(f"{pool}/{name} is locked by {image.lockers[0].client}; unlock it first")
    service.remove_image(pool, name, progress)


# -- unlock ----------------------------------------------------------------------


@dataclass(frozen=True)
class UnlockResult:
    locker: Locker
    fenced: bool  # the client's address is in the blocklist now
    text: str


def blocklisted(service: CephBackend) -> set[str]:
    op = service.capabilities().blocklist
    entries = service.json({"prefix": f"osd {op} ls"}) or []
    return {plain_addr(e["addr"]) for e in entries if isinstance(e, dict) and "addr" in e}


def fence(service: CephBackend, address: str) -> None:
    """Blocklist ``address``. A call that timed out may still have been applied: the
    blocklist read back says whether it was."""
    op = service.capabilities().blocklist
    try:
        service.command({"prefix": f"osd {op}", f"{op}op": "add", "addr": address})
    except ServiceError as exc:
        try:
            done = address in blocklisted(service)
        except ServiceError:
            done = False
        if not done:
            raise ServiceError(f"cannot fence {address}, so its lock stays: {exc}") from None


def unlock(
    service: CephBackend, pool: str, name: str, client: str, cookie: str, *, force: bool = False
) -> UnlockResult:
    """Break one lock. A stale locker is fenced first (blocklisted), which is what makes
    breaking safe; a live client's lock is refused unless ``force``."""
    image = image_details(service, pool, name)
    locker = next((lk for lk in image.lockers if (lk.client, lk.cookie) == (client, cookie)), None)
    if locker is None:
        raise ServiceError(f"{pool}/{name} has no lock {cookie!r} held by {client} any more")
    if locker.alive and not force:
        raise ServiceError(
            f"{client} at {locker.address} is alive (it still watches {name}); breaking its lock would "
            "fence a working client. Force it only if you know that client is gone."
        )
    fence(service, locker.address)
    service.break_lock(pool, name, locker)
    fenced = locker.address in blocklisted(service)
    verb = "fenced and unlocked" if fenced else "unlocked, but NOT fenced (check the blocklist)"
    return UnlockResult(locker, fenced, f"{pool}/{name}: {locker.client} ({locker.address}) {verb}")


def rbd_pools(pools: list[dict[str, Any]]) -> list[str]:
    """From ``osd pool ls detail``: pools with the rbd application (all pools when none
    is tagged, as on Jewel)."""
    tagged = [p["pool_name"] for p in pools if "rbd" in (p.get("application_metadata") or {})]
    return tagged or [p["pool_name"] for p in pools]


def iter_pools(service: CephBackend) -> Iterator[str]:
    yield from rbd_pools(service.json({"prefix": "osd pool ls", "detail": "detail"}) or [])
