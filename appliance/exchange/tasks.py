"""The exchange's background work: downloads, scans, countdowns and sends run as tasks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class TaskSet:
    """Tasks started for one consultation's exchange; ``cancel_all`` ends them together.

    A task that fails is logged by its exception's type only (its message may hold content).
    """

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coro`` as a task of this set."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def cancel_all(self) -> list[asyncio.Task[None]]:
        """Cancel every task still running; returns them, for the caller to await."""
        pending = [t for t in self._tasks if not t.done()]
        for task in pending:
            task.cancel()
        return pending

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("exchange: a task failed (%s)", type(exc).__name__)
