"""The one path by which a worker that raised reaches the user.

``Worker.StateChanged`` goes to the node that ran the worker and does not bubble, so
an App-level handler never sees a screen's workers. Every screen and dialog mixes
in ``ReportsWorkerErrors`` (tests/test_workers.py checks that each one does); the
handler logs the traceback and shows one line.
"""

from __future__ import annotations

import logging
from typing import Any

from textual.worker import Worker, WorkerState

from .plain import clean

log = logging.getLogger(__name__)


def report_worker_error(worker: Worker[Any]) -> None:
    """Log the worker's exception in full and notify it in one line."""
    error = worker.error
    log.error("worker %s failed", worker.name, exc_info=error)
    what = f"{type(error).__name__}: {error}" if error is not None else "failed"
    worker.node.app.notify(
        clean(f"{worker.name or 'a background task'} failed unexpectedly: {what}"),
        title="Error",
        severity="error",
        timeout=10,
        markup=False,
    )


class ReportsWorkerErrors:
    """Mixed into every Screen of the console: its failed workers reach the user."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            report_worker_error(event.worker)
