"""The pod backend: Ceph through a Ceph pod of the cluster, over ONE long-lived exec
session running pod_helper.py in the pod's own Python (JSON lines each way). Where the
pod has no rbd binding the helper runs the rbd CLI and this side parses what it
printed (shapes.py). The pod: ``--ceph-pod NS/NAME``, else the stack's mon pods
(``ceph``, app=ceph,daemon=mon), else Rook's toolbox (``rook-ceph``, app=rook-ceph-tools).
A broken session is dropped; the next call finds a pod and starts a new one."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kubeha_tui.ceph import headers, shapes
from kubeha_tui.ceph.backend import (
    Progress,
    Stopped,
    answer,
    prefixes,
    screen_first,
    stopped_text,
)
from kubeha_tui.ceph.models import (
    HALF_DELETED,
    Capabilities,
    CreateRequest,
    Image,
    Locker,
    feature_bits,
    feature_names,
    listed_watchers,
    plain_addr,
    with_watchers,
)
from kubeha_tui.ceph.wsexec import ExecSession, ExecTarget, client_target, exec_path
from kubeha_tui.errors import ServiceError
from kubeha_tui.kube.client import KubeClient, KubeError

PLACES = (("ceph", "app=ceph,daemon=mon"), ("rook-ceph", "app=rook-ceph-tools"))
HELPER = Path(__file__).with_name("pod_helper.py")
# Sent with the helper, as a string it runs on first use (a failure there, such as a
# Python without ctypes, only means opening images): it lists watchers without opening.
LISTER = Path(__file__).with_name("watchlist.py")
log = logging.getLogger(__name__)
# Reads the helper's length and source from stdin, then runs it; stdin stays for requests.
BOOT = "import sys;n=int(sys.stdin.readline());exec(compile(sys.stdin.read(n),'ceph-pod-helper','exec'))"
LAUNCH = 'command -v python3 >/dev/null 2>&1 && exec python3 -u -c "$0" "$1"; exec python -u -c "$0" "$1"'
# What may be asked again on a new session when the one it went out on ended: reads.
READS = frozenset({"ls", "execute", "details", "watchers"})
READ_COMMANDS = frozenset({
    "get_command_descriptions", "health", "status", "df", "osd tree", "pg stat", "osd pool ls",
    "osd pool get-quota", "mon dump", "osd map", "osd blocklist ls", "osd blacklist ls",
    "osd safe-to-destroy", "osd ok-to-stop", "auth get-key",
})  # fmt: skip
HEADER_CHUNK = 400  # images a header request reads (four calls each), their watchers alongside
OPEN_CHUNK = 200  # images a details request opens (16 at a time in the pod)


class PodError(ServiceError):
    """The helper's answer was an error; ``kind`` is the exception's name in the pod."""

    def __init__(self, message: str, kind: str = "") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass
class _Pending:
    done: threading.Event = field(default_factory=threading.Event)
    reply: dict[str, Any] | None = None
    on_progress: Progress | None = None
    heard: float = field(default_factory=time.monotonic)  # the last word from the helper


class Helper:
    """One exec session with the helper running in it."""

    def __init__(self, target: ExecTarget, namespace: str, pod: str, ceph_id: str, timeout: float) -> None:  # fmt: skip
        self.where = f"{namespace}/{pod}"
        self.timeout = timeout
        self._pending: dict[int, _Pending] = {}
        self._lock = threading.Lock()
        self._next = 1
        self._buf = b""
        conf = json.dumps({"id": ceph_id, "timeout": int(timeout)})
        argv = ["sh", "-c", LAUNCH, BOOT, conf]
        self.session = ExecSession(target, exec_path(namespace, pod, argv, stdin=True), self._out)
        self._pending[0] = _Pending()

    def start(self) -> dict[str, Any]:
        self.session.open(self.timeout)
        source = f"WATCHLIST = {LISTER.read_text()!r}\n{HELPER.read_text()}"
        self.session.write(f"{len(source)}\n{source}".encode())
        self._wait(0, self.timeout * 2, "starting")
        return dict(self.call("hello", {}, self.timeout * 2))

    def _out(self, data: bytes) -> None:
        self._buf += data
        *lines, self._buf = self._buf.split(b"\n")
        for line in lines:
            try:
                reply = json.loads(line)
            except ValueError:
                continue  # not ours (a banner, a warning): the protocol is JSON lines
            if not isinstance(reply, dict) or not isinstance(reply.get("id"), int):
                continue
            with self._lock:
                slot = self._pending.get(reply["id"])
            if slot is None:
                continue
            slot.heard = time.monotonic()
            if "progress" in reply:  # a long call under way: not its answer yet
                if slot.on_progress is not None and not slot.on_progress(*reply["progress"]):
                    slot.on_progress = None  # asked once
                    threading.Thread(target=self._cancel, args=(reply["id"],), daemon=True).start()
                continue
            slot.reply = reply
            slot.done.set()

    def _cancel(self, target: int) -> None:
        with contextlib.suppress(ServiceError):  # the removal's own answer says how it ended
            self.call("cancel", {"target": target})

    def call(self, op: str, args: dict[str, Any], timeout: float | None = None,
             on_progress: Progress | None = None) -> Any:  # fmt: skip
        with self._lock:
            n, self._next = self._next, self._next + 1
            self._pending[n] = _Pending(on_progress=on_progress)
        self.session.write((json.dumps({"id": n, "op": op, **args}) + "\n").encode())
        return self._wait(n, timeout or self.timeout * 3, op)

    def _wait(self, n: int, timeout: float, what: str) -> Any:
        slot = self._pending[n]
        try:
            while not slot.done.wait(0.05):
                if self.session.ended.is_set() and not slot.done.is_set():
                    raise ServiceError(self._ended(what))
                if time.monotonic() > slot.heard + timeout:  # progress lines keep it going
                    raise ServiceError(
                        f"no answer from the Ceph helper in pod {self.where} to {what!r} within {timeout:.0f}s"
                    )
        finally:
            with self._lock:
                self._pending.pop(n, None)
        reply = slot.reply or {}
        if not reply.get("ok"):
            raise PodError(str(reply.get("error", "no message")), str(reply.get("kind", "")))
        return reply.get("result")

    def _ended(self, what: str) -> str:
        code, message = self.session.result()
        why = self.session.reason or message or (f"exit code {code}" if code else "it ended")
        tail = [
            line
            for line in self.session.stderr.decode(errors="replace").splitlines()
            if line.strip()
        ]
        if tail:
            why += f": {tail[-1].strip()[:200]}"
        return f"the exec session to pod {self.where} ended during {what!r} ({why})"

    @property
    def alive(self) -> bool:
        return not self.session.ended.is_set()

    def close(self) -> None:
        if self.alive:
            try:
                self.session.write(b'{"op": "quit"}\n')
                self.session.close_stdin()
            except ServiceError:
                pass
        self.session.close()


@dataclass
class PodCeph:
    kube: KubeClient
    pod: str = ""  # NS/NAME; empty: the first running Ceph pod found
    ceph_id: str = "admin"
    timeout: int = 10
    target: Callable[[KubeClient], ExecTarget] = client_target
    closing: bool = field(default=False, init=False)
    _helper: Helper | None = field(default=None, init=False)
    _hello: dict[str, Any] = field(default_factory=dict, init=False)
    _caps: Capabilities | None = field(default=None, init=False)
    _found: str = field(default="", init=False)
    _no_lister: str = field(default="", init=False)  # why the helper cannot list watchers
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    @property
    def via(self) -> str:
        return f"pod {self._found or self.pod or '(not found yet)'}"

    # -- the session -------------------------------------------------------------

    def find_pod(self) -> tuple[str, str]:
        """(namespace, name) of a running Ceph pod; ServiceError saying where it looked."""
        try:
            if self.pod:
                ns, _, name = self.pod.partition("/")
                doc = self.kube.request("GET", self.kube.info().path("pods", ns, name))
                phase = (doc.get("status") or {}).get("phase")
                if phase != "Running":
                    raise ServiceError(f"the Ceph pod {self.pod} is {phase or 'not running'}")
                return ns, name
            for ns, selector in PLACES:
                doc = self.kube.request(
                    "GET", f"/api/v1/namespaces/{ns}/pods", {"labelSelector": selector}
                )
                for item in doc.get("items") or []:
                    if (item.get("status") or {}).get("phase") == "Running" and not item[
                        "metadata"
                    ].get("deletionTimestamp"):
                        return ns, str(item["metadata"]["name"])
        except KubeError as exc:
            if exc.code == 404 and self.pod:
                raise ServiceError(f"the Ceph pod {self.pod} does not exist") from None
            raise ServiceError(f"cannot look for a Ceph pod: {exc}") from None
        where = " or ".join(f"{selector} in {ns}" for ns, selector in PLACES)
        raise ServiceError(f"no running Ceph pod ({where}); name one with --ceph-pod NS/NAME")

    def _ensure(self) -> Helper:
        with self._lock:
            if self.closing:
                raise ServiceError("the Ceph connection is closing")
            if self._helper is not None and self._helper.alive:
                return self._helper
            self._helper = None
            ns, name = self.find_pod()
            self._found = f"{ns}/{name}"
            helper = Helper(self.target(self.kube), ns, name, self.ceph_id, self.timeout)
            try:
                self._hello = helper.start()
            except PodError as exc:
                helper.close()
                raise ServiceError(
                    f"Ceph in pod {ns}/{name} cannot connect as client.{self.ceph_id}: {exc} "
                    "(the pod needs /etc/ceph/ceph.conf and that client's keyring)"
                ) from None
            except ServiceError:
                helper.close()
                raise
            self._helper = helper
            return helper

    def call(self, op: str, timeout: float | None = None, on_progress: Progress | None = None,
             **args: Any) -> Any:  # fmt: skip
        for attempt in (1, 2):
            helper = self._ensure()
            try:
                return helper.call(op, args, timeout, on_progress)
            except PodError:
                raise
            except ServiceError:
                self.forget()  # the session is gone or stuck: the next call makes a new one
                ended = not helper.alive
                if attempt == 2 or not ended or not _is_read(op, args):
                    raise
        raise AssertionError("unreachable")

    def forget(self) -> None:
        with self._lock:
            helper, self._helper, self._caps = self._helper, None, None
            self._no_lister = ""  # a new session's helper tries again
        if helper is not None:
            helper.close()

    def close(self) -> None:
        self.closing = True
        try:
            self.forget()
        finally:
            self.closing = False

    # -- commands ------------------------------------------------------------------

    def command(
        self, cmd: dict[str, Any], *, mgr: bool = False, check: bool = True
    ) -> tuple[int, Any, str]:
        try:
            ret, out, errs = self.call(
                "command", cmd=json.dumps({**cmd, "format": "json"}), mgr=mgr
            )
        except PodError as exc:
            raise ServiceError(f"Ceph {cmd['prefix']!r} failed: {exc}") from None
        return answer(cmd["prefix"], int(ret), base64.b64decode(out), str(errs), check=check)

    def json(self, cmd: dict[str, Any], *, mgr: bool = False) -> Any:
        return self.command(cmd, mgr=mgr)[1]

    def capabilities(self) -> Capabilities:
        if self._caps is None:
            mon = prefixes(self.command({"prefix": "get_command_descriptions"}, check=False)[1])
            ret, mgr_desc, _ = self.command(
                {"prefix": "get_command_descriptions"}, mgr=True, check=False
            )
            hello = self._hello
            cli = not hello.get("rbd")  # the rbd CLI's `status` lists watchers on every release
            self._caps = Capabilities(
                mon_commands=mon,
                mgr_commands=prefixes(mgr_desc) if ret == 0 else frozenset(),
                watchers_list=cli or bool(hello.get("watchers_list")),
                lock_owners=bool(hello.get("lock_owners")),
            )
        return self._caps

    # -- RBD -----------------------------------------------------------------------

    def _pool_error(self, pool: str, exc: PodError) -> ServiceError:
        if exc.kind == "ObjectNotFound":
            return ServiceError(f"pool {pool!r} does not exist")
        return ServiceError(f"cannot list the images of {pool!r}: {exc}")

    def list_images(self, pool: str) -> list[Image]:
        try:
            got = self.call("ls", pool=pool)
        except PodError as exc:
            raise self._pool_error(pool, exc) from None
        if "cli" in got:
            rc, out, err = got["cli"]
            if rc:
                if "No such file" in err or "error opening pool" in err:
                    raise ServiceError(f"pool {pool!r} does not exist")
                raise shapes.cli_error(got["cli"], f"rbd ls {pool}") or ServiceError(err)
            return [Image(pool, n) for n in shapes.image_names(out)]
        return sorted((Image(pool, n, i) for i, n in got["images"]), key=lambda i: i.name)

    def read_details(self, images: Sequence[Image], first: Iterable[str] = ()) -> Iterator[list[Image]]:  # fmt: skip
        """Rows on screen first, then HEADER_CHUNK at a time: each chunk's headers (four
        object-class calls an image, all in flight in the pod) and, alongside, the
        watchers of the same header objects (the helper's lister, no open), so each batch
        is complete. What is left (no ids, no lister, a listing that failed) is read by
        opening the images in the pod, 16 at a time."""
        if not images:
            return
        front = set(first)
        order = sorted(images, key=lambda i: i.name not in front)
        shown = sum(i.name in front for i in order)
        pool = order[0].pool
        current = {i.name: i for i in order}
        if all(i.id for i in order) and self._ensure_hello().get("execute"):
            for batch in self._header_pass(pool, order, shown):
                current.update((i.name, i) for i in batch)
                yield batch
        rest = [i for i in order if not current[i.name].complete]
        step = max(shown, OPEN_CHUNK)
        for start in range(0, len(rest), step):
            if self.closing:
                return
            chunk = rest[start : start + step]
            whole = [i for i in chunk if not current[i.name].error]  # half-deleted: not opened
            try:
                found = (
                    self.call(
                        "details",
                        pool=pool,
                        images=[[i.id, i.name] for i in whole],
                        only_watchers=all(current[i.name].loaded for i in whole),
                        timeout=self.timeout * 6,
                    )
                    if whole
                    else {}
                )
            except PodError as exc:
                raise ServiceError(f"reading images in {pool!r} failed: {exc}") from None
            yield [
                self._detailed(current[i.name], found.get(i.name) or {})
                if not current[i.name].error
                else replace(current[i.name], watched=True)
                for i in chunk
            ]

    def _header_pass(self, pool: str, order: list[Image], shown: int) -> Iterator[list[Image]]:
        with ThreadPoolExecutor(1, thread_name_prefix="pod-watchers") as side:
            for chunk in screen_first(order, shown, HEADER_CHUNK):
                if self.closing:
                    return
                listing = side.submit(self._list_watchers, pool, chunk) if not self._no_lister else None  # fmt: skip
                calls = [
                    [o, c, m, base64.b64encode(d).decode()]
                    for i in chunk
                    for o, c, m, d in headers.calls_for(i.id, i.name)
                ]
                try:
                    answers = self.call("execute", pool=pool, calls=calls)
                except PodError as exc:
                    raise ServiceError(f"reading image headers in {pool!r} failed: {exc}") from None
                batch = []
                for k, image in enumerate(chunk):
                    got = answers[k * headers.PER_IMAGE : (k + 1) * headers.PER_IMAGE]
                    methods = [m for _, _, m, _ in headers.calls_for(image.id, image.name)]
                    header = headers.header_from(
                        {
                            m: (int(r), base64.b64decode(o))
                            for m, (r, o) in zip(methods, got, strict=True)
                        }
                    )
                    batch.append(headers.apply(image, header))
                try:
                    watching = listing.result(timeout=self.timeout * 6 + 1) if listing else {}
                except TimeoutError:
                    watching = {}  # opened instead
                yield [listed_watchers(i, watching.get(headers.header_object(i.id))) for i in batch]

    def _list_watchers(self, pool: str, chunk: Sequence[Image]) -> dict[str, Any]:
        """The chunk's header objects' watchers; {} when they cannot be listed (the images
        are opened instead: for the session's life when the helper cannot list them)."""
        try:
            got = self.call("watchers", pool=pool, objects=[headers.header_object(i.id) for i in chunk],
                            timeout=self.timeout * 6)  # fmt: skip
        except ServiceError:
            return {}  # this chunk's images are opened instead
        if "unavailable" in got:
            if not self._no_lister:
                self._no_lister = str(got["unavailable"])
                log.warning("the Ceph pod's helper cannot list watchers without opening images (%s): opening them instead", self._no_lister)  # fmt: skip
            return {}
        return dict(got["watchers"])

    def _ensure_hello(self) -> dict[str, Any]:
        self._ensure()
        return self._hello

    def _detailed(self, image: Image, got: dict[str, Any]) -> Image:
        if "cli" in got:
            return _from_cli(image, got["cli"])
        if "size" not in got and "watchers" in got and image.loaded:  # only the watchers asked
            return with_watchers(image, tuple(plain_addr(w) for w in got["watchers"]))
        if got.get("error"):
            return replace(
                image, error=HALF_DELETED if got["error"] == "gone" else str(got["error"])
            )
        lockers = tuple(
            Locker(c, cookie, plain_addr(a), False, str(got.get("tag", "")))
            for c, cookie, a in got.get("lockers", [])
        )
        image = replace(
            image,
            size=int(got["size"]),
            features=feature_names(int(got["features"])),
            lockers=lockers,
        )
        if got.get("watchers") is None:  # before Mimic: no watcher list in the binding
            return replace(image, watched=True)
        return with_watchers(image, tuple(plain_addr(w) for w in got["watchers"]))

    def create_image(self, request: CreateRequest) -> None:
        spec = f"{request.pool}/{request.name}"
        try:
            got = self.call("create", pool=request.pool, name=request.name, size=request.size,
                            features=feature_bits(request.features), feature_names=list(request.features))  # fmt: skip
        except PodError as exc:
            if exc.kind == "ImageExists":
                raise ServiceError(f"image {spec} already exists") from None
            raise ServiceError(f"creating {spec} failed: {exc}") from None
        if "cli" in got and (err := shapes.cli_error(got["cli"], f"rbd create {spec}")):
            raise err

    def remove_image(self, pool: str, name: str, progress: Progress | None = None) -> None:
        try:
            got = self.call(
                "remove", pool=pool, name=name, timeout=self.timeout * 3, on_progress=progress
            )
        except PodError as exc:
            if exc.kind == "ImageBusy":
                raise ServiceError(
                    f"{pool}/{name} is busy (a client opened it); not deleting"
                ) from None
            if exc.kind == "ImageNotFound":
                raise ServiceError(f"{pool}/{name} does not exist any more") from None
            raise ServiceError(f"deleting {pool}/{name} failed: {exc}") from None
        if "cli" in got and (err := shapes.cli_error(got["cli"], f"rbd rm {pool}/{name}")):
            raise err
        if "stopped" in got:
            raise Stopped(stopped_text(pool, name, *got["stopped"]))

    def break_lock(self, pool: str, name: str, locker: Locker) -> None:
        try:
            got = self.call("break", pool=pool, name=name, client=locker.client,
                            cookie=locker.cookie, feature=locker.feature_lock)  # fmt: skip
        except PodError as exc:
            if exc.kind == "ImageNotFound":
                raise ServiceError(
                    f"{pool}/{name} does not exist any more; nothing unlocked"
                ) from None
            raise ServiceError(
                f"breaking {locker.client}'s lock on {pool}/{name} failed: {exc}"
            ) from None
        if "cli" in got and (err := shapes.cli_error(got["cli"], f"rbd lock rm {pool}/{name}")):
            raise err

    def run(self, argv: list[str], timeout: float | None = None) -> tuple[int, str, str]:
        """A command in the pod through the same session (the bench's `rbd ls -l`)."""
        limit = timeout or self.timeout * 3
        rc, out, err = self.call("run", argv=argv, limit=limit, timeout=limit + self.timeout)
        return int(rc), str(out), str(err)


def _is_read(op: str, args: dict[str, Any]) -> bool:
    if op in READS:
        return True
    if op != "command":
        return False
    return str(json.loads(args.get("cmd", "{}")).get("prefix", "")) in READ_COMMANDS


def _from_cli(image: Image, results: list[list[Any]]) -> Image:
    """`rbd info`, `rbd lock ls` and `rbd status` as the pod's CLI printed them."""
    info, locks, status = results
    err = shapes.cli_error(info, f"rbd info {image.pool}/{image.name}")
    if err is not None:
        return replace(image, error=HALF_DELETED if "No such file" in str(info[2]) else str(err))
    size, bits = shapes.image_info(info[1])
    found = shapes.lockers(locks[1]) if locks[0] == 0 else []
    lockers = tuple(
        Locker(c, cookie, a, False, "internal" if cookie.startswith("auto ") else "")
        for c, cookie, a in found
    )
    image = replace(image, size=size, features=feature_names(bits), lockers=lockers)
    if status[0] != 0:
        return image
    return with_watchers(image, tuple(shapes.watchers(status[1])))
