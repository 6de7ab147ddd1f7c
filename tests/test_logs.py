"""The log file is private: 0600 in a 0700 directory, rotated files too."""

from __future__ import annotations

import logging
import logging.handlers
import stat
from pathlib import Path

from kubeha_tui.logs import setup_logging


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_log_and_its_rotations_are_private_even_when_made_public_before(tmp_path: Path) -> None:
    directory = tmp_path / "state" / "kubeha-tui"
    directory.mkdir(parents=True, mode=0o755)
    directory.chmod(0o755)
    old = directory / "kubeha-tui.log"
    old.write_text("from an older version\n")
    old.chmod(0o644)
    path = setup_logging(old)
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.handlers.RotatingFileHandler)
    logging.getLogger("t").warning("hello")
    handler.doRollover()
    logging.getLogger("t").warning("after the rollover")
    handler.flush()
    assert (mode(directory), mode(path), mode(directory / "kubeha-tui.log.1")) == (
        0o700,
        0o600,
        0o600,
    )
    assert "after the rollover" in path.read_text()
    logging.getLogger().removeHandler(handler)
    handler.close()


def test_a_new_log_directory_is_made_private(tmp_path: Path) -> None:
    path = setup_logging(tmp_path / "new" / "kubeha-tui" / "kubeha-tui.log")
    logging.getLogger("t").warning("x")
    assert (mode(path.parent), mode(path)) == (0o700, 0o600)
    handler = logging.getLogger().handlers[0]
    logging.getLogger().removeHandler(handler)
    handler.close()
