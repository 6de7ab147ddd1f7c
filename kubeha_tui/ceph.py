"""Ceph service through Debian's librados bindings, imported lazily."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from kubeha_tui.errors import ServiceError
from kubeha_tui.polling import Poll

# librados writes to the terminal's stderr, which is under the TUI: never let it, and
# make no admin socket (a console needs none, and a second client would collide on it).
QUIET = {"log_to_stderr": "false", "err_to_stderr": "false", "admin_socket": ""}


def import_rados() -> ModuleType:
    try:
        import rados  # noqa: PLC0415 - optional: the rest of the app runs without it
    except ImportError:
        raise ServiceError(
            "the rados Python binding is missing: install python3-rados (make install)"
        ) from None
    return rados  # type: ignore[no-any-return]


@dataclass
class CephService:
    conf: str
    ceph_id: str = "admin"
    timeout: int = 10
    _cluster: Any = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def _connect(self) -> Any:
        rados = import_rados()
        if not Path(self.conf).exists():
            raise ServiceError(f"no ceph.conf at {self.conf}: set --ceph-conf or CEPH_CONF")
        t = str(self.timeout)
        try:
            cluster = rados.Rados(
                conffile=self.conf, rados_id=self.ceph_id,
                conf={**QUIET, "rados_mon_op_timeout": t, "rados_osd_op_timeout": t, "client_mount_timeout": t},
            )  # fmt: skip
            cluster.connect(timeout=self.timeout)
        except rados.Error as exc:
            raise ServiceError(
                f"cannot connect to Ceph as client.{self.ceph_id} with {self.conf}: {exc}"
            ) from None
        return cluster

    def cluster(self) -> Any:
        with self._lock:
            if self._cluster is None:
                self._cluster = self._connect()
            return self._cluster

    def close(self) -> None:
        with self._lock:
            if self._cluster is not None:
                self._cluster.shutdown()
                self._cluster = None

    def mon_command(self, cmd: dict[str, Any]) -> Any:
        """A mon command's JSON answer; a failed connection is dropped and re-made next time."""
        rados = import_rados()
        try:
            ret, out, errs = self.cluster().mon_command(json.dumps({**cmd, "format": "json"}), b"")
        except rados.Error as exc:
            self.close()
            raise ServiceError(f"Ceph {cmd['prefix']!r} failed: {exc}") from None
        if ret:
            raise ServiceError(f"Ceph {cmd['prefix']!r} failed ({ret}): {errs}")
        return json.loads(out)

    def poll(self) -> Iterator[Poll]:
        status = self.mon_command({"prefix": "status"})
        osdmap = status.get("osdmap", {})
        osdmap = osdmap.get("osdmap", osdmap)  # Jewel nests it once more
        yield Poll(
            f"{status['health']['status']}, {osdmap.get('num_osds', 0)} OSDs "
            f"({osdmap.get('num_up_osds', 0)} up, {osdmap.get('num_in_osds', 0)} in)"
        )
