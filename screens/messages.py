"""Past-tense messages that workers post; handlers on the UI thread act on them."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from kubeha_tui.status import BackendStatus


@dataclass
class BackendProbed(Message):
    """A backend answered (or failed to) its periodic probe."""

    status: BackendStatus


@dataclass
class SSHStateChanged(Message):
    state: str
    reason: str | None
