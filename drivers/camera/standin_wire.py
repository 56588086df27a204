"""The stand-in H.264 encoder's wire: framed messages from the child, command lines to it.

Child to parent (stdout), each message a fixed 20-byte header then its payload::

    magic b"KV" | type u8 | flags u8 | frame index u32 | payload length u32 | pts i64 (90 kHz)

- ``PACKET`` (1): one access unit, H.264 Annex-B; flag bit 0: it is an IDR (SPS/PPS in-band).
- ``PREVIEW`` (2): a small yuv420p picture for the self view; payload ``u16 width, u16 height``
  then the planes (``width*height*3/2`` bytes).
- ``KEYFRAME_ACK`` (3): the child read a keyframe request; ``frame index`` is the next frame it
  encodes (which must be an IDR). No payload.

Parent to child (stdin), one ASCII line each: ``keyframe``, ``bitrate <bps>``, ``blank 0|1``.
Both parsers are strict: anything else is a :class:`WireError`, never a guess.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from drivers.errors import DeviceProtocolError

MAGIC = b"KV"
HEADER = struct.Struct(">2sBBIIq")
PACKET, PREVIEW, KEYFRAME_ACK = 1, 2, 3
FLAG_KEYFRAME = 0x01
# An access unit above this is not a camera frame (a 4K IDR at high quality stays far below).
MAX_PACKET_BYTES = 4 * 1024 * 1024
MAX_PREVIEW_WIDTH = 640
MAX_PREVIEW_HEIGHT = 480
PREVIEW_SIZE = struct.Struct(">HH")
MAX_COMMAND_BYTES = 64
MIN_BITRATE = 10_000
MAX_BITRATE = 50_000_000


class WireError(DeviceProtocolError):
    """The stand-in encoder's stream broke its framing (the message says where)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, device="h264 stand-in")


@dataclass(frozen=True)
class EncodedPacket:
    """One encoded access unit."""

    index: int
    pts: int
    keyframe: bool
    data: bytes


@dataclass(frozen=True)
class Preview:
    """A small yuv420p picture (the planes, concatenated)."""

    index: int
    width: int
    height: int
    planes: bytes


@dataclass(frozen=True)
class KeyframeAck:
    """The child took a keyframe request; frame ``index`` will be an IDR."""

    index: int


Message = EncodedPacket | Preview | KeyframeAck


def encode_message(message: Message) -> bytes:
    """The framed bytes of ``message`` (the child's side)."""
    match message:
        case EncodedPacket():
            flags = FLAG_KEYFRAME if message.keyframe else 0
            head = HEADER.pack(MAGIC, PACKET, flags, message.index, len(message.data), message.pts)
            return head + message.data
        case Preview():
            payload = PREVIEW_SIZE.pack(message.width, message.height) + message.planes
            return HEADER.pack(MAGIC, PREVIEW, 0, message.index, len(payload), 0) + payload
        case KeyframeAck():
            return HEADER.pack(MAGIC, KEYFRAME_ACK, 0, message.index, 0, 0)


