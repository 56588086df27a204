"""The kiosk's timers: one pending callback each, on a scheduler a test may replace.

The shell never sleeps in a task to time something out: it asks the scheduler (the event loop's
``call_later`` by default) and keeps the handle, so that cancelling is one call and a test can
drive time by hand (``ManualScheduler`` in tests/support/fake_kiosk.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol


class Cancellable(Protocol):
    """A scheduled callback that can still be called off."""

    def cancel(self) -> None:
        """Do not run the callback (nothing happens if it already ran)."""


class Scheduler(Protocol):
    """Runs a callback once after a delay, on the event loop."""

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        """Run ``callback`` in ``delay`` seconds."""


class LoopScheduler:
    """The running event loop's ``call_later`` (the kiosk's default)."""

    def call_later(self, delay: float, callback: Callable[[], None]) -> Cancellable:
        """Run ``callback`` in ``delay`` seconds on the running loop."""
        return asyncio.get_running_loop().call_later(delay, callback)


class Timer:
    """At most one pending callback: starting it again replaces the one pending."""

    def __init__(self, scheduler: Scheduler) -> None:
        self._scheduler = scheduler
        self._handle: Cancellable | None = None

    @property
    def pending(self) -> bool:
        """Whether a callback is waiting to run."""
        return self._handle is not None

    def start(self, delay: float, callback: Callable[[], None]) -> None:
        """Run ``callback`` in ``delay`` seconds unless cancelled or started again first."""
        self.cancel()

        def fire() -> None:
            self._handle = None
            callback()

        self._handle = self._scheduler.call_later(delay, fire)

    def cancel(self) -> None:
        """Call off the pending callback, if any."""
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.cancel()
