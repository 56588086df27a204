"""A tablet without a pen: the touch UI's pointer (mouse or touch screen) draws the ink.

On a developer machine, or a kiosk whose tablet is the simulator, the signature screen feeds
every pointer position in with :meth:`PointerTablet.push`. The samples carry no pressure worth
the name (1 while down, 0 while up), so :class:`~drivers.tablet.TabletInfo` says
``constant_pressure`` and the biometric record says so too.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator

from drivers.errors import DeviceNotStarted
from drivers.tablet import PenSample, TabletInfo
from drivers.tablet.stream import SampleStream

# A nominal ink area: the signature screen's box is about this shape (5:2).
WIDTH_MM = 200.0
HEIGHT_MM = 80.0
RATE_HZ = 60.0  # pointer events come at the display's frame rate, about


class PointerTablet:
    """A :class:`drivers.tablet.SignatureTablet` fed by the UI's pointer, on the event loop."""

    def __init__(self, *, name: str = "pointer", width_mm: float = WIDTH_MM) -> None:
        self._info = TabletInfo(
            name,
            width_mm,
            width_mm * HEIGHT_MM / WIDTH_MM,
            pressure_levels=2,
            report_rate_hz=RATE_HZ,
            constant_pressure=True,
        )
        self._stream: SampleStream | None = None
        self._last_t_us = 0
        self._down = False

    @property
    def info(self) -> TabletInfo:
        """The nominal area; pressure is constant."""
        return self._info

    @property
    def started(self) -> bool:
        """Whether pointer input is taken (between ``start()`` and ``stop()``)."""
        return self._stream is not None

    async def start(self) -> None:
        """Take pointer input from now on; idempotent."""
        if self._stream is None:
            self._stream = SampleStream()

    def push(self, x_frac: float, y_frac: float, down: bool) -> None:
        """One pointer position in 0..1 of the ink area (x right, y down); ignored unless
        started. Values outside the area are clamped; a non-finite one is dropped."""
        stream = self._stream
        if stream is None or not (math.isfinite(x_frac) and math.isfinite(y_frac)):
            return
        if not down and not self._down:
            return  # hovering: a mouse over the area says nothing about the signature
        self._down = down
        # Monotonic microseconds, strictly increasing even for two events in one tick.
        t_us = max(round(asyncio.get_running_loop().time() * 1e6), self._last_t_us + 1)
        self._last_t_us = t_us
        x = min(max(x_frac, 0.0), 1.0) * self._info.width_mm
        y = min(max(y_frac, 0.0), 1.0) * self._info.height_mm
        stream.push([PenSample(t_us, x, y, 1.0 if down else 0.0, down, True)])

    async def samples(self) -> AsyncIterator[PenSample]:
        """The pointer's samples as the UI pushes them."""
        stream = self._stream
        if stream is None:
            raise DeviceNotStarted("samples() called before start()", device=self._info.name)
        async for sample in stream:
            yield sample

    async def stop(self) -> None:
        """Stop taking input; idempotent. A running ``samples()`` iteration ends."""
        stream, self._stream = self._stream, None
        self._down = False
        if stream is not None:
            stream.close()
