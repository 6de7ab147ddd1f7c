"""Full garbage collections while the operator is not typing.

A full collection walks every container object of the process: with 10,000 pods loaded
it took 40-500 ms, a frozen UI under the operator's keys. While the app runs the
collector makes no full collection of its own (young ones still run, and free most
cyclic garbage: Textual's rendered lines are cycles); ``Collector.tick`` makes one when
as many young collections have run as would have caused one, once no key or mouse
event came for IDLE seconds, or after MAX_WAIT seconds at the latest, and never more
than 2% of the time. While keys come without a pause, the garbage of the old generation
grows (~9,000 objects a second at 10,000 pods), and so does the collection that waits
for it (0.9 s after 20 s of keys): one expected to take BUDGET seconds, by the last one's
time per young collection, runs while the keys come, never more than 10% of the time.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

IDLE = 1.0  # seconds without input before a full collection may run
MAX_WAIT = 20.0  # seconds a due collection waits for the operator to pause, at most
NEVER = 1 << 30  # a generation-2 threshold that is never reached
SPACING = 50  # a full collection runs at most once per 50 times its last one's duration
BUDGET = 0.05  # seconds: a due collection expected to take this long runs even while typing
SPACING_TYPING = 10  # then at most once per 10 times the last one's duration (the longer it
# waits, the longer it takes)


class Collector:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.last_input = clock()
        self._due_since: float | None = None
        self._threshold: tuple[int, int, int] | None = None
        self._last_end = self._last_took = 0.0  # when the last full collection ended, its time
        self._per_young = 0.0  # the last one's time per young collection before it (seconds)

    def start(self) -> None:
        """Stop automatic full collections (young ones go on as before)."""
        if self._threshold is None:
            self._threshold = gc.get_threshold()
            gc.set_threshold(self._threshold[0], self._threshold[1], NEVER)

    def stop(self) -> None:
        """Give the collector back its own thresholds, and what the app froze (a process
        that runs another app, such as a test run, would keep it all otherwise)."""
        if self._threshold is not None:
            gc.set_threshold(*self._threshold)
            self._threshold = None
        gc.unfreeze()

    def input_seen(self) -> None:
        self.last_input = self.clock()

    def tick(self) -> bool:
        """Collect in full if one is due and the operator paused (or it waited too
        long); True when it did."""
        young = gc.get_count()[2]  # young collections since the last full one
        if self._threshold is None or young <= self._threshold[2]:
            self._due_since = None
            return False
        now = self.clock()
        if self._due_since is None:
            self._due_since = now
        typing = now - self.last_input < IDLE and now - self._due_since < MAX_WAIT
        if typing and young * self._per_young < BUDGET:
            return False
        spacing = SPACING_TYPING if typing else SPACING
        if now - self._last_end < spacing * self._last_took:
            return False  # a heap that grows fast (a first load) is not walked again and again
        self._due_since = None
        start = self.clock()
        gc.collect()
        self._last_end = self.clock()
        self._last_took = self._last_end - start
        self._per_young = self._last_took / young
        return True
