"""The call benchmark's baseline: the codec work a call needs, in bare PyAV, on one thread.

``baseline_cpu_s_per_call_s`` is the CPU seconds, per second of call, of all of:

1. the kiosk's video: the simulated camera's frames at the benchmark's resolution and 30 fps,
   encoded with exactly the kiosk's settings (``appliance.call.codecs.video_settings`` +
   ``open_encoder``, at the settings' maximum bitrate, which the congestion control reaches on
   loopback) and decoded again with ``open_decoder``;
2. the adviser's video: a 640x480 stream at 20 fps (what Chromium's fake camera sends, as its
   getStats() reports in the benchmark; the simulated camera's picture stands in for its
   content), encoded beforehand with the kiosk's 640x480 settings, only decoded in the measured
   time;
3. the call's audio both ways, 20 ms frames of a 48 kHz tone encoded and decoded: the kiosk's
   direction with exactly the kiosk's Opus settings (``appliance.call.codecs.OPUS``:
   its microphones' layout, mono, and its complexity, through ``open_opus_encoder``), the
   adviser's with aiortc's stereo settings (what aiortc decodes it to, stereo, either way).

Frames are captured before the clock starts. The kiosk's own frames are fed to the encoder at
the camera's pace (one every 1/30 s of real time, like a live camera): libvpx's realtime mode
with a negative ``cpu-used`` picks its speed from the wall-clock time it has per frame, and fed
back to back the same settings cost about 40 % less CPU than live (measured: 0.037 against
0.064 CPU-s per s at 640x480), which would flatter the kiosk's own encoder. Every decoded
picture's luma plane is touched like a consumer would. The parts are also reported one by
one. A tree without ``appliance/call/codecs.py`` (before issue 17) is measured against aiortc's
own VP8 and Opus settings, which is what that kiosk used.
"""

from __future__ import annotations

import math
import multiprocessing
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

FPS = 30
ADVISER_SIZE = (640, 480)
ADVISER_FPS = 20  # Chromium's fake camera (--use-fake-device-for-media-stream)
AUDIO_RATE, AUDIO_SAMPLES = 48_000, 960  # 20 ms frames, as aiortc packs Opus
VIDEO_TIME_BASE = Fraction(1, 90_000)


def _has_codecs(tree: Path | None) -> bool:
    if tree is not None:
        return (tree / "appliance" / "call" / "codecs.py").exists()
    try:
        from appliance.call import codecs
    except ImportError:
        return False
    return hasattr(codecs, "open_encoder") and hasattr(codecs, "video_settings")


def _aiortc_vp8(width: int, height: int) -> tuple[Any, Any, str]:
    """aiortc 1.16's libvpx encoder (aiortc/codecs/vpx.py) at its 1.5 Mbps maximum."""
    from aiortc.codecs.vpx import number_of_threads

    rate = 1_500_000
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height = width, height
    codec.bit_rate, codec.pix_fmt, codec.gop_size = rate, "yuv420p", 3000
    codec.qmin, codec.qmax = 2, 56
    codec.options = {
        **{"bufsize": str(rate), "minrate": str(rate), "maxrate": str(rate)},
        **{"cpu-used": "-6", "deadline": "realtime", "lag-in-frames": "0"},
        **{"noise-sensitivity": "4", "overshoot-pct": "15", "partitions": "0"},
        **{"static-thresh": "1", "undershoot-pct": "100"},
    }
    codec.thread_count = number_of_threads(width * height, multiprocessing.cpu_count())
    return codec, av.CodecContext.create("libvpx", "r"), f"aiortc vpx.py VP8 {rate} bps"


def video_codecs(
    width: int, height: int, kiosk_settings: bool, codec: str = "VP8"
) -> tuple[Any, Any, str]:
    """(encoder, decoder, description) for the kiosk's ``codec`` video at ``width`` x ``height``."""
    if not kiosk_settings:
        if codec != "VP8":
            raise ValueError("a tree without appliance/call/codecs.py encodes VP8 only")
        return _aiortc_vp8(width, height)
    from appliance.call.codecs import open_decoder, open_encoder, video_settings

    settings = video_settings(codec, width, height)
    encoder = open_encoder(settings, width, height, FPS, settings.max_bitrate)
    described = f"codecs.py {settings.codec} {settings.max_bitrate} bps {settings.threads} thr"
    return encoder, open_decoder(settings), described


def kiosk_video_encoder(width: int, height: int) -> Any:
    """The kiosk's own video encoder at ``width`` x ``height`` (bench pen runs one alongside)."""
    return video_codecs(width, height, _has_codecs(None))[0]


def _aiortc_opus_encoder() -> Any:
    """aiortc/codecs/opus.py's encoder: 96 kbps stereo, voip, libopus's default complexity."""
    encoder = av.CodecContext.create("libopus", "w")
    encoder.bit_rate, encoder.format, encoder.layout = 96_000, "s16", "stereo"
    encoder.sample_rate, encoder.time_base = AUDIO_RATE, Fraction(1, AUDIO_RATE)
    encoder.options = {"application": "voip"}
    return encoder


def opus_codecs(kiosk_settings: bool) -> tuple[Any, Any, str]:
    """(encoder, decoder, layout) for the kiosk's microphone audio, as the kiosk encodes it.

    With ``kiosk_settings`` the encoder is ``open_opus_encoder(OPUS)``: the settings (layout,
    bitrate, complexity) the kiosk's ``OpusPacketizer`` opens for its microphone.
    """
    if kiosk_settings:
        from appliance.call.codecs import OPUS, open_opus_encoder

        encoder = open_opus_encoder(OPUS)
        layout = OPUS.layout
    else:  # aiortc/codecs/opus.py
        encoder, layout = _aiortc_opus_encoder(), "stereo"
    return encoder, _opus_decoder(), layout


