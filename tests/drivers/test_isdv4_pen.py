"""The serial ISDV4/W8001 parser and backend, through a real pseudo-terminal pair."""

from __future__ import annotations

import asyncio
import os
import tty
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.errors import DeviceGone, DeviceNotFound, DriverTimeout, UnsupportedSetting
from drivers.tablet import PenSample
from drivers.tablet.isdv4 import Isdv4Tablet
from drivers.tablet.isdv4_parser import (
    Isdv4Capabilities,
    Isdv4Parser,
    encode_pen_packet,
    encode_query_reply,
)

CAPS = Isdv4Capabilities(
    x_max=26202, y_max=16325, pressure_max=1023, tilt_x_max=0, tilt_y_max=0, version=0x1234
)
# Byte-exact, worked out by hand from the kernel's wacom_w8001 layout: the query reply for
# CAPS (x 26202 = 0x33<<9 | 0x16<<2 | 2, y 16325, pressure 1023, version 0x1234).
QUERY_REPLY = bytes.fromhex("c033161f717f4f00002434")
# Pen in range, tip down, x 1203, y 2001, pressure 1023.
PEN_PACKET = bytes.fromhex("a1022c03747f6f0000")
STROKE = b"".join(
    [
        encode_pen_packet(1000, 2000, 0, in_range=True, tip=False),
        encode_pen_packet(1100, 2000, 512, in_range=True, tip=True),
        encode_pen_packet(1203, 2001, 1023, in_range=True, tip=True),
        encode_pen_packet(1203, 2001, 0, in_range=True, tip=False),
        encode_pen_packet(1203, 2001, 0, in_range=False, tip=False),
    ]
)


def expected(t: int) -> list[PenSample]:
    return [
        PenSample(t, 10.0, 20.0, 0.0, False, True, None),
        PenSample(t, 11.0, 20.0, 512 / 1023, True, True, None),
        PenSample(t, 12.03, 20.01, 1.0, True, True, None),
        PenSample(t, 12.03, 20.01, 0.0, False, True, None),
        PenSample(t, 12.03, 20.01, 0.0, False, False, None),
    ]


def test_query_reply_bytes() -> None:
    assert encode_query_reply(CAPS)[0] == 0xC0
    parser = Isdv4Parser()
    parser.feed(QUERY_REPLY, 0)
    (caps,) = parser.replies
    assert (caps.x_max, caps.y_max, caps.pressure_max, caps.version) == (26202, 16325, 1023, 0x1234)


def test_pen_packets_byte_exact() -> None:
    assert encode_pen_packet(1203, 2001, 1023, in_range=True, tip=True) == PEN_PACKET
    assert encode_query_reply(CAPS) == QUERY_REPLY
    parser = Isdv4Parser(CAPS, period_us=0)
    assert parser.feed(STROKE, 1_000) == expected(1_000)


@pytest.mark.parametrize(
    "garbage", [b"\x00\x7f\x13", b"\x80\x01\x02", b"\xff" * 20, b"\x90\x01\x02\x03"]
)
def test_garbage_and_cut_packets_resync(garbage: bytes) -> None:
    parser = Isdv4Parser(CAPS, period_us=0)
    out = parser.feed(garbage + STROKE[:4] + STROKE, 5)  # a packet cut short, then a stroke
    assert out[-5:] == expected(5)
    assert parser.discarded_bytes >= 4


@settings(max_examples=200, deadline=None)
@given(garbage=st.binary(max_size=300), split=st.integers(1, 45))
def test_arbitrary_bytes_never_raise_and_resync(garbage: bytes, split: int) -> None:
    parser = Isdv4Parser(CAPS, period_us=0)
    data = garbage + STROKE
    out: list[PenSample] = []
    for i in range(0, len(data), split):
        out += parser.feed(data[i : i + split], 7)
    assert [(s.x_mm, s.y_mm, s.pressure, s.tip_down, s.in_range) for s in out[-5:]] == [
        (s.x_mm, s.y_mm, s.pressure, s.tip_down, s.in_range) for s in expected(7)
    ]


def test_bad_baud_rate_is_refused() -> None:
    with pytest.raises(UnsupportedSetting, match="38400 or 19200"):
        Isdv4Tablet("/dev/ttyS0", baud=9600)


class FakeTablet:
    """The device end of a pty: answers the query, streams the stroke after '1'."""

    def __init__(self, link: Path, *, answer: bytes = QUERY_REPLY) -> None:
        self.master, slave = os.openpty()
        tty.setraw(self.master)
        self.slave_path = os.ttyname(slave)
        os.close(slave)
        link.unlink(missing_ok=True)
        link.symlink_to(self.slave_path)
        self.answer = answer
        self.commands = bytearray()

    def serve(self) -> None:
        asyncio.get_running_loop().add_reader(self.master, self._on_command)

    def _on_command(self) -> None:
        try:
            data = os.read(self.master, 64)
        except OSError:
            return
        self.commands += data
        if b"*" in data and self.answer:
            os.write(self.master, b"\x13garbage" + self.answer)
        if b"1" in data:
            os.write(self.master, b"\x00\x81" + STROKE)

    def unplug(self) -> None:
        asyncio.get_running_loop().remove_reader(self.master)
        os.close(self.master)


async def test_serial_tablet_through_a_pty_with_unplug_and_return(tmp_path: Path) -> None:
    link = tmp_path / "ttyTablet"
    device = FakeTablet(link)
    device.serve()
    tablet = Isdv4Tablet(str(link), baud=19200, clock_us=lambda: 42)
    await tablet.start()
    assert tablet.info.width_mm == pytest.approx(262.02) and tablet.info.pressure_levels == 1024
    got: list[PenSample] = []
    with pytest.raises(DeviceGone, match="disappeared"):
        async for s in tablet.samples():
            got.append(s)
            if len(got) == 5:
                device.unplug()
    assert [(s.x_mm, s.pressure, s.in_range) for s in got] == [
        (s.x_mm, s.pressure, s.in_range) for s in expected(42)
    ]
    assert device.commands.startswith(b"0*1")
    link.unlink()
    with pytest.raises(DeviceNotFound, match="does not exist"):
        await tablet.start()
    back = FakeTablet(link)  # replugged: a new tty behind the same by-id link
    back.serve()
    await tablet.start()
    first = await asyncio.wait_for(anext(aiter(tablet.samples())), 2)
    assert first.x_mm == 10.0
    await tablet.stop()
    back.unplug()


async def test_silent_tablet_times_out_with_baud_hint(tmp_path: Path) -> None:
    device = FakeTablet(tmp_path / "tty", answer=b"")
    device.serve()
    tablet = Isdv4Tablet(str(tmp_path / "tty"), query_timeout_s=0.2)
    with pytest.raises(DriverTimeout, match="baud rate"):
        await tablet.start()
    device.unplug()
