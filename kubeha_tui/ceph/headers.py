"""Size, features and lockers of many RBD images without opening them: three object-class
calls on each image's header object (``rbd.get_size``, ``rbd.get_features``,
``lock.get_info``), all in flight at once through librados' asynchronous calls.

Opening an image costs a dozen round trips; this costs three, in parallel. Watchers
are listed on the same header objects (watchlist.py), alongside.
Decoders follow Ceph's encodings (cls_rbd, cls_lock_types.h, entity_addr_t).
"""

from __future__ import annotations

import errno
import socket
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from kubeha_tui.ceph.models import HALF_DELETED, Image, Locker, feature_names, plain_addr

NOSNAP = 0xFFFFFFFFFFFFFFFE  # CEPH_NOSNAP: the image head
RBD_LOCK = "rbd_lock"  # the advisory lock's name (rbd lock add, kubelet)
IN_FLIGHT = 600  # calls at once (three per image)
CALL_TIMEOUT = 30.0  # seconds for one chunk of calls
ENTITY_TYPES = {1: "mon", 2: "mds", 4: "osd", 8: "client", 16: "mgr"}


class Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, fmt: str) -> Any:
        values = struct.unpack_from(fmt, self.data, self.at)
        self.at += struct.calcsize(fmt)
        return values[0] if len(values) == 1 else values

    def string(self) -> str:
        n = self.take("<I")
        text = self.data[self.at : self.at + n].decode(errors="replace")
        self.at += n
        return text

    def start(self) -> int:
        """ENCODE_START's header (version, compat, length); returns where the block ends."""
        _, _, length = self.take("<BBI")
        return int(self.at + length)


def encode_name_op(name: str) -> bytes:
    """cls_lock_get_info_op: a versioned block holding the lock's name."""
    raw = name.encode()
    body = struct.pack("<I", len(raw)) + raw
    return struct.pack("<BBI", 1, 1, len(body)) + body


def decode_addr(r: Reader) -> str:
    """entity_addr_t as ``ip:port/nonce``."""
    if r.data[r.at] == 1:  # the MSG_ADDR2 marker, then a versioned block
        r.take("<B")
        end = r.start()
        _, nonce, length = r.take("<III")
        sockaddr = r.data[r.at : r.at + length]
        r.at = end
        family = struct.unpack_from("<H", sockaddr)[0] if len(sockaddr) >= 2 else 0
    else:  # legacy: type, nonce, a 128-byte sockaddr_storage with the family big-endian
        _, nonce = r.take("<II")
        sockaddr = r.data[r.at : r.at + 128]
        r.at += 128
        family = struct.unpack_from(">H", sockaddr)[0]
    if family == socket.AF_INET:
        port = struct.unpack_from(">H", sockaddr, 2)[0]
        return f"{socket.inet_ntop(socket.AF_INET, sockaddr[4:8])}:{port}/{nonce}"
    if family == socket.AF_INET6:
        port = struct.unpack_from(">H", sockaddr, 2)[0]
        return f"[{socket.inet_ntop(socket.AF_INET6, sockaddr[8:24])}]:{port}/{nonce}"
    return f"-/{nonce}"


def decode_lock_info(data: bytes) -> tuple[list[tuple[str, str, str]], str]:
    """cls_lock_get_info_reply: [(client.N, cookie, address)], tag."""
    r = Reader(data)
    end = r.start()
    lockers = []
    for _ in range(r.take("<I")):
        key_end = r.start()
        kind, num = r.take("<Bq")
        cookie = r.string()
        r.at = key_end
        value_end = r.start()
        r.take("<II")  # expiration
        address = decode_addr(r)
        r.at = value_end
        lockers.append((f"{ENTITY_TYPES.get(kind, 'unknown')}.{num}", cookie, address))
    r.take("<B")  # lock type
    tag = r.string() if r.at < end else ""
    return lockers, tag


@dataclass(frozen=True)
class Header:
    """What one image's header says; ``error`` set when it could not be read."""

    size: int = 0
    features: int = 0
    lockers: tuple[tuple[str, str, str], ...] = ()  # (client.N, cookie, address)
    tag: str = ""
    error: str = ""