def _opus_decoder() -> Any:
    # aiortc's OpusDecoder: stereo s16 at 48 kHz, whatever the sender's channel count.
    decoder = av.CodecContext.create("libopus", "r")
    decoder.format, decoder.layout, decoder.sample_rate = "s16", "stereo", AUDIO_RATE
    return decoder


async def capture_frames(
    width: int, height: int, seconds: float, fps: int = FPS
) -> list[av.VideoFrame]:
    """The simulated camera's real frames, captured at its own pace."""
    from drivers.camera.simulated import SimulatedCamera

    camera = SimulatedCamera(width=width, height=height, fps=fps)
    await camera.start()
    try:
        return [await camera.frame() for _ in range(max(1, int(seconds * fps)))]
    finally:
        await camera.stop()


def _timed(work: Callable[[], object]) -> float:
    start = time.process_time()
    work()
    return time.process_time() - start


def encode_decode(
    frames: list[av.VideoFrame],
    encoder: Any,
    decoder: Any,
    fps: int = FPS,
    paced: bool = True,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> list[Any]:
    """Encode ``frames`` (``paced``: frame i not before i/``fps`` s from the start) and decode
    each packet with ``decoder`` unless it is None; the packets, in order."""
    packets = []
    start = clock()
    for i, frame in enumerate(frames):
        if paced and (due := start + i / fps - clock()) > 0:
            sleep(due)  # a live camera's pace: asleep, the process uses no CPU
        frame.pts, frame.time_base = i * 90_000 // fps, VIDEO_TIME_BASE
        for packet in encoder.encode(frame):
            packets.append(packet)
            if decoder is not None:
                for decoded in decoder.decode(packet):
                    np.asarray(decoded.planes[0])  # touch the picture like a consumer would
    return packets


def _decode(packets: list[Any], decoder: Any) -> None:
    for packet in packets:
        for decoded in decoder.decode(packet):
            np.asarray(decoded.planes[0])


def tone(seconds: float, layout: str = "stereo") -> list[av.AudioFrame]:
    """20 ms s16 frames of a 440 Hz tone at 48 kHz, ``layout`` "mono" or "stereo"."""
    channels = {"mono": 1, "stereo": 2}[layout]
    frames = []
    for n in range(max(1, int(seconds * AUDIO_RATE / AUDIO_SAMPLES))):
        t = (np.arange(AUDIO_SAMPLES) + n * AUDIO_SAMPLES) / AUDIO_RATE
        wave = (np.sin(2 * math.pi * 440 * t) * 8000).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(
            np.repeat(wave, channels).reshape(1, -1), format="s16", layout=layout
        )
        frame.sample_rate, frame.pts = AUDIO_RATE, n * AUDIO_SAMPLES
        frames.append(frame)
    return frames


def _encode_decode_audio(frames: list[av.AudioFrame], encoder: Any, decoder: Any) -> None:
    for frame in frames:
        for packet in encoder.encode(frame):
            decoder.decode(packet)


def opus_both_ways(seconds: float, kiosk_settings: bool) -> Callable[[], None]:
    """The call's Opus work for ``seconds``, ready to time: the kiosk's direction (its own
    settings and microphone layout), then the adviser's (aiortc's stereo settings)."""
    encoder, decoder, layout = opus_codecs(kiosk_settings)
    kiosk_frames = tone(seconds, layout)
    adviser_frames = tone(seconds, "stereo")
    adviser = _aiortc_opus_encoder(), _opus_decoder()

    def work() -> None:
        _encode_decode_audio(kiosk_frames, encoder, decoder)
        _encode_decode_audio(adviser_frames, *adviser)

    return work


async def measure(
    width: int, height: int, seconds: float, tree: Path | None = None, codec: str = "VP8"
) -> dict[str, Any]:
    """The baseline for a call at ``width`` x ``height`` in ``codec`` (the adviser's video too:
    it shares the kiosk's transceiver, so Chromium answers in the same codec): total and parts,
    CPU-s per call-s."""
    kiosk_settings = _has_codecs(tree)
    frames = await capture_frames(width, height, seconds)
    adviser_raw = await capture_frames(*ADVISER_SIZE, len(frames) / FPS, ADVISER_FPS)
    call_s = len(frames) / FPS
    encoder, decoder, described = video_codecs(width, height, kiosk_settings, codec)
    own = _timed(lambda: encode_decode(frames, encoder, decoder))
    adviser_encoder, adviser_decoder, _ = video_codecs(*ADVISER_SIZE, kiosk_settings, codec)
    adviser_packets = encode_decode(adviser_raw, adviser_encoder, None, ADVISER_FPS, paced=False)
    adviser = _timed(lambda: _decode(adviser_packets, adviser_decoder))
    audio = _timed(opus_both_ways(call_s, kiosk_settings))
    parts = {
        "video_encode_decode": own / call_s,
        "adviser_video_decode_640x480_20fps": adviser / call_s,
        "opus_both_ways": audio / call_s,
    }
    return {
        "baseline_cpu_s_per_call_s": round(sum(parts.values()), 4),
        "baseline_parts": {k: round(v, 4) for k, v in parts.items()},
        "baseline_settings": described,
    }
