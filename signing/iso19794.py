"""ISO/IEC 19794-7:2007 full-format signature/sign time series records.

The byte layout, its public sources and the choices made where they disagree are in
``docs/signature-record.md``. Pure functions; nothing here logs (a record is biometric data).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

FORMAT_IDENTIFIER = b"SDI\x00"
VERSION = b" 10\x00"
# 120 s at 500 Hz: the kiosk stops capturing there ("too_long"); a record with more is refused.
MAX_SAMPLES = 60_000

# Our units (docs/signature-record.md, "Units and scaling we use").
XY_PER_METRE = 50_000.0  # 0.02 mm
DT_PER_SECOND = 2_000.0  # 0.5 ms
TILT_PER_DEGREE = 100.0  # 0.01 degree
TILT_LIMIT = 9_000  # +-90 degrees in tilt units
_XY_PER_MM = XY_PER_METRE / 1000.0
_US_PER_DT = 1e6 / DT_PER_SECOND


class RecordError(ValueError):
    """A record that is malformed or cannot be built; the message names the byte or field."""


class Channel(IntEnum):
    """The 19794-7 channels in record order; bit ``0x8000 >> value`` in the inclusion mask."""

    X = 0
    Y = 1
    Z = 2
    VX = 3
    VY = 4
    AX = 5
    AY = 6
    T = 7
    DT = 8
    F = 9
    S = 10
    TX = 11
    TY = 12
    AZ = 13
    E = 14
    R = 15

    @property
    def mask_bit(self) -> int:
        """This channel's bit in the channel inclusion mask."""
        return 0x8000 >> self.value

    @property
    def signed(self) -> bool:
        """Whether the channel's values are two's complement."""
        return self in _SIGNED

    @property
    def low(self) -> int:
        """Smallest value a sample of this channel can hold."""
        return -0x8000 if self.signed else 0

    @property
    def high(self) -> int:
        """Largest value a sample of this channel can hold."""
        if self is Channel.S:
            return 0xFF
        return 0x7FFF if self.signed else 0xFFFF


_SIGNED = frozenset(
    {Channel.X, Channel.Y, Channel.VX, Channel.VY, Channel.AX, Channel.AY, Channel.TX, Channel.TY}
)

# Channel description preamble bits.
_P_SCALING, _P_MIN, _P_MAX, _P_MEAN, _P_STD = 0x80, 0x40, 0x20, 0x10, 0x08
_P_CONSTANT, _P_LINEAR, _P_RESERVED = 0x04, 0x02, 0x01
_BODY_EXTENDED = 0x80


def scaling_code(value: float) -> int:
    """The 16-bit code (5-bit biased exponent, 11-bit fraction) nearest to ``value``."""
    if not math.isfinite(value) or value <= 0:
        raise RecordError(f"scaling value {value!r} is not a positive number")
    exponent = math.floor(math.log2(value))
    fraction = round((value / 2.0**exponent - 1.0) * 2048)
    if fraction == 2048:  # rounding carried into the next power of two
        exponent, fraction = exponent + 1, 0
    if not -16 <= exponent <= 15:
        raise RecordError(f"scaling value {value!r} is outside 2^-16 .. 2^16")
    return ((exponent + 16) << 11) | fraction


def scaling_value(code: int) -> float:
    """The value a 16-bit scaling code stands for: 2^(E-16) x (1 + F/2048)."""
    return float(2.0 ** ((code >> 11) - 16) * (1.0 + (code & 0x7FF) / 2048.0))


@dataclass(frozen=True)
class ChannelDescription:
    """One channel's description: the optional attributes as stored (integers, except scaling).

    ``scaling`` is units per SI unit (``None``: calibration unknown); ``constant`` says every
    sample holds the same value; ``linear_component_removed`` is carried through unread.
    """

    scaling: float | None = None
    minimum: int | None = None
    maximum: int | None = None
    mean: int | None = None
    std: int | None = None
    constant: bool = False
    linear_component_removed: bool = False


