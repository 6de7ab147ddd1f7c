"""The Kubernetes API connection: kubeconfig / in-cluster / --kube-server, optionally
through SSH channels (no local listener, see transport.py), raw JSON requests with
timeouts and clear errors (an outage says what was tried; a bug says it is one), and
what the server supports (version, groups, chunking, bookmarks).

Requests go through the ``kubernetes`` package's ApiClient (auth, TLS, proxies from the
kubeconfig) but answers are decoded with ``json`` only: the generated models cost
seconds on big lists.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import yaml

from kubeha_tui.errors import ServiceError
from kubeha_tui.ssh import SSHError, SSHSession

from .errors import NETWORK_ERRORS, UNEXPECTED, KubeError, unexpected, why
from .kubeconfig import check_kubeconfig, kubeconfig_paths
from .stream import Stream
from .transport import dial_tls, ssh_dial, tcp_dial, use_dial

__all__ = ["UNEXPECTED", "KubeClient", "KubeError", "ServerInfo", "Stream", "unexpected"]

if TYPE_CHECKING:  # the package takes 0.4 s to import: loaded by the first request, in a worker
    from kubernetes import client as k8s

log = logging.getLogger(__name__)

STACK_API_SERVER = "http://pidalio-apiserver:8080"  # what every stack node's kubeconfig names
REMOTE_KUBECONFIG = 'cat "${KUBECONFIG:-$HOME/.kube/config}"'
Obj = dict[str, Any]
WORKLOAD_KINDS = frozenset({"deployments", "replicasets"})
CLUSTER_KINDS = frozenset({"nodes", "namespaces", "persistentvolumes", "storageclasses"})


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
        """The URL path of a collection (in a namespace or cluster-wide) or one object,
        with the names percent-encoded (a name from the cluster is never read as a path)."""
        gv = self.workloads if plural in WORKLOAD_KINDS else "v1"
        if plural == "storageclasses":
            gv = (
                "storage.k8s.io/v1"
                if "storage.k8s.io/v1" in self.groups
                else "storage.k8s.io/v1beta1"
            )
        base = f"/api/{gv}" if gv == "v1" else f"/apis/{gv}"
        if namespace and plural not in CLUSTER_KINDS:
            base += f"/namespaces/{quote(namespace, safe='')}"
        return f"{base}/{plural}/{quote(name, safe='')}" if name else f"{base}/{plural}"


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
    note: str = ""  # how the server was chosen, when that is worth saying (a fallback)
    _api: k8s.ApiClient | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _info: ServerInfo | None = field(default=None, init=False)

    # -- connection --------------------------------------------------------------

    def _remote_server(self) -> str:
        """The API server the node's own kubeconfig names (resolved on the node)."""
        assert self.ssh is not None
        result = self.ssh.run(REMOTE_KUBECONFIG, timeout=self.timeout)
        why = f"exit status {result.exit_status}: {result.stderr.strip()[:200]}"
        if result.exit_status == 0:
            try:
                doc: Any = yaml.safe_load(result.stdout)
                current = doc.get("current-context")
                ctx = next(c["context"] for c in doc["contexts"] if c["name"] == current)
                clusters = doc["clusters"]
                cluster = next(c["cluster"] for c in clusters if c["name"] == ctx["cluster"])
                return str(cluster["server"])
            except (AttributeError, KeyError, StopIteration, TypeError, yaml.YAMLError):
                why = "no current context with a cluster server in it"
        self.note = (
            f"no usable kubeconfig on {self.ssh.options.target} (tried `{REMOTE_KUBECONFIG}`: "
            f"{why.rstrip(': ')}); using the stack's {STACK_API_SERVER}"
        )
        log.warning("%s", self.note)
        return STACK_API_SERVER

    def _load_kubeconfig(self, cfg: k8s.Configuration) -> None:
        from kubernetes import config as k8s_config  # noqa: PLC0415

        paths = kubeconfig_paths(self.kubeconfig)
        for path in paths:
            check_kubeconfig(path)
        where = os.pathsep.join(map(str, paths))
        try:
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=where, context=self.context, client_configuration=cfg
            )
            contexts, active = k8s_config.list_kube_config_contexts(where)  # type: ignore[no-untyped-call]
        except (k8s_config.ConfigException, OSError) as exc:
            raise ServiceError(f"no usable kubeconfig ({where}): {exc}") from None
        except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
            # A YAML mapping of the wrong shape: the loader trips over it.
            raise ServiceError(
                f"kubeconfig {where} is not usable: {type(exc).__name__}: {exc}"
            ) from None
        if self.context:
            active = next((c for c in contexts if c["name"] == self.context), active)
        self.namespace = (active or {}).get("context", {}).get("namespace") or "default"

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
            self._load_kubeconfig(cfg)
        cfg.retries = 0
        return cfg

    def api(self) -> k8s.ApiClient:
        from kubernetes import client as k8s  # noqa: PLC0415 - see TYPE_CHECKING above

        with self._lock:
            if self._api is None:
                api = k8s.ApiClient(self._configuration())
                if self.ssh:
                    use_dial(api, ssh_dial(self.ssh))
                self._api = api
            return self._api

    @property
    def url_base(self) -> str:
        """The server's URL: requests go to ``url_base + path`` (over SSH with --ssh)."""
        return str(self.api().configuration.host).rstrip("/")

    @property
    def host(self) -> str:
        """What the user knows the server as."""
        return self.server or self.url_base

    def request_headers(self) -> dict[str, str]:
        """The headers every request carries: authentication (a refreshed token) and
        User-Agent."""
        api = self.api()
        headers = dict(api.default_headers)
        api.update_params_for_auth(headers, [], ["BearerToken"], "", "GET", None)
        return {str(k): str(v) for k, v in headers.items()}

    def dial(self, timeout: float) -> socket.socket:
        """A connected byte stream to the API server, for protocols urllib3 does not
        speak (WebSocket exec): TLS-wrapped and verified when the server is https,
        through the SSH connection with --ssh (no listener), direct otherwise."""
        cfg = self.api().configuration
        url = urlsplit(self.url_base)
        port = url.port or (443 if url.scheme == "https" else 80)
        dial = ssh_dial(self.ssh) if self.ssh else tcp_dial
        try:
            return dial_tls(
                dial, cfg, scheme=url.scheme, host=url.hostname or "localhost", port=port,
                timeout=timeout,
            )  # fmt: skip
        except SSHError as exc:
            raise KubeError(self._unreachable(f"through SSH: {exc}")) from None
        except OSError as exc:
            raise KubeError(self._unreachable(why(exc))) from None

    def _unreachable(self, why: str) -> str:
        text = f"cannot reach the Kubernetes API at {self.host} {why}"
        if not why.startswith("through"):
            text = f"cannot reach the Kubernetes API at {self.host}: {why}"
        return f"{text} ({self.note})" if self.note else text

    def close(self) -> None:
        with self._lock:
            if self._api is not None:
                self._api.close()  # type: ignore[no-untyped-call]
            self._api, self._info = None, None

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
        try:
            method, url, headers, body, _ = api.param_serialize(
                method=method, resource_path=path, query_params=params, header_params=headers,
                body=body, auth_settings=["BearerToken"],
            )  # fmt: skip
            return api.call_api(
                method, url, header_params=headers, body=body, _request_timeout=timeout
            )
        except NETWORK_ERRORS as exc:
            raise KubeError(self._unreachable(why(exc))) from None
        except Exception as exc:
            raise unexpected(exc, f"{method} {path}") from None

    def request(
        self,
        method: str,
        path: str,
        query: dict[str, Any] | None = None,
        body: Any = None,
        content_type: str | None = None,
        *,
        timeout: float | None = None,
    ) -> Any:
        """One call; the decoded JSON answer (text for text answers), or KubeError."""
        data, answered_as = self._answer(
            method, path, query, body=body, content_type=content_type, timeout=timeout
        )
        if "json" not in answered_as:
            return data.decode(errors="replace")
        return self.decode(data, f"{method} {path}")

    def request_raw(
        self, path: str, query: dict[str, Any] | None = None, *, timeout: float | None = None
    ) -> bytes:
        """One GET; the answer's body as it came (``decode`` makes it JSON), or KubeError.
        For lists, whose pages are decoded while the next one is on its way."""
        return self._answer("GET", path, query, timeout=timeout)[0]

    def decode(self, data: bytes, what: str) -> Any:
        """A JSON answer to ``what`` ("GET /api/v1/pods"), decoded."""
        try:
            return json.loads(data)
        except ValueError:
            raise KubeError(
                f"{what}: the Kubernetes API at {self.host} answered with invalid JSON"
            ) from None

    def _answer(
        self,
        method: str,
        path: str,
        query: dict[str, Any] | None,
        *,
        body: Any = None,
        content_type: str | None = None,
        timeout: float | None = None,
    ) -> tuple[bytes, str]:
        """A successful answer's body and Content-Type, else KubeError."""
        response = self._send(
            method, path, query, body=body, content_type=content_type,
            timeout=timeout or self.timeout,
        )  # fmt: skip
        try:
            data = response.read()
        except NETWORK_ERRORS as exc:
            raise KubeError(self._unreachable(why(exc))) from None
        if not 200 <= response.status < 300:
            message, reason = _status_message(response.status, data)
            raise KubeError(
                describe_http_error(response.status, message, self.host), response.status, reason
            )
        return data, str(response.getheader("Content-Type") or "application/json")

    def open_stream(self, path: str, query: dict[str, Any], read_timeout: float) -> Stream:
        """Start a streamed answer (watch, log follow); ``Stream.close()`` ends it.

        The answer's head must come within the client's timeout (a server that hangs is
        not a quiet stream); only then may the body wait ``read_timeout`` between reads.
        """
        response = self._send("GET", path, query, timeout=(self.timeout, self.timeout))
        if not 200 <= response.status < 300:
            message, reason = _status_message(response.status, response.read())
            raise KubeError(
                describe_http_error(response.status, message, self.host), response.status, reason
            )
        with contextlib.suppress(AttributeError, OSError):  # no socket: nothing to wait on
            response.response.connection.sock.settimeout(read_timeout)
        return Stream(self.host, response)

    def stream(self, path: str, query: dict[str, Any], read_timeout: float) -> Iterator[bytes]:
        """A streamed answer (watch, log follow), line by line."""
        for lines in self.stream_batches(path, query, read_timeout):
            yield from lines

    def stream_batches(
        self, path: str, query: dict[str, Any], read_timeout: float
    ) -> Iterator[list[bytes]]:
        """A streamed answer as the complete lines of each read from the network."""
        yield from self.open_stream(path, query, read_timeout).batches()

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
