"""A real terminal for end-to-end tests: a tmux server of our own, one window."""

from __future__ import annotations

import subprocess

from .waiting import wait_for


class Terminal:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=False
        )
        if done.returncode:
            raise AssertionError(f"tmux {args[0]} failed ({done.returncode}): {done.stderr}")
        return done.stdout

    def start(self, command: str, width: int = 80, height: int = 24) -> None:
        self.tmux("new-session", "-d", "-s", "tui", "-x", str(width), "-y", str(height), command)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "tui")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", "tui", *keys)

    def wait_screen(self, *texts: str, timeout: float = 60) -> str:
        last = [""]

        def shown() -> str:
            last[0] = self.screen()
            return last[0] if all(t in last[0] for t in texts) else ""

        try:
            return wait_for(shown, timeout=timeout, what=f"{texts} on screen")
        except AssertionError as exc:
            size = self.tmux("display", "-p", "-t", "tui", "#{window_width}x#{window_height}")
            raise AssertionError(f"{exc}\n--- screen {size} ---\n{last[0]}") from None

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False)