@dataclass(frozen=True)
class SignRecord:
    """A decoded record: channels in record order, their descriptions, the samples as stored."""

    channels: tuple[Channel, ...]
    descriptions: dict[Channel, ChannelDescription]
    samples: tuple[tuple[int, ...], ...]
    extended_data: bytes = field(default=b"")

    def column(self, channel: Channel) -> tuple[int, ...]:
        """Every sample's value of ``channel`` (RecordError when it is not in the record)."""
        if channel not in self.channels:
            raise RecordError(f"the record has no {channel.name} channel")
        index = self.channels.index(channel)
        return tuple(sample[index] for sample in self.samples)


@dataclass(frozen=True)
class PenPoint:
    """One pen sample as the kiosk captured it: microseconds, millimetres, pressure 0..1."""

    t_us: int
    x_mm: float
    y_mm: float
    pressure: float
    tip_down: bool
    tilt: tuple[float, float] | None = None  # degrees along X and Y


@dataclass(frozen=True)
class Capture:
    """What a record is built from: the samples and what the tablet could measure."""

    points: tuple[PenPoint, ...]
    width_mm: float
    height_mm: float
    pressure_levels: int
    rate_hz: float
    constant_pressure: bool  # mouse or touch screen: no pressure channel worth the name


# ---------------------------------------------------------------------------- building


def _units(value: float, per_unit: float, what: str, channel: Channel) -> int:
    if not math.isfinite(value):
        raise RecordError(f"{what} is not a finite number")
    units = round(value * per_unit)
    if not channel.low <= units <= channel.high:
        raise RecordError(f"{what} {value:g} does not fit the {channel.name} channel")
    return units


def record_from_capture(capture: Capture) -> SignRecord:
    """Build the record: X, Y, DT, F, S, and TX/TY when every sample has a tilt."""
    points = capture.points
    if len(points) > MAX_SAMPLES:
        raise RecordError(f"{len(points)} samples exceed the cap of {MAX_SAMPLES}")
    if capture.pressure_levels > 0x10000:
        raise RecordError(f"pressure levels {capture.pressure_levels} exceed 65536")
    # A device that reports no pressure levels still has a tip: F is then 0 or 1.
    top = max(1, capture.pressure_levels - 1)
    with_tilt = bool(points) and all(p.tilt is not None for p in points)
    channels = [Channel.X, Channel.Y, Channel.DT, Channel.F, Channel.S]
    if with_tilt:
        channels += [Channel.TX, Channel.TY]
    xy = ChannelDescription(scaling=XY_PER_METRE, minimum=0)
    descriptions = {
        Channel.X: _with_max(xy, capture.width_mm * _XY_PER_MM, "width", Channel.X),
        Channel.Y: _with_max(xy, capture.height_mm * _XY_PER_MM, "height", Channel.Y),
        Channel.DT: ChannelDescription(scaling=DT_PER_SECOND, mean=_period(capture.rate_hz)),
        Channel.F: ChannelDescription(minimum=0, maximum=top, constant=capture.constant_pressure),
        Channel.S: ChannelDescription(minimum=0, maximum=1),
    }
    if with_tilt:
        tilt = ChannelDescription(scaling=TILT_PER_DEGREE, minimum=-TILT_LIMIT, maximum=TILT_LIMIT)
        descriptions[Channel.TX] = descriptions[Channel.TY] = tilt
    samples = []
    start = points[0].t_us if points else 0
    previous_t, emitted = start, 0
    for number, p in enumerate(points):
        if p.t_us < previous_t:
            raise RecordError(f"sample {number}: time goes backwards")
        previous_t = p.t_us
        # DT from rounded absolute times, so rounding does not accumulate along the record.
        dt = min(round((p.t_us - start) / _US_PER_DT) - emitted, 0xFFFF)
        emitted += dt
        if capture.constant_pressure:
            force = top
        elif not math.isfinite(p.pressure):
            raise RecordError(f"sample {number}: pressure is not a finite number")
        else:  # a driver's rounding beyond 0..1 is clamped, not a reason to lose the signature
            force = round(min(1.0, max(0.0, p.pressure)) * top)
        row = [
            _units(p.x_mm, _XY_PER_MM, f"sample {number}: x", Channel.X),
            _units(p.y_mm, _XY_PER_MM, f"sample {number}: y", Channel.Y),
            dt,
            force,
            1 if p.tip_down else 0,
        ]
        if with_tilt and p.tilt is not None:
            for value, channel in zip(p.tilt, (Channel.TX, Channel.TY), strict=True):
                units = _units(value, TILT_PER_DEGREE, f"sample {number}: tilt", channel)
                if abs(units) > TILT_LIMIT:
                    raise RecordError(f"sample {number}: tilt beyond 90 degrees")
                row.append(units)
        samples.append(tuple(row))
    return SignRecord(tuple(channels), descriptions, tuple(samples))


