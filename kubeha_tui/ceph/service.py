"""What the app polls for Ceph: health, pools, OSDs and the selected pool's images
(names first, then details as they load). The screen's choices (the pool, the rows on
screen) reach the poll as messages in an inbox, read by the poll thread only."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from kubeha_tui.ceph.backend import CephBackend
from kubeha_tui.ceph.images import Image, iter_details, list_names, rbd_pools
from kubeha_tui.ceph.osds import PGSummary, Tree, health, osd_tree, pg_summary
from kubeha_tui.errors import ServiceError
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
    problem: str = ""  # what does not answer while the mons do (e.g. a stopped OSD)
    pool_sizes: dict[str, int] = field(default_factory=dict)  # copies each pool keeps


@dataclass(frozen=True)
class ViewChanged:
    """From the screen: another pool, or other rows on screen (their details load first)."""

    pool: str | None = None
    visible: tuple[str, ...] | None = None


def not_answering(tree: Tree, pgs: PGSummary) -> str:
    """Which OSDs are down and which PGs are not active+clean, in a few words."""
    down = [o.name for o in tree.osds if not o.up]
    unclean = {s: n for s, n in pgs.states.items() if s != "active+clean"}
    parts = [f"down: {', '.join(down)}"] if down else []
    if unclean:
        parts.append("PGs " + ", ".join(f"{n} {s}" for s, n in sorted(unclean.items())))
    return "; ".join(parts)


@dataclass
class CephStatusService:
    ceph: CephBackend
    _inbox: queue.SimpleQueue[ViewChanged] = field(default_factory=queue.SimpleQueue, init=False)
    _pool: str = field(default="", init=False)  # the poll thread's own copies
    _visible: tuple[str, ...] = field(default=(), init=False)

    def show(self, *, pool: str | None = None, visible: tuple[str, ...] | None = None) -> None:
        """Called by the UI thread: the next poll (or the next batch) uses it."""
        self._inbox.put(ViewChanged(pool, visible))

    def _read_inbox(self) -> None:
        while True:
            try:
                change = self._inbox.get_nowait()
            except queue.Empty:
                return
            self._pool = change.pool if change.pool is not None else self._pool
            self._visible = change.visible if change.visible is not None else self._visible

    def poll(self) -> Iterator[Poll]:
        self._read_inbox()
        status, checks = health(self.ceph)
        pools_doc: list[dict[str, Any]] = self.ceph.json({"prefix": "osd pool ls", "detail": "detail"}) or []  # fmt: skip
        pools = tuple(rbd_pools(pools_doc))
        sizes = {str(p["pool_name"]): int(p.get("size", 0)) for p in pools_doc}
        pool = self._pool if self._pool in pools else (pools[0] if pools else "")
        tree, pgs = osd_tree(self.ceph), pg_summary(self.ceph)
        detail = f"{status}, {len(tree.osds)} OSDs ({sum(o.up for o in tree.osds)} up, {sum(o.inn for o in tree.osds)} in)"
        problem = ""
        try:
            names = tuple(list_names(self.ceph, pool)) if pool else ()
        except ServiceError as exc:  # the mons answer, an OSD does not: keep what we have
            names, problem = (), f"the images of {pool} do not answer ({exc})"
            silent = not_answering(tree, pgs)
            problem += f"; {silent}" if silent else ""
            detail += "; images not answering"
        snap = CephSnapshot(status, tuple(checks), pools, pool, names, tree, pgs, self.ceph.via,
                            problem, sizes)  # fmt: skip
        yield Poll(detail, snap, final=not names)
        if not names:
            return
        current = {i.name: i for i in names}
        self._read_inbox()
        for batch in iter_details(self.ceph, names, self._visible):
            current.update((i.name, i) for i in batch)
            done = all(i.complete for i in current.values())
            yield Poll(
                detail, replace(snap, images=tuple(current[i.name] for i in names)), final=done
            )

    def close(self) -> None:
        self.ceph.close()
