"""The librados backend: one connection through Debian's librados binding (imported
lazily), mon and mgr commands with timeouts, reconnects, what this cluster's release
supports, and the RBD calls of the seam (backend.CephBackend) through librbd.py."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from kubeha_tui.ceph import librbd, watchlist
from kubeha_tui.ceph.backend import Progress, answer, prefixes
from kubeha_tui.ceph.models import Capabilities, CreateRequest, Image, Locker
from kubeha_tui.errors import ServiceError

# librados writes to the terminal's stderr, which is under the TUI: never let it, and
# make no admin socket (a console needs none, and a second client would collide on it).
QUIET = {"log_to_stderr": "false", "err_to_stderr": "false", "admin_socket": ""}
log = logging.getLogger(__name__)


def import_binding(name: str) -> ModuleType:
    """``rados`` or ``rbd`` from Debian's python3-rados / python3-rbd, or a clear error."""
    try:
        module = __import__(name)
    except ImportError:
        raise ServiceError(
            f"the {name} Python binding is missing: install python3-{name} (make install)"
        ) from None
    return module


@dataclass
class CephService:
    """One librados connection, made on first use and re-made after a failure."""

    conf: str
    ceph_id: str = "admin"
    timeout: int = 10
    keyring: str | None = None  # overrides the conf's (the secret's keyring is a file of ours)
    _cluster: Any = field(default=None, init=False)
    _caps: Capabilities | None = field(default=None, init=False)
    _lock: threading.Condition = field(default_factory=threading.Condition, init=False)
    _users: int = field(default=0, init=False)  # calls under way on the connection
    # A second handle, for listing watchers without opening images (watchlist.py); None
    # when it was found not to work with this librados (then the images are opened).
    _lister: watchlist.WatchLister | None = field(default=None, init=False)
    _no_lister: str = field(default="", init=False)
    closing: bool = field(default=False, init=False)

    @property
    def via(self) -> str:
        return "librados"

    def _connect(self) -> Any:
        rados = import_binding("rados")
        if not Path(self.conf).exists():
            raise ServiceError(f"no ceph.conf at {self.conf}: set --ceph-conf or CEPH_CONF")
        t = str(self.timeout)
        try:
            cluster = rados.Rados(
                conffile=self.conf,
                rados_id=self.ceph_id,
                conf={
                    **QUIET,
                    "rados_mon_op_timeout": t,
                    "rados_osd_op_timeout": t,
                    "client_mount_timeout": t,
                    **({"keyring": self.keyring} if self.keyring else {}),
                },
            )
            cluster.connect(timeout=self.timeout)
        except rados.Error as exc:
            raise ServiceError(
                f"cannot connect to Ceph as client.{self.ceph_id} with {self.conf}: {exc}"
            ) from None
        return cluster

    def cluster(self) -> Any:
        with self._lock:
            if self.closing:
                raise ServiceError("the Ceph connection is closing")
            if self._cluster is None:
                self._cluster = self._connect()
            return self._cluster

    @contextmanager
    def use(self) -> Iterator[Any]:
        """The connection, counted as in use: close() waits for it (librados aborts the
        whole process when it is shut down under a running call)."""
        cluster = self.cluster()
        with self._lock:
            self._users += 1
        try:
            yield cluster
        finally:
            with self._lock:
                self._users -= 1
                self._lock.notify_all()

    def switch(self, conf: str, keyring: str | None = None) -> None:
        """Use another ceph.conf (and keyring) from the next call on."""
        with self._lock:
            self.conf, self.keyring = conf, keyring
            lister, self._lister, self._no_lister = self._lister, None, ""
        self.forget()
        if lister is not None:
            lister.close()

    def watch_lister(self) -> watchlist.WatchLister | None:
        """The watcher lister on a handle like the main connection's (same conf, id,
        keyring and timeouts), or None when it does not work here."""
        with self._lock:
            if self._lister is None and not self._no_lister and not self.closing:
                self._lister = watchlist.WatchLister(self.conf, self.ceph_id, self.timeout, self.keyring)  # fmt: skip
            return self._lister

    def lister_failed(self, exc: BaseException) -> None:
        """Watchers by opening images from now on (this connection's life): logged once."""
        with self._lock:
            lister, self._lister = self._lister, None
            if not self._no_lister:
                self._no_lister = str(exc) or type(exc).__name__
                log.warning("listing watchers without opening images failed (%s): opening them instead", self._no_lister)  # fmt: skip
        if lister is not None:
            lister.close()

    def forget(self) -> None:
        """Drop a connection that failed; the next call makes a new one. It is not shut
        down here: other threads may still hold it, and it goes when they let go."""
        with self._lock:
            self._cluster = None
            self._caps = None
            self._no_lister = ""  # a new connection tries the lister again

    def close(self) -> None:
        """Shut the connection down once no call uses it (bounded wait)."""
        with self._lock:
            self.closing = True
            idle = self._lock.wait_for(lambda: self._users == 0, timeout=self.timeout + 1)
            cluster, self._cluster = self._cluster, None
            lister, self._lister = self._lister, None
            if cluster is not None and idle:
                cluster.shutdown()
            self.closing = False
        if lister is not None:
            lister.close()

    def _call(self, kind: str, cmd: dict[str, Any], inbuf: bytes = b"") -> tuple[int, bytes, str]:
        rados = import_binding("rados")
        with self.use() as cluster:
            try:
                send = cluster.mon_command if kind == "mon" else cluster.mgr_command
                ret, out, errs = send(json.dumps(cmd), inbuf, timeout=self.timeout)
            except rados.Error as exc:
                self.forget()  # a dead connection is re-made on the next call
                raise ServiceError(f"Ceph {cmd['prefix']!r} failed: {exc}") from None
        return int(ret), bytes(out), str(errs)

    def command(
        self, cmd: dict[str, Any], *, mgr: bool = False, check: bool = True
    ) -> tuple[int, Any, str]:
        """A mon (or mgr) command with JSON output: ``(ret, parsed, status text)``."""
        ret, out, errs = self._call("mgr" if mgr else "mon", {**cmd, "format": "json"})
        return answer(cmd["prefix"], ret, out, errs, check=check)

    def json(self, cmd: dict[str, Any], *, mgr: bool = False) -> Any:
        return self.command(cmd, mgr=mgr)[1]

    def capabilities(self) -> Capabilities:
        if self._caps is None:
            rbd = import_binding("rbd")
            mon = prefixes(self.command({"prefix": "get_command_descriptions"}, check=False)[1])
            ret, mgr_desc, _ = self.command(
                {"prefix": "get_command_descriptions"}, mgr=True, check=False
            )
            self._caps = Capabilities(
                mon_commands=mon,
                mgr_commands=prefixes(mgr_desc) if ret == 0 else frozenset(),
                watchers_list=hasattr(rbd.Image, "watchers_list"),
                lock_owners=hasattr(rbd.Image, "lock_get_owners"),
            )
        return self._caps

    @contextmanager
    def ioctx(self, pool: str) -> Iterator[Any]:
        """An I/O context on ``pool``, holding the connection in use until the block ends."""
        rados = import_binding("rados")
        with self.use() as cluster:
            try:
                ioctx = cluster.open_ioctx(pool)
            except rados.ObjectNotFound:
                raise ServiceError(f"pool {pool!r} does not exist") from None
            except rados.Error as exc:
                self.forget()
                raise ServiceError(f"cannot open pool {pool!r}: {exc}") from None
            with ioctx:
                yield ioctx

    # -- the RBD calls of the seam ------------------------------------------------

    def list_images(self, pool: str) -> list[Image]:
        return librbd.list_names(self, pool)

    def read_details(
        self, images: Sequence[Image], first: Iterable[str] = ()
    ) -> Iterator[list[Image]]:
        return librbd.iter_details(self, images, first)

    def create_image(self, request: CreateRequest) -> None:
        librbd.create(self, request)

    def remove_image(self, pool: str, name: str, progress: Progress | None = None) -> None:
        librbd.remove(self, pool, name, progress)

    def break_lock(self, pool: str, name: str, locker: Locker) -> None:
        librbd.break_lock(self, pool, name, locker)