def header_from(answers: dict[str, tuple[int, bytes]]) -> Header:
    size_ret, size_out = answers.get("get_size", (-errno.ETIMEDOUT, b""))
    feat_ret, feat_out = answers.get("get_features", (-errno.ETIMEDOUT, b""))
    lock_ret, lock_out = answers.get("get_info", (-errno.ETIMEDOUT, b""))
    # A remove drops the name's rbd_id object first and the header last: listed, with a
    # header, but no rbd_id is a remove that stopped (or is under way).
    id_ret = answers.get("get_id", (0, b""))[0]
    if size_ret == -errno.ENOENT or id_ret == -errno.ENOENT:
        return Header(error=HALF_DELETED)
    for ret in (size_ret, feat_ret):
        if ret < 0:
            return Header(error=f"header read failed: {errno.errorcode.get(-ret, str(ret))}")
    size = struct.unpack_from("<BQ", size_out)[1]
    features = struct.unpack_from("<Q", feat_out)[0]
    if lock_ret < 0 or not lock_out:  # ENOENT: never locked
        return Header(size, features)
    lockers, tag = decode_lock_info(lock_out)
    return Header(size, features, tuple(lockers), tag)


CALLS = (
    ("rbd", "get_size", struct.pack("<Q", NOSNAP)),
    ("rbd", "get_features", struct.pack("<Q", NOSNAP)),
    ("lock", "get_info", encode_name_op(RBD_LOCK)),
)
PER_IMAGE = len(CALLS) + 1  # and rbd.get_id on the name's rbd_id object


def header_object(image_id: str) -> str:
    """A format-2 image's header object: its size, features, locks, and its watchers."""
    return f"rbd_header.{image_id}"


def calls_for(image_id: str, name: str) -> list[tuple[str, str, str, bytes]]:
    """The calls (object, class, method, input) that read one image's header, and the
    name's id object (there when the image is whole)."""
    header = [(header_object(image_id), cls, method, data) for cls, method, data in CALLS]
    return [*header, (f"rbd_id.{name}", "rbd", "get_id", b"")]


def read_headers(ioctx: Any, images: Sequence[tuple[str, str]]) -> dict[str, Header]:
    """The headers of ``images`` ((id, name) pairs) by id, ``IN_FLIGHT`` calls at a time."""
    out: dict[str, Header] = {}
    step = max(1, IN_FLIGHT // PER_IMAGE)
    for start in range(0, len(images), step):
        out.update(_chunk(ioctx, images[start : start + step]))
    return out


def _chunk(ioctx: Any, images: Sequence[tuple[str, str]]) -> dict[str, Header]:
    answers: dict[str, dict[str, tuple[int, bytes]]] = {i: {} for i, _ in images}
    done = threading.Semaphore(0)
    for image_id, name in images:
        for obj, cls, method, data in calls_for(image_id, name):

            def finished(
                completion: Any,
                out: bytes,
                got: dict[str, tuple[int, bytes]] = answers[image_id],
                method: str = method,
            ) -> None:
                got[method] = (completion.get_return_value(), bytes(out or b""))
                done.release()

            ioctx.aio_execute(obj, cls, method, data, 65536, oncomplete=finished)
    deadline = time.monotonic() + CALL_TIMEOUT
    for _ in range(len(images) * PER_IMAGE):
        if not done.acquire(timeout=max(0.0, deadline - time.monotonic())):
            break  # the missing answers read as timed out
    return {i: header_from(a) for i, a in answers.items()}


def apply(image: Image, header: Header) -> Image:
    """The image with what its header says (lockers not yet known alive or stale)."""
    if header.error:
        return replace(image, error=header.error)
    lockers = tuple(
        Locker(c, cookie, plain_addr(a), False, header.tag) for c, cookie, a in header.lockers
    )
    return replace(
        image, size=header.size, features=feature_names(header.features), lockers=lockers
    )
