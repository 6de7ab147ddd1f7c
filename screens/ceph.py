"""Ceph screen: health, RBD images per pool (create, delete, unlock) and the OSD tree
(remove a lost OSD), live."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Select, Static, TabPane
from textual.worker import get_current_worker

from kubeha_tui.ceph.backend import Stopped
from kubeha_tui.ceph.images import (
    CreateRequest,
    Image,
    Locker,
    check_create,
    create,
    delete,
    human_size,
    image_details,
    unlock,
)
from kubeha_tui.ceph.osds import Step, removal_warning, remove_osd
from kubeha_tui.ceph.secret import NAME, NAMESPACE, runtime_dir
from kubeha_tui.ceph.service import CephSnapshot, CephStatusService
from kubeha_tui.errors import ServiceError

from .ceph_dialogs import CreateImageScreen, DeleteImageScreen, OSDRemovalScreen, UnlockScreen
from .dialogs import ConfirmScreen
from .messages import ActionFinished, DeleteEnded, DeleteProgressed, ImageRead
from .plain import clean, plain, plain_text
from .rows import Row
from .tabbed import SteadyTabbedContent, TabbedTableScreen
from .tables import FastTable, selected_key, table
from .widgets import BackendLine

IMAGE_COLUMNS = ("NAME", "SIZE", "FEATURES", "LOCKERS", "WATCHERS", "STATE")
OSD_COLUMNS = ("ID", "HOST", "STATUS", "IN/OUT", "WEIGHT", "REWEIGHT")
STATE_STYLE = {
    "stale lock": "failed",
    "error": "failed",
    "half-deleted": "failed",
    "locked": "warn",
}
PROGRESS_EVERY = 0.1  # seconds between progress messages of a delete (a 1P image has 2^28 objects)


@dataclass
class Deletion:
    """An image delete under way, as the UI thread knows it (the worker reads only
    ``cancel``, an Event)."""

    pool: str
    name: str
    cancel: threading.Event = field(default_factory=threading.Event)
    dialog: DeleteImageScreen | None = None
    done: int = 0
    total: int = 0

    @property
    def key(self) -> str:
        return f"{self.pool}/{self.name}"

    @property
    def state(self) -> str:
        if self.cancel.is_set():
            return "cancelling delete"
        return f"deleting {self.done * 100 // self.total}%" if self.total else "deleting"


def image_rows(snap: CephSnapshot, deleting: Mapping[str, str] | None = None) -> list[Row]:
    """``deleting``: image name -> how far its delete is (shown as its state)."""
    rows = []
    for i in snap.images:
        if deleting and i.name in deleting:
            cells = (i.name, human_size(i.size) if i.size is not None else "…", "…", "…", "…",
                     deleting[i.name])  # fmt: skip
            rows.append(Row(i.name, cells, "warn"))
            continue
        if i.loaded and not i.error:
            lockers = ", ".join(f"{lk.client} {lk.cookie}" for lk in i.lockers) or "-"
            cells = (
                i.name,
                human_size(i.size or 0),
                ",".join(i.features) or "-",
                lockers,
                str(len(i.watchers)) if i.watched else "…",
                i.state,
            )
        else:
            cells = (i.name, "…", "…", "…", "…", i.error or "…")
        rows.append(Row(i.name, cells, STATE_STYLE.get(i.state, "")))
    return rows


def osd_rows(snap: CephSnapshot) -> list[Row]:
    return [
        Row(
            str(o.id),
            (
                o.name,
                o.host,
                "up" if o.up else "down",
                "in" if o.inn else "out",
                f"{o.weight:.5f}",
                f"{o.reweight:.2f}",
            ),
            "" if o.up else "failed",
        )
        for o in snap.tree.osds
    ]


SECRET = f"{NAMESPACE}/{NAME}"
OFFER = (
    f"Ceph cannot be reached with this ceph.conf (on a stack node it is a template). "
    f"Press k to use the cluster's secret {SECRET} instead."
)


class CephScreen(TabbedTableScreen):
    TITLE_TEXT = "Ceph"
    AREA = "ceph"
    SNAPSHOT = CephSnapshot
    TABS = ("images", "osds")
    HELP = (
        "Ceph health, RBD images of a pool and the OSD tree, through librados here or a Ceph "
        "pod's exec (--ceph-via; the health line says which). "
        "Images: n creates, Ctrl+D deletes (refused while a client uses it; a progress dialog "
        "with Cancel, which leaves the image half-deleted, and Run in background; Ctrl+D on a "
        "row being deleted shows it again), u breaks a lock "
        "(stale lockers are fenced first; a live one only when forced). OSDs: x removes a lost "
        "(down) OSD step by step: out, wait for recovery, safe-to-destroy, purge."
    )
    HELP_READ_ONLY = (
        "Ceph health, RBD images of a pool (size, features, lockers, watchers) and the OSD "
        "tree, through librados/librbd. Read-only mode: nothing here changes the cluster, "
        "and the cluster's secret is not copied to disk."
    )
    # ceph_from_secret writes the admin keyring to disk: not in read-only mode either.
    DESTRUCTIVE = frozenset(
        {"create_image", "delete_image", "unlock_image", "remove_osd", "ceph_from_secret"}
    )
    BINDINGS = [
        Binding(
            "k",
            "ceph_from_secret",
            "Use secret",
            id="ceph.secret",
            tooltip=f"Connect with the cluster's secret {SECRET} (when the ceph.conf here cannot)",
        ),
        Binding("n", "create_image", "New", id="ceph.create", tooltip="Create an RBD image"),
        Binding(
            "u", "unlock_image", "Unlock", id="ceph.unlock", tooltip="Break a lock on the image"
        ),
        Binding("ctrl+d", "delete_image", "Delete", id="ceph.delete", tooltip="Delete the image"),
        Binding(
            "x",
            "remove_osd",
            "Remove OSD",
            id="ceph.remove-osd",
            tooltip="Remove a lost (down) OSD",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._pools_shown: tuple[str, ...] = ()
        self._visible_sent: tuple[str, ...] = ()
        self._deletions: dict[str, Deletion] = {}  # pool/name -> the delete under way

    @property
    def service(self) -> CephStatusService:
        return self.kubeha.services.ceph

    def compose_body(self) -> ComposeResult:
        yield BackendLine("ceph")
        yield Static(OFFER, id="ceph-offer", classes="hidden")
        yield Static("", id="ceph-health")
        with SteadyTabbedContent(id="ceph-tabs"):
            with TabPane("Images", id="images"):
                yield Select([], prompt="pool", allow_blank=True, id="ceph-pool")
                yield table("ceph-images", IMAGE_COLUMNS)
            with TabPane("OSDs", id="osds"):
                yield Static("", id="ceph-pgs")
                yield table("ceph-osds", OSD_COLUMNS)
        yield self.filter_box()

    def render_tables(self) -> None:
        snap = self.snapshot
        if not isinstance(snap, CephSnapshot):
            return
        checks = clean("".join(f"\n  {c}" for c in snap.checks))
        style = {"HEALTH_OK": "green", "HEALTH_WARN": "yellow"}.get(snap.health, "red")
        self.query_one("#ceph-health", Static).update(
            Text.assemble(
                (clean(snap.health), f"bold {style}"),
                (f"  via {clean(snap.via)}", "dim"),
                checks,
                (f"\n  {clean(snap.problem)}", "red") if snap.problem else "",
            )
        )
        self.query_one("#ceph-pgs", Static).update(plain(f"PGs: {snap.pgs.text()}"))
        select = self.query_one("#ceph-pool", Select)
        if snap.pools != self._pools_shown:
            select.set_options([(plain_text(p), p) for p in snap.pools])
            self._pools_shown = snap.pools
        if snap.pool and select.value != snap.pool:
            with select.prevent(Select.Changed):
                select.value = snap.pool
        tab = self.tab
        view = self.views[tab]
        deleting = {d.name: d.state for d in self._deletions.values() if d.pool == snap.pool}
        view.rows = image_rows(snap, deleting) if tab == "images" else osd_rows(snap)
        grid = self.query_one(f"#ceph-{tab}", FastTable)
        grid.show(view.visible(), IMAGE_COLUMNS if tab == "images" else OSD_COLUMNS)
        if tab == "images":
            top = int(grid.scroll_offset.y)
            visible = tuple(r.key for r in view.visible()[top : top + grid.size.height])
            if visible != self._visible_sent:
                self._visible_sent = visible
                self.service.show(visible=visible)

    @on(Select.Changed, "#ceph-pool")
    def _pool_changed(self, event: Select.Changed) -> None:
        shown = self.snapshot.pool if isinstance(self.snapshot, CephSnapshot) else ""
        if isinstance(event.value, str) and event.value != shown:
            self.service.show(pool=event.value)
            self.kubeha.poll("ceph")

    # -- actions -----------------------------------------------------------------

    # -- Ceph through the cluster's secret ------------------------------------------

    def on_mount(self) -> None:
        super().on_mount()
        self.watch(self.app, "backends", self._backends_changed)

    def _offer_secret(self) -> bool:
        """Ceph unreachable with the conf given, the Kubernetes API reachable (and the
        keyring may be written: not in read-only mode)."""
        if self.read_only:
            return False
        states = {name: b.state for name, b in self.kubeha.backends.items()}
        return states.get("ceph") == "unreachable" and states.get("kube") == "connected"

    def _backends_changed(self) -> None:
        self.query_one("#ceph-offer").set_class(not self._offer_secret(), "hidden")
        self.refresh_bindings()

    def action_ceph_from_secret(self) -> None:
        if not self._offer_secret():
            return  # also from the palette: only where it applies, never in read-only mode

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._use_secret()

        self.app.push_screen(ConfirmScreen(
            f"Use the secret {SECRET}?",
            f"Read {SECRET} (ceph.conf and the admin keyring) through the Kubernetes API and "
            "connect to Ceph with it.",
            f"Written with mode 0600 to a private directory under {runtime_dir()}, removed when "
            "kubeha-tui exits. The key is never shown or logged.",
            (), "use",
        ), confirmed)  # fmt: skip

    @work(thread=True, exclusive=True, exit_on_error=False, group="ceph-secret")
    def _use_secret(self) -> None:
        try:
            self.post_message(ActionFinished(self.kubeha.services.ceph_from_secret(), ok=True))
        except ServiceError as exc:
            self.post_message(ActionFinished(f"cannot use {SECRET}: {exc}", ok=False))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "ceph_from_secret":
            return self._offer_secret()
        allowed = super().check_action(action, parameters)
        if allowed and self.query("#ceph-tabs"):
            if action in {"delete_image", "unlock_image", "create_image"} and self.tab != "images":
                return None
            if action == "remove_osd" and self.tab != "osds":
                return None
        return allowed

    def selected_image(self) -> Image | None:
        key = selected_key(self.query_one("#ceph-images", DataTable))
        snap = self.snapshot
        if key is None or not isinstance(snap, CephSnapshot):
            return None
        return next((i for i in snap.images if i.name == key), None)

    def action_create_image(self) -> None:
        snap = self.snapshot
        if not isinstance(snap, CephSnapshot) or not snap.pools:
            self.notify("no pool to create an image in", severity="warning")
            return
        ceph = self.service.ceph

        def check(pool: str, name: str, size: str, features: tuple[str, ...]) -> CreateRequest:
            return check_create(ceph, pool, name, size, features)

        def chosen(request: CreateRequest | None) -> None:
            if request is None:
                return

            def make(yes: bool | None = True) -> None:
                if yes:
                    self._act(f"created {request.pool}/{request.name} ({human_size(request.size)}, {','.join(request.features)})",
                              lambda: create(ceph, request))  # fmt: skip

            if not request.warnings:
                make()
                return
            self.app.push_screen(ConfirmScreen(
                f"Create {request.pool}/{request.name} anyway?", "This image is bigger than Ceph can hold.",
                f"rbd create --size {request.size}B {request.pool}/{request.name}", request.warnings, "create",
            ), make)  # fmt: skip

        self.app.push_screen(CreateImageScreen(snap.pools, snap.pool, check), chosen)

    def action_delete_image(self) -> None:
        image = self.selected_image()
        if image is None:
            return
        running = self._deletions.get(f"{image.pool}/{image.name}")
        if running is not None:
            if running.dialog is None:
                self._follow(running)
            return
        if image.watchers or image.lockers:
            who = (
                f"{len(image.watchers)} client(s) use it"
                if image.watchers
                else f"{image.lockers[0].client} holds a lock"
            )
            hint = "; u shows its locks and breaks a stale one" if image.lockers else ""
            self.notify(
                f"{image.pool}/{image.name}: {who}; not deleting{hint}",
                title="Refused",
                severity="warning",
            )
            return
        key = f"{image.pool}/{image.name}"
        size = human_size(image.size) if image.size is not None else "size unknown"
        if image.state == "half-deleted":
            title = f"Finish deleting {key}?"
            what = f"{key} is half-deleted (a delete stopped part-way): remove the rest of it."
        else:
            title = f"Delete {key}?"
            what = f"Delete image {key} ({size}) and all its data."

        def confirmed(yes: bool | None) -> None:
            if yes:
                self._start_delete(image.pool, image.name)

        self.app.push_screen(
            ConfirmScreen(
                title,
                what,
                f"rbd rm {key}",
                (
                    "This cannot be undone. Cancel stops it part-way and leaves the image half-deleted.",
                ),
                "delete",
            ),
            confirmed,
        )

    # -- a delete with progress, cancel and background ---------------------------------

    def _start_delete(self, pool: str, name: str) -> None:
        run = Deletion(pool, name)
        self._deletions[run.key] = run
        self._follow(run)
        self._delete(run.key, pool, name, run.cancel)
        self.render_tables()

    def _follow(self, run: Deletion) -> None:
        """Show the delete's dialog; closing it leaves the delete running."""
        dialog = DeleteImageScreen(run.key, run.cancel, run.done, run.total)
        run.dialog = dialog

        def closed(_: None) -> None:
            if run.dialog is dialog:
                run.dialog = None
            if run.key in self._deletions:
                self.notify(f"deleting {run.key} in the background; Ctrl+D on its row shows it")

        self.app.push_screen(dialog, closed)

    @work(thread=True, exit_on_error=False, group="ceph-delete")
    def _delete(self, key: str, pool: str, name: str, cancel: threading.Event) -> None:
        """Stops at the next object when cancelled, or when the app quits (Textual cancels
        every worker at exit, and the backend is closing): quitting never waits on it."""
        ceph = self.service.ceph
        worker = get_current_worker()
        last = 0.0

        def progress(done: int, total: int) -> bool:
            nonlocal last
            if (now := time.monotonic()) - last >= PROGRESS_EVERY:
                last = now
                self.post_message(DeleteProgressed(key, done, total))
            return not (cancel.is_set() or worker.is_cancelled or ceph.closing)

        try:
            delete(ceph, pool, name, progress)
            self.post_message(DeleteEnded(key, f"deleted {key}", ok=True))
        except Stopped as exc:
            self.post_message(DeleteEnded(key, str(exc), ok=False, stopped=True))
        except ServiceError as exc:
            self.post_message(DeleteEnded(key, str(exc), ok=False))

    @on(DeleteProgressed)
    def _delete_progressed(self, message: DeleteProgressed) -> None:
        run = self._deletions.get(message.key)
        if run is None:
            return
        run.done, run.total = message.done, message.total
        if run.dialog is not None:
            run.dialog.progressed(message.done, message.total)
        if self.tab == "images":
            self.render_tables()

    @on(DeleteEnded)
    def _delete_ended(self, message: DeleteEnded) -> None:
        run = self._deletions.pop(message.key, None)
        if run is not None and run.dialog is not None:
            run.dialog.ended(message.text, message.ok, message.stopped)
        else:
            self.notify(message.text, severity="information" if message.ok else "error", timeout=8)
        self.render_tables()
        self.kubeha.poll("ceph")

    def action_unlock_image(self) -> None:
        image = self.selected_image()
        if image is not None:
            self._read_for_unlock(image.pool, image.name)

    @work(thread=True, exclusive=True, exit_on_error=False, group="ceph-action")
    def _read_for_unlock(self, pool: str, name: str) -> None:
        """Lockers and watchers read now: whether a locker is alive decides what is safe."""
        try:
            self.post_message(ImageRead(image_details(self.service.ceph, pool, name)))
        except ServiceError as exc:
            self.post_message(ActionFinished(f"{pool}/{name}: {exc}", ok=False))

    @on(ImageRead)
    def _unlock_dialog(self, message: ImageRead) -> None:
        image = message.image
        assert isinstance(image, Image)
        if not image.lockers:
            self.notify(f"{image.pool}/{image.name} has no locks", severity="information")
            return
        ceph = self.service.ceph

        def chosen(choice: tuple[Locker, bool] | None) -> None:
            if choice is None:
                return
            locker, force = choice
            if not force:
                self._act(
                    "",
                    lambda: unlock(ceph, image.pool, image.name, locker.client, locker.cookie).text,
                )
                return

            def sure(yes: bool | None) -> None:
                if yes:
                    self._act(
                        "",
                        lambda: (
                            unlock(
                                ceph,
                                image.pool,
                                image.name,
                                locker.client,
                                locker.cookie,
                                force=True,
                            ).text
                        ),
                    )

            self.app.push_screen(
                ConfirmScreen(
                    f"Force-break {locker.client}'s lock?",
                    f"{locker.client} at {locker.address} is alive. It will be blocklisted for an hour and lose {image.name}.",
                    f"ceph osd blocklist add {locker.address}; rbd lock rm {image.pool}/{image.name} {locker.cookie!r} {locker.client}",
                    ("If that client is really writing, this can corrupt what it was doing.",),
                    "force",
                ),
                sure,
            )

        self.app.push_screen(UnlockScreen(image), chosen)

    def action_remove_osd(self) -> None:
        key = selected_key(self.query_one("#ceph-osds", DataTable))
        snap = self.snapshot
        if key is None or not isinstance(snap, CephSnapshot):
            return
        osd = snap.tree.get(int(key))
        if osd is None:
            return
        if osd.up:
            self.notify(
                f"{osd.name} is up: stop its daemon first; only a lost OSD is removed here",
                title="Refused",
                severity="warning",
            )
            return
        ceph = self.service.ceph

        def flow(force: bool, cancel: threading.Event) -> Iterator[Step]:
            return remove_osd(ceph, osd.id, force=force, cancel=cancel)

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.app.push_screen(
                    OSDRemovalScreen(osd.id, flow), lambda _: self.kubeha.poll("ceph")
                )

        plan = (f"Remove {osd.name} from host {osd.host}: mark it out, wait until every PG is active+clean, "
                "check safe-to-destroy, purge it (CRUSH item, auth key, id), remove the host bucket if it is left empty.")  # fmt: skip
        self.app.push_screen(
            ConfirmScreen(
                f"Remove {osd.name}?",
                plan,
                f"ceph osd out {osd.id}; ceph osd purge {osd.id}",
                tuple(w for w in (removal_warning(snap.tree, snap.pool_sizes, osd.id),) if w),
                "remove",
            ),
            confirmed,
        )

    # -- running an action in a worker ------------------------------------------------

    @work(thread=True, exit_on_error=False, group="ceph-action")
    def _act(self, text: str, run: Callable[[], object]) -> None:
        """Run a cluster change in a thread; ``text`` (or the result) is the note shown after."""
        try:
            result = run()
            self.post_message(ActionFinished(text or str(result), ok=True))
        except ServiceError as exc:
            self.post_message(ActionFinished(str(exc), ok=False))
