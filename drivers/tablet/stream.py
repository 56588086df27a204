"""Hands pen samples from a file-descriptor reader to one asynchronous consumer."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

from drivers.errors import DriverError
from drivers.tablet import PenSample

# About 16 s at 500 Hz: a consumer this far behind has stalled; keep the newest samples.
MAX_BACKLOG = 8192


class SampleStream:
    """A bounded buffer between a reader callback (``push``) and ``async for`` consumers.

    ``dropped`` counts samples lost because the consumer fell more than ``maxlen`` behind.
    """

    def __init__(self, maxlen: int = MAX_BACKLOG) -> None:
        self._buffer: deque[PenSample] = deque()
        self._maxlen = maxlen
        self._waiter: asyncio.Future[None] | None = None
        self._error: DriverError | None = None
        self._closed = False
        self.dropped = 0

    def push(self, samples: list[PenSample]) -> None:
        """Add samples (called on the event loop by the device reader)."""
        if not samples or self._closed:
            return
        self._buffer.extend(samples)
        excess = len(self._buffer) - self._maxlen
        for _ in range(excess):
            self._buffer.popleft()
            self.dropped += 1
        self._wake()

    def fail(self, error: DriverError) -> None:
        """End the stream with ``error`` once the buffered samples are consumed."""
        self._error = error
        self._wake()

    def close(self) -> None:
        """End the stream normally."""
        self._closed = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def __aiter__(self) -> AsyncIterator[PenSample]:
        while True:
            while self._buffer:
                yield self._buffer.popleft()
            if self._error is not None:
                raise self._error
            if self._closed:
                return
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