def _with_max(
    base: ChannelDescription, units: float, what: str, channel: Channel
) -> ChannelDescription:
    if not math.isfinite(units) or not 0 <= round(units) <= channel.high:
        raise RecordError(f"tablet {what} does not fit the {channel.name} channel")
    if round(units) == 0:  # the device did not say its size: no maximum in the record
        return base
    return ChannelDescription(scaling=base.scaling, minimum=base.minimum, maximum=round(units))


def _period(rate_hz: float) -> int | None:
    if not math.isfinite(rate_hz) or rate_hz <= 0:  # rate unknown: no nominal period
        return None
    period = round(DT_PER_SECOND / rate_hz)
    return period if 0 < period <= 0xFFFF else None


def points_from_record(record: SignRecord) -> tuple[PenPoint, ...]:
    """The pen samples back in mm, microseconds from the first sample and pressure 0..1."""
    scale = {}
    for channel in (Channel.X, Channel.Y):
        factor = record.descriptions[channel].scaling
        if factor is None:
            raise RecordError(f"the {channel.name} channel has no scaling: calibration unknown")
        scale[channel] = 1000.0 / factor
    if Channel.DT in record.channels:
        times = _running_sum(record.column(Channel.DT))
        time_scaling = record.descriptions[Channel.DT].scaling
    else:
        times = record.column(Channel.T)
        time_scaling = record.descriptions[Channel.T].scaling
        times = tuple(t - times[0] for t in times) if times else ()
    if time_scaling is None:
        raise RecordError("the time channel has no scaling: calibration unknown")
    xs, ys = record.column(Channel.X), record.column(Channel.Y)
    tips = record.column(Channel.S) if Channel.S in record.channels else None
    pressures = _pressures(record, tips)
    tilts: Sequence[tuple[float, float] | None] = [None] * len(record.samples)
    if Channel.TX in record.channels and Channel.TY in record.channels:
        tilts = _tilts(record)
    out = []
    for i in range(len(record.samples)):
        tip = bool(tips[i]) if tips is not None else pressures[i] > 0
        out.append(
            PenPoint(
                t_us=round(times[i] * 1e6 / time_scaling),
                x_mm=xs[i] * scale[Channel.X],
                y_mm=ys[i] * scale[Channel.Y],
                pressure=pressures[i],
                tip_down=tip,
                tilt=tilts[i],
            )
        )
    return tuple(out)


def _running_sum(values: Sequence[int]) -> tuple[int, ...]:
    total, out = 0, []
    for value in values:
        total += value
        out.append(total)
    return tuple(out)


def _pressures(record: SignRecord, tips: Sequence[int] | None) -> list[float]:
    count = len(record.samples)
    if Channel.F not in record.channels:
        return [1.0 if tips is not None and tips[i] else 0.0 for i in range(count)]
    description = record.descriptions[Channel.F]
    if description.constant and tips is not None:
        return [1.0 if tip else 0.0 for tip in tips]
    top = description.maximum or Channel.F.high
    return [min(1.0, value / top) for value in record.column(Channel.F)]


