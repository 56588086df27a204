"""The purge that applies each tenant's retention, on its own, every ``interval_s``.

It purges once at start (a hub restarted more often than the interval still purges), then after
every interval. A database that cannot do it now (``StorageUnavailable``: locked, closing) is
tried again at the next interval, and so is one that refused (a bug, logged as an error);
the storage deletes in batches of their own transactions, so an
interrupted purge leaves nothing half-deleted. Its log lines hold counts only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from hub.storage.errors import StorageUnavailable
from hub.storage.records import PurgeCounts

log = logging.getLogger("hub.governance")

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class Purges(Protocol):
    """The part of ``Governance`` the purger uses."""

    async def purge_expired(self, *, now: float) -> PurgeCounts:
        """Delete what is past each tenant's retention."""
        ...


class HasGovernance(Protocol):
    """A storage with governance (``Storage`` is one)."""

    @property
    def governance(self) -> Purges:
        """Its administration and data-protection operations."""
        ...


class Purger:
    """Runs ``governance.purge_expired`` now and then every ``interval_s`` seconds."""

    def __init__(
        self,
        storage: HasGovernance,
        clock: Clock,
        *,
        interval_s: float,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not interval_s > 0:
            raise ValueError("the purge interval must be more than 0 seconds (0 means: no purger)")
        self._storage = storage
        self._clock = clock
        self._interval_s = interval_s
        self._sleep = sleep

    async def run_once(self) -> PurgeCounts:
        """One purge by the clock's time now; what it deleted."""
        counts = await self._storage.governance.purge_expired(now=self._clock())
        if any(dataclasses.astuple(counts)):
            log.info(
                "purged past retention: %d consultations, %d access lines, %d device reports, "
                "%d audit entries, %d sessions, %d archived items",
                counts.consultations,
                counts.access_lines,
                counts.device_reports,
                counts.audit,
                counts.sessions,
                counts.archives,
            )
        return counts

    async def run(self) -> None:
        """Purge until cancelled; a database unavailable now is tried again next time."""
        while True:
            try:
                await self.run_once()
            except StorageUnavailable:
                log.warning(
                    "the purge could not run (database unavailable); next try in %d s",
                    self._interval_s,
                )
            except Exception as exc:
                # a refusal (or any other failure) is a bug to fix: log the kind only (a message
                # may quote a stored value) and try again next time
                log.error(
                    "the purge failed (%s); next try in %d s", type(exc).__name__, self._interval_s
                )
            await self._sleep(self._interval_s)