class WireParser:
    """Incremental parser of the child's stdout; :meth:`feed` returns complete messages."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.offset = 0  # bytes consumed so far, for error messages

    def feed(self, data: bytes) -> list[Message]:
        """Add ``data``; return the messages it completed, or raise :class:`WireError`."""
        self._buffer += data
        messages: list[Message] = []
        while len(self._buffer) >= HEADER.size:
            magic, kind, flags, index, length, pts = HEADER.unpack_from(self._buffer)
            _check_header(magic, kind, flags, length, pts, at=self.offset)
            end = HEADER.size + length
            if len(self._buffer) < end:
                break
            payload = bytes(self._buffer[HEADER.size : end])
            messages.append(_message(kind, flags, index, pts, payload, at=self.offset))
            del self._buffer[:end]
            self.offset += end
        return messages

    def finish(self) -> None:
        """The stream ended: raise :class:`WireError` if a message was cut off."""
        if self._buffer:
            raise WireError(
                f"stream ended inside a message at byte {self.offset} "
                f"({len(self._buffer)} bytes left over)"
            )


def _check_header(magic: bytes, kind: int, flags: int, length: int, pts: int, *, at: int) -> None:
    if magic != MAGIC:
        raise WireError(f"no message start at byte {at} (lost framing)")
    if kind == PACKET:
        if flags & ~FLAG_KEYFRAME:
            raise WireError(f"unknown packet flags {flags:#x} at byte {at}")
        if not 0 < length <= MAX_PACKET_BYTES:
            raise WireError(f"packet of {length} bytes at byte {at} (limit {MAX_PACKET_BYTES})")
        if pts < 0:
            raise WireError(f"negative pts at byte {at}")
        return
    if flags:
        raise WireError(f"unexpected flags {flags:#x} at byte {at}")
    if kind == PREVIEW:
        limit = PREVIEW_SIZE.size + MAX_PREVIEW_WIDTH * MAX_PREVIEW_HEIGHT * 3 // 2
        if not PREVIEW_SIZE.size < length <= limit:
            raise WireError(f"preview of {length} bytes at byte {at} (limit {limit})")
    elif kind == KEYFRAME_ACK:
        if length:
            raise WireError(f"keyframe ack with a {length}-byte payload at byte {at}")
    else:
        raise WireError(f"unknown message type {kind} at byte {at}")


def _message(kind: int, flags: int, index: int, pts: int, payload: bytes, *, at: int) -> Message:
    if kind == PACKET:
        return EncodedPacket(index, pts, bool(flags & FLAG_KEYFRAME), payload)
    if kind == KEYFRAME_ACK:
        return KeyframeAck(index)
    width, height = PREVIEW_SIZE.unpack_from(payload)
    if not (
        0 < width <= MAX_PREVIEW_WIDTH
        and 0 < height <= MAX_PREVIEW_HEIGHT
        and width % 2 == 0
        and height % 2 == 0
        and len(payload) == PREVIEW_SIZE.size + width * height * 3 // 2
    ):
        raise WireError(f"preview size does not match its payload at byte {at}")
    return Preview(index, width, height, payload[PREVIEW_SIZE.size :])


@dataclass(frozen=True)
class Keyframe:
    """Command: make the next frame an IDR."""


@dataclass(frozen=True)
class Bitrate:
    """Command: encode at ``bps`` from the next frame on."""

    bps: int


@dataclass(frozen=True)
class Blank:
    """Command: black frames (camera off) or the picture again."""

    blank: bool


Command = Keyframe | Bitrate | Blank


def encode_command(command: Command) -> bytes:
    """The command's line (the parent's side)."""
    match command:
        case Keyframe():
            return b"keyframe\n"
        case Bitrate():
            return f"bitrate {command.bps}\n".encode()
        case Blank():
            return b"blank 1\n" if command.blank else b"blank 0\n"


def parse_command(line: bytes) -> Command:
    """One command line (without its newline), or :class:`WireError`."""
    if len(line) > MAX_COMMAND_BYTES:
        raise WireError(f"command line of {len(line)} bytes (limit {MAX_COMMAND_BYTES})")
    if line == b"keyframe":
        return Keyframe()
    if line in (b"blank 0", b"blank 1"):
        return Blank(line == b"blank 1")
    name, _, value = line.partition(b" ")
    if name == b"bitrate" and value.isdigit() and value.isascii() and len(value) <= 9:
        bps = int(value)
        if MIN_BITRATE <= bps <= MAX_BITRATE:
            return Bitrate(bps)
        raise WireError(f"bitrate {bps} outside {MIN_BITRATE}..{MAX_BITRATE}")
    raise WireError("unknown command (expected keyframe, bitrate <bps> or blank 0|1)")
