"""What a consultation keeps across its calls: grace and retry timers, the token, the timings.

The timers run on a ``ManualScheduler``: time moves only when the test says so.
"""

from __future__ import annotations

import asyncio

import pytest

from appliance.call.connection import Resumption
from appliance.runner.reconnection import (
    DEFAULT_GRACE_S,
    RETRY_MAX_S,
    Reconnection,
    retry_delay,
)
from appliance.runner.timers import LoopScheduler, Timer
from tests.support.fake_kiosk import ManualScheduler


def reconnection(grace_s: float = 30.0) -> tuple[Reconnection, ManualScheduler]:
    scheduler = ManualScheduler()
    return Reconnection(grace_s=grace_s, scheduler=scheduler, clock=scheduler), scheduler


def test_the_grace_period_ends_the_consultation_unless_it_heals() -> None:
    keep, time = reconnection(grace_s=30.0)
    expired: list[str] = []
    keep.path_silent_for(2500.0)
    interruption = keep.start("silence", lambda: expired.append("c1"))
    assert (interruption.cause, interruption.detection_ms) == ("silence", 2500.0)
    time.advance(29.9)
    assert expired == []
    time.advance(0.1)
    assert expired == ["c1"]


def test_a_second_interruption_does_not_restart_the_grace_period() -> None:
    keep, time = reconnection(grace_s=30.0)
    expired: list[int] = []
    keep.path_silent_for(2600.0)
    assert keep.start("silence", lambda: expired.append(1)).detection_ms == 2600.0
    time.advance(20.0)
    second = keep.start("hub_lost", lambda: expired.append(2))  # the hub went too, say
    assert second.detection_ms is None  # noticed once, counted once
    time.advance(10.0)
    assert expired == [1]  # 30 s after the first loss, not after the second


def test_healing_stops_the_grace_timer_and_says_how_long_it_took() -> None:
    keep, time = reconnection()
    expired: list[int] = []
    keep.start("silence", lambda: expired.append(1))
    time.advance(4.25)
    assert keep.healed() == 4250.0
    assert keep.healed() is None  # nothing under way any more
    time.advance(DEFAULT_GRACE_S)
    assert expired == [] and time.waiting == 0


def test_without_a_consultation_no_grace_timer_runs() -> None:
    keep, time = reconnection()
    keep.start("hub_lost", None)
    assert time.waiting == 0


def test_failed_new_calls_are_retried_after_growing_pauses() -> None:
    assert [retry_delay(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, RETRY_MAX_S, RETRY_MAX_S]
    keep, time = reconnection()
    retries: list[float] = []
    keep.retry_later(3, lambda: retries.append(time.now))
    keep.retry_later(1, lambda: retries.append(time.now))  # replaces the pending one
    time.advance(10.0)
    assert retries == [0.5]


def test_the_resume_token_is_single_use_and_forget_drops_every_secret() -> None:
    keep, time = reconnection()
    keep.keep_token("t-1")
    keep.keep_token("t-2")  # the latest grant counts
    keep.continuity = Resumption("c1", bytes(32), "four words go here")
    assert keep.take_token() == "t-2"
    assert keep.take_token() is None
    keep.keep_token("t-3")
    keep.start("silence", lambda: None)
    keep.retry_later(1, lambda: None)
    keep.forget()
    assert keep.take_token() is None and keep.continuity is None
    assert keep.healed() is None and time.waiting == 0


def test_a_timer_holds_one_callback_and_can_be_called_off() -> None:
    time = ManualScheduler()
    timer = Timer(time)
    fired: list[str] = []
    timer.start(1.0, lambda: fired.append("first"))
    timer.start(2.0, lambda: fired.append("second"))
    assert timer.pending
    time.advance(1.5)
    assert fired == []
    time.advance(1.0)
    assert fired == ["second"] and not timer.pending
    timer.start(1.0, lambda: fired.append("third"))
    timer.cancel()
    time.advance(5.0)
    assert fired == ["second"] and not timer.pending


@pytest.mark.timeout(10)
async def test_the_default_scheduler_is_the_running_loop() -> None:
    timer = Timer(LoopScheduler())
    fired = asyncio.Event()
    timer.start(0.01, fired.set)
    await asyncio.wait_for(fired.wait(), 5)
    assert not timer.pending
