"""The messages the polls post: the app imports them before the first frame, the other
messages (in ``messages``) load with the screens that use them."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from kubeha_tui.status import BackendStatus


@dataclass
class BackendPolled(Message):
    """A backend answered (or failed to) its periodic poll; ``data`` is its snapshot."""

    status: BackendStatus
    data: object = None
    final: bool = True  # False: more of the same poll follows


@dataclass
class SSHStateChanged(Message):
    state: str
    reason: str | None
