"""Database writes that never hold up a state change: tasks started in decision order.

The storage applies writes in the order their coroutines first run (``hub.storage.interface``),
so a task per write, created as the pairing core decides, lands them in that order; a frame
that depends on one waits for its task in the peer's outbox (``hub.signalling.peers.After``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

log = logging.getLogger("hub.signalling")

RECORD_FAILED = "could not record a consultation event"


class Writes:
    """The writes under way; ``drain`` waits for them (before the storage closes)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[bool]] = set()

    def start(
        self, write: Awaitable[object], *, failure: str = RECORD_FAILED
    ) -> asyncio.Task[bool]:
        """Start a write as a task of its own; it says whether it succeeded.

        A failure is logged, never raised: the consultation log is bookkeeping, and a database
        hiccup must not break a live call.
        """
        task = asyncio.get_running_loop().create_task(_logged(write, failure))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self) -> None:
        """Wait for the writes under way."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))


async def _logged(write: Awaitable[object], failure: str) -> bool:
    try:
        await write
    except Exception:  # StorageError, or a bug: either way logged here, never left unretrieved
        log.exception(failure)
        return False
    return True
