"""The evdev pen parser and backend: recorded Wacom events in, exact samples out."""

from __future__ import annotations

import asyncio
import math
import os
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.errors import DeviceGone, DeviceNotFound, DriverError
from drivers.tablet import PenSample
from drivers.tablet.evdev import EvdevTablet, find_pen_device, pen_axes
from drivers.tablet.evdev_parser import (
    ABS_PRESSURE,
    ABS_X,
    ABS_Y,
    BTN_TOOL_PEN,
    BTN_TOUCH,
    EV_ABS,
    EV_KEY,
    EV_MSC,
    EV_SYN,
    MSC_TIMESTAMP,
    SYN_REPORT,
    EvdevPenParser,
    encode_input_events,
)
from tests.support.pen_events import intuos_axes, intuos_capabilities, stroke_events

TILT = (math.degrees(10 / 57), math.degrees(-5 / 57))


def expected_stroke() -> list[PenSample]:
    return [
        PenSample(100_000_000, 10.0, 20.0, 0.0, False, True, TILT),  # hover in
        PenSample(100_005_000, 11.0, 20.0, 0.0, False, True, TILT),  # hover move
        PenSample(100_010_000, 11.0, 20.0, 2048 / 4095, True, True, TILT),  # device time, not 10100
        PenSample(100_015_000, 12.0, 20.0, 1.0, True, True, TILT),
        # SYN_DROPPED: its report (with X 9999) is discarded
        PenSample(100_025_000, 12.0, 21.0, 1.0, True, True, TILT),
        PenSample(100_030_000, 12.0, 21.0, 0.0, False, True, TILT),  # lift
        PenSample(100_035_000, 12.0, 21.0, 0.0, False, False, None),  # out of range
    ]


def test_axes_of_a_wacom_intuos() -> None:
    axes = intuos_axes()
    assert (axes.width_mm, axes.height_mm) == (152.0, 95.0)
    assert axes.pressure.maximum == 4095 and axes.tilt_x is not None


def test_recorded_stroke_gives_exact_samples() -> None:
    parser = EvdevPenParser(intuos_axes())
    assert parser.feed(stroke_events()) == expected_stroke()
    assert parser.dropped_reports == 1 and parser.needs_resync


@pytest.mark.parametrize("chunk", [1, 7, 24, 25, 1000])
def test_raw_bytes_in_any_split_give_the_same_samples(chunk: int) -> None:
    data = encode_input_events(stroke_events())
    parser = EvdevPenParser(intuos_axes())
    out: list[PenSample] = []
    for i in range(0, len(data), chunk):
        out += parser.feed_bytes(data[i : i + chunk])
    assert out == expected_stroke()


def test_msc_timestamp_wraps_and_time_never_goes_back() -> None:
    parser = EvdevPenParser(intuos_axes())
    near_wrap = 2**31 - 2000  # as a signed 32-bit value, the next one is negative
    events = [
        (5, 0, EV_KEY, BTN_TOOL_PEN, 1),
        (5, 0, EV_ABS, ABS_X, 10),
        (5, 0, EV_MSC, MSC_TIMESTAMP, near_wrap),
        (5, 0, EV_SYN, SYN_REPORT, 0),
        (5, 5000, EV_ABS, ABS_X, 20),
        (5, 5000, EV_MSC, MSC_TIMESTAMP, -(2**31) + 3000),
        (5, 5000, EV_SYN, SYN_REPORT, 0),
        # the clock steps back and no device time: still monotonic
        (4, 0, EV_ABS, ABS_X, 30),
        (4, 0, EV_SYN, SYN_REPORT, 0),
    ]
    times = [s.t_us for s in parser.feed(events)]
    assert times == [5_000_000, 5_005_000, 5_005_000]


def test_resync_after_syn_dropped_takes_the_device_state() -> None:
    parser = EvdevPenParser(intuos_axes())
    parser.feed(stroke_events()[:21])  # up to the report after SYN_DROPPED
    assert parser.needs_resync
    parser.resync({ABS_X: 5000, ABS_Y: 600, ABS_PRESSURE: 0}, [BTN_TOOL_PEN])
    (sample,) = parser.feed([(101, 0, EV_SYN, SYN_REPORT, 0)])
    assert (sample.x_mm, sample.y_mm, sample.tip_down, sample.in_range) == (50.0, 6.0, False, True)


def test_a_device_without_pen_axes_is_refused() -> None:
    with pytest.raises(DeviceNotFound, match="not a pen digitizer"):
        pen_axes({EV_KEY: [BTN_TOUCH], EV_ABS: [(ABS_X, (0, 0, 100, 0, 0, 10))]})
    with pytest.raises(DriverError, match="resolution"):
        pen_axes(
            {
                EV_KEY: [BTN_TOOL_PEN],
                EV_ABS: [
                    (ABS_X, (0, 0, 100, 0, 0, 0)),
                    (ABS_Y, (0, 0, 100, 0, 0, 0)),
                    (ABS_PRESSURE, (0, 0, 100, 0, 0, 0)),
                ],
            }
        )


