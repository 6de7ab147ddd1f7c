"""Every call the Doctor makes into Ceph, through the Ceph package's public functions
and the Ceph backend seam (CephBackend) only: one small module to re-point when Ceph moves
behind another seam."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from kubeha_tui.ceph.backend import CephBackend
from kubeha_tui.ceph.images import Image, UnlockResult, image_details, unlock
from kubeha_tui.ceph.osds import Step, osd_tree, remove_osd
from kubeha_tui.errors import ServiceError


def read_image(ceph: CephBackend, pool: str, name: str) -> Image:
    """Lockers and watchers of one image, read now."""
    return image_details(ceph, pool, name)


def health_summary(ceph: CephBackend) -> tuple[str, ...]:
    """Jewel's health summary strings (it has no check codes); () on Luminous+."""
    doc = ceph.json({"prefix": "health", "detail": "detail"}) or {}
    if doc.get("checks"):
        return ()
    return tuple(str(s.get("summary", "")) for s in doc.get("summary") or [] if s.get("summary"))


def fenced_unlock(
    ceph: CephBackend, pool: str, name: str, client: str, cookie: str, *, force: bool = False
) -> UnlockResult:
    """The Ceph screen's unlock: the client is blocklisted before its lock is broken."""
    return unlock(ceph, pool, name, client, cookie, force=force)


def remove_host_osds(
    ceph: CephBackend, host: str, ids: list[int], *, force: bool, cancel: threading.Event
) -> Iterator[Step]:
    """The guided removal of each OSD in turn (each waits for the PGs), then the host
    bucket once empty; OSDs already gone are skipped, so a rerun goes on where it stopped."""
    for n, osd_id in enumerate(ids):
        if osd_tree(ceph).get(osd_id) is None:
            yield Step(f"osd.{osd_id} is already removed")
            continue
        left = [f"osd.{i}" for i in ids[n + 1 :]]
        for step in remove_osd(ceph, osd_id, force=force, cancel=cancel):
            if step.needs_force:
                yield step
                return
            last = step.done and not left
            yield Step(step.text, done=last)
        if left:
            yield Step(f"left to do: {', '.join(left)}, then the host bucket {host}")
    tree = osd_tree(ceph)
    if host in tree.hosts and not tree.hosts[host]:
        yield from remove_bucket(ceph, host)


def remove_bucket(ceph: CephBackend, host: str) -> Iterator[Step]:
    tree = osd_tree(ceph)
    if host not in tree.hosts:
        yield Step(f"host bucket {host} is already gone", done=True)
        return
    if tree.hosts[host]:
        raise ServiceError(
            f"host bucket {host} still holds OSDs {tree.hosts[host]}; not removing it"
        )
    ceph.command({"prefix": "osd crush remove", "name": host})
    yield Step(f"removed the empty host bucket {host}", done=True)
