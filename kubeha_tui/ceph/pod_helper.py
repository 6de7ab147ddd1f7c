# mypy: ignore-errors
# ruff: noqa: UP031, UP022, B905
"""Runs INSIDE a Ceph pod, sent over the exec session's stdin and run by the pod's own
Python (the ``ceph`` CLI is Python over the rados binding, so it has one). It imports
nothing from kubeha_tui and keeps to Python 3.5 (ceph/daemon Jewel images).

Protocol: one JSON object a line each way. Request ``{"id": N, "op": OP, ...}``;
answer ``{"id": N, "ok": true, "result": ...}`` or ``{"id": N, "ok": false, "error":
TEXT, "kind": EXCEPTION}``. Requests run in threads (the bindings release the GIL),
so a slow one does not hold up the others. Where the pod lacks the rbd binding, the
RBD calls run the ``rbd`` CLI and hand its raw output back for the caller to parse.
"""

import base64
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import rados

try:
    import rbd
except ImportError:
    rbd = None

CONF = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
TIMEOUT = int(CONF.get("timeout", 10))
WRITE = threading.Lock()
CLUSTER = {}


def b64(data):
    return base64.b64encode(bytes(data or b"")).decode()


def send(doc):
    line = json.dumps(doc) + "\n"
    with WRITE:
        sys.stdout.write(line)
        sys.stdout.flush()


def cluster():
    if "c" not in CLUSTER:
        t = str(TIMEOUT)
        c = rados.Rados(rados_id=CONF.get("id", "admin"))
        c.conf_read_file()  # $CEPH_CONF, else /etc/ceph/ceph.conf
        c.conf_parse_env()  # $CEPH_ARGS, as the ceph CLI reads it
        for k, v in (("rados_mon_op_timeout", t), ("rados_osd_op_timeout", t),
                     ("client_mount_timeout", t), ("log_to_stderr", "false"),
                     ("err_to_stderr", "false")):  # fmt: skip
            c.conf_set(k, v)
        c.connect(timeout=TIMEOUT)
        CLUSTER["c"] = c
    return CLUSTER["c"]