events_st = st.tuples(
    st.integers(-(2**40), 2**40),
    st.integers(-(2**40), 2**40),
    st.sampled_from([0, 1, 3, 4, 0xFF]),
    st.sampled_from([0, 1, 3, 5, 24, 26, 27, 320, 330, 999]),
    st.integers(-(2**31), 2**31 - 1),
)


@settings(max_examples=150, deadline=None)
@given(garbage=st.binary(max_size=600), tail=st.lists(events_st, max_size=40))
def test_arbitrary_input_never_raises_and_the_parser_resynchronises(
    garbage: bytes, tail: list[Any]
) -> None:
    parser = EvdevPenParser(intuos_axes())
    parser.feed_bytes(garbage[: len(garbage) - len(garbage) % 24])  # the kernel sends whole events
    parser.feed(tail)
    # What the backend does on overflow: drop to the next report, then read the device state.
    parser.feed([(0, 0, EV_SYN, 3, 0), (0, 0, EV_SYN, SYN_REPORT, 0)])
    parser.resync({ABS_X: 0, ABS_Y: 0, ABS_PRESSURE: 0}, [])
    parser.feed([(0, 0, EV_SYN, SYN_REPORT, 0)])
    out = parser.feed(stroke_events())
    want = expected_stroke()
    assert [(s.x_mm, s.y_mm, s.pressure, s.tip_down, s.in_range) for s in out] == [
        (s.x_mm, s.y_mm, s.pressure, s.tip_down, s.in_range) for s in want
    ]
    assert all(a.t_us <= b.t_us for a, b in zip(out, out[1:], strict=False))


class RecordedNode:
    """An input device whose events come from a pipe (no /dev/input on these machines)."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        self.grabbed = False
        self.state = {ABS_X: 0, ABS_Y: 0, ABS_PRESSURE: 0}
        self.keys: list[int] = []

    @property
    def fd(self) -> int:
        return self.read_fd

    @property
    def name(self) -> str:
        return "Wacom Intuos S Pen"

    def capabilities(self, verbose: bool = False, absinfo: bool = True) -> Any:
        return intuos_capabilities()

    def absinfo(self, axis_num: int) -> Any:
        return (self.state.get(axis_num, 0), 0, 0, 0, 0, 0)

    def active_keys(self, verbose: bool = False) -> Any:
        return self.keys

    def grab(self) -> None:
        self.grabbed = True

    def ungrab(self) -> None:
        self.grabbed = False

    def close(self) -> None:
        os.close(self.read_fd)
        if self.write_fd >= 0:
            os.close(self.write_fd)

    def unplug(self) -> None:
        os.close(self.write_fd)
        self.write_fd = -1


async def test_backend_reads_grabs_resyncs_and_survives_unplug() -> None:
    nodes: list[RecordedNode] = []

    def opener(path: str) -> RecordedNode:
        assert path == "/dev/input/by-id/usb-Wacom-event-stylus"
        nodes.append(RecordedNode())
        return nodes[-1]

    tablet = EvdevTablet("/dev/input/by-id/usb-Wacom-event-stylus", opener=opener)
    await tablet.start()
    assert (
        nodes[0].grabbed and tablet.info.width_mm == 152.0 and tablet.info.pressure_levels == 4096
    )
    nodes[0].state = {ABS_X: 1200, ABS_Y: 2100, ABS_PRESSURE: 4095}
    nodes[0].keys = [BTN_TOOL_PEN, BTN_TOUCH]
    os.write(nodes[0].write_fd, encode_input_events(stroke_events()))
    got: list[PenSample] = []
    with pytest.raises(DeviceGone, match="unplugged"):
        async for sample in tablet.samples():
            got.append(sample)
            if len(got) == 7:
                nodes[0].unplug()
    assert [s.in_range for s in got][-1] is False and len(got) == 7
    # The tablet comes back: start() again opens it and samples flow.
    await tablet.start()
    os.write(nodes[1].write_fd, encode_input_events(stroke_events()[:7]))
    first = await asyncio.wait_for(anext(aiter(tablet.samples())), 2)
    assert (first.x_mm, first.y_mm) == (10.0, 20.0)
    await tablet.stop()
    assert not nodes[1].grabbed


def test_auto_detection_picks_the_pen_node() -> None:
    class Keyboard(RecordedNode):
        def capabilities(self, verbose: bool = False, absinfo: bool = True) -> Any:
            return {EV_KEY: [30, 31]}

    made: list[RecordedNode] = []

    def opener(path: str) -> RecordedNode:
        made.append(Keyboard() if path.endswith("0") else RecordedNode())
        return made[-1]

    assert (
        find_pen_device(["/dev/input/event0", "/dev/input/event5"], opener) == "/dev/input/event5"
    )
    for node in made:
        assert node  # both were opened and closed again
    with pytest.raises(DeviceNotFound, match="no pen digitizer"):
        find_pen_device(["/dev/input/event0"], opener)
