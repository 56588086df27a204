"""The pen's samples of one signature, at the tablet's native rate, and the ink they draw.

:class:`Capture` reads a started :class:`~drivers.tablet.SignatureTablet` on the event loop.
It keeps every in-range sample while the signature screen is up (the biometric record
needs the hovering between strokes too), caps their number, and turns the pen-down ones into ink in
0..1 of the tablet's area (y down) for the screen. A tablet that disappears ends the pass
with :class:`TabletGone`; the desk tells the adviser and starts a fresh pass on re-plug.
Samples live only in this object's memory: ``drop()`` forgets them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from appliance.signing.state import Strokes
from drivers.errors import DriverError
from drivers.tablet import PenSample, SignatureTablet, TabletInfo

# Two pen-down samples closer than this (in mm) are one dot, not writing.
DOT_MM = 0.5


class TabletGone(Exception):
    """The tablet vanished (or would not start) during the signature."""


class TooLong(Exception):
    """More samples than the cap: the customer starts again."""


class Capture:
    """One pass of the pen over the tablet; ``changed`` is called on the loop for new ink."""

    def __init__(
        self, tablet: SignatureTablet, *, max_samples: int, changed: Callable[[], None]
    ) -> None:
        self._tablet = tablet
        self._max_samples = max_samples
        self._changed = changed
        self._lock = threading.Lock()  # the UI thread reads the ink once per frame
        self._samples: list[PenSample] = []
        self._strokes: list[list[tuple[float, float]]] = []
        self._pen_down = False
        self._seq = 0
        self.info: TabletInfo | None = None

    @property
    def samples(self) -> tuple[PenSample, ...]:
        """Every kept sample, oldest first."""
        return tuple(self._samples)

    def ink(self) -> tuple[Strokes, int]:
        """The strokes so far (0..1 of the area, y down) and a change counter."""
        with self._lock:
            return tuple(tuple(s) for s in self._strokes), self._seq

    def has_ink(self) -> bool:
        """Whether the samples hold writing: not nothing, not a single dot."""
        down = [s for s in self._samples if s.tip_down]
        if len(down) < 2:
            return False
        x0, y0 = down[0].x_mm, down[0].y_mm
        return any(abs(s.x_mm - x0) > DOT_MM or abs(s.y_mm - y0) > DOT_MM for s in down)

    def drop(self) -> None:
        """Forget every sample and the ink (clear, decline, too long, the session's end)."""
        with self._lock:
            self._samples.clear()
            self._strokes.clear()
            self._pen_down = False
            self._seq += 1
        self._changed()

    async def run(self, started: Callable[[], None] = lambda: None) -> None:
        """Start the tablet and take its samples until cancelled or the stream ends.

        ``started`` is called once the tablet is open, before its first sample is read.
        Raises :class:`TabletGone` when the tablet cannot start or vanishes, :class:`TooLong`
        past the cap (the samples are dropped first).
        """
        try:
            await self._tablet.start()
            self.info = self._tablet.info
            started()
            async for sample in self._tablet.samples():
                self._take(sample)
        except DriverError as exc:
            raise TabletGone(type(exc).__name__) from None

    def _take(self, sample: PenSample) -> None:
        if not sample.in_range:
            self._pen_down = False
            return
        if len(self._samples) >= self._max_samples:
            self.drop()
            raise TooLong(f"more than {self._max_samples} samples")
        self._samples.append(sample)
        info = self.info
        if info is None:
            return
        if sample.tip_down:
            point = (
                min(max(sample.x_mm / info.width_mm, 0.0), 1.0),
                min(max(sample.y_mm / info.height_mm, 0.0), 1.0),
            )
            with self._lock:
                if not self._pen_down:
                    self._strokes.append([])
                self._strokes[-1].append(point)
                self._seq += 1
            self._changed()
        self._pen_down = sample.tip_down
