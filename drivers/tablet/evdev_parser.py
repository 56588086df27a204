"""Linux input events of a pen digitizer → :class:`PenSample` (pure: no I/O, no clock).

Works on ``(sec, usec, type, code, value)`` tuples, as python-evdev and the kernel deliver
them, or on raw ``struct input_event`` bytes. Follows the kernel's rules
(Documentation/input/event-codes.rst): state accumulates until ``SYN_REPORT``; after
``SYN_DROPPED`` everything up to and including the next ``SYN_REPORT`` is discarded and the
reader must re-read the device state (:meth:`EvdevPenParser.resync`).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from drivers.errors import DeviceProtocolError
from drivers.tablet import PenSample

EV_SYN, EV_KEY, EV_ABS, EV_MSC = 0x00, 0x01, 0x03, 0x04
SYN_REPORT, SYN_DROPPED = 0, 3
BTN_TOOL_PEN, BTN_TOOL_RUBBER, BTN_TOUCH = 0x140, 0x141, 0x14A
ABS_X, ABS_Y, ABS_PRESSURE, ABS_TILT_X, ABS_TILT_Y = 0x00, 0x01, 0x18, 0x1A, 0x1B
MSC_TIMESTAMP = 0x05

# struct input_event on 64-bit Linux: struct timeval (two longs), __u16 type, __u16 code, __s32.
INPUT_EVENT = struct.Struct("@llHHi")
# The kernel's MSC_TIMESTAMP is a wrapping 32-bit microsecond counter; a jump beyond this is a
# device reset or a long pause, after which the event time is the better anchor.
MSC_MAX_STEP_US = 1_000_000

Event = tuple[int, int, int, int, int]


@dataclass(frozen=True)
class AxisRange:
    """An absolute axis as the kernel describes it (``resolution`` in units per mm, or per
    radian for tilt; 0 when the driver does not say)."""

    minimum: int
    maximum: int
    resolution: int = 0


@dataclass(frozen=True)
class PenAxes:
    """The axes a pen parser needs."""

    x: AxisRange
    y: AxisRange
    pressure: AxisRange
    tilt_x: AxisRange | None = None
    tilt_y: AxisRange | None = None

    def __post_init__(self) -> None:
        for name, axis in (("X", self.x), ("Y", self.y), ("pressure", self.pressure)):
            if axis.maximum <= axis.minimum:
                raise DeviceProtocolError(
                    f"the {name} axis has no range ({axis.minimum}..{axis.maximum}): "
                    "not a usable pen digitizer"
                )
        for name, axis in (("X", self.x), ("Y", self.y)):
            if axis.resolution <= 0:
                raise DeviceProtocolError(
                    f"the {name} axis reports no resolution: set the active area in the "
                    "configuration (width_mm/height_mm)"
                )

    @property
    def width_mm(self) -> float:
        """Width of the active area."""
        return (self.x.maximum - self.x.minimum) / self.x.resolution

    @property
    def height_mm(self) -> float:
        """Height of the active area."""
        return (self.y.maximum - self.y.minimum) / self.y.resolution


def decode_input_events(data: bytes) -> list[Event]:
    """Whole ``struct input_event`` records of ``data`` as tuples (a partial tail is ignored)."""
    end = len(data) - len(data) % INPUT_EVENT.size
    return list(INPUT_EVENT.iter_unpack(data[:end]))


def encode_input_events(events: Iterable[Event]) -> bytes:
    """The inverse of :func:`decode_input_events` (for recordings and tests)."""
    return b"".join(INPUT_EVENT.pack(*e) for e in events)


def _clamp(value: int, axis: AxisRange) -> int:
    return axis.minimum if value < axis.minimum else axis.maximum if value > axis.maximum else value


def _tilt_degrees(value: int, axis: AxisRange | None) -> float:
    if axis is None:
        return 0.0
    value = _clamp(value, axis)
    # Kernel tilt resolution is units per radian; without one, drivers report degrees.
    return math.degrees(value / axis.resolution) if axis.resolution > 0 else float(value)


class EvdevPenParser:
    """Turns a pen's event stream into samples, one per ``SYN_REPORT`` that changed something.

    Leaving proximity (``BTN_TOOL_PEN`` → 0) yields one sample with ``in_range=False``.
    Timestamps come from ``MSC_TIMESTAMP`` when the device sends it (anchored to the event
    time of its first report), else from the event time; they never decrease.
    """

    def __init__(self, axes: PenAxes) -> None:
        self.axes = axes
        self._x = axes.x.minimum
        self._y = axes.y.minimum
        self._pressure = axes.pressure.minimum
        self._tilt = (0, 0)
        self._tool = False
        self._touch = False
        self._was_in_range = False
        self._dirty = False
        self._dropping = False
        self._msc: int | None = None  # MSC_TIMESTAMP of the current frame
        self._msc_last: int | None = None
        self._msc_anchor_us = 0  # event time that the device clock is anchored to
        self._msc_elapsed_us = 0
        self._last_t = 0
        self._tail = b""
        self.needs_resync = False
        self.dropped_reports = 0

    def resync(self, abs_values: Mapping[int, int], keys: Iterable[int]) -> None:
        """Replace the state with the device's current one (after ``SYN_DROPPED``)."""
        pressed = set(keys)
        self._x = abs_values.get(ABS_X, self._x)
        self._y = abs_values.get(ABS_Y, self._y)
        self._pressure = abs_values.get(ABS_PRESSURE, self._pressure)
        self._tilt = (
            abs_values.get(ABS_TILT_X, self._tilt[0]),
            abs_values.get(ABS_TILT_Y, self._tilt[1]),
        )
        self._tool = BTN_TOOL_PEN in pressed or BTN_TOOL_RUBBER in pressed
        self._touch = BTN_TOUCH in pressed
        self._dirty = True
        self.needs_resync = False

    def feed_bytes(self, data: bytes) -> list[PenSample]:
        """Parse raw ``struct input_event`` bytes; a partial record waits for the next call."""
        data = self._tail + data
        end = len(data) - len(data) % INPUT_EVENT.size
        self._tail = data[end:]
        return self.feed(INPUT_EVENT.iter_unpack(data[:end]))

    def feed(self, events: Iterable[Event]) -> list[PenSample]:
        """Parse events; returns the samples completed by the ``SYN_REPORT``s among them."""
        out: list[PenSample] = []
        for sec, usec, etype, code, value in events:
            if etype == EV_SYN:
                if code == SYN_REPORT:
                    if self._dropping:
                        self._dropping = False
                        self.needs_resync = True
                        self._msc = None
                        continue
                    sample = self._report(sec * 1_000_000 + usec)
                    if sample is not None:
                        out.append(sample)
                elif code == SYN_DROPPED:
                    self._dropping = True
                    self.dropped_reports += 1
                continue
            if self._dropping:
                continue
            if etype == EV_ABS:
                self._abs(code, value)
            elif etype == EV_KEY:
                self._key(code, value)
            elif etype == EV_MSC and code == MSC_TIMESTAMP:
                self._msc = value & 0xFFFFFFFF
        return out

    def _abs(self, code: int, value: int) -> None:
        if code == ABS_X:
            self._x = value
        elif code == ABS_Y:
            self._y = value
        elif code == ABS_PRESSURE:
            self._pressure = value
        elif code == ABS_TILT_X:
            self._tilt = (value, self._tilt[1])
        elif code == ABS_TILT_Y:
            self._tilt = (self._tilt[0], value)
        else:
            return
        self._dirty = True

    def _key(self, code: int, value: int) -> None:
        if code in (BTN_TOOL_PEN, BTN_TOOL_RUBBER):
            self._tool = value != 0
        elif code == BTN_TOUCH:
            self._touch = value != 0
        else:
            return
        self._dirty = True

    def _timestamp(self, event_us: int) -> int:
        msc, self._msc = self._msc, None
        if msc is None:
            t = event_us
        else:
            step = None if self._msc_last is None else (msc - self._msc_last) & 0xFFFFFFFF
            if step is None or step > MSC_MAX_STEP_US:
                self._msc_anchor_us, self._msc_elapsed_us = event_us, 0
            else:
                self._msc_elapsed_us += step
            self._msc_last = msc
            t = self._msc_anchor_us + self._msc_elapsed_us
        # Monotonic whatever the device or a clock step does.
        self._last_t = max(self._last_t, t)
        return self._last_t

    def _report(self, event_us: int) -> PenSample | None:
        t = self._timestamp(event_us)
        if not self._dirty:
            return None
        self._dirty = False
        axes = self.axes
        x_mm = (_clamp(self._x, axes.x) - axes.x.minimum) / axes.x.resolution
        y_mm = (_clamp(self._y, axes.y) - axes.y.minimum) / axes.y.resolution
        if not self._tool:
            if not self._was_in_range:
                return None
            self._was_in_range = False
            return PenSample(t, x_mm, y_mm, 0.0, False, False, None)
        self._was_in_range = True
        p = axes.pressure
        pressure = (_clamp(self._pressure, p) - p.minimum) / (p.maximum - p.minimum)
        tilt = None
        if axes.tilt_x is not None or axes.tilt_y is not None:
            tilt = (
                _tilt_degrees(self._tilt[0], axes.tilt_x),
                _tilt_degrees(self._tilt[1], axes.tilt_y),
            )
        return PenSample(t, x_mm, y_mm, pressure, self._touch, True, tilt)
