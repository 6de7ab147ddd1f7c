"""HTTP front of the sandbox Kubernetes API: routing, discovery, Status errors, chunked
watch and log streams, Table answers for kubectl, optional bearer-token users."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import yaml

from . import exec as pod_exec
from . import managed, openapi, openapi_v2, portforward, protobuf, upgrade
from .api import KubeAPI, Ref, body_object
from .resources import api_version, group_doc, resource_list
from .store import ApiError
from .views import LOG_EVERY, log_lines, table

log = logging.getLogger(__name__)

NOT_FOUND = ApiError(404, "NotFound", "the server could not find the requested resource")


@dataclass(frozen=True)
class User:
    name: str
    namespace: str | None = None  # None: may do everything; else only inside this namespace


@dataclass
class Reply:
    code: int = 200
    doc: Any = None
    stream: Iterator[bytes] | None = None
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class Router:
    def __init__(self, api: KubeAPI, users: dict[str, User] | None = None) -> None:
        self.api = api
        self.users = users  # None: no authentication (the stack's insecure port 8080)
        self.stopping = threading.Event()
        # Fault injection for tests: new watches wait while the gate is closed, and
        # drop_watches() ends the open ones (as a restarted apiserver or a cut link does).
        self.faults: dict[tuple[str, str], ApiError] = {}  # (method, plural) -> the answer
        self.watch_gate = threading.Event()
        self.watch_gate.set()
        self._generation = 0
        self._openapi_docs: dict[str, tuple[Any, str]] = {}

    def drop_watches(self) -> None:
        self._generation += 1
        with self.api.store.cond:
            self.api.store.cond.notify_all()

    # -- discovery ---------------------------------------------------------------

    def discovery(self, parts: list[str]) -> Any:
        groups = self.api.pose.groups
        if parts == ["version"]:
            major, minor = self.api.pose.major_minor
            return {
                "major": major,
                "minor": minor,
                "gitVersion": self.api.pose.git_version,
                "gitCommit": "sandbox",
                "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z",
                "goVersion": "go1.22.0",
                "compiler": "gc",
                "platform": "linux/amd64",
            }
        if parts == ["api"]:
            return {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:0"}
                ],
            }
        if parts == ["api", "v1"]:
            policy = next(iter(groups.get("policy") or {"v1": []}))
            return resource_list("", "v1", groups[""]["v1"], self.api.pose.bookmarks, policy)
        if parts == ["apis"]:
            return {
                "kind": "APIGroupList",
                "apiVersion": "v1",
                "groups": [group_doc(g, list(vs)) for g, vs in groups.items() if g],
            }
        if len(parts) == 2 and parts[0] == "apis" and parts[1] in groups:
            return group_doc(parts[1], list(groups[parts[1]]))
        if len(parts) == 3 and parts[0] == "apis":
            resources = groups.get(parts[1], {}).get(parts[2])
            if resources is not None:
                return resource_list(parts[1], parts[2], resources, self.api.pose.bookmarks)
        if parts and parts[0] in ("healthz", "livez", "readyz"):
            return "ok"
        return None

    def target(self, parts: list[str]) -> Ref | None:
        if parts[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        namespace = ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            return None
        res = self.api.pose.lookup(group, version, rest[0])
        if res is None or (namespace and not res.namespaced):
            return None
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if sub and sub not in res.subresources:
            return None
        return Ref(res, group, version, namespace, name, sub)

    # -- requests ------------------------------------------------------------------

    def handle(self, method: str, url: str, headers: Any, body: bytes) -> Reply:
        split = urlsplit(url)
        parts = [p for p in split.path.split("/") if p]
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        try:
            user = self.authenticate(headers)
            if method == "GET" and parts[:1] == ["openapi"]:
                return self.openapi(parts[1:], headers)
            if method == "GET":
                doc = self.discovery(parts)
                if doc is not None:
                    return Reply(
                        doc=doc, content_type="text/plain" if doc == "ok" else "application/json"
                    )
            target = self.target(parts)
            if target is None:
                raise NOT_FOUND
            self.authorize(user, method, target, query)
            return self.dispatch(method, target, query, headers, body)
        except ApiError as exc:
            return Reply(exc.code, exc.status())

    def authenticate(self, headers: Any) -> User | None:
        if self.users is None:
            return None
        auth = headers.get("Authorization") or ""
        user = (
            self.users.get(auth.removeprefix("Bearer ").strip())
            if auth.startswith("Bearer ")
            else None
        )
        if user is None:
            raise ApiError(401, "Unauthorized", "Unauthorized")
        return user

    def authorize(self, user: User | None, method: str, t: Ref, query: dict[str, str]) -> None:
        if user is None or user.namespace is None:
            return
        if t.namespace == user.namespace or (
            t.res.plural == "namespaces" and t.name == user.namespace
        ):
            return
        verb = {"GET": "get" if t.name else ("watch" if _is_watch(query) else "list"),
                "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method, method.lower())  # fmt: skip
        where = f'in the namespace "{t.namespace}"' if t.namespace else "at the cluster scope"
        raise ApiError(
            403,
            "Forbidden",
            f'{t.res.plural}{"." + t.group if t.group else ""} is forbidden: User "{user.name}" '
            f'cannot {verb} resource "{t.res.plural}" in API group "{t.group}" {where}',
            {"kind": t.res.plural, "group": t.group},
        )

    def dispatch(
        self, method: str, t: Ref, query: dict[str, str], headers: Any, body: bytes
    ) -> Reply:
        api = self.api
        fault = self.faults.get((method, t.res.plural))
        if fault is not None:
            raise fault
        dry = query.get("dryRun") == "All"
        if t.sub == "log":
            return self.logs(t, query)
        if t.sub == "scale":
            return self.scale(method, t, body, headers)
        if method == "GET" and not t.name:
            if _is_watch(query):
                as_table = _wants_table(headers) and api.pose.chunking
                return Reply(stream=self.watch_stream(t, query, as_table))
            listed = api.list(t, query)
            if _wants_table(headers) and api.pose.chunking:
                return Reply(
                    doc=table(
                        t.res.plural,
                        listed["items"],
                        listed["metadata"],
                        query.get("includeObject", "Metadata"),
                    )
                )
            return Reply(doc=listed)
        if method == "GET":
            obj = api.present(api.get(t), t)
            if _wants_table(headers) and api.pose.chunking:
                return Reply(
                    doc=table(
                        t.res.plural,
                        [obj],
                        {"resourceVersion": obj["metadata"]["resourceVersion"]},
                        query.get("includeObject", "Metadata"),
                    )
                )
            return Reply(doc=obj)
        if method in ("POST", "PUT", "DELETE"):
            body = decodable(headers, body)
        if t.sub == "eviction" and method == "POST":
            return Reply(201, api.evict(t, body_object(body)))
        warnings: list[str] = []
        if method in ("POST", "PUT") and not t.sub:
            body = self.checked(t, query, body, warnings)
        write = managed.Write(
            managed.manager_from(query.get("fieldManager", ""), headers.get("User-Agent") or ""),
            api_version(t.group, t.version),
            subresource=t.sub,
            force=query.get("force") == "true",
        )
        if method == "POST" and not t.name:
            created = api.create(t, body_object(body), dry, write)
            return Reply(201, api.present(created, t), headers=_warning(warnings))
        if method == "PUT" and t.name:
            new = api.replace(t, body_object(body), dry, write)
            return Reply(doc=api.present(new, t), headers=_warning(warnings))
        if method == "PATCH" and t.name:
            ctype = (headers.get("Content-Type") or "").split(";")[0].strip()
            validation = query.get("fieldValidation", "Warn")
            if ctype == managed.APPLY_PATCH:
                write.operation = "Apply"
                applied, fresh = api.apply(t, body, write, dry, validation)
                return Reply(201 if fresh else 200, api.present(applied, t))
            new = api.patch(t, ctype, body, dry, write, validation=validation, warnings=warnings)
            return Reply(doc=api.present(new, t), headers=_warning(warnings))
        if method == "DELETE" and t.name and not t.sub:
            gone = api.delete(t, body_object(body))
            return Reply(doc=api.present(gone, t))
        if method == "DELETE" and not t.name:  # deletecollection
            listed = api.list(t, {k: v for k, v in query.items() if k.endswith("Selector")})
            options = body_object(body)
            for item in listed["items"]:
                one = dataclasses.replace(t, namespace=item["metadata"].get("namespace", ""),
                                          name=item["metadata"]["name"])  # fmt: skip
                try:
                    api.delete(one, options)
                except ApiError as exc:
                    if exc.code != 404:  # gone meanwhile: fine
                        raise
            return Reply(doc=listed)
        raise ApiError(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )

    def openapi(self, parts: list[str], headers: Any) -> Reply:
        """/openapi/v2 (JSON or protobuf) and /openapi/v3 with its group version
        documents, from the pose's real schemas; none where the pose has none."""
        pose = self.api.pose
        if not pose.schemas or openapi.definitions(pose.schemas) is None:
            raise NOT_FOUND
        if parts == ["v2"]:
            accept = headers.get("Accept") or ""
            served = tuple(
                (g, v, r.plural, r.kind, r.namespaced)
                for g, versions in pose.groups.items()
                for v, resources in versions.items()
                for r in resources
            )
            if any(alias in accept for alias in openapi_v2.PROTOBUF_ALIASES):
                encoded = openapi_v2.document(pose.schemas, pose.git_version, served)
                return Reply(doc=encoded, content_type=openapi_v2.PROTOBUF)
            return Reply(doc=openapi_v2.swagger(pose.schemas, pose.git_version, served))
        if parts[:1] != ["v3"]:
            raise NOT_FOUND
        docs = {
            ("api/v1" if not g else f"apis/{g}/{v}"): (g, v, resources)
            for g, versions in pose.groups.items()
            for v, resources in versions.items()
        }
        if len(parts) == 1:
            return Reply(doc={"paths": {
                where: {"serverRelativeURL": f"/openapi/v3/{where}?hash={self._openapi_doc(where, docs[where])[1]}"}
                for where in docs
            }})  # fmt: skip
        where = "/".join(parts[1:])
        if where not in docs:
            raise NOT_FOUND
        return Reply(doc=self._openapi_doc(where, docs[where])[0])

    def _openapi_doc(self, where: str, gv: tuple[str, str, Any]) -> tuple[Any, str]:
        if where not in self._openapi_docs:
            pose = self.api.pose
            doc = openapi.group_version_doc(pose.schemas, pose.git_version, *gv)
            self._openapi_docs[where] = (doc, openapi.doc_hash(doc))
        return self._openapi_docs[where]

    def checked(self, t: Ref, query: dict[str, str], body: bytes, warnings: list[str]) -> bytes:
        """The body decoded as this version's apiserver decodes it: unknown fields pruned
        (a warning, or refused with fieldValidation=Strict), wrong types refused."""
        pose = self.api.pose
        name = pose.schemas and openapi.definition_for(pose.schemas, t.group, t.version, t.res.kind)
        defs = openapi.definitions(pose.schemas) if name else None
        doc = body_object(body)
        if not name or defs is None or not isinstance(doc, dict):
            return body
        kind = t.res.kind
        cannot = f'{kind} in version "{t.version}" cannot be handled as a {kind}'
        try:
            decoded = openapi.decode(defs, name, doc)
        except openapi.TypeMismatch as exc:
            raise ApiError(400, "BadRequest", f"{cannot}: {exc}") from None
        unknown = [f'unknown field "{u}"' for u in decoded.unknown]
        mode = query.get("fieldValidation", "Warn")
        if unknown and mode == "Strict":
            raise ApiError(
                400, "BadRequest", f"{cannot}: strict decoding error: {', '.join(unknown)}"
            )
        if mode == "Warn":
            warnings += unknown
        return json.dumps(decoded.obj).encode()

    def watch_stream(
        self, t: Ref, query: dict[str, str], as_table: bool = False
    ) -> Iterator[bytes]:
        stop = threading.Event()
        timeout = float(query.get("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        self.watch_gate.wait(30)
        generation = self._generation
        events = self.api.watch(t, query, stop)
        first = True
        try:
            for event in events:
                if generation != self._generation:
                    break
                if event and as_table and event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                    # kubectl get -w: each object as a one-row Table, the columns once
                    obj = event["object"]
                    doc = table(t.res.plural, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]},
                                query.get("includeObject", "Metadata"))  # fmt: skip
                    if not first:
                        doc["columnDefinitions"] = []
                    sent, first = {"type": event["type"], "object": doc}, False
                else:
                    sent = event
                if sent:  # {} marks a quiet second
                    yield (json.dumps(sent, separators=(",", ":")) + "\n").encode()
                if time.monotonic() > deadline or self.stopping.is_set():
                    break
        finally:
            stop.set()

    def logs(self, t: Ref, query: dict[str, str]) -> Reply:
        pod = self.api.get(t)
        names = [c["name"] for c in pod["spec"]["containers"]]
        container = query.get("container") or (names[0] if len(names) == 1 else "")
        if not container:
            raise ApiError(
                400,
                "BadRequest",
                f"a container name must be specified for pod {t.name}, choose one of: [{' '.join(names)}]",
            )
        if container not in names:
            raise ApiError(
                400, "BadRequest", f"container {container} is not valid for pod {t.name}"
            )
        if pod.get("status", {}).get("phase") != "Running":
            reason = "ContainerCreating" if pod.get("spec", {}).get("nodeName") else "Pending"
            raise ApiError(
                400,
                "BadRequest",
                f'container "{container}" in pod "{t.name}" is waiting to start: {reason}',
            )
        lines = log_lines(pod, container)
        tail = query.get("tailLines")
        if tail is not None:
            lines = lines[-int(tail) :] if int(tail) else []
        text = "".join(line + "\n" for line in lines).encode()
        if query.get("follow") != "true":
            return Reply(doc=text, content_type="text/plain")

        def follow() -> Iterator[bytes]:
            yield text
            seen = len(log_lines(pod, container))
            while not self.stopping.is_set():
                time.sleep(LOG_EVERY / 2)
                current = self.api.store.get("pods", (t.namespace, t.name))
                if current is None or current["metadata"]["uid"] != pod["metadata"]["uid"]:
                    return
                fresh = log_lines(current, container)
                for line in fresh[seen:]:
                    yield (line + "\n").encode()
                seen = len(fresh)

        return Reply(stream=follow(), content_type="text/plain")

    def scale(self, method: str, t: Ref, body: bytes, headers: Any) -> Reply:
        api = self.api
        whole = dataclasses.replace(t, sub="")
        obj = api.get(whole)
        if method in ("PUT", "PATCH"):
            doc = body_object(body) or {}
            replicas = (doc.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or replicas < 0:
                raise ApiError(
                    422,
                    "Invalid",
                    f'Scale.autoscaling "{t.name}" is invalid: spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0',
                )
            patch = json.dumps({"spec": {"replicas": replicas}}).encode()
            agent = headers.get("User-Agent") or ""
            write = managed.Write(
                managed.manager_from("", agent),
                api_version(t.group, t.version),
                subresource="scale",
            )
            obj = api.patch(whole, "application/merge-patch+json", patch, write=write)
        elif method != "GET":
            raise ApiError(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )
        labels = obj["spec"].get("selector", {}).get("matchLabels") or {}
        return Reply(doc={
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {k: obj["metadata"][k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")},
            "spec": {"replicas": obj["spec"].get("replicas", 1)},
            "status": {"replicas": obj.get("status", {}).get("replicas", 0), "selector": ",".join(f"{k}={v}" for k, v in labels.items())},
        })  # fmt: skip


DECODABLE = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")


def decodable(headers: Any, body: bytes) -> bytes:
    """The body as JSON (from JSON, YAML or Kubernetes protobuf); 415 in the apiserver's
    words for a media type it has no decoder for (CBOR)."""
    ctype = (headers.get("Content-Type") or "application/json").split(";")[0].strip().lower()
    if ctype == "application/json" or not body:
        return body
    if ctype == protobuf.CONTENT_TYPE:
        try:
            return json.dumps(protobuf.decode(body)).encode()
        except protobuf.ProtobufError as exc:
            raise ApiError(
                415,
                "UnsupportedMediaType",
                f"the body of the request was in an unknown format: {exc}",
            ) from None
    if ctype == "application/yaml":
        try:
            return json.dumps(yaml.safe_load(body)).encode()
        except yaml.YAMLError as exc:
            raise ApiError(400, "BadRequest", f"error converting YAML to JSON: {exc}") from None
    raise ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{', '.join(DECODABLE)}",
    )


def _warning(warnings: list[str]) -> dict[str, str]:
    """The Warning header of an answer (RFC 7234 style, as the apiserver sends it)."""
    if not warnings:
        return {}
    quoted = [w.replace('"', '\\"') for w in warnings]
    return {"Warning": ", ".join(f'299 - "{w}"' for w in quoted)}


def _is_watch(query: dict[str, str]) -> bool:
    return query.get("watch") in ("true", "1")


def _wants_table(headers: Any) -> bool:
    return "as=Table" in (headers.get("Accept") or "")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    router: Router

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _serve(self) -> None:
        streaming = upgrade.wanted(self.path, self.headers)
        if streaming:  # pods/exec and pods/portforward, over WebSocket or SPDY
            (pod_exec if streaming == "exec" else portforward).serve(self, self.router)
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = self.router.handle(self.command, self.path, self.headers, body)
        self.send_response(reply.code)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Cache-Control", "no-cache, private")
        for key, value in reply.headers.items():
            self.send_header(key, value)
        if reply.stream is not None:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            try:
                for chunk in reply.stream:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True
            finally:
                reply.stream.close()  # type: ignore[attr-defined]
            return
        doc = reply.doc
        payload = doc if isinstance(doc, bytes) else (
            doc.encode() if isinstance(doc, str) else json.dumps(doc, separators=(",", ":")).encode()
        )  # fmt: skip
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815


class APIServer:
    """The HTTP server on 127.0.0.1 (a random port unless given), serving ``router``."""

    def __init__(self, router: Router, host: str = "127.0.0.1", port: int = 0) -> None:
        self.router = router
        handler = type("Handler", (_Handler,), {"router": router})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, name="kube-api", daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def close(self) -> None:
        self.router.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
