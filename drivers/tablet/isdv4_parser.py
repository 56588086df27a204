"""Wacom ISDV4/W8001 serial pen protocol → :class:`PenSample` (pure: no I/O, no clock).

The protocol, as the Linux ``wacom_w8001`` and xf86-input-wacom ``isdv4`` drivers speak it:

- commands are single ASCII bytes: ``'0'`` stop sampling, ``'1'`` start, ``'*'`` query;
- every packet starts with a byte whose bit 7 (the sync bit) is set; no other byte has it;
- a pen packet is 9 bytes: byte 0 holds proximity (0x20), tip (0x01), side switches
  (0x02, 0x04); x and y are 16 bits spread over bytes 1-2 and 6, y over 3-4 and 6; pressure
  is 10 bits over bytes 5 and 6; tilt is a signed 7-bit value in bytes 7 and 8 (degrees);
- the query reply is an 11-byte control packet (bit 6 of byte 0 set) with the same layout
  holding the maxima, and the firmware version in bytes 9-10;
- touch packets (bit 4 of byte 0) are skipped: the kiosk uses the pen only.

Garbage (line noise, a wrong baud rate, a packet cut short) is dropped byte by byte until the
next sync bit; the parser never raises on input.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.tablet import PenSample

CMD_STOP = b"0"
CMD_START = b"1"
CMD_QUERY = b"*"
SYNC = 0x80
CONTROL = 0x40
PROXIMITY = 0x20
TOUCH = 0x10
TIP = 0x01
PEN_PACKET_LEN = 9
QUERY_PACKET_LEN = 11
BAUD_RATES = (38400, 19200)
# W8001 pens report 100 units per millimetre (Linux: W8001_PEN_RESOLUTION).
UNITS_PER_MM = 100


@dataclass(frozen=True)
class Isdv4Capabilities:
    """The maxima from the tablet's reply to the query command."""

    x_max: int
    y_max: int
    pressure_max: int
    tilt_x_max: int
    tilt_y_max: int
    version: int


def _xy_pressure(p: bytes | bytearray) -> tuple[int, int, int]:
    x = ((p[1] & 0x7F) << 9) | ((p[2] & 0x7F) << 2) | ((p[6] & 0x60) >> 5)
    y = ((p[3] & 0x7F) << 9) | ((p[4] & 0x7F) << 2) | ((p[6] & 0x18) >> 3)
    pressure = (p[5] & 0x7F) | ((p[6] & 0x07) << 7)
    return x, y, pressure


def _signed7(b: int) -> int:
    b &= 0x7F
    return b - 0x80 if b & 0x40 else b


def parse_query_reply(packet: bytes | bytearray) -> Isdv4Capabilities:
    """Decode an 11-byte query reply (the caller checked length and sync)."""
    x, y, pressure = _xy_pressure(packet)
    return Isdv4Capabilities(
        x_max=x,
        y_max=y,
        pressure_max=pressure,
        tilt_x_max=packet[7] & 0x7F,
        tilt_y_max=packet[8] & 0x7F,
        version=((packet[9] & 0x7F) << 7) | (packet[10] & 0x7F),
    )


def encode_query_reply(caps: Isdv4Capabilities) -> bytes:
    """The bytes a tablet sends for ``caps`` (for the test device and recordings)."""
    return bytes(
        [
            SYNC | CONTROL,
            (caps.x_max >> 9) & 0x7F,
            (caps.x_max >> 2) & 0x7F,
            (caps.y_max >> 9) & 0x7F,
            (caps.y_max >> 2) & 0x7F,
            caps.pressure_max & 0x7F,
            ((caps.x_max & 3) << 5) | ((caps.y_max & 3) << 3) | ((caps.pressure_max >> 7) & 7),
            caps.tilt_x_max & 0x7F,
            caps.tilt_y_max & 0x7F,
            (caps.version >> 7) & 0x7F,
            caps.version & 0x7F,
        ]
    )


