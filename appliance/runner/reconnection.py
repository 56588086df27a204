"""What a consultation keeps across its peer connections (docs/reconnection.md).

The continuity secret (sent once the adviser is first verified; every later call proves itself
with it), the hub's latest resume token (single use), the grace timer, the pause before a failed
new call is tried again, and how long noticing and healing took. Secrets stay in memory and are
never logged; ``forget()`` drops everything when the consultation ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from appliance.call.connection import Resumption
from appliance.runner.timers import LoopScheduler, Scheduler, Timer

log = logging.getLogger(__name__)

# The grace period until the hub's welcome says otherwise.
DEFAULT_GRACE_S = 60.0
# Pauses before a failed new call of a reconnecting consultation is tried again: the first,
# doubled on every further failure, up to the last.
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 5.0


def retry_delay(attempt: int) -> float:
    """The pause before new call number ``attempt`` + 1 (``attempt`` failed, counted from 1)."""
    return min(RETRY_MAX_S, RETRY_FIRST_S * 2.0 ** (attempt - 1))


@dataclass(frozen=True)
class Interruption:
    """A reconnection that began: why, and how long the path had been silent (if known)."""

    cause: str
    detection_ms: float | None


class Reconnection:
    """The consultation's continuity across calls: secrets, grace and retry timers, timings."""

    def __init__(
        self,
        *,
        grace_s: float = DEFAULT_GRACE_S,
        scheduler: Scheduler | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        scheduler = scheduler if scheduler is not None else LoopScheduler()
        self.grace_s = grace_s  # the hub's welcome replaces it
        # What a later call proves itself with; secret inside: memory only, never logged.
        self.continuity: Resumption | None = None
        self._resume_token: str | None = None  # secret: memory only, never logged
        self._grace = Timer(scheduler)
        self._retry = Timer(scheduler)
        self._clock = clock
        self._started_at: float | None = None
        self._silence_ms: float | None = None  # of the dead path noticed last

    def keep_token(self, token: str) -> None:
        """The hub granted a resume token for the consultation: keep the latest."""
        self._resume_token = token

    def take_token(self) -> str | None:
        """The resume token, once: a resume spends it."""
        token, self._resume_token = self._resume_token, None
        return token

    def path_silent_for(self, silence_ms: float) -> None:
        """The current call's path was noticed dead after ``silence_ms`` of silence."""
        self._silence_ms = silence_ms

    def start(self, cause: str, on_grace_expired: Callable[[], None] | None) -> Interruption:
        """The consultation lost its call: start its clock, and its grace timer unless running.

        ``on_grace_expired`` runs when the grace period ends before ``healed()`` (None: no
        consultation to give up).
        """
        self._started_at = self._clock()
        interruption = Interruption(cause, self._silence_ms)
        self._silence_ms = None
        if not self._grace.pending and on_grace_expired is not None:
            self._grace.start(self.grace_s, on_grace_expired)
        return interruption

    def healed(self) -> float | None:
        """A new call proved itself: stop the grace timer; how long healing took (ms)."""
        self._grace.cancel()
        started, self._started_at = self._started_at, None
        if started is None:
            return None
        return round((self._clock() - started) * 1000, 1)

    def retry_later(self, attempt: int, retry: Callable[[], None]) -> None:
        """Run ``retry`` after the pause for ``attempt`` (never at once: see ``RetryLater``)."""
        delay = retry_delay(attempt)
        log.info("new call failed (attempt %d): trying again in %.1f s", attempt, delay)
        self._retry.start(delay, retry)

    def forget(self) -> None:
        """The consultation is over: stop its timers, drop its secrets and timings."""
        self._grace.cancel()
        self._retry.cancel()
        self._resume_token = None
        self.continuity = None
        self._started_at = None
        self._silence_ms = None
