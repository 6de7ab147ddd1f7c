"""The one error type the UI reports: its message is what the operator reads."""

from __future__ import annotations


class ServiceError(Exception):
    """A backend call failed; ``str(exc)`` says what failed and what to try."""