def _tilts(record: SignRecord) -> list[tuple[float, float] | None]:
    factors = [record.descriptions[c].scaling or 1.0 for c in (Channel.TX, Channel.TY)]
    pairs = zip(record.column(Channel.TX), record.column(Channel.TY), strict=True)
    return [(tx / factors[0], ty / factors[1]) for tx, ty in pairs]


# ---------------------------------------------------------------------------- encoding


def _check_structure(record: SignRecord) -> None:
    """The rules both encode and decode enforce (docs/signature-record.md)."""
    channels = record.channels
    if list(channels) != sorted(set(channels)):
        raise RecordError("channels are not in record order or repeat")
    if Channel.X not in channels or Channel.Y not in channels:
        raise RecordError("channel inclusion mask: X and Y are mandatory")
    if (Channel.T in channels) == (Channel.DT in channels):
        raise RecordError("channel inclusion mask: exactly one of T and DT is required")
    if set(record.descriptions) != set(channels):
        raise RecordError("channel descriptions do not match the channel inclusion mask")
    if len(record.samples) > MAX_SAMPLES:
        raise RecordError(f"{len(record.samples)} samples exceed the cap of {MAX_SAMPLES}")


def encode(record: SignRecord) -> bytes:
    """The record's bytes (RecordError when a value does not fit its field)."""
    _check_structure(record)
    out = bytearray(FORMAT_IDENTIFIER + VERSION)
    out += struct.pack(">H", sum(c.mask_bit for c in record.channels))
    for channel in record.channels:
        out += _encode_description(channel, record.descriptions[channel])
    out.append(0)  # reserved
    if len(record.extended_data) > 0xFFFF:
        raise RecordError("extended data longer than 65535 bytes")
    out.append(_BODY_EXTENDED if record.extended_data else 0)
    out += len(record.samples).to_bytes(3, "big")
    row_format = ">" + "".join(_sample_format(c) for c in record.channels)
    for number, sample in enumerate(record.samples):
        if len(sample) != len(record.channels):
            raise RecordError(
                f"sample {number} has {len(sample)} values, not {len(record.channels)}"
            )
        for channel, value in zip(record.channels, sample, strict=True):
            if not channel.low <= value <= channel.high:
                raise RecordError(f"sample {number}: {channel.name} value {value} out of range")
        out += struct.pack(row_format, *sample)
    _check_constants(record)
    if record.extended_data:
        out += struct.pack(">H", len(record.extended_data)) + record.extended_data
    return bytes(out)


def _sample_format(channel: Channel) -> str:
    if channel is Channel.S:
        return "B"
    return "h" if channel.signed else "H"


def _encode_description(channel: Channel, d: ChannelDescription) -> bytes:
    preamble = 0
    body = bytearray()
    value_format = ">h" if channel.signed else ">H"
    low, high = (-0x8000, 0x7FFF) if channel.signed else (0, 0xFFFF)
    if d.scaling is not None:
        preamble |= _P_SCALING
        body += struct.pack(">H", scaling_code(d.scaling))
    for bit, value, name in (
        (_P_MIN, d.minimum, "minimum"),
        (_P_MAX, d.maximum, "maximum"),
        (_P_MEAN, d.mean, "mean"),
    ):
        if value is not None:
            if not low <= value <= high:
                raise RecordError(f"{channel.name} {name} {value} out of range")
            preamble |= bit
            body += struct.pack(value_format, value)
    if d.std is not None:
        if not 0 <= d.std <= 0xFFFF:
            raise RecordError(f"{channel.name} standard deviation {d.std} out of range")
        preamble |= _P_STD
        body += struct.pack(">H", d.std)
    preamble |= (_P_CONSTANT if d.constant else 0) | (
        _P_LINEAR if d.linear_component_removed else 0
    )
    return bytes([preamble]) + bytes(body)


