"""A tablet without hardware: replays recorded strokes in real time."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import replace
from pathlib import Path

from drivers.errors import DeviceNotStarted, DeviceProtocolError
from drivers.tablet import PenSample, TabletInfo

RATE_HZ = 200.0


def demo_signature(rate_hz: float = RATE_HZ) -> list[PenSample]:
    """A made-up signature: hover in, two strokes with pressure ramps, lift, leave range."""
    period = round(1e6 / rate_hz)
    out: list[PenSample] = []
    t = 0

    def add(x: float, y: float, p: float, tip: bool, in_range: bool = True) -> None:
        nonlocal t
        out.append(PenSample(t, round(x, 3), round(y, 3), round(p, 4), tip, in_range, None))
        t += period

    for i in range(10):  # hover towards the start
        add(20 + i, 30, 0.0, False)
    for stroke, (x0, y0) in enumerate(((30.0, 30.0), (110.0, 28.0))):
        n = 160
        for i in range(n):
            u = i / (n - 1)
            ramp = min(1.0, 4 * u, 4 * (1 - u))  # pressure rises and falls at each end
            x = x0 + 60 * u
            y = y0 + 8 * math.sin(2 * math.pi * (2 + stroke) * u)
            add(x, y, 0.2 + 0.6 * ramp, True)
        for i in range(8):  # lifted, hovering on
            add(x0 + 60 + i, y0 - i, 0.0, False)
    add(out[-1].x_mm, out[-1].y_mm, 0.0, False, in_range=False)
    return out


def load_recording(path: Path) -> list[PenSample]:
    """Read strokes recorded as JSON lines of PenSample fields."""
    samples: list[PenSample] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise DeviceProtocolError(f"cannot read recording {path}: {exc.strerror}") from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            tilt = d.get("tilt")
            samples.append(
                PenSample(
                    int(d["t_us"]),
                    float(d["x_mm"]),
                    float(d["y_mm"]),
                    float(d["pressure"]),
                    bool(d["tip_down"]),
                    bool(d["in_range"]),
                    (float(tilt[0]), float(tilt[1])) if tilt else None,
                )
            )
        except (ValueError, KeyError, TypeError, IndexError):
            raise DeviceProtocolError(
                f"recording {path} line {number} is not a pen sample"
            ) from None
    return samples


class SimulatedTablet:
    """A :class:`drivers.tablet.SignatureTablet` replaying ``strokes`` at their own pace.

    Timestamps are rebased onto the event loop's clock, so they stay monotonic across
    repetitions; ``repeat=False`` ends the stream after one pass.
    """

    def __init__(
        self,
        strokes: Sequence[PenSample] | None = None,
        *,
        repeat: bool = True,
        name: str = "simulated tablet",
        width_mm: float = 200.0,
        height_mm: float = 80.0,
        pressure_levels: int = 2048,
    ) -> None:
        self._strokes = list(strokes) if strokes is not None else demo_signature()
        if not self._strokes:
            raise DeviceProtocolError("the recording holds no samples", device=name)
        self._repeat = repeat
        span = self._strokes[-1].t_us - self._strokes[0].t_us
        rate = (len(self._strokes) - 1) * 1e6 / span if span > 0 else RATE_HZ
        has_tilt = any(s.tilt is not None for s in self._strokes)
        self._info = TabletInfo(
            name, width_mm, height_mm, pressure_levels, round(rate, 1), has_tilt=has_tilt
        )
        self._started = False

    def one_pass(self) -> SimulatedTablet:
        """The same recording, replayed once per ``samples()`` (a simulated customer's pen)."""
        return SimulatedTablet(
            self._strokes,
            repeat=False,
            name=self._info.name,
            width_mm=self._info.width_mm,
            height_mm=self._info.height_mm,
            pressure_levels=self._info.pressure_levels,
        )

    @property
    def info(self) -> TabletInfo:
        """The simulated device's capabilities."""
        return self._info

    async def start(self) -> None:
        """Start replaying; idempotent."""
        self._started = True

    async def samples(self) -> AsyncIterator[PenSample]:
        """The recording, sample by sample, in real time."""
        if not self._started:
            raise DeviceNotStarted("samples() called before start()", device=self._info.name)
        loop = asyncio.get_running_loop()
        first = self._strokes[0].t_us
        period = round(1e6 / self._info.report_rate_hz)
        origin = loop.time()
        offset = 0
        while self._started:
            for sample in self._strokes:
                due = origin + (offset + sample.t_us - first) / 1e6
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                if not self._started:
                    return
                yield replace(sample, t_us=round(due * 1e6))
            if not self._repeat:
                return
            offset += self._strokes[-1].t_us - first + period

    async def stop(self) -> None:
        """Stop replaying; idempotent."""
        self._started = False
