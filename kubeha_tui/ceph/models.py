"""What both Ceph backends answer in: images, lockers, create requests, capabilities, and
the pure helpers over them (feature bits, client addresses)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace

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
# Listed in the pool's directory but without a header: a remove that stopped half-way
# (or one under way). Removing it again finishes it.
HALF_DELETED = "half-deleted (listed, its header is gone): delete it again to finish"


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
class Capabilities:
    """What this cluster and these bindings support, asked rather than assumed."""

    mon_commands: frozenset[str]
    mgr_commands: frozenset[str]
    watchers_list: bool  # Mimic+
    lock_owners: bool  # Kraken+: lock_get_owners / lock_break

    @property
    def blocklist(self) -> str:
        """``blocklist`` since Pacific, ``blacklist`` before."""
        return "blocklist" if "osd blocklist" in self.mon_commands else "blacklist"

    @property
    def purge(self) -> str | None:
        """Where ``osd purge`` lives: ``mgr`` (Nautilus+), ``mon`` (Luminous), or None (Jewel)."""
        if "osd purge" in self.mgr_commands:
            return "mgr"
        if "osd purge" in self.mon_commands:
            return "mon"
        return None


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
        if self.feature_lock:
            return "exclusive-lock feature"
        return "advisory lock"

    @property
    def feature_lock(self) -> bool:
        """The exclusive-lock feature's own lock (broken through its owner, not its cookie)."""
        return self.tag == "internal" or self.cookie.startswith("auto ")


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
    watched: bool = False  # watchers known (listed on the header object, else by opening it)

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
        if self.error == HALF_DELETED:
            return "half-deleted"
        if self.error:
            return "error"
        if self.watched and any(not lk.alive for lk in self.lockers):
            return "stale lock"
        if self.lockers:
            return "locked"
        if not self.watched:
            return "…"
        return "in use" if self.watchers else "free"


@dataclass(frozen=True)
class CreateRequest:
    pool: str
    name: str
    size: int
    features: tuple[str, ...] = LEGACY_FEATURES
    warnings: tuple[str, ...] = ()  # the caller asks a second confirmation when set


def with_watchers(image: Image, watchers: tuple[str, ...]) -> Image:
    """The image with its watchers known; a locker is alive when one of them is its address."""
    lockers = tuple(
        Locker(lk.client, lk.cookie, lk.address, lk.address in watchers, lk.tag)
        for lk in image.lockers
    )
    return Image(image.pool, image.name, image.id, image.size, image.features, lockers,
                 watchers, image.error, watched=True)  # fmt: skip


def listed_watchers(image: Image, listed: list[str] | int | None) -> Image:
    """The image with the watchers listed on its header object (watchlist.py); unchanged,
    to be opened instead, when the listing failed (an errno, or nothing). An image that
    could not be read needs none."""
    if image.error:
        return replace(image, watched=True)
    if isinstance(listed, list):
        return with_watchers(image, tuple(plain_addr(a) for a in listed))
    return image
