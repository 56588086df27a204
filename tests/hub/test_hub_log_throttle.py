"""The "at most once per interval, with a count" log shared by admission and malformed HTTP."""

from __future__ import annotations

import asyncio
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.log_throttle import Throttle, ThrottledLog

INTERVAL = 10.0


def test_first_event_reports_then_counts_until_the_window_ends() -> None:
    throttle = Throttle(INTERVAL)
    assert throttle.hit("a", 0.0)
    assert not throttle.hit("a", 1.0)
    assert not throttle.hit("a", 9.0)
    assert throttle.hit("b", 9.5)  # keys are independent
    assert throttle.due(9.9) == []
    assert throttle.due(10.0) == [("a", 2)]
    assert not throttle.hit("a", 12.0)  # a new window started with the report
    assert throttle.due(20.0) == [("a", 1)]
    assert throttle.due(40.0) == []  # an empty window closes ...
    assert throttle.hit("a", 41.0)  # ... so the next event reports at once


def test_drain_gives_every_pending_count_once() -> None:
    throttle = Throttle(INTERVAL)
    for t in range(5):
        throttle.hit("a", float(t))
    assert throttle.drain() == [("a", 4)]
    assert throttle.drain() == []


def test_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Throttle(0)


@given(
    st.lists(
        st.tuples(st.sampled_from("abc"), st.floats(min_value=0, max_value=100)),
        max_size=200,
    )
)
def test_no_event_lost_and_at_most_one_line_per_interval(events: list[tuple[str, float]]) -> None:
    """Whatever the timing: counts add up, and a key's lines are an interval apart."""
    throttle = Throttle(INTERVAL)
    lines: dict[str, list[tuple[float, int]]] = {}
    for key, now in sorted(events, key=lambda e: e[1]):
        for due_key, count in throttle.due(now):  # what the timer would have written by now
            lines.setdefault(due_key, []).append((now, count))
        if throttle.hit(key, now):
            lines.setdefault(key, []).append((now, 1))
    final = max((t for _, t in events), default=0.0) + 1000
    for key, count in throttle.due(final) + throttle.drain():
        lines.setdefault(key, []).append((final, count))
    for key in "abc":
        written = lines.get(key, [])
        assert sum(count for _, count in written) == sum(1 for k, _ in events if k == key)
        times = [t for t, _ in written]
        assert all(b - a >= INTERVAL for a, b in zip(times, times[1:], strict=False))


async def test_throttled_log_writes_the_count_when_the_window_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="tests.throttle")
    out = ThrottledLog(logging.getLogger("tests.throttle"), interval_s=0.05)
    for _ in range(5):
        out.hit("thing", "a thing happened")
    records = [r for r in caplog.records if r.name == "tests.throttle"]
    assert [r.events for r in records] == [1]  # type: ignore[attr-defined]
    for _ in range(200):  # the timer writes the rest without another event
        await asyncio.sleep(0.01)
        records = [r for r in caplog.records if r.name == "tests.throttle"]
        if len(records) == 2:
            break
    assert [r.events for r in records] == [1, 4]  # type: ignore[attr-defined]
    assert records[1].getMessage() == "a thing happened: 4 more in the last 0.05 s"
    assert out.total == {"thing": 5}
    out.flush()
    assert len([r for r in caplog.records if r.name == "tests.throttle"]) == 2  # nothing left
