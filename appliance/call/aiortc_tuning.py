"""Cheaper replacements for a few of aiortc 1.16's per-packet internals (issue 17).

Nothing here runs at import: the kiosk calls :func:`apply` once at start (``kiosk run``), and
tests use :func:`applied` to undo it. :func:`check_shape` fails loudly, with
:class:`AiortcShapeError`, when aiortc no longer looks like the version these replacements
were written against (tests/appliance/test_aiortc_tuning.py runs it). Each change says what it
saves, measured on this development machine (docs/media-budget.md):

1. ``aiortc.clock``'s NTP time from ``time.time_ns`` instead of ``datetime`` arithmetic:
   ~2.0 us saved per call, two calls per RTP packet sent (~0.5-1 ms per call-second).
2. ``convert_timebase`` in aiortc's Opus/VP8/H.264 ``pack``: our packets already count in the
   RTP clock, so no ``Fraction`` arithmetic per packet (~2 us per packet).
3. Received audio decoded on the event loop instead of aiortc's "audio-decoder" thread: an
   Opus frame decodes in ~30 us, while the hand-off there and back (``queue.Queue`` wake-up,
   ``run_coroutine_threadsafe``: a coroutine, a future, a task and a self-pipe write per 20 ms
   frame) cost more than the decode itself. Video keeps its thread (a frame costs ms).
4. That video thread hands each frame back with ``call_soon_threadsafe`` instead of
   ``run_coroutine_threadsafe`` (:func:`decoder_worker`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from fractions import Fraction
from typing import Any

import av
from aiortc import clock, rtcpeerconnection, rtcrtpreceiver
from aiortc.codecs import get_decoder, h264, opus, vpx

log = logging.getLogger(__name__)

# Seconds from the NTP epoch (1900) to the Unix epoch (1970).
NTP_UNIX_OFFSET_S = 2_208_988_800
_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_DECODER_ERROR = "_RTCRtpReceiver__decoder_error"
_PACKING_MODULES = (opus, vpx, h264)
_CONVERT = "convert_timebase"  # each codec module's own imported name
_RECEIVER = "RTCRtpReceiver"  # the name aiortc.rtcpeerconnection builds receivers with


class AiortcShapeError(RuntimeError):
    """aiortc changed where this module reaches in: pin aiortc 1.16 or update aiortc_tuning."""


def current_ntp_time(now_ns: int | None = None) -> int:
    """The wall clock (or ``now_ns``, ns since the Unix epoch) as a 64-bit NTP timestamp
    (aiortc.clock's, without datetime)."""
    seconds, nanoseconds = divmod(time.time_ns() if now_ns is None else now_ns, 1_000_000_000)
    return ((seconds + NTP_UNIX_OFFSET_S) << 32) | ((nanoseconds << 32) // 1_000_000_000)


def current_ms(now_ns: int | None = None) -> int:
    """Milliseconds since the NTP epoch, now or at ``now_ns`` (aiortc.clock's, without datetime)."""
    return (time.time_ns() if now_ns is None else now_ns) // 1_000_000 + NTP_UNIX_OFFSET_S * 1000


def convert_timebase(pts: int, from_base: Fraction, to_base: Fraction) -> int:
    """``pts`` re-counted from ``from_base`` to ``to_base``; no arithmetic if they agree."""
    if from_base == to_base:
        return pts
    return int(pts * from_base / to_base)


def decoder_worker(
    loop: asyncio.AbstractEventLoop,
    input_q: Any,
    output_q: asyncio.Queue[Any],
    decode_error: threading.Event,
) -> None:
    """aiortc's ``decoder_worker`` (the video receiver's thread), handing frames back with
    ``call_soon_threadsafe`` instead of ``run_coroutine_threadsafe``: no coroutine, task and
    concurrent future per frame (~100-200 us less per frame, 2-4 ms/s at the adviser's 20 fps).
    """
    codec_name: str | None = None
    decoder: Any = None
    while True:
        task = input_q.get()
        if task is None:
            loop.call_soon_threadsafe(output_q.put_nowait, None)  # the track ends
            return
        codec, encoded_frame = task
        if codec.name != codec_name:
            decoder, codec_name = get_decoder(codec), codec.name
        try:
            frames = decoder.decode(encoded_frame)
        except av.FFmpegError as exc:
            # Keep the decoder (as aiortc does): a reset would fail every frame until the next
            # keyframe. The flag makes the receiver ask for one (PLI).
            log.warning("a received %s frame did not decode: %s", codec_name, type(exc).__name__)
            decode_error.set()
            continue
        for frame in frames:
            loop.call_soon_threadsafe(output_q.put_nowait, frame)


class InlineAudioDecoder:
    """Stands in for an audio receiver's decoder queue: ``put`` decodes at once, on the loop.

    aiortc's decoder thread still starts and reads this object's :meth:`get`, which only
    returns the end-of-stream ``None``: the thread then ends the track as before.
    """

    def __init__(self, receiver: Any) -> None:
        self._receiver = receiver
        self._end: queue.Queue[None] = queue.Queue()
        self._decoder: Any = None
        self._codec_name: str | None = None

    def put(self, task: tuple[Any, Any] | None) -> None:
        """Decode ``(codec, encoded_frame)`` into the track's queue; ``None`` ends the stream."""
        if task is None:
            self._end.put(None)
            return
        codec, encoded_frame = task
        if codec.name != self._codec_name:
            self._decoder, self._codec_name = get_decoder(codec), codec.name
        try:
            frames = self._decoder.decode(encoded_frame)
        except av.FFmpegError as exc:
            # Keep the decoder (as aiortc does): a reset would fail every frame until the next.
            log.warning("a received audio frame did not decode: %s", type(exc).__name__)
            error: threading.Event = getattr(self._receiver, _DECODER_ERROR)
            error.set()
            return
        track_queue = self._receiver._track._queue  # noqa: SLF001  # RemoteStreamTrack's
        for frame in frames:
            track_queue.put_nowait(frame)

    def get(self) -> None:
        """What aiortc's decoder thread waits on: returns only when the stream ends."""
        return self._end.get()


class _LoopAudioReceiver(rtcrtpreceiver.RTCRtpReceiver):
    """aiortc's receiver; for audio, frames are decoded on the event loop (see module doc)."""

    def __init__(self, kind: str, transport: Any) -> None:
        super().__init__(kind, transport)
        if kind == "audio":
            setattr(self, _DECODER_QUEUE, InlineAudioDecoder(self))


def check_shape() -> None:
    """Raise :class:`AiortcShapeError` unless aiortc has every internal :func:`apply` replaces."""
    for name in ("current_ntp_time", "current_ms", "datetime_to_ntp"):
        if not callable(getattr(clock, name, None)):
            raise AiortcShapeError(f"aiortc.clock has no {name}(): update aiortc_tuning")
    for module in _PACKING_MODULES:
        if not callable(getattr(module, "convert_timebase", None)):
            raise AiortcShapeError(
                f"{module.__name__} no longer imports convert_timebase: update aiortc_tuning"
            )
    if getattr(rtcpeerconnection, _RECEIVER, None) not in (
        rtcrtpreceiver.RTCRtpReceiver,
        _LoopAudioReceiver,
    ):
        raise AiortcShapeError(
            "aiortc.rtcpeerconnection no longer builds receivers from "
            "aiortc.rtcrtpreceiver.RTCRtpReceiver: update aiortc_tuning"
        )
    probe = rtcrtpreceiver.RTCRtpReceiver.__init__.__code__.co_names
    if "_RTCRtpReceiver__decoder_queue" not in probe or "put" not in (
        rtcrtpreceiver.RTCRtpReceiver._handle_rtp_packet.__code__.co_names  # noqa: SLF001
    ):
        raise AiortcShapeError(
            "aiortc's RTCRtpReceiver no longer feeds a __decoder_queue: update aiortc_tuning"
        )
    if "decoder_worker" not in rtcrtpreceiver.RTCRtpReceiver.receive.__code__.co_names:
        raise AiortcShapeError(
            "aiortc's receiver no longer starts decoder_worker: update aiortc_tuning"
        )
    if rtcrtpreceiver.decoder_worker.__code__.co_varnames[:4] != (
        "loop",
        "input_q",
        "output_q",
        "decode_error",
    ):
        raise AiortcShapeError("aiortc's decoder_worker changed: update aiortc_tuning")


def apply() -> Callable[[], None]:
    """Install the replacements (idempotent); returns a function that restores aiortc's."""
    check_shape()
    if getattr(rtcpeerconnection, _RECEIVER) is _LoopAudioReceiver:
        return lambda: None  # applied already: its own undo restores aiortc's
    saved: list[tuple[Any, str, Any]] = [
        (clock, "current_ntp_time", clock.current_ntp_time),
        (clock, "current_ms", clock.current_ms),
        (rtcpeerconnection, _RECEIVER, getattr(rtcpeerconnection, _RECEIVER)),
        (rtcrtpreceiver, "decoder_worker", rtcrtpreceiver.decoder_worker),
    ] + [(m, _CONVERT, getattr(m, _CONVERT)) for m in _PACKING_MODULES]
    clock.current_ntp_time = current_ntp_time
    clock.current_ms = current_ms
    for module in _PACKING_MODULES:
        setattr(module, _CONVERT, convert_timebase)
    setattr(rtcpeerconnection, _RECEIVER, _LoopAudioReceiver)
    rtcrtpreceiver.decoder_worker = decoder_worker

    def undo() -> None:
        for module, name, value in saved:
            setattr(module, name, value)

    return undo


@contextlib.contextmanager
def applied() -> Iterator[None]:
    """:func:`apply` for the duration of a ``with`` block (tests)."""
    undo = apply()
    try:
        yield
    finally:
        undo()


def tune_aiortc() -> Callable[[], None] | None:
    """:func:`apply` at the kiosk's start; on an aiortc of another shape, say so and go on
    untuned (calls work either way, they only cost more CPU). Returns the undo, if applied."""
    try:
        return apply()
    except AiortcShapeError as exc:
        log.warning("aiortc runs untuned: %s", exc)
        return None
