"""The signature tablet port: pen samples in millimetres, and what the tablet can do."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class PenSample:
    """One report of the pen.

    ``t_us`` is microseconds on a monotonic clock (the device's own timestamps when it has
    them), never decreasing within a session. Coordinates are millimetres from the active
    area's top-left corner; ``pressure`` runs from 0 to 1. ``in_range`` is false for the one
    sample that says the pen left the tablet's range. ``tilt`` is (x, y) in degrees when the
    device reports it.
    """

    t_us: int
    x_mm: float
    y_mm: float
    pressure: float
    tip_down: bool
    in_range: bool
    tilt: tuple[float, float] | None = None


@dataclass(frozen=True)
class TabletInfo:
    """What a started tablet can deliver."""

    name: str
    width_mm: float
    height_mm: float
    pressure_levels: int
    report_rate_hz: float
    has_tilt: bool = False
    # A mouse or touch screen has no pressure: the record must say its pressure is constant.
    constant_pressure: bool = False


class SignatureTablet(Protocol):
    """A pen digitizer delivering :class:`PenSample` in real time."""

    @property
    def info(self) -> TabletInfo:
        """Active area, pressure levels and report rate (valid after ``start()``)."""
        ...

    async def start(self) -> None:
        """Open (or re-open after ``DeviceGone``) the device; raises a ``DriverError``."""
        ...

    def samples(self) -> AsyncIterator[PenSample]:
        """The pen's samples as they arrive; raises ``DeviceGone`` if the tablet vanishes."""
        ...

    async def stop(self) -> None:
        """Release the device; idempotent. A running ``samples()`` iteration ends."""
        ...