def cli(argv, timeout=None):
    try:
        done = subprocess.run(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=timeout or TIMEOUT * 3,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return [-110, "", "%s timed out" % argv[0]]
    except OSError as exc:
        return [-2, "", "%s: %s" % (argv[0], exc)]
    return [
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    ]


def op_hello(req):
    cluster()
    img = getattr(rbd, "Image", None)
    return {
        "rbd": rbd is not None,
        "list2": hasattr(getattr(rbd, "RBD", None), "list2"),
        "watchers_list": hasattr(img, "watchers_list"),
        "lock_owners": hasattr(img, "lock_get_owners"),
        "execute": hasattr(rados.Ioctx, "aio_execute") or hasattr(rados.Ioctx, "execute"),
        "python": sys.version.split()[0],
    }


def op_command(req):
    c = cluster()
    send_cmd = c.mgr_command if req.get("mgr") else c.mon_command
    ret, out, outs = send_cmd(req["cmd"], base64.b64decode(req.get("inbuf", "")), timeout=TIMEOUT)
    return [ret, b64(out), outs]


def op_ls(req):
    if rbd is None:
        return {"cli": cli(["rbd", "ls", "--format", "json", "-p", req["pool"]])}
    with cluster().open_ioctx(req["pool"]) as io:
        if hasattr(rbd.RBD, "list2"):
            return {"images": [[e["id"], e["name"]] for e in rbd.RBD().list2(io)]}
        return {"images": [["", n] for n in rbd.RBD().list(io)]}


def _execute_all(io, calls):
    """[(object, cls, method, data_b64)] -> [[ret, out_b64]], all in flight at once."""
    answers = [None] * len(calls)
    done = threading.Semaphore(0)
    if hasattr(io, "aio_execute"):
        for n, (obj, cls, method, data) in enumerate(calls):

            def finished(completion, out, n=n):
                answers[n] = [completion.get_return_value(), b64(out)]
                done.release()

            io.aio_execute(obj, cls, method, base64.b64decode(data), 65536, oncomplete=finished)
        for _ in calls:
            if not done.acquire(timeout=TIMEOUT * 3):
                break
        return [a or [-110, ""] for a in answers]

    def one(call):
        obj, cls, method, data = call
        try:
            ret, out = io.execute(obj, cls, method, base64.b64decode(data), 65536)
            return [ret, b64(out)]
        except rados.Error as exc:
            return [-abs(getattr(exc, "errno", 5) or 5), ""]

    with ThreadPoolExecutor(16) as pool:
        return list(pool.map(one, calls))


def op_execute(req):
    with cluster().open_ioctx(req["pool"]) as io:
        return _execute_all(io, req["calls"])


LISTER = {}


def _lister():
    """watchlist.py's WatchLister and Unavailable (pod.py sends its source as the string
    WATCHLIST), run once; an error there says why watchers need opened images here."""
    if "made" not in LISTER:
        space = {"__name__": "watchlist"}
        try:
            exec(compile(globals().get("WATCHLIST") or "", "watchlist", "exec"), space)
            LISTER["made"] = (space["WatchLister"], space["Unavailable"])
        except Exception as exc:
            LISTER["made"] = (
                None,
                "the watcher lister does not load here: %s" % (exc or type(exc).__name__),
            )
    return LISTER["made"]


def op_watchers(req):
    """Many objects' watchers without opening images (one OSD read each, 16 at a time);
    ``unavailable`` says why not, and the caller opens the images instead."""
    make, unavailable = _lister()
    if make is None:
        return {"unavailable": unavailable}
    try:
        if "lister" not in LISTER:
            LISTER["lister"] = make(None, CONF.get("id", "admin"), TIMEOUT)
        return {"watchers": LISTER["lister"].watchers(req["pool"], req["objects"])}
    except unavailable as exc:
        LISTER.pop("lister", None)
        return {"unavailable": str(exc)}


def _open_details(io, image_id, name, watchers, only_watchers=False):
    kw = {"image_id": image_id} if image_id else {"name": name}
    try:
        with rbd.Image(io, read_only=True, **kw) as img:
            if only_watchers and watchers:  # the header reads gave the rest
                return {"watchers": [w["addr"] for w in img.watchers_list()]}
            found = img.list_lockers() or {}
            return {
                "size": img.size(),
                "features": img.features(),
                "lockers": [list(x) for x in found.get("lockers", [])],
                "tag": found.get("tag", ""),
                "watchers": [w["addr"] for w in img.watchers_list()] if watchers else None,
            }
    except rbd.ImageNotFound:
        return {"error": "gone"}
    except rbd.Error as exc:
        return {"error": str(exc)}


def op_details(req):
    """Each image opened read-only, 16 at a time; or the rbd CLI's info, lock ls, status."""
    items = req["images"]  # [[id, name]]
    if rbd is None:
        pool = req["pool"]
        out = {}
        for _, name in items:
            spec = "%s/%s" % (pool, name)
            out[name] = {"cli": [cli(["rbd", "info", "--format", "json", spec]),
                                 cli(["rbd", "lock", "ls", "--format", "json", spec]),
                                 cli(["rbd", "status", spec])]}  # fmt: skip
        return out
    watchers = hasattr(rbd.Image, "watchers_list")
    with cluster().open_ioctx(req["pool"]) as io, ThreadPoolExecutor(16) as pool:
        only = bool(req.get("only_watchers"))
        found = list(pool.map(lambda i: _open_details(io, i[0], i[1], watchers, only), items))
    return {name: d for (_, name), d in zip(items, found)}


def op_create(req):
    spec = "%s/%s" % (req["pool"], req["name"])
    if rbd is None:
        argv = ["rbd", "create", "--size", "%dB" % req["size"], spec]
        for f in req["feature_names"]:
            argv += ["--image-feature", f]
        return {"cli": cli(argv)}
    with cluster().open_ioctx(req["pool"]) as io:
        rbd.RBD().create(io, req["name"], req["size"], old_format=False, features=req["features"])
    return {}


CANCELLED = set()  # ids of removals to stop


def op_remove(req):
    """Progress lines ``{"id", "progress": [done, total]}`` at most 4 a second; a
    ``cancel`` request naming this id stops it (the image is then half-deleted)."""
    if rbd is None:
        return {
            "cli": cli(["rbd", "rm", "--no-progress", "%s/%s" % (req["pool"], req["name"])], 3600)
        }
    n, state = req.get("id"), {"at": 0.0, "done": [0, 0]}

    def progress(done, total):
        state["done"] = [done, total]
        if n in CANCELLED:
            return -1
        now = time.time()
        if now - state["at"] >= 0.25:
            state["at"] = now
            send({"id": n, "progress": [done, total]})
        return 0

    with cluster().open_ioctx(req["pool"]) as io:
        try:
            rbd.RBD().remove(io, req["name"], on_progress=progress)
        except TypeError:  # bindings without progress callbacks
            rbd.RBD().remove(io, req["name"])
        except rbd.PermissionError:
            if n not in CANCELLED:
                raise
            return {"stopped": state["done"]}
        finally:
            CANCELLED.discard(n)
    return {}


def op_cancel(req):
    CANCELLED.add(req["target"])
    return {}


def op_break(req):
    if rbd is None:
        spec = "%s/%s" % (req["pool"], req["name"])
        return {"cli": cli(["rbd", "lock", "rm", spec, req["cookie"], req["client"]])}
    with cluster().open_ioctx(req["pool"]) as io, rbd.Image(io, name=req["name"]) as img:
        if req.get("feature") and hasattr(img, "lock_get_owners"):
            for owner in img.lock_get_owners():
                img.lock_break(owner["mode"], owner["owner"])
        else:
            img.break_lock(req["client"], req["cookie"])
    return {}


def op_run(req):
    return cli(req["argv"], req.get("limit"))


OPS = {"hello": op_hello, "command": op_command, "ls": op_ls, "execute": op_execute,
       "details": op_details, "create": op_create, "remove": op_remove, "break": op_break,
       "run": op_run, "cancel": op_cancel, "watchers": op_watchers}  # fmt: skip


def handle(req):
    try:
        send({"id": req.get("id"), "ok": True, "result": OPS[req["op"]](req)})
    except Exception as exc:
        send({"id": req.get("id"), "ok": False, "error": str(exc) or type(exc).__name__,
              "kind": type(exc).__name__})  # fmt: skip


def main():
    send({"id": 0, "ok": True, "result": "ready"})
    pool = ThreadPoolExecutor(8)
    for raw in iter(sys.stdin.readline, ""):
        line = raw.strip()
        if not line:
            continue
        req = json.loads(line)
        if req.get("op") == "quit":
            break
        pool.submit(handle, req)
    pool.shutdown(wait=False)
    os._exit(0)  # stdin closed: the session is gone, and so is this helper


if __name__ == "__main__":
    main()