def _check_constants(record: SignRecord) -> None:
    for index, channel in enumerate(record.channels):
        if record.descriptions[channel].constant and record.samples:
            first = record.samples[0][index]
            if any(sample[index] != first for sample in record.samples):
                raise RecordError(f"the {channel.name} channel is marked constant but varies")


# ---------------------------------------------------------------------------- decoding


class _Reader:
    """Bounds-checked big-endian reads that fail with the offset and the field's name."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.offset = 0

    def take(self, size: int, what: str) -> bytes:
        end = self.offset + size
        if end > len(self.data):
            raise RecordError(
                f"record truncated at byte {len(self.data)}: "
                f"{what} needs bytes {self.offset}..{end - 1}"
            )
        chunk = self.data[self.offset : end]
        self.offset = end
        return chunk

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        return int.from_bytes(self.take(2, what), "big")

    def s16(self, what: str) -> int:
        return int.from_bytes(self.take(2, what), "big", signed=True)


def decode(data: bytes) -> SignRecord:
    """Parse a record; any malformation raises RecordError naming the byte or field."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise RecordError("a record is bytes")
    reader = _Reader(bytes(data))
    if reader.take(4, "format identifier") != FORMAT_IDENTIFIER:
        raise RecordError("bytes 0-3: format identifier is not 'SDI\\0'")
    if reader.take(4, "version") != VERSION:
        raise RecordError("bytes 4-7: version is not ' 10\\0' (ISO/IEC 19794-7:2007)")
    mask = reader.u16("channel inclusion mask")
    channels = tuple(c for c in Channel if mask & c.mask_bit)
    descriptions = {c: _decode_description(reader, c) for c in channels}
    at = reader.offset
    if reader.u8("reserved byte") != 0:
        raise RecordError(f"byte {at}: reserved header byte is not 0")
    flags = reader.u8("body bitmap")
    at = reader.offset
    count = int.from_bytes(reader.take(3, "sample count"), "big")
    if count > MAX_SAMPLES:
        raise RecordError(f"bytes {at}-{at + 2}: {count} samples exceed the cap of {MAX_SAMPLES}")
    record_shape = SignRecord(channels, descriptions, ())
    _check_structure(record_shape)
    row_format = ">" + "".join(_sample_format(c) for c in channels)
    row_size = struct.calcsize(row_format)
    block = reader.take(count * row_size, f"{count} samples of {row_size} bytes")
    samples = tuple(struct.iter_unpack(row_format, block)) if row_size else ()
    extended = b""
    if flags & _BODY_EXTENDED:
        extended = reader.take(reader.u16("extended data length"), "extended data")
    if reader.offset != len(reader.data):
        raise RecordError(
            f"byte {reader.offset}: {len(reader.data) - reader.offset} bytes after the record"
        )
    record = SignRecord(channels, descriptions, samples, extended)
    _check_constants(record)
    return record


def _decode_description(reader: _Reader, channel: Channel) -> ChannelDescription:
    at = reader.offset
    preamble = reader.u8(f"{channel.name} description preamble")
    if preamble & _P_RESERVED:
        raise RecordError(f"byte {at}: {channel.name} description sets the reserved bit")
    value: Callable[[str], int] = reader.s16 if channel.signed else reader.u16

    def optional(bit: int, name: str, read: Callable[[str], int]) -> int | None:
        return read(f"{channel.name} {name}") if preamble & bit else None

    scaling_raw = optional(_P_SCALING, "scaling value", reader.u16)
    return ChannelDescription(
        scaling=scaling_value(scaling_raw) if scaling_raw is not None else None,
        minimum=optional(_P_MIN, "minimum", value),
        maximum=optional(_P_MAX, "maximum", value),
        mean=optional(_P_MEAN, "mean", value),
        std=optional(_P_STD, "standard deviation", reader.u16),
        constant=bool(preamble & _P_CONSTANT),
        linear_component_removed=bool(preamble & _P_LINEAR),
    )
