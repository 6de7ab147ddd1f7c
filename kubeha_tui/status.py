"""Connection state of each backend, as the header and the screens show it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

State = Literal["connecting", "connected", "unreachable"]
BACKENDS = ("fleet", "kube", "ceph")
LABELS = {"fleet": "fleet", "kube": "kubernetes", "ceph": "ceph", "ssh": "ssh"}


@dataclass(frozen=True)
class BackendStatus:
    name: str
    state: State = "connecting"
    detail: str = ""  # what we are connected to, or why we are not

    @property
    def label(self) -> str:
        return LABELS.get(self.name, self.name)

    def describe(self) -> str:
        text = f"{self.label}: {self.state}"
        return f"{text} ({self.detail})" if self.detail else text
