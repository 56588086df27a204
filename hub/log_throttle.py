"""Log a recurring event at most once per interval, with a count, instead of once per event.

``Throttle`` is the pure core (explicit times, no I/O); ``ThrottledLog`` puts it on a logger and
an asyncio timer, so counts that piled up in a window are written when the window ends (and on
``flush``, e.g. at shutdown) rather than waiting for the next event. Messages must be fixed
texts chosen by the hub: never bytes a client sent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass


@dataclass
class _Window:
    ends: float
    suppressed: int = 0


class Throttle:
    """Per key: the first event reports at once; later ones in the window are counted.

    When a window ends with a count, that count is due and a new window starts, so a key is
    reported at most once per ``interval_s``. A window that ends without events closes: the next
    event reports at once again.
    """

    def __init__(self, interval_s: float) -> None:
        if interval_s <= 0:
            raise ValueError("the interval of a throttled log must be positive")
        self.interval_s = interval_s
        self._windows: dict[str, _Window] = {}

    def hit(self, key: str, now: float) -> bool:
        """Count one event at ``now``; True if it is to be reported right away."""
        self._close_idle(key, now)
        window = self._windows.get(key)
        if window is None:
            self._windows[key] = _Window(ends=now + self.interval_s)
            return True
        window.suppressed += 1
        return False

    def due(self, now: float) -> list[tuple[str, int]]:
        """The counts of windows that ended by ``now`` (each at most once); idle ones close."""
        reports: list[tuple[str, int]] = []
        for key, window in list(self._windows.items()):
            if window.ends > now:
                continue
            if window.suppressed:
                reports.append((key, window.suppressed))
                self._windows[key] = _Window(ends=now + self.interval_s)
            else:
                del self._windows[key]
        return reports

    def drain(self) -> list[tuple[str, int]]:
        """Every count not reported yet, whatever its window; all windows close."""
        reports = [(k, w.suppressed) for k, w in self._windows.items() if w.suppressed]
        self._windows.clear()
        return reports

    def next_end(self) -> float | None:
        """When the earliest window with a count ends; None if nothing is pending."""
        ends = [w.ends for w in self._windows.values() if w.suppressed]
        return min(ends) if ends else None

    def _close_idle(self, key: str, now: float) -> None:
        window = self._windows.get(key)
        if window is not None and window.ends <= now and not window.suppressed:
            del self._windows[key]


class ThrottledLog:
    """Writes ``Throttle``-d events to a logger; each record carries ``events`` (its count).

    Records also carry ``throttle_key``. Use from the event loop's thread; without a running
    loop, counts wait for the next event or ``flush``.
    """

    def __init__(
        self, logger: logging.Logger, *, interval_s: float, level: int = logging.WARNING
    ) -> None:
        self._logger = logger
        self._level = level
        self._throttle = Throttle(interval_s)
        self._messages: dict[str, str] = {}
        self._timer: asyncio.TimerHandle | None = None
        self.total: dict[str, int] = {}  # every event ever counted, by key (for stats and tests)

    def hit(self, key: str, message: str) -> None:
        """One event of kind ``key``, described by the fixed text ``message``."""
        self._messages[key] = message
        self.total[key] = self.total.get(key, 0) + 1
        now = time.monotonic()
        self._write_due(now)
        if self._throttle.hit(key, now):
            self._logger.log(
                self._level,
                "%s (repeats are counted and logged at most every %g s)",
                message,
                self._throttle.interval_s,
                extra={"throttle_key": key, "events": 1},
            )
        else:
            self._schedule()

    def flush(self) -> None:
        """Write every pending count now (at shutdown, so no count is lost)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for key, count in self._throttle.drain():
            self._write(key, count)

    def _write_due(self, now: float) -> None:
        for key, count in self._throttle.due(now):
            self._write(key, count)

    def _write(self, key: str, count: int) -> None:
        self._logger.log(
            self._level,
            "%s: %d more in the last %g s",
            self._messages.get(key, key),
            count,
            self._throttle.interval_s,
            extra={"throttle_key": key, "events": count},
        )

    def _schedule(self) -> None:
        if self._timer is not None:
            return
        end = self._throttle.next_end()
        if end is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timer = loop.call_later(max(0.0, end - time.monotonic()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._write_due(time.monotonic())
        self._schedule()
