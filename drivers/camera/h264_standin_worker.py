"""The stand-in hardware encoder's child process: test picture in, H.264 packets out.

    python -m drivers.camera.h264_standin_worker --width 1280 --height 720 --fps 30

Draws the simulated camera's test picture (drivers/camera/simulated.py) in real time and
encodes it with libx264 the way a Pi's VideoCore encoder is driven: constrained baseline, no
B-frames, SPS/PPS repeated before every IDR (Annex-B), an IDR only on request (or every
``--gop`` frames), bitrate set by the parent. Messages go to stdout framed as in
:mod:`drivers.camera.standin_wire`; commands arrive on stdin. Its CPU is its own process's,
so a benchmark can count the kiosk without it. Exits when stdin closes (the parent is gone).
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import BinaryIO

import av
import numpy as np

from drivers.camera.simulated import TestPicture
from drivers.camera.standin_wire import (
    MAX_PREVIEW_HEIGHT,
    Bitrate,
    Blank,
    EncodedPacket,
    Keyframe,
    KeyframeAck,
    Preview,
    WireError,
    encode_message,
    parse_command,
)

VIDEO_TIME_BASE = Fraction(1, 90_000)
# What the Pi's encoder is asked for (picamera2 H264Encoder / h264_v4l2m2m): Chromium and
# Safari decode constrained baseline everywhere; ultrafast+zerolatency keeps x264 frame-in,
# packet-out with no lookahead, like the hardware.
X264_OPTIONS = {
    "preset": "ultrafast",
    "tune": "zerolatency",
    "profile": "baseline",
    "forced-idr": "1",  # a forced keyframe is an IDR (a decoder can start on it)
}
X264_PARAMS = "repeat-headers=1:bframes=0:scenecut=0:annexb=1:aud=0"
PREVIEW_TARGET_WIDTH = 320
# Each reopen for a new bitrate costs an IDR: at most one per this many seconds.
REOPEN_INTERVAL_S = 2.0


def open_encoder(width: int, height: int, fps: int, bitrate: int, gop: int) -> av.VideoCodecContext:
    """libx264 configured as the stand-in for the hardware encoder (constant bitrate: the VBV
    caps every second at ``bitrate``, as a hardware encoder's rate control does)."""
    ctx = av.CodecContext.create("libx264", "w")
    if not isinstance(ctx, av.VideoCodecContext):  # PyAV's typing: create() is not specific
        raise TypeError("libx264 did not open as a video encoder")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base = VIDEO_TIME_BASE
    ctx.framerate = Fraction(fps, 1)
    ctx.bit_rate = bitrate
    ctx.gop_size = gop
    ctx.thread_count = 1  # a hardware encoder costs the CPU nothing; keep the stand-in small
    ctx.options = {
        **X264_OPTIONS,
        "maxrate": str(bitrate),
        "bufsize": str(bitrate // 2),  # half a second: follows the target within a second
        "x264-params": f"{X264_PARAMS}:keyint={gop}:min-keyint={gop}",
    }
    ctx.open()
    return ctx


class StandinEncoder:
    """The child's encoder: frames in, :class:`EncodedPacket` out, bitrate changeable."""

    def __init__(
        self,
        width: int,
        height: int,
        fps: int,
        bitrate: int,
        gop: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._args = (width, height, fps)
        self._gop = gop
        self._clock = clock
        self.bitrate = bitrate
        self._wanted = bitrate
        self._opened_at = clock()
        self._ctx = open_encoder(width, height, fps, bitrate, gop)

    def set_bitrate(self, bps: int) -> None:
        """Encode at ``bps`` from the next frame on (or once a reopen is allowed).

        PyAV cannot change libx264's VBV cap once open, so a change of a fifth or more
        reopens the encoder, which makes the next frame an IDR; reopens are at least
        ``REOPEN_INTERVAL_S`` apart and smaller changes are ignored. (A Pi's encoder takes a
        new rate in place: V4L2_CID_MPEG_VIDEO_BITRATE.)
        """
        self._wanted = bps

    def _follow_bitrate(self) -> None:
        wanted = self._wanted
        if abs(wanted - self.bitrate) * 5 < self.bitrate:
            return
        if self._clock() - self._opened_at < REOPEN_INTERVAL_S:
            return
        self.bitrate = wanted
        self._opened_at = self._clock()
        self._ctx = open_encoder(*self._args, wanted, self._gop)

    def encode(self, buf: np.ndarray, index: int, pts: int, idr: bool) -> list[EncodedPacket]:
        """Encode one yuv420p buffer; ``idr`` forces an IDR with SPS/PPS."""
        self._follow_bitrate()
        frame = av.VideoFrame.from_ndarray(buf, format="yuv420p")
        frame.pts, frame.time_base = pts, VIDEO_TIME_BASE
        if idr:
            frame.pict_type = av.video.frame.PictureType.I
        return [
            EncodedPacket(index, p.pts or 0, p.is_keyframe, bytes(p))
            for p in self._ctx.encode(frame)
        ]


def preview_step(width: int, height: int) -> int:
    """Subsampling step for the self-view preview (at most 320 wide, whole chroma rows); 0
    when no step fits (no preview)."""
    for step in (1, 2, 4, 8):
        fits = width // step <= PREVIEW_TARGET_WIDTH and height // step <= MAX_PREVIEW_HEIGHT
        if fits and width % (2 * step) == 0 and height % (2 * step) == 0:
            return step
    return 0


def preview_of(buf: np.ndarray, width: int, height: int, step: int) -> tuple[int, int, bytes]:
    """A smaller yuv420p picture taken from every ``step``-th pixel of ``buf``'s planes."""
    luma = buf[:height, ::step][::step]
    chroma = buf[height:].reshape(2, height // 2, width // 2)[:, ::step, ::step]
    planes = luma.tobytes() + chroma.tobytes()
    return luma.shape[1], luma.shape[0], planes


class Commands:
    """Non-blocking command lines from stdin."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._pending = b""
        self.closed = False

    def wait(self, timeout: float) -> Iterator[Keyframe | Bitrate | Blank]:
        """Commands that arrive within ``timeout`` seconds (stops early on the first)."""
        ready, _, _ = select.select([self._fd], [], [], max(0.0, timeout))
        if not ready:
            return
        chunk = os.read(self._fd, 4096)
        if not chunk:
            self.closed = True
            return
        self._pending += chunk
        *lines, self._pending = self._pending.split(b"\n")
        if len(self._pending) > 64:
            raise WireError("command line too long")
        for line in lines:
            yield parse_command(line)


def run(width: int, height: int, fps: int, bitrate: int, gop: int, preview_every: int) -> int:
    """Encode until stdin closes; 0 on a clean end, 2 on a bad command."""
    out: BinaryIO = sys.stdout.buffer
    picture = TestPicture(width, height)
    black = np.full((height * 3 // 2, width), 128, dtype=np.uint8)
    black[:height] = 16
    encoder = StandinEncoder(width, height, fps, bitrate, gop)
    commands = Commands(sys.stdin.fileno())
    step = preview_step(width, height)
    period = 1.0 / fps
    start = time.monotonic()
    wall_start = time.time()
    index = 0
    force_idr = blank = False
    while not commands.closed:
        slot = start + index * period
        now = time.monotonic()
        if now > slot + period:  # fell behind: skip the slots missed, as a sensor would
            index = int((now - start) / period)
            slot = start + index * period
        try:
            while (remaining := slot - time.monotonic()) > 0 and not commands.closed:
                for command in commands.wait(remaining):
                    if isinstance(command, Keyframe):
                        force_idr = True
                        out.write(encode_message(KeyframeAck(index)))
                    elif isinstance(command, Bitrate):
                        encoder.set_bitrate(command.bps)
                    else:
                        blank = command.blank
        except WireError as exc:
            print(f"h264 stand-in: {exc}", file=sys.stderr)
            return 2
        captured = wall_start + index * period
        buf = black if blank else picture.render(int(captured * 1000), index)
        pts = round(index * period * 90_000)
        for packet in encoder.encode(buf, index, pts, force_idr):
            out.write(encode_message(packet))
        force_idr = False
        if step and preview_every and index % preview_every == 0:
            w, h, planes = preview_of(buf, width, height, step)
            out.write(encode_message(Preview(index, w, h, planes)))
        out.flush()
        index += 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command-line entry (the parent, drivers.camera.h264_standin, starts it)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--bitrate", type=int, default=1_000_000)
    parser.add_argument("--gop", type=int, default=3000, help="IDR every N frames unasked")
    parser.add_argument("--preview-every", type=int, default=6, help="0: no preview")
    args = parser.parse_args(argv)
    try:
        return run(args.width, args.height, args.fps, args.bitrate, args.gop, args.preview_every)
    except BrokenPipeError:
        return 0  # the parent stopped reading: it is closing us
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
