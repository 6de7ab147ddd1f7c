"""Past-tense messages that workers post; handlers on the UI thread act on them (those of
the polls are in ``poll_messages``, loaded before the first frame)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class ActionFinished(Message):
    """A cluster-changing action ended; ``ok`` False means ``text`` is the error."""

    text: str
    ok: bool


@dataclass
class OutputFetched(Message):
    """Text for an output view (unit status, journal, logs)."""

    text: str
    ok: bool


@dataclass
class PlanReady(Message):
    """An action was planned against the live cluster; confirm or refuse it next."""

    plan: object


@dataclass
class StepReported(Message):
    """A long flow (OSD removal) reached a step."""

    step: object


@dataclass
class CreateChecked(Message):
    """The create form was checked against the cluster: a request, or why not."""

    request: object
    error: str = ""


@dataclass
class LogLinesRead(Message):
    """Lines of a pod's log arrived; ``replace`` starts the view over with them."""

    lines: list[str]
    replace: bool = False
    note: str = ""  # e.g. the stream ended, or why it failed
    containers: list[str] | None = None  # the pod's containers, when just read
    container: str = ""  # the one shown, with ``containers``


@dataclass
class ImageRead(Message):
    """An RBD image's details, watchers included, read for an action on it."""

    image: object


@dataclass
class DeleteProgressed(Message):
    """A running image delete removed ``done`` of ``total`` data objects."""

    key: str  # pool/name
    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, DeleteProgressed) and message.key == self.key


@dataclass
class DeleteEnded(Message):
    """An image delete ended: ``ok``, failed (``text`` says why) or ``stopped`` half-way."""

    key: str  # pool/name
    text: str
    ok: bool
    stopped: bool = False
