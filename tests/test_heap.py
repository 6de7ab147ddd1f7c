"""The app's full garbage collections wait for a pause in the operator's input."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from kubeha_tui.screens.heap import IDLE, MAX_WAIT, Collector


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def full_collections() -> int:
    return int(gc.get_stats()[2]["collections"])


def young_collections_until_due(threshold: tuple[int, int, int]) -> None:
    """Run as many young collections as make a full one due by the default thresholds."""
    for _ in range(threshold[2] + 1):
        gc.collect(1)


@contextmanager
def started() -> Iterator[tuple[Clock, Collector, tuple[int, int, int]]]:
    """A collector on a test clock, started with nothing due, stopped afterwards; the
    default thresholds it found are what it puts back."""
    clock = Clock()
    collector = Collector(clock)
    threshold = gc.get_threshold()
    gc.collect()  # nothing due at the start
    collector.start()
    try:
        yield clock, collector, threshold
    finally:
        collector.stop()
    assert gc.get_threshold() == threshold


def test_a_due_full_collection_waits_for_a_pause_in_the_input() -> None:
    with started() as (clock, collector, threshold):
        assert gc.get_threshold()[2] > threshold[2]  # none of the collector's own
        before = full_collections()
        collector.input_seen()
        assert not collector.tick()  # not due yet
        young_collections_until_due(threshold)
        assert not collector.tick() and full_collections() == before  # typing: not now
        clock.now += IDLE / 2
        collector.input_seen()
        assert not collector.tick()
        clock.now += IDLE
        assert collector.tick() and full_collections() == before + 1  # a pause: now
        assert not collector.tick()  # nothing due any more


def test_a_due_full_collection_runs_after_max_wait_even_while_typing() -> None:
    with started() as (clock, collector, threshold):
        young_collections_until_due(threshold)
        collector.input_seen()
        assert not collector.tick()
        before = full_collections()
        clock.now += MAX_WAIT
        collector.input_seen()
        assert collector.tick() and full_collections() == before + 1


def test_full_collections_are_spaced_by_fifty_times_their_duration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_collect = gc.collect
    with started() as (clock, collector, threshold):

        def slow_collect(generation: int = 2) -> int:
            if generation == 2:
                clock.now += 0.1  # a full collection that took 0.1 s
            return real_collect(generation)

        monkeypatch.setattr(gc, "collect", slow_collect)
        clock.now += IDLE
        young_collections_until_due(threshold)
        assert collector.tick()
        young_collections_until_due(threshold)
        clock.now += 1.0
        assert not collector.tick()  # idle and due, but 1 s < 50 x 0.1 s after the last
        clock.now += 4.5  # 5.4 s after the last one ended
        assert collector.tick()


def test_a_due_collection_that_would_take_the_budget_runs_while_typing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_collect = gc.collect
    took = [0.1]
    with started() as (clock, collector, threshold):

        def timed_collect(generation: int = 2) -> int:
            if generation == 2:
                clock.now += took[0]
            return real_collect(generation)

        monkeypatch.setattr(gc, "collect", timed_collect)
        clock.now += IDLE
        young_collections_until_due(threshold)
        assert collector.tick()  # idle: 0.1 s for threshold + 1 young collections
        took[0] = 0.001
        clock.now += 0.5
        young_collections_until_due(threshold)
        collector.input_seen()
        assert not collector.tick()  # due, but within 10 x 0.1 s of the last one
        clock.now += 0.6
        collector.input_seen()
        assert collector.tick()  # typing, but it would take ~0.1 s > BUDGET: now
        clock.now += 10.0
        young_collections_until_due(threshold)
        collector.input_seen()
        assert not collector.tick()  # the last took 0.001 s: this one waits for a pause
        clock.now += IDLE
        assert collector.tick()
