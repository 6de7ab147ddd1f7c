"""How a Kubernetes call failed: an error answer (code, reason), no answer at all (a
network failure, said in one line), or a bug (its traceback logged once)."""

from __future__ import annotations

import http.client
import logging
import re
import threading

import urllib3
from urllib3.exceptions import MaxRetryError

from kubeha_tui.errors import ServiceError

from .transport import SSHDialError

log = logging.getLogger(__name__)


class KubeError(ServiceError):
    """An API answer that is an error: its HTTP code and the Status reason."""

    def __init__(self, message: str, code: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.code, self.reason = code, reason


UNEXPECTED = "Unexpected"  # the KubeError reason of a bug (no answer was involved)
_logged: set[tuple[str, str]] = set()
_logged_lock = threading.Lock()


def unexpected(exc: BaseException, where: str) -> KubeError:
    """A failure that is no outage but a bug: its traceback logged once, its type shown."""
    key = (type(exc).__name__, str(exc))
    with _logged_lock:
        first = key not in _logged
        _logged.add(key)
    if first:
        log.error("unexpected error in %s", where, exc_info=exc)
    return KubeError(
        f"unexpected error in {where} (see the log): {type(exc).__name__}: {exc}", 0, UNEXPECTED
    )


_WHO = re.compile(r"^(<[^>]*>|\w+\(host=[^)]*\)): ")
_TIMEOUT = re.compile(r"\s*\((read|connect) timeout=[^)]*\)")


def why(exc: BaseException) -> str:
    """A network failure in one line, without urllib3's object reprs."""
    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    if isinstance(exc, SSHDialError):
        return f"through SSH: {exc.message}"
    text = _TIMEOUT.sub("", _WHO.sub("", str(exc)))
    return f"{type(exc).__name__}: {text or type(exc).__name__}"


NETWORK_ERRORS = (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError)
