"""The stand-in encoder's wire: framing round trips, and every broken stream is a WireError."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drivers.camera.standin_wire import (
    HEADER,
    MAGIC,
    MAX_PACKET_BYTES,
    PACKET,
    Bitrate,
    Blank,
    EncodedPacket,
    Keyframe,
    KeyframeAck,
    Message,
    Preview,
    WireError,
    WireParser,
    encode_command,
    encode_message,
    parse_command,
)
from drivers.errors import DriverError

packets = st.builds(
    EncodedPacket,
    index=st.integers(0, 2**32 - 1),
    pts=st.integers(0, 2**63 - 1),
    keyframe=st.booleans(),
    data=st.binary(min_size=1, max_size=64),
)
previews = st.tuples(st.integers(1, 8), st.integers(1, 8), st.integers(0, 2**32 - 1)).map(
    # 2w x 2h yuv420p holds 6*w*h bytes of planes
    lambda t: Preview(t[2], 2 * t[0], 2 * t[1], bytes([t[0]]) * (6 * t[0] * t[1]))
)
acks = st.builds(KeyframeAck, index=st.integers(0, 2**32 - 1))
messages = st.lists(st.one_of(packets, previews, acks), max_size=6)


@given(messages, st.lists(st.integers(0, 400), max_size=8))
def test_messages_round_trip_however_the_stream_is_split(
    sent: list[Message], cuts: list[int]
) -> None:
    stream = b"".join(encode_message(m) for m in sent)
    parser = WireParser()
    received: list[Message] = []
    start = 0
    for cut in sorted(c for c in cuts if c <= len(stream)):
        received += parser.feed(stream[start:cut])
        start = cut
    received += parser.feed(stream[start:])
    parser.finish()
    assert received == sent


@given(st.binary(max_size=200), st.binary(max_size=200))
def test_garbage_is_a_wire_error_never_anything_else(prefix: bytes, garbage: bytes) -> None:
    parser = WireParser()
    try:
        parser.feed(prefix + garbage)
        parser.finish()
    except WireError as exc:
        assert isinstance(exc, DriverError)  # the appliance handles it like any device failure


@given(packets, st.data())
def test_a_truncated_stream_fails_at_the_end(packet: EncodedPacket, data: st.DataObject) -> None:
    stream = encode_message(packet)
    cut = data.draw(st.integers(1, len(stream) - 1))
    parser = WireParser()
    assert parser.feed(stream[:cut]) == []
    with pytest.raises(WireError, match="stream ended inside a message"):
        parser.finish()


@given(st.integers(MAX_PACKET_BYTES + 1, 2**32 - 1))
def test_an_oversized_packet_fails_on_its_header(length: int) -> None:
    # Refused before its payload is awaited: a broken child cannot make the kiosk buffer GBs.
    header = HEADER.pack(MAGIC, PACKET, 1, 0, length, 0)
    with pytest.raises(WireError, match="limit"):
        WireParser().feed(header)


@pytest.mark.parametrize(
    ("header", "why"),
    [
        (HEADER.pack(b"XX", PACKET, 0, 0, 1, 0), "no message start"),
        (HEADER.pack(MAGIC, 9, 0, 0, 0, 0), "unknown message type"),
        (HEADER.pack(MAGIC, PACKET, 2, 0, 1, 0), "unknown packet flags"),
        (HEADER.pack(MAGIC, PACKET, 0, 0, 0, 0), "packet of 0 bytes"),
        (HEADER.pack(MAGIC, PACKET, 0, 0, 1, -5), "negative pts"),
        (HEADER.pack(MAGIC, 3, 0, 0, 4, 0), "keyframe ack with a 4-byte payload"),
        (HEADER.pack(MAGIC, 3, 1, 0, 0, 0), "unexpected flags"),
        (HEADER.pack(MAGIC, 2, 0, 0, 2, 0), "preview of 2 bytes"),
    ],
)
def test_bad_headers(header: bytes, why: str) -> None:
    with pytest.raises(WireError, match=why):
        WireParser().feed(header)


def test_a_preview_whose_size_disagrees_with_its_payload() -> None:
    payload = struct.pack(">HH", 4, 4) + bytes(10)  # 4x4 needs 24 bytes of planes
    stream = HEADER.pack(MAGIC, 2, 0, 0, len(payload), 0) + payload
    with pytest.raises(WireError, match="preview size"):
        WireParser().feed(stream)


@pytest.mark.parametrize("command", [Keyframe(), Bitrate(250_000), Blank(True), Blank(False)])
def test_commands_round_trip(command: Keyframe | Bitrate | Blank) -> None:
    assert parse_command(encode_command(command).rstrip(b"\n")) == command


@given(st.binary(max_size=80))
def test_a_bad_command_is_a_wire_error(line: bytes) -> None:
    try:
        command = parse_command(line)
    except WireError:
        return
    assert encode_command(command).rstrip(b"\n") == line  # only the exact forms are accepted


@pytest.mark.parametrize("line", [b"bitrate 5", b"bitrate 999999999", b"bitrate -1", b"blank 2"])
def test_commands_out_of_range(line: bytes) -> None:
    with pytest.raises(WireError):
        parse_command(line)
