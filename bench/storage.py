"""`python -m bench storage`: the hub's storage engine against the same SQLite code called inline.

Both sides run the very same statements (``hub.storage.sqlite_ops``) on a database file of their
own in a temporary directory, in the same run:

- *project*: ``SqliteStorage``, each operation one hop to the engine's thread (reads to its
  reader, writes to its writer);
- *baseline*: the functions called synchronously on the event loop's thread, as the hub did
  before the storage became asynchronous.

Measured:

- ``read_ms_*``: ``device_for_token`` (a kiosk's hello, the relay's bearer check), p50 and p95;
- ``write_ms_*``: ``consultation_queued`` then ``consultation_ended`` (what every consultation
  writes; the second is a transaction of two statements), p50 and p95;
- ``stall_ms``: the event loop's worst lag, seen by a 10 ms ticker, while another connection
  holds the database's write lock for ``lock_s`` and the hub must write meanwhile. The inline
  baseline stalls the loop (every connection) for as long as the lock is held.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from hub.storage import SqliteStorage, make_private
from hub.storage import sqlite_ops as ops
from hub.storage.records import Device
from hub.storage.sqlite_schema import migrate

OPERATIONS = 400  # per side and kind, after a warm-up
ROUNDS = 4  # the sides alternate, OPERATIONS / ROUNDS at a time, so drift hits both alike
LOCK_S = 1.0
TICK_S = 0.010
NOW = 1_800_000_000.0


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _inline_connection(path: Path) -> sqlite3.Connection:
    """A connection set up as the engine sets up its writer, used on the loop's thread."""
    make_private(path)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=5000")
    migrate(conn)
    return conn


class _Side:
    """One side's read and write, as coroutines (the baseline's never yield)."""

    def __init__(
        self,
        read: Callable[[str], Awaitable[object]],
        queued: Callable[[str], Awaitable[None]],
        ended: Callable[[str], Awaitable[None]],
    ) -> None:
        self.read = read
        self.queued = queued
        self.ended = ended
        self.reads: list[float] = []
        self.writes: list[float] = []
        self._serial = 0

    async def measure(self, count: int, token: str) -> None:
        for _ in range(count):
            started = time.perf_counter()
            await self.read(token)
            self.reads.append((time.perf_counter() - started) * 1000)
        for _ in range(count):
            self._serial += 1
            cid = f"bench-{self._serial}"
            started = time.perf_counter()
            await self.queued(cid)
            await self.ended(cid)
            self.writes.append((time.perf_counter() - started) * 1000)


class _Ticker:
    """A task that wakes every ``TICK_S`` and keeps the worst lateness it saw."""

    def __init__(self) -> None:
        self.worst_s = 0.0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> _Ticker:
        self._task = asyncio.get_running_loop().create_task(self._run())
        await asyncio.sleep(TICK_S * 2)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.sleep(TICK_S * 2)
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + TICK_S
            await asyncio.sleep(TICK_S)
            self.worst_s = max(self.worst_s, loop.time() - due)


async def _stall_while_locked(
    path: Path, write: Callable[[], Awaitable[None]]
) -> tuple[float, float]:
    """The loop's worst lag while a write waits out another connection's lock; and the wait."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("BEGIN EXCLUSIVE")
            held.set()
            release.wait(LOCK_S)
            conn.execute("ROLLBACK")
        finally:
            conn.close()

    holder = threading.Thread(target=hold, name="bench-lock")
    holder.start()
    try:
        await asyncio.to_thread(held.wait, 10)
        async with _Ticker() as ticker:
            started = time.perf_counter()
            await write()
            waited = time.perf_counter() - started
    finally:
        release.set()
        await asyncio.to_thread(holder.join)
    return ticker.worst_s * 1000, waited * 1000


async def main() -> dict[str, Any]:
    """Run the benchmark; returns the result dict (last stdout line as JSON)."""
    base = Path(tempfile.mkdtemp(prefix="bench-storage-"))
    storage = await SqliteStorage.open(base / "project.sqlite3")
    conn = _inline_connection(base / "baseline.sqlite3")
    try:
        project_device, project_token = await storage.add_device("kiosk-1", now=NOW)
        baseline_device, baseline_token = ops.add_device(conn, "kiosk-1", NOW, "default", False)

        async def inline_read(token: str) -> object:
            return ops.device_for_token(conn, token)

        async def inline_queued(cid: str) -> None:
            ops.consultation_queued(conn, cid, baseline_device, NOW)

        async def inline_ended(cid: str) -> None:
            ops.consultation_ended(conn, cid, "hangup", NOW)

        def project_side(device: Device) -> _Side:
            return _Side(
                storage.device_for_token,
                lambda cid: storage.consultation_queued(cid, device, now=NOW),
                lambda cid: storage.consultation_ended(cid, "hangup", now=NOW),
            )

        project = project_side(project_device)
        baseline = _Side(inline_read, inline_queued, inline_ended)
        await project.measure(20, project_token)  # warm-up: threads, caches, WAL
        await baseline.measure(20, baseline_token)
        for side in (project, baseline):
            side.reads.clear()
            side.writes.clear()
        for _ in range(ROUNDS):
            await project.measure(OPERATIONS // ROUNDS, project_token)
            await baseline.measure(OPERATIONS // ROUNDS, baseline_token)

        stall_ms, project_wait_ms = await _stall_while_locked(
            base / "project.sqlite3",
            lambda: storage.consultation_queued("locked", project_device, now=NOW),
        )
        baseline_stall_ms, baseline_wait_ms = await _stall_while_locked(
            base / "baseline.sqlite3", lambda: inline_queued("locked")
        )
    finally:
        await storage.close()
        conn.close()
        shutil.rmtree(base, ignore_errors=True)

    def ms(value: float) -> float:
        return round(value, 3)

    return {
        "operations": len(project.reads),
        "read_ms_p50": ms(statistics.median(project.reads)),
        "read_ms_p95": ms(_pct(project.reads, 0.95)),
        "baseline_read_ms_p50": ms(statistics.median(baseline.reads)),
        "baseline_read_ms_p95": ms(_pct(baseline.reads, 0.95)),
        "read_ratio": round(
            statistics.median(project.reads) / statistics.median(baseline.reads), 2
        ),
        "write_ms_p50": ms(statistics.median(project.writes)),
        "write_ms_p95": ms(_pct(project.writes, 0.95)),
        "baseline_write_ms_p50": ms(statistics.median(baseline.writes)),
        "baseline_write_ms_p95": ms(_pct(baseline.writes, 0.95)),
        "write_ratio": round(
            statistics.median(project.writes) / statistics.median(baseline.writes), 2
        ),
        "lock_s": LOCK_S,
        "stall_ms": round(stall_ms, 1),
        "baseline_stall_ms": round(baseline_stall_ms, 1),
        "locked_write_waited_ms": round(project_wait_ms, 1),
        "baseline_locked_write_waited_ms": round(baseline_wait_ms, 1),
    }
