"""The simulated tablet: replays strokes in real time with monotonic timestamps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drivers.errors import DeviceNotStarted, DeviceProtocolError
from drivers.tablet import PenSample
from drivers.tablet.simulated import SimulatedTablet, demo_signature, load_recording


async def test_replays_in_real_time_and_repeats_monotonic() -> None:
    strokes = [PenSample(i * 2000, i, i, 0.5, True, True) for i in range(10)]
    tablet = SimulatedTablet(strokes)
    with pytest.raises(DeviceNotStarted):
        await anext(aiter(tablet.samples()))
    await tablet.start()
    got = []
    async for s in tablet.samples():
        got.append(s)
        if len(got) == 25:
            break
    await tablet.stop()
    steps = [b.t_us - a.t_us for a, b in zip(got, got[1:], strict=False)]
    assert all(1500 <= d <= 2500 for d in steps)  # 2 ms apart, across repetitions too
    assert tablet.info.report_rate_hz == 500.0


def test_demo_signature_has_hover_press_lift() -> None:
    s = demo_signature()
    assert not s[0].tip_down and any(x.tip_down for x in s) and not s[-1].in_range


def test_recordings_load_and_bad_lines_are_typed(tmp_path: Path) -> None:
    good = tmp_path / "ok.jsonl"
    good.write_text(
        json.dumps(
            {
                "t_us": 1,
                "x_mm": 2,
                "y_mm": 3,
                "pressure": 0.5,
                "tip_down": True,
                "in_range": True,
                "tilt": [1, 2],
            }
        )
        + "\n"
    )
    assert load_recording(good) == [PenSample(1, 2.0, 3.0, 0.5, True, True, (1.0, 2.0))]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"t_us": "x"}\n')
    with pytest.raises(DeviceProtocolError, match="line 1"):
        load_recording(bad)
