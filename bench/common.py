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


def percentiles(samples: list[float]) -> str:
    """``p50 .. ms, p95 .. ms, p99 .. ms`` of samples in seconds (nearest rank)."""
    ordered = sorted(samples)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    return ", ".join(f"p{int(q * 100)} {rank(q) * 1000:.1f} ms" for q in (0.5, 0.95, 0.99))
