"""Logging goes to a file under the XDG state dir, never over the TUI.

The log names hosts, users and errors of the cluster: it is private, 0600 files in a
0700 directory, also for the rotated files and a log that exists from before."""

from __future__ import annotations

import logging
import logging.handlers
import os
from io import TextIOWrapper
from pathlib import Path

from kubeha_tui.config import xdg_dir


def log_path() -> Path:
    return xdg_dir("state") / "kubeha-tui.log"


def _private(path: str, flags: int) -> int:
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)  # also a file made before, by an older version
    return fd


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Every file it opens (the log, and the new one after each rotation) is 0600."""

    def _open(self) -> TextIOWrapper:  # type: ignore[type-arg,unused-ignore]
        stream = open(  # noqa: SIM115 - the handler owns and closes the stream
            self.baseFilename, self.mode, encoding=self.encoding, errors=self.errors,
            opener=_private,
        )  # fmt: skip
        assert isinstance(stream, TextIOWrapper)
        return stream


def setup_logging(path: Path | None = None, level: int = logging.INFO) -> Path:
    path = path or log_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.parent.stat().st_uid == os.getuid():
        path.parent.chmod(0o700)  # our own directory, made 0755 by an older version
    handler = PrivateRotatingFileHandler(path, maxBytes=5_000_000, backupCount=3)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("paramiko").setLevel(logging.WARNING)
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.captureWarnings(True)
    return path
