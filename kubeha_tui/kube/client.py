"""Kubernetes service through the ``kubernetes`` package."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from kubernetes import client as k8s
from kubernetes import config as k8s_config

from kubeha_tui.errors import ServiceError
from kubeha_tui.polling import Poll
from kubeha_tui.ssh import LocalForward, SSHSession

STACK_API_SERVER = "http://pidalio-apiserver:8080"  # what every stack node's kubeconfig names


@dataclass
class KubeService:
    kubeconfig: str | None = None
    context: str | None = None
    server: str | None = None
    ssh: SSHSession | None = None
    timeout: float = 10.0
    _api: k8s.ApiClient | None = field(default=None, init=False)
    _forward: LocalForward | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def _configuration(self) -> k8s.Configuration:
        cfg = k8s.Configuration()
        if self.server or self.ssh:
            cfg.host = self.server or STACK_API_SERVER
        else:
            try:
                k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                    config_file=self.kubeconfig, context=self.context, client_configuration=cfg
                )
            except (k8s_config.ConfigException, OSError) as exc:
                where = self.kubeconfig or "~/.kube/config"
                raise ServiceError(f"no usable kubeconfig ({where}): {exc}") from None
        if self.ssh:
            url = urlsplit(cfg.host)
            default_port = 443 if url.scheme == "https" else 80
            self._forward = self.ssh.forward(url.hostname or "localhost", url.port or default_port)
            cfg.host = f"{url.scheme}://127.0.0.1:{self._forward.port}"
        cfg.retries = 0
        return cfg

    def api(self) -> k8s.ApiClient:
        with self._lock:
            if self._api is None:
                self._api = k8s.ApiClient(self._configuration())
            return self._api

    def close(self) -> None:
        with self._lock:
            if self._forward is not None:
                self._forward.close()
            if self._api is not None:
                self._api.close()  # type: ignore[no-untyped-call]
            self._api, self._forward = None, None

    def call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Call a generated API method with our timeout, turning failures into ServiceError."""
        try:
            return fn(*args, _request_timeout=self.timeout, **kwargs)
        except k8s.ApiException as exc:
            raise ServiceError(f"Kubernetes API: {exc.status} {exc.reason}") from None
        except Exception as exc:  # urllib3 raises many kinds; all mean "unreachable"
            host = self.api().configuration.host
            raise ServiceError(
                f"cannot reach the Kubernetes API at {host}: {type(exc).__name__}: {exc}"
            ) from None

    def poll(self) -> Iterator[Poll]:
        info = self.call(k8s.VersionApi(self.api()).get_code)
        yield Poll(
            f"Kubernetes {info.git_version} at {self.server or self.api().configuration.host}"
        )
