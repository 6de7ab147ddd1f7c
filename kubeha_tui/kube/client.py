"""The Kubernetes API connection: kubeconfig / in-cluster / --kube-server, optionally
through the SSH layer's forward, raw JSON requests with timeouts and clear errors, and
what the server supports (version, groups, chunking, bookmarks).

Requests go through the ``kubernetes`` package's ApiClient (auth, TLS, proxies from the
kubeconfig) but answers are decoded with ``json`` only: the generated models cost
seconds on big lists.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import yaml

from kubeha_tui.errors import ServiceError
from kubeha_tui.ssh import LocalForward, SSHSession

if TYPE_CHECKING:  # the package takes 0.4 s to import: loaded by the first request, in a worker
    from kubernetes import client as k8s

log = logging.getLogger(__name__)

STACK_API_SERVER = "http://pidalio-apiserver:8080"  # what every stack node's kubeconfig names
REMOTE_KUBECONFIG = 'cat "${KUBECONFIG:-$HOME/.kube/config}"'
Obj = dict[str, Any]
WORKLOAD_KINDS = frozenset({"deployments", "replicasets"})
CLUSTER_KINDS = frozenset({"nodes", "namespaces", "persistentvolumes", "storageclasses"})


class KubeError(ServiceError):
    """An API answer that is an error: its HTTP code and the Status reason."""

    def __init__(self, message: str, code: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.code, self.reason = code, reason


@dataclass(frozen=True)
class ServerInfo:
    git_version: str
    groups: frozenset[str]  # "apps/v1", "extensions/v1beta1", ...

    @property
    def minor(self) -> int:
        try:
            return int(self.git_version.lstrip("v").split(".")[1].rstrip("+"))
        except (IndexError, ValueError):
            return 0

    @property
    def workloads(self) -> str:
        """Where Deployments and ReplicaSets live: apps/v1, else extensions/v1beta1."""
        for gv in ("apps/v1", "apps/v1beta2", "apps/v1beta1", "extensions/v1beta1"):
            if gv in self.groups:
                return gv
        return "apps/v1"

    @property
    def chunking(self) -> bool:
        return self.minor >= 9

    @property
    def bookmarks(self) -> bool:
        return self.minor >= 15

    @property
    def in_tree_rbd(self) -> bool:
        return self.minor < 31

    def path(self, plural: str, namespace: str | None = None, name: str = "") -> str:
        """The URL path of a collection (in a namespace or cluster-wide) or one object."""
        gv = self.workloads if plural in WORKLOAD_KINDS else "v1"
        if plural == "storageclasses":
            gv = (
                "storage.k8s.io/v1"
                if "storage.k8s.io/v1" in self.groups
                else "storage.k8s.io/v1beta1"
            )
        base = f"/api/{gv}" if gv == "v1" else f"/apis/{gv}"
        if namespace and plural not in CLUSTER_KINDS:
            base += f"/namespaces/{namespace}"
        return f"{base}/{plural}/{name}" if name else f"{base}/{plural}"


def _status_message(code: int, body: bytes) -> tuple[str, str]:
    try:
        doc = json.loads(body)
        return str(doc.get("message") or ""), str(doc.get("reason") or "")
    except ValueError:
        return body.decode(errors="replace").strip()[:200], ""


def describe_http_error(code: int, message: str, host: str) -> str:
    if code == 401:
        return f"not authorized by the Kubernetes API at {host} (401): check the kubeconfig's credentials"
    if code == 403:
        return f"forbidden (403): {message}"
    return f"Kubernetes API: {code} {message}".rstrip()


@dataclass
class KubeClient:
    kubeconfig: str | None = None
    context: str | None = None
    server: str | None = None
    ssh: SSHSession | None = None
    timeout: float = 10.0
    namespace: str = "default"  # the context's namespace: where a restricted user looks
    _api: k8s.ApiClient | None = field(default=None, init=False)
    _forward: LocalForward | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _info: ServerInfo | None = field(default=None, init=False)
    _origin: str = field(default="", init=False)  # the server's URL before any SSH forward

    # -- connection --------------------------------------------------------------

    def _remote_server(self) -> str:
        """The API server the node's own kubeconfig names (resolved on the node)."""
        assert self.ssh is not None
        try:
            result = self.ssh.run(REMOTE_KUBECONFIG, timeout=self.timeout)
            doc: Any = yaml.safe_load(result.stdout) if result.exit_status == 0 else None
            current = doc.get("current-context")
            ctx = next(c["context"] for c in doc["contexts"] if c["name"] == current)
            cluster = next(c["cluster"] for c in doc["clusters"] if c["name"] == ctx["cluster"])
            return str(cluster["server"])
        except (AttributeError, KeyError, StopIteration, TypeError, yaml.YAMLError):
            log.info("no usable kubeconfig on the node; using %s", STACK_API_SERVER)
            return STACK_API_SERVER

    def _configuration(self) -> k8s.Configuration:
        from kubernetes import client as k8s  # noqa: PLC0415 - see TYPE_CHECKING above
        from kubernetes import config as k8s_config  # noqa: PLC0415

        cfg = k8s.Configuration()
        if self.server:
            cfg.host = self.server
        elif self.ssh:
            cfg.host = self._remote_server()
        elif os.environ.get("KUBERNETES_SERVICE_HOST") and not self.kubeconfig:
            k8s_config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        else:
            try:
                k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=self.kubeconfig, context=self.context, client_configuration=cfg
                )
                contexts, active = k8s_config.list_kube_config_contexts(self.kubeconfig)  # type: ignore[no-untyped-call]
                if self.context:
                    active = next((c for c in contexts if c["name"] == self.context), active)
                self.namespace = (active or {}).get("context", {}).get("namespace") or "default"
            except (k8s_config.ConfigException, OSError) as exc:
                where = self.kubeconfig or "~/.kube/config"
                raise ServiceError(f"no usable kubeconfig ({where}): {exc}") from None
        self._origin = str(cfg.host)
        if self.ssh:
            url = urlsplit(cfg.host)
            default_port = 443 if url.scheme == "https" else 80
            self._forward = self.ssh.forward(url.hostname or "localhost", url.port or default_port)
            if url.scheme == "https":
                cfg.tls_server_name = url.hostname
            cfg.host = f"{url.scheme}://127.0.0.1:{self._forward.port}"
        cfg.retries = 0
        return cfg

    def api(self) -> k8s.ApiClient:
        with self._lock:
            if self._api is None:
                from kubernetes import client as k8s  # noqa: PLC0415 - see TYPE_CHECKING above

                self._api = k8s.ApiClient(self._configuration())
            return self._api

    @property
    def host(self) -> str:
        """What the user knows the server as (not the local SSH forward)."""
        if self.server:
            return self.server
        self.api()
        return self._origin

    def close(self) -> None:
        with self._lock:
            if self._forward is not None:
                self._forward.close()
            if self._api is not None:
                self._api.close()  # type: ignore[no-untyped-call]
            self._api, self._forward, self._info = None, None, None

    # -- requests --------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        query: dict[str, Any] | None,
        *,
        timeout: float | tuple[float, float],
        body: Any = None,
        content_type: str | None = None,
    ) -> Any:
        api = self.api()
        headers = {"Accept": "application/json"}
        if content_type:
            headers["Content-Type"] = content_type
        params = [
            (k, str(v).lower() if isinstance(v, bool) else v)
            for k, v in (query or {}).items()
            if v is not None
        ]
        method, url, headers, body, _ = api.param_serialize(
            method=method, resource_path=path, query_params=params, header_params=headers,
            body=body, auth_settings=["BearerToken"],
        )  # fmt: skip
        try:
            return api.call_api(
                method, url, header_params=headers, body=body, _request_timeout=timeout
            )
        except Exception as exc:  # urllib3 raises many kinds; all mean "unreachable"
            raise KubeError(
                f"cannot reach the Kubernetes API at {self.host}: {type(exc).__name__}: {exc}"
            ) from None

    def request(
        self,
        method: str,
        path: str,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
    ) -> Any:
        """One call; the decoded JSON answer (text for text answers), or KubeError."""
        response = self._send(
            method, path, query, body=body, content_type=content_type, timeout=self.timeout
        )
        data = response.read()
        if not 200 <= response.status < 300:
            message, reason = _status_message(response.status, data)
            raise KubeError(
                describe_http_error(response.status, message, self.host), response.status, reason
            )
        if "json" not in (response.getheader("Content-Type") or "application/json"):
            return data.decode(errors="replace")
        return json.loads(data)

    def stream(self, path: str, query: dict[str, Any], read_timeout: float) -> Iterator[bytes]:
        """A streamed answer (watch, log follow), line by line."""
        for lines in self.stream_batches(path, query, read_timeout):
            yield from lines

    def stream_batches(
        self, path: str, query: dict[str, Any], read_timeout: float
    ) -> Iterator[list[bytes]]:
        """A streamed answer as the complete lines of each read from the network."""
        response = self._send("GET", path, query, timeout=(self.timeout, read_timeout))
        if not 200 <= response.status < 300:
            message, reason = _status_message(response.status, response.read())
            raise KubeError(
                describe_http_error(response.status, message, self.host), response.status, reason
            )
        raw = response.response
        finished = False
        try:
            pending = b""
            for chunk in raw.stream(65536, decode_content=False):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                if lines:
                    yield [line for line in lines if line]
            if pending:
                yield [pending]
            finished = True
        except Exception as exc:  # a dropped stream: the caller reconnects
            raise KubeError(f"stream from {self.host} broke: {type(exc).__name__}: {exc}") from None
        finally:
            if not finished:  # never hand a half-read connection back to the pool
                raw.close()
            raw.release_conn()

    # -- what the server supports ---------------------------------------------------

    def info(self) -> ServerInfo:
        if self._info is None:
            version = self.request("GET", "/version")
            groups = {"v1"}
            try:
                for group in self.request("GET", "/apis").get("groups", []):
                    groups.update(v["groupVersion"] for v in group.get("versions", []))
            except KubeError as exc:
                if exc.code not in (403, 404):
                    raise
            self._info = ServerInfo(str(version.get("gitVersion", "unknown")), frozenset(groups))
        return self._info
