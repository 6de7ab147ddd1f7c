# ruff: noqa: UP031, B905
"""Who watches an object, without opening anything: librados' list-watchers (one OSD
read) through ctypes on a cluster handle of our own, many objects at once in a small
thread pool (ctypes releases the GIL). The watchers of an RBD image are those of its
header object, ``rbd_header.<id>``: what ``rbd status`` lists, and what librbd's
``watchers_list`` reads after opening the image (a dozen round trips more).

librados' C API has no list-watchers before Reef, and the Python binding none at all,
so this calls the C++ ``IoCtx::list_watchers`` (ABI namespace ``v14_2_0``, stable since
Nautilus) with a hand-built ``std::string`` and ``std::list`` (libstdc++'s C++11 ABI,
which the mangled name pins). Anything unexpected raises Unavailable and the caller
opens the images instead.

Stdlib only, Python 3.5 syntax and type comments: pod.py sends this file into a Ceph
pod ahead of pod_helper.py, which uses it there the same way.
"""

import ctypes
import ctypes.util
import re
import threading
from concurrent.futures import ThreadPoolExecutor

LIST_WATCHERS = (
    "_ZN8librados7v14_2_05IoCtx13list_watchersERKNSt7__cxx1112basic_stringIcSt11char_traits"
    "IcESaIcEEEPNS2_4listI11obj_watch_tSaISB_EEE"
)
THREADS = 16
# What a watcher's address reads as (entity_addr_t printed: [v1:|v2:|any:]IP:PORT/NONCE).
ADDRESS = re.compile(r"^[\w.:\[\]]+/\d+$")


class Unavailable(Exception):
    """This librados cannot list watchers this way (or the cluster cannot be reached)."""


class _String(ctypes.Structure):  # std::__cxx11::basic_string<char>: pointer, length, buffer
    _fields_ = [("data", ctypes.c_void_p), ("size", ctypes.c_size_t), ("local", ctypes.c_char * 16)]


class _List(ctypes.Structure):  # std::__cxx11::list: the sentinel node (next, prev), the size
    _fields_ = [("next", ctypes.c_void_p), ("prev", ctypes.c_void_p), ("size", ctypes.c_size_t)]


class _Watch(ctypes.Structure):  # obj_watch_t (rados_types.h), after a node's next and prev
    _fields_ = [("addr", ctypes.c_char * 256), ("watcher_id", ctypes.c_int64),
                ("cookie", ctypes.c_uint64), ("timeout_seconds", ctypes.c_uint32)]  # fmt: skip


NODE_LINKS = ctypes.sizeof(ctypes.c_void_p) * 2


def _load(name, soname):
    # type: (str, str) -> ctypes.CDLL
    """The library by its soname first (what the rados binding links, so usually loaded
    already; a runtime image has no unversioned .so), else where ldconfig says."""
    errors = []
    for path in (soname, ctypes.util.find_library(name)):
        if path:
            try:
                return ctypes.CDLL(path)
            except OSError as exc:
                errors.append(str(exc))
    raise Unavailable("cannot load %s: %s" % (soname, "; ".join(errors) or "not found"))


