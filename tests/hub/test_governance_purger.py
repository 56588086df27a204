"""The purger applies retention on its own: driven here by a clock and a sleep the test controls."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from hub.governance.purger import Purger
from hub.governance.references import new_reference
from hub.storage import SqliteStorage
from hub.storage.errors import ConstraintViolated, StorageUnavailable
from hub.storage.records import PurgeCounts
from tests.support.hub import FakeClock

DAY = 86_400.0
INTERVAL_S = 3600.0


class Ticks:
    """A sleep that moves the clock instead of waiting; parks for good after ``rounds`` sleeps."""

    def __init__(
        self, clock: FakeClock, rounds: int, on_wake: Callable[[int], None] | None = None
    ) -> None:
        self.clock = clock
        self.rounds = rounds
        self.on_wake = on_wake
        self.slept: list[float] = []
        self.parked = asyncio.Event()

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)
        if len(self.slept) >= self.rounds:
            self.parked.set()
            await asyncio.Event().wait()  # until cancelled
        self.clock.advance(seconds)
        if self.on_wake is not None:
            self.on_wake(len(self.slept))


class Governance:
    """A stand-in that records when it was asked to purge and fails when told to."""

    def __init__(self, failing: dict[int, Exception]) -> None:
        self.calls: list[float] = []
        self.failing = failing

    async def purge_expired(self, *, now: float) -> PurgeCounts:
        self.calls.append(now)
        if len(self.calls) in self.failing:
            raise self.failing[len(self.calls)]
        return PurgeCounts(consultations=len(self.calls))


class Recorded:
    """A storage whose governance is the stand-in (the purger's storage seam)."""

    def __init__(self, failing: dict[int, Exception] | None = None) -> None:
        self.governance = Governance(failing or {})


async def run_until_parked(purger: Purger, ticks: Ticks) -> None:
    task = asyncio.create_task(purger.run())
    parked = asyncio.create_task(ticks.parked.wait())
    done, _ = await asyncio.wait({task, parked}, return_when=asyncio.FIRST_COMPLETED)
    assert parked in done, "the purger stopped by itself"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()


async def test_it_purges_at_start_and_then_at_every_interval() -> None:
    clock = FakeClock()
    start = clock.now
    storage = Recorded()
    ticks = Ticks(clock, rounds=3)
    await run_until_parked(Purger(storage, clock, interval_s=INTERVAL_S, sleep=ticks), ticks)
    assert ticks.slept == [INTERVAL_S] * 3
    assert storage.governance.calls == [start, start + INTERVAL_S, start + 2 * INTERVAL_S]


async def test_an_unavailable_database_is_tried_again_next_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    unavailable = StorageUnavailable("the hub database is closed")
    storage = Recorded(failing={1: unavailable, 2: unavailable})
    ticks = Ticks(clock, rounds=4)
    with caplog.at_level(logging.INFO, logger="hub.governance"):
        await run_until_parked(Purger(storage, clock, interval_s=INTERVAL_S, sleep=ticks), ticks)
    assert len(storage.governance.calls) == 4
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and "database unavailable" in warnings[0].getMessage()
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert infos[0].startswith("purged past retention: 3 consultations")


async def test_a_refusing_database_is_logged_by_kind_and_tried_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    refusal = ConstraintViolated("the hub database refused a row (kiosk-secret-name)")
    storage = Recorded(failing={1: refusal})
    ticks = Ticks(clock, rounds=2)
    with caplog.at_level(logging.INFO, logger="hub.governance"):
        await run_until_parked(Purger(storage, clock, interval_s=INTERVAL_S, sleep=ticks), ticks)
    assert len(storage.governance.calls) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == ["the purge failed (ConstraintViolated); next try in 3600 s"]
    assert not any("kiosk-secret-name" in r.getMessage() for r in caplog.records)


async def test_a_bug_in_the_purge_is_logged_by_kind_and_tried_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    storage = Recorded(failing={1: RuntimeError("a bug quoting kiosk-secret-name")})
    ticks = Ticks(clock, rounds=2)
    with caplog.at_level(logging.INFO, logger="hub.governance"):
        await run_until_parked(Purger(storage, clock, interval_s=INTERVAL_S, sleep=ticks), ticks)
    assert len(storage.governance.calls) == 2  # retention goes on after the failure
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert errors == ["the purge failed (RuntimeError); next try in 3600 s"]
    assert not any("kiosk-secret-name" in r.getMessage() for r in caplog.records)


def test_an_interval_of_zero_is_no_purger() -> None:
    with pytest.raises(ValueError, match="more than 0 seconds"):
        Purger(Recorded(), FakeClock(), interval_s=0)


# -- with the real database -----------------------------------------------------


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    opened = await SqliteStorage.open(tmp_path / "hub.db", busy_timeout_s=0.05)
    try:
        yield opened
    finally:
        await opened.close()


async def ended_consultation(storage: SqliteStorage, clock: FakeClock, name: str) -> str:
    device, _token = await storage.add_device(name, now=clock.now)
    reference = new_reference()
    cid = f"consultation-{name}"
    await storage.consultation_queued(cid, device, now=clock.now, reference=reference)
    await storage.consultation_ended(cid, "customer_left", now=clock.now + 60)
    return reference


async def test_a_real_purge_survives_a_held_lock_and_deletes_when_it_is_gone(
    storage: SqliteStorage, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    await ended_consultation(storage, clock, "kiosk-1")
    clock.advance(91 * DAY)  # past the default 90 days
    # another process holds the write lock (a backup, an sqlite3 shell) during the first purge
    other = sqlite3.connect(tmp_path / "hub.db", isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")

    def let_go(wakes: int) -> None:
        if other.in_transaction:
            other.execute("ROLLBACK")

    ticks = Ticks(clock, rounds=2, on_wake=let_go)
    purger = Purger(storage, clock, interval_s=INTERVAL_S, sleep=ticks)
    try:
        with caplog.at_level(logging.INFO, logger="hub.governance"):
            await run_until_parked(purger, ticks)
    finally:
        other.close()
    messages = [r.getMessage() for r in caplog.records if r.name == "hub.governance"]
    assert messages[0].startswith("the purge could not run (database unavailable)")
    assert messages[1].startswith("purged past retention: 1 consultations")
    assert await storage.consultations() == []
    # counts only: neither a device nor a reference reaches the log
    assert not any("kiosk-1" in m for m in messages)


async def test_a_restricted_conversation_outlives_the_purge(storage: SqliteStorage) -> None:
    clock = FakeClock()
    tenant = await storage.tenant("default")
    kept = await ended_consultation(storage, clock, "kiosk-1")
    await ended_consultation(storage, clock, "kiosk-2")
    assert await storage.governance.restrict_conversation(
        tenant.id, kept, True, actor="dpo:test", now=clock.now + 120
    )
    clock.advance(91 * DAY)
    counts = await Purger(storage, clock, interval_s=INTERVAL_S).run_once()
    assert counts.consultations == 1
    assert [c.device for c in await storage.consultations()] == ["kiosk-1"]
    assert await Purger(storage, clock, interval_s=INTERVAL_S).run_once() == PurgeCounts()