def encode_pen_packet(
    x: int, y: int, pressure: int, *, in_range: bool, tip: bool, tilt: tuple[int, int] = (0, 0)
) -> bytes:
    """The 9 bytes a tablet sends for one pen report (for the test device and recordings)."""
    head = SYNC | (PROXIMITY if in_range else 0) | (TIP if tip else 0)
    return bytes(
        [
            head,
            (x >> 9) & 0x7F,
            (x >> 2) & 0x7F,
            (y >> 9) & 0x7F,
            (y >> 2) & 0x7F,
            pressure & 0x7F,
            ((x & 3) << 5) | ((y & 3) << 3) | ((pressure >> 7) & 7),
            tilt[0] & 0x7F,
            tilt[1] & 0x7F,
        ]
    )


class Isdv4Parser:
    """Reassembles packets from a byte stream and turns pen packets into samples.

    ``caps`` gives the maxima for scaling (from :attr:`replies` of a query, usually).
    ``feed(data, t_us)`` stamps the packets of one read: the last one at ``t_us`` (arrival),
    earlier ones one ``period_us`` apart before it, never decreasing.
    """

    def __init__(
        self,
        caps: Isdv4Capabilities | None = None,
        *,
        units_per_mm: float = UNITS_PER_MM,
        period_us: int = 7_500,
    ) -> None:
        self.caps = caps
        self.units_per_mm = units_per_mm
        self.period_us = period_us
        self.replies: list[Isdv4Capabilities] = []
        self.discarded_bytes = 0
        self._packet = bytearray()
        self._want = 0  # length of the packet being assembled; 0 = skipping to a sync byte
        self._was_in_range = False
        self._last_t = 0

    def feed(self, data: bytes, t_us: int) -> list[PenSample]:
        """Parse ``data`` (any split of the stream); returns the completed pen samples."""
        pens: list[bytes] = []
        packet = self._packet
        for b in data:
            if b & SYNC:
                if packet:
                    self.discarded_bytes += len(packet)  # cut short by a new sync byte
                packet.clear()
                packet.append(b)
                if b & CONTROL:
                    self._want = QUERY_PACKET_LEN
                elif b & TOUCH:
                    self._want = 0  # not a pen packet: skip to the next sync byte
                    self.discarded_bytes += 1
                    packet.clear()
                else:
                    self._want = PEN_PACKET_LEN
                continue
            if not packet:
                self.discarded_bytes += 1
                continue
            packet.append(b)
            if len(packet) == self._want:
                if self._want == PEN_PACKET_LEN:
                    pens.append(bytes(packet))
                else:
                    self.replies.append(parse_query_reply(packet))
                packet.clear()
        out: list[PenSample] = []
        for i, p in enumerate(pens):
            sample = self._pen(p, t_us - (len(pens) - 1 - i) * self.period_us)
            if sample is not None:
                out.append(sample)
        return out

    def _pen(self, p: bytes, t_us: int) -> PenSample | None:
        self._last_t = t = max(self._last_t, t_us)
        x, y, pressure = _xy_pressure(p)
        caps = self.caps
        if caps is not None:
            x, y = min(x, caps.x_max), min(y, caps.y_max)
        x_mm, y_mm = x / self.units_per_mm, y / self.units_per_mm
        if not p[0] & PROXIMITY:
            if not self._was_in_range:
                return None
            self._was_in_range = False
            return PenSample(t, x_mm, y_mm, 0.0, False, False, None)
        self._was_in_range = True
        pressure_max = caps.pressure_max if caps is not None and caps.pressure_max > 0 else 1023
        level = min(pressure, pressure_max) / pressure_max
        tilt = None
        if caps is not None and (caps.tilt_x_max or caps.tilt_y_max):
            tilt = (float(_signed7(p[7])), float(_signed7(p[8])))
        return PenSample(t, x_mm, y_mm, level, bool(p[0] & TIP), True, tilt)
