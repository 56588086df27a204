"""The access log's lines into the database, in batches, without a request ever waiting.

``HubAccessLogger`` (hub/access_log.py) hands each finished request's line, already
anonymised, to ``AccessSink.add``; a task writes them with ``add_access_lines`` every
``interval_s`` or as soon as ``batch`` lines wait. The queue is bounded: when the database falls
behind, further lines are dropped and counted (the text log still has them), so memory stays
bounded and a request never blocks on storage. ``close`` writes what is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from hub.log_throttle import ThrottledLog
from hub.storage.records import NewAccessLine

log = logging.getLogger("hub.access_sink")

WriteLines = Callable[[Sequence[NewAccessLine]], Awaitable[None]]
Sleep = Callable[[float], Awaitable[None]]

BATCH = 500
INTERVAL_S = 1.0
MAX_QUEUED = 20_000  # about 40 s of a busy hub's requests; a few MiB at most


class AccessSink:
    """Batches access-log lines into ``write`` (``storage.governance.add_access_lines``).

    ``clock`` stamps each line (the hub's clock, so retention and tests agree on time);
    ``sleep`` is the timer between flushes (injectable so tests need no real waiting).
    """

    def __init__(
        self,
        write: WriteLines,
        clock: Callable[[], float],
        *,
        batch: int = BATCH,
        interval_s: float = INTERVAL_S,
        max_queued: int = MAX_QUEUED,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if batch < 1 or max_queued < batch or interval_s <= 0:
            raise ValueError("access sink: need batch >= 1, max_queued >= batch, interval_s > 0")
        self._write = write
        self._clock = clock
        self._batch = batch
        self._interval_s = interval_s
        self._max_queued = max_queued
        self._sleep = sleep
        self._queue: deque[NewAccessLine] = deque()
        self._full = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._stopping = False
        self.stored = 0  # lines written to the database
        self.dropped = 0  # lines given up: queue full, closed, or the database refused them
        self._drops = ThrottledLog(log, interval_s=60.0)  # while it lasts, a line a minute

    def add(
        self,
        *,
        tenant_id: int | None,
        client: str,
        method: str,
        path: str,
        status: int,
        bytes_: int,
        duration_ms: float,
    ) -> None:
        """Queue one (anonymised) line; never blocks, drops and counts when full or closed."""
        if self._closed or len(self._queue) >= self._max_queued:
            self.dropped += 1
            if not self._closed:
                self._drops.hit("full", "access log: the database fell behind, lines not stored")
            return
        self._queue.append(
            NewAccessLine(
                at=self._clock(),
                tenant_id=tenant_id,
                client=client,
                method=method,
                path=path,
                status=status,
                bytes=bytes_,
                duration_ms=duration_ms,
            )
        )
        if len(self._queue) >= self._batch:
            self._full.set()

    @property
    def queued(self) -> int:
        """Lines waiting for the next write."""
        return len(self._queue)

    def start(self) -> None:
        """Start the flushing task (on the running loop)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="access-sink")

    async def flush(self) -> None:
        """Write every queued line now, batch by batch."""
        while self._queue:
            await self._write_batch()

    async def close(self) -> None:
        """Stop the task, write what is queued, and drop (counting) anything added later."""
        self._stopping = True
        self._full.set()  # wakes the task, which ends after the write under way (no cut batch)
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()
        finally:
            self._closed = True
            self._drops.flush()
            if self.dropped:
                log.warning("access log: %d lines were not stored in the database", self.dropped)

    async def _run(self) -> None:
        while not self._stopping:
            if len(self._queue) < self._batch:
                await self._wait_full_or_interval()
            self._full.clear()
            await self._write_batch()

    async def _wait_full_or_interval(self) -> None:
        timer = asyncio.ensure_future(self._sleep(self._interval_s))
        full = asyncio.ensure_future(self._full.wait())
        try:
            await asyncio.wait((timer, full), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (timer, full):
                waiter.cancel()
            await asyncio.gather(timer, full, return_exceptions=True)

    async def _write_batch(self) -> None:
        count = min(self._batch, len(self._queue))
        if not count:
            return
        lines = [self._queue.popleft() for _ in range(count)]
        try:
            await self._write(lines)
        except Exception as exc:  # a copy of the log never stops the hub
            # the lines are lost (the text log keeps them); only the error's kind is logged:
            # a message could quote a line's path
            self.dropped += count
            log.warning("access log: %d lines not stored: %s", count, type(exc).__name__)
        else:
            self.stored += count
