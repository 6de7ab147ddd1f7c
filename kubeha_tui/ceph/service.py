"""What the app polls for Ceph: health, pools, OSDs and the selected pool's images
(names first, then details as they load)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

from kubeha_tui.ceph.backend import CephBackend
from kubeha_tui.ceph.images import Image, iter_details, iter_pools, list_names
from kubeha_tui.ceph.osds import PGSummary, Tree, health, osd_tree, pg_summary
from kubeha_tui.polling import Poll


@dataclass(frozen=True)
class CephSnapshot:
    health: str
    checks: tuple[str, ...]
    pools: tuple[str, ...]
    pool: str  # the pool whose images are listed
    images: tuple[Image, ...]
    tree: Tree
    pgs: PGSummary
    via: str = ""  # what carried the calls: librados, or the pod


@dataclass
class CephStatusService:
    ceph: CephBackend
    pool: str = ""  # chosen on screen; the first rbd pool by default
    visible: tuple[str, ...] = ()  # image names on screen: their details load first

    def poll(self) -> Iterator[Poll]:
        status, checks = health(self.ceph)
        pools = tuple(iter_pools(self.ceph))
        pool = self.pool if self.pool in pools else (pools[0] if pools else "")
        tree, pgs = osd_tree(self.ceph), pg_summary(self.ceph)
        names = tuple(list_names(self.ceph, pool)) if pool else ()
        detail = f"{status}, {len(tree.osds)} OSDs ({sum(o.up for o in tree.osds)} up, {sum(o.inn for o in tree.osds)} in)"
        snap = CephSnapshot(status, tuple(checks), pools, pool, names, tree, pgs, self.ceph.via)
        yield Poll(detail, snap, final=not names)
        if not names:
            return
        current = {i.name: i for i in names}
        for batch in iter_details(self.ceph, names, self.visible):
            current.update((i.name, i) for i in batch)
            done = all(i.complete for i in current.values())
            yield Poll(
                detail, replace(snap, images=tuple(current[i.name] for i in names)), final=done
            )

    def close(self) -> None:
        self.ceph.close()