class WatchLister:
    """A cluster handle of our own (made on first use) and the list-watchers call.
    ``conf`` None reads the default places and ``$CEPH_ARGS``, as the ceph CLI does."""

    def __init__(self, conf, ceph_id="admin", timeout=10, keyring=None):
        # type: (str | None, str, int, str | None) -> None
        self.conf, self.ceph_id, self.timeout, self.keyring = conf, ceph_id, timeout, keyring
        self._lock = threading.Condition()
        self._users = 0  # calls under way on the handle: close() waits for them
        self._handle = None  # type: ctypes.c_void_p | None
        self._lib = None  # type: ctypes.CDLL | None
        self._delete = None  # type: ctypes._NamedFuncPointer | None
        self._call = None  # type: ctypes._NamedFuncPointer | None

    def _bind(self):
        # type: () -> ctypes.CDLL
        lib = _load("rados", "librados.so.2")
        try:
            call = getattr(lib, LIST_WATCHERS)
            # operator delete: the list's nodes are ours to free
            delete = _load("stdc++", "libstdc++.so.6")._ZdlPv
        except AttributeError as exc:
            raise Unavailable("this librados has no IoCtx::list_watchers (%s)" % exc) from None
        call.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        call.restype = ctypes.c_int
        delete.argtypes = [ctypes.c_void_p]
        delete.restype = None
        for fn, args in (("rados_create2", [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_uint64]),
                         ("rados_conf_read_file", [ctypes.c_void_p, ctypes.c_char_p]),
                         ("rados_conf_parse_env", [ctypes.c_void_p, ctypes.c_char_p]),
                         ("rados_conf_set", [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p]),
                         ("rados_connect", [ctypes.c_void_p]),
                         ("rados_shutdown", [ctypes.c_void_p]),
                         ("rados_ioctx_create", [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]),
                         ("rados_ioctx_destroy", [ctypes.c_void_p])):  # fmt: skip
            getattr(lib, fn).argtypes = args
        self._call, self._delete = call, delete
        return lib

    def _connect(self):
        # type: () -> ctypes.c_void_p
        lib = self._lib = self._lib or self._bind()
        handle = ctypes.c_void_p()
        ret = lib.rados_create2(
            ctypes.byref(handle), b"ceph", ("client." + self.ceph_id).encode(), 0
        )
        if ret < 0:
            raise Unavailable("rados_create2 failed (%d)" % ret)
        t = str(self.timeout)
        settings = [("rados_mon_op_timeout", t), ("rados_osd_op_timeout", t),
                    ("client_mount_timeout", t), ("log_to_stderr", "false"),
                    ("err_to_stderr", "false"), ("admin_socket", "")]  # fmt: skip
        if self.keyring:
            settings.append(("keyring", self.keyring))
        ret = lib.rados_conf_read_file(handle, self.conf.encode() if self.conf else None)
        if ret >= 0 and self.conf is None:
            ret = lib.rados_conf_parse_env(handle, None)
        for key, value in settings:
            if ret >= 0:
                ret = lib.rados_conf_set(handle, key.encode(), value.encode())
        if ret >= 0:
            ret = lib.rados_connect(handle)
        if ret < 0:
            lib.rados_shutdown(handle)
            raise Unavailable("cannot connect to Ceph for the watcher lists (%d)" % ret)
        return handle

    def watchers(self, pool, objects):
        # type: (str, list[str]) -> dict[str, list[str] | int]
        """Each object's watchers' addresses, or a negative errno (-2: no such object)."""
        with self._lock:
            if self._handle is None:
                self._handle = self._connect()
            handle, lib = self._handle, self._lib
            self._users += 1
        assert lib is not None
        ioctx = ctypes.c_void_p()
        try:
            ret = lib.rados_ioctx_create(handle, pool.encode(), ctypes.byref(ioctx))
            if ret < 0:
                return {o: ret for o in objects}
            try:
                with ThreadPoolExecutor(THREADS) as threads:
                    found = list(threads.map(lambda o: self._one(ioctx, o), objects))
            finally:
                lib.rados_ioctx_destroy(ioctx)
        finally:
            with self._lock:
                self._users -= 1
                self._lock.notify_all()
        return dict(zip(objects, found))

    def _one(self, ioctx, name):
        # type: (ctypes.c_void_p, str) -> list[str] | int
        assert self._call is not None and self._delete is not None
        raw = ctypes.create_string_buffer(name.encode())
        oid = _String(ctypes.cast(raw, ctypes.c_void_p), len(raw.value))
        out = _List()
        head = ctypes.addressof(out)
        out.next = out.prev = head
        io = ctypes.c_void_p(ioctx.value)  # an IoCtx is one pointer, to the C handle's IoCtxImpl
        ret = self._call(ctypes.byref(io), ctypes.byref(oid), ctypes.byref(out))
        addresses = []
        node = out.next
        while node and node != head:
            addresses.append(_Watch.from_address(node + NODE_LINKS).addr.decode(errors="replace"))
            following = ctypes.c_void_p.from_address(node).value
            self._delete(node)
            node = following
        if ret < 0:
            return int(ret)
        for address in addresses:
            if not ADDRESS.match(address):  # not the layout this was written for: do not guess
                raise Unavailable("list_watchers answered %r: unexpected layout" % address)
        return addresses

    def close(self):
        # type: () -> None
        """Shut the handle down once no call uses it (librados aborts the process when a
        handle goes under a running call); after a bounded wait it is left to the exit."""
        with self._lock:
            idle = self._lock.wait_for(lambda: self._users == 0, timeout=self.timeout + 1)
            handle, self._handle = self._handle, None
        if handle is not None and idle and self._lib is not None:
            self._lib.rados_shutdown(handle)
