"""Shared helpers for the benchmarks: timing and ratio reports."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def timed(fn: Callable[[], object], repeat: int = 5) -> float:
    """Median wall time of ``fn`` over ``repeat`` runs, in seconds."""
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def report(name: str, ours: float, baseline: float, target: float, what: str) -> bool:
    """Print one line: our time, the baseline, their ratio and whether it meets the target."""
    ratio = ours / baseline
    verdict = "meets" if ratio <= target else "MISSES"
    print(f"{name}: {what}: ours {ours * 1000:.1f} ms, baseline {baseline * 1000:.1f} ms, "
          f"ratio {ratio:.2f}x ({verdict} target <= {target}x)")  # fmt: skip
    return ratio <= target
