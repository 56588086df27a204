"""The ISO/IEC 19794-7:2007 record: hand-built vectors from docs/signature-record.md, round
trips, and bad input that must raise RecordError and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.tablet.simulated import load_recording
from signing.iso19794 import (
    DT_PER_SECOND,
    MAX_SAMPLES,
    Capture,
    Channel,
    ChannelDescription,
    PenPoint,
    RecordError,
    SignRecord,
    decode,
    encode,
    points_from_record,
    record_from_capture,
    scaling_code,
    scaling_value,
)

RECORDING = Path(__file__).parents[1] / "fixtures" / "pen" / "signature_3s.jsonl"

HEADER = bytes.fromhex("53444900 20313000")
# Minimal record: X, Y, DT; one sample.
MINIMAL = HEADER + bytes.fromhex(
    "c080"  # mask: X Y DT
    "80 fc35"  # X: scaling 50 000/m
    "80 fc35"  # Y: scaling 50 000/m
    "80 d7a0"  # DT: scaling 2 000/s
    "00"  # reserved
    "00 000002"  # no extended data, 2 samples
    "0032 fff6 0000"  # X 50 (1 mm), Y -10 (-0.2 mm, two's complement), DT 0
    "0064 0000 0014"  # X 100 (2 mm), Y 0, DT 20 (10 ms)
)
# The example of docs/signature-record.md: X, Y, DT, F, S.
WITH_PRESSURE = HEADER + bytes.fromhex(
    "c0e0"
    "e0 fc35 0000 2710"
    "e0 fc35 0000 1388"
    "90 d7a0 000a"
    "60 0000 03ff"
    "60 0000 0001"
    "00"
    "00 000002"
    "03e8 07d0 0000 0200 01"
    "03e9 07d0 000a 0210 01"
)
# X, Y, DT, F, S, TX, TY; pressure constant (mouse): F's preamble has the constant bit 0x04.
CONSTANT_WITH_TILT = HEADER + bytes.fromhex(
    "c0f8"  # mask: X Y DT F S TX TY
    "e0 fc35 0000 2710"
    "e0 fc35 0000 1388"
    "90 d7a0 000a"
    "64 0000 0001"  # F: min 0, max 1, constant
    "60 0000 0001"
    "e0 b480 dcd8 2328"  # TX: 100/degree, min -9000, max 9000
    "e0 b480 dcd8 2328"
    "00"
    "00 000002"
    "03e8 07d0 0000 0001 01 0bb8 f830"  # tilt 30, -20 degrees
    "03e8 07d0 000a 0001 00 0bb8 f830"
)


def _points(record: SignRecord) -> tuple[PenPoint, ...]:
    return points_from_record(record)


def test_minimal_vector_decodes_to_the_documented_values() -> None:
    record = decode(MINIMAL)
    assert record.channels == (Channel.X, Channel.Y, Channel.DT)
    assert record.descriptions[Channel.X] == ChannelDescription(scaling=50_000.0)
    assert record.descriptions[Channel.DT] == ChannelDescription(scaling=2_000.0)
    assert record.samples == ((50, -10, 0), (100, 0, 20))
    assert encode(record) == MINIMAL
    first, second = _points(record)
    assert (first.x_mm, first.y_mm, first.t_us) == (1.0, -0.2, 0)
    assert (second.x_mm, second.y_mm, second.t_us) == (2.0, 0.0, 10_000)


def test_pressure_vector_is_the_documented_example() -> None:
    record = decode(WITH_PRESSURE)
    assert record.channels == (Channel.X, Channel.Y, Channel.DT, Channel.F, Channel.S)
    assert record.descriptions[Channel.F] == ChannelDescription(minimum=0, maximum=1023)
    assert record.descriptions[Channel.DT].mean == 10
    assert record.samples == ((1000, 2000, 0, 512, 1), (1001, 2000, 10, 528, 1))
    assert encode(record) == WITH_PRESSURE
    doc = (Path(__file__).parents[2] / "docs" / "signature-record.md").read_text()
    block = doc.split("### Example", 1)[1].split("```")[1]
    documented = bytearray()
    for line in block.splitlines()[1:]:
        for token in line.split():
            if len(token) != 2 or not all(c in "0123456789ABCDEF" for c in token):
                break  # the comment starts
            documented.append(int(token, 16))
    assert bytes(documented) == WITH_PRESSURE


def test_constant_pressure_and_tilt_vector() -> None:
    record = decode(CONSTANT_WITH_TILT)
    assert record.descriptions[Channel.F].constant
    assert record.descriptions[Channel.TX] == ChannelDescription(
        scaling=100.0, minimum=-9000, maximum=9000
    )
    assert encode(record) == CONSTANT_WITH_TILT
    down, up = _points(record)
    assert (down.pressure, down.tip_down, down.tilt) == (1.0, True, (30.0, -20.0))
    assert (up.pressure, up.tip_down, up.t_us) == (0.0, False, 5000)


def test_a_mouse_capture_says_its_pressure_is_constant() -> None:
    points = (
        PenPoint(0, 20.0, 40.0, 1.0, True),
        PenPoint(5000, 20.02, 40.0, 1.0, True),
        PenPoint(10000, 21.0, 40.0, 0.0, False),
    )
    record = record_from_capture(Capture(points, 200.0, 100.0, 2, 200.0, True))
    data = encode(record)
    f_preamble = data.index(bytes.fromhex("90d7a0000a")) + 5  # F follows DT's description
    assert data[f_preamble] == 0x64  # minimum, maximum, constant
    assert set(decode(data).column(Channel.F)) == {1}
    for got, want in zip(_points(decode(data)), points, strict=True):
        _assert_close(got, want, levels=2)
        assert got.pressure == want.pressure
    # A pen tablet's record does not say so.
    pen = encode(record_from_capture(Capture(points, 200.0, 100.0, 2048, 200.0, False)))
    assert pen[f_preamble] == 0x60


def test_scaling_codes_of_our_units() -> None:
    assert scaling_code(50_000.0) == 0xFC35
    assert scaling_code(2_000.0) == 0xD7A0
    assert scaling_code(100.0) == 0xB480
    assert scaling_code(1.0) == 0x8000
    assert scaling_value(0xFC35) == 50_000.0
    for bad in (0.0, -1.0, float("nan"), 2.0**17, 2.0**-18):
        with pytest.raises(RecordError):
            scaling_code(bad)


@given(st.integers(0, 0xFFFF))
def test_every_scaling_code_round_trips(code: int) -> None:
    assert scaling_code(scaling_value(code)) == code


def test_the_recorded_signature_round_trips() -> None:
    samples = load_recording(RECORDING)
    points = tuple(
        PenPoint(s.t_us, s.x_mm, s.y_mm, s.pressure, s.tip_down, s.tilt) for s in samples
    )
    capture = Capture(points, 150.0, 80.0, 1024, 200.0, False)
    record = record_from_capture(capture)
    assert Channel.TX in record.channels
    assert decode(encode(record)) == record
    back = points_from_record(decode(encode(record)))
    assert len(back) == len(points) == 591
    for got, want in zip(back, points, strict=True):
        _assert_close(got, want, levels=1024)


def _same_dt_step(got: int, want: int) -> bool:
    """The record keeps time in DT steps of 0.5 ms: within half a step of the original."""
    return 2 * abs(got - want) <= 1_000_000 / DT_PER_SECOND


def _assert_close(got: PenPoint, want: PenPoint, *, levels: int) -> None:
    assert got.tip_down == want.tip_down
    assert _same_dt_step(got.t_us, want.t_us)
    assert abs(got.x_mm - want.x_mm) <= 0.01 + 1e-9
    assert abs(got.y_mm - want.y_mm) <= 0.01 + 1e-9
    assert abs(got.pressure - want.pressure) <= 0.5 / (levels - 1) + 1e-9
    if want.tilt is None:
        assert got.tilt is None
    else:
        assert got.tilt is not None
        assert all(abs(g - w) <= 0.005 + 1e-9 for g, w in zip(got.tilt, want.tilt, strict=True))


@st.composite
def captures(draw: st.DrawFn) -> Capture:
    levels = draw(st.integers(2, 65536))
    tilted = draw(st.booleans())
    n = draw(st.integers(0, 40))
    t = 0
    points = []
    for _ in range(n):
        t += draw(st.integers(0, 30_000_000))
        points.append(
            PenPoint(
                t,
                draw(st.floats(0, 300, allow_nan=False)),
                draw(st.floats(0, 200, allow_nan=False)),
                draw(st.floats(0, 1, allow_nan=False)),
                draw(st.booleans()),
                (draw(st.floats(-90, 90)), draw(st.floats(-90, 90))) if tilted else None,
            )
        )
    rate = draw(st.floats(1, 2000, allow_nan=False))
    return Capture(tuple(points), 300.0, 200.0, levels, rate, False)


@given(captures())
def test_capture_round_trips_within_the_scaling(capture: Capture) -> None:
    record = record_from_capture(capture)
    back = points_from_record(decode(encode(record)))
    assert len(back) == len(capture.points)
    for got, want in zip(back, capture.points, strict=True):
        _assert_close(
            got,
            PenPoint(want.t_us - capture.points[0].t_us, *_rest(want)),
            levels=capture.pressure_levels,
        )


def _rest(p: PenPoint) -> tuple[float, float, float, bool, tuple[float, float] | None]:
    return (p.x_mm, p.y_mm, p.pressure, p.tip_down, p.tilt)


_CHANNEL_SETS = st.sets(st.sampled_from(list(Channel))).map(
    lambda extra: tuple(
        sorted((set(extra) - {Channel.T, Channel.DT}) | {Channel.X, Channel.Y, Channel.DT})
    )
)


@st.composite
def records(draw: st.DrawFn) -> SignRecord:
    channels = draw(_CHANNEL_SETS)
    if draw(st.booleans()):
        channels = tuple(Channel.T if c is Channel.DT else c for c in channels)
        channels = tuple(sorted(channels))
    descriptions = {}
    for c in channels:
        value = st.none() | st.integers(c.low if c.signed else 0, 0x7FFF if c.signed else 0xFFFF)
        descriptions[c] = ChannelDescription(
            scaling=draw(st.none() | st.integers(0, 0xFFFF).map(scaling_value)),
            minimum=draw(value),
            maximum=draw(value),
            mean=draw(value),
            std=draw(st.none() | st.integers(0, 0xFFFF)),
            linear_component_removed=draw(st.booleans()),
        )
    rows = st.tuples(*(st.integers(c.low, c.high) for c in channels))
    samples = tuple(draw(st.lists(rows, max_size=20)))
    extended = draw(st.binary(max_size=40))
    return SignRecord(channels, descriptions, samples, extended)


@given(records())
def test_encode_decode_round_trip(record: SignRecord) -> None:
    assert decode(encode(record)) == record


@given(records())
def test_every_truncation_raises_record_error(record: SignRecord) -> None:
    data = encode(record)
    for end in range(len(data)):
        with pytest.raises(RecordError):
            decode(data[:end])
    with pytest.raises(RecordError, match="after the record"):
        decode(data + b"\x00")


@given(st.binary(max_size=200))
def test_random_bytes_raise_record_error_only(data: bytes) -> None:
    try:
        decode(data)
    except RecordError:
        pass


@given(st.binary(max_size=120))
def test_random_bodies_after_a_valid_header_raise_record_error_only(tail: bytes) -> None:
    try:
        decode(MINIMAL[:10] + tail)
    except RecordError:
        pass


@given(records(), st.data())
def test_one_changed_byte_decodes_or_raises_record_error(
    record: SignRecord, data: st.DataObject
) -> None:
    raw = bytearray(encode(record))
    index = data.draw(st.integers(0, len(raw) - 1))
    raw[index] ^= data.draw(st.integers(1, 255))
    try:
        decode(bytes(raw))
    except RecordError:
        pass


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"SDJ\x00" + MINIMAL[4:], "format identifier"),
        (MINIMAL[:4] + b" 20\x00" + MINIMAL[8:], "version"),
        (MINIMAL[:4] + b"010\x00" + MINIMAL[8:], "version"),
        (HEADER + b"\x40\x80" + MINIMAL[13:], "X and Y are mandatory"),  # no X
        (HEADER + b"\xc0\x00" + MINIMAL[10:16] + MINIMAL[19:], "T and DT"),  # no time
        (HEADER + b"\xc1\x80" + MINIMAL[10:], "T and DT|truncated|after"),  # T and DT
        (MINIMAL[:10] + b"\x81" + MINIMAL[11:], "reserved bit"),
        (MINIMAL[:19] + b"\x01" + MINIMAL[20:], "reserved header byte"),
        (MINIMAL[:21] + b"\x00\x00\x03" + MINIMAL[24:], "truncated"),  # count says 3, 2 given
        (MINIMAL[:21] + b"\x00\x00\x01" + MINIMAL[24:], "after the record"),  # count says 1
        (MINIMAL[:20] + b"\x80" + MINIMAL[21:], "truncated"),  # extended data flagged, absent
        (MINIMAL + b"\x00", "after the record"),
        (b"", "truncated"),
    ],
)
def test_malformed_records_say_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        decode(data)


def test_mask_and_descriptions_must_agree() -> None:
    # The mask announces F but no F description follows: the bytes run out or misalign.
    with pytest.raises(RecordError):
        decode(HEADER + b"\xc0\xc0" + MINIMAL[10:])
    record = decode(MINIMAL)
    without_dt = dict(record.descriptions)
    del without_dt[Channel.DT]
    with pytest.raises(RecordError, match="do not match"):
        encode(SignRecord(record.channels, without_dt, record.samples))


def test_sample_count_over_the_cap_is_refused() -> None:
    count = (MAX_SAMPLES + 1).to_bytes(3, "big")
    with pytest.raises(RecordError, match="exceed the cap"):
        decode(MINIMAL[:21] + count + MINIMAL[24:])
    huge = b"\xff\xff\xff"
    with pytest.raises(RecordError, match="exceed the cap"):
        decode(MINIMAL[:21] + huge)
    point = PenPoint(0, 1.0, 1.0, 0.5, True)
    with pytest.raises(RecordError, match="exceed the cap"):
        record_from_capture(Capture((point,) * (MAX_SAMPLES + 1), 100, 100, 1024, 500, False))


def test_a_constant_channel_that_varies_is_refused() -> None:
    varying = bytearray(CONSTANT_WITH_TILT)
    varying[-6] = 0x02  # second sample's F
    with pytest.raises(RecordError, match="constant but varies"):
        decode(bytes(varying))


@pytest.mark.parametrize(
    ("capture", "message"),
    [
        (Capture((PenPoint(0, 700.0, 1.0, 0.5, True),), 100, 100, 1024, 200, False), "x"),
        (Capture((PenPoint(0, float("nan"), 1, 0.5, True),), 100, 100, 1024, 200, False), "x"),
        (Capture((PenPoint(0, 1, 1, float("inf"), True),), 100, 100, 9, 200, False), "pressure"),
        (
            Capture(
                (PenPoint(5, 1, 1, 0.5, True), PenPoint(4, 1, 1, 0.5, True)),
                100,
                100,
                9,
                200,
                False,
            ),
            "backwards",
        ),
        (Capture((PenPoint(0, 1, 1, 0.5, True, (95.0, 0.0)),), 100, 100, 9, 200, False), "tilt"),
        (Capture((), 100, 100, 0x10001, 200, False), "pressure levels"),
        (Capture((), float("nan"), 100, 1024, 200, False), "width"),
        (Capture((), 100, -1, 1024, 200, False), "height"),
        (Capture((), 1000, 100, 1024, 200, False), "width"),
    ],
)
def test_captures_that_do_not_fit_are_refused(capture: Capture, message: str) -> None:
    with pytest.raises(RecordError, match=message):
        record_from_capture(capture)


def test_long_pauses_are_capped_not_wrapped() -> None:
    points = (PenPoint(0, 1, 1, 0.5, True), PenPoint(60_000_000, 2, 1, 0.5, True))
    record = record_from_capture(Capture(points, 100, 100, 1024, 200, False))
    assert record.column(Channel.DT) == (0, 0xFFFF)
    assert points_from_record(record)[1].t_us == 32_767_500


def test_values_out_of_range_are_refused_on_encode() -> None:
    record = decode(MINIMAL)
    with pytest.raises(RecordError, match="out of range"):
        encode(SignRecord(record.channels, record.descriptions, ((0x8000, 0, 0),)))
    with pytest.raises(RecordError, match="values"):
        encode(SignRecord(record.channels, record.descriptions, ((1, 2),)))
    with pytest.raises(RecordError, match="record order"):
        encode(SignRecord(tuple(reversed(record.channels)), record.descriptions, ()))


def test_what_the_device_does_not_say_is_left_out_not_refused() -> None:
    points = (PenPoint(0, 1, 1, 1.2, True), PenPoint(5000, 2, 1, -0.1, False))
    record = record_from_capture(Capture(points, 0.0, 0.0, 0, 0.0, False))
    assert record.descriptions[Channel.X].maximum is None
    assert record.descriptions[Channel.DT].mean is None
    assert record.descriptions[Channel.F].maximum == 1
    assert record.column(Channel.F) == (1, 0)  # clamped to 0..1
    assert decode(encode(record)) == record
