"""Logging goes to a file under the XDG state dir, never over the TUI."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from kubeha_tui.config import xdg_dir


def log_path() -> Path:
    return xdg_dir("state") / "kubeha-tui.log"


def setup_logging(path: Path | None = None, level: int = logging.INFO) -> Path:
    path = path or log_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(path, maxBytes=5_000_000, backupCount=3)
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
