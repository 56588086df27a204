"""The kiosk's codec settings, in one place (docs/media-path.md).

The kiosk encodes its own camera video (``appliance.call.encoded``) and the benchmark's
baseline (``bench call``) encodes the same frames with exactly these settings, so changing a
setting here moves both. Frames given to an encoder from :func:`open_encoder` carry their pts
in the 90 kHz RTP clock (``VIDEO_TIME_BASE``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from types import MappingProxyType
from typing import Literal

import av
from av.audio.codeccontext import AudioCodecContext
from av.video.codeccontext import VideoCodecContext

VIDEO_CLOCK_RATE = 90_000
VIDEO_TIME_BASE = Fraction(1, VIDEO_CLOCK_RATE)
CODECS: tuple[str, ...] = ("VP8", "H264")
MAX_WIDTH = 4096
MAX_HEIGHT = 2304
MAX_FPS = 120.0
HD_PIXELS = 1280 * 720

VideoCodec = Literal["VP8", "H264"]


class CodecSettingsError(ValueError):
    """Codec settings were asked for something the kiosk cannot encode."""


def _frozen(options: dict[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(options))


@dataclass(frozen=True)
class VideoCodecSettings:
    """How the kiosk encodes its camera video for one codec and picture size."""

    codec: VideoCodec  # the RTP mime subtype
    encoder: str  # PyAV codec name: "libvpx" | "libx264"
    min_bitrate: int
    start_bitrate: int
    max_bitrate: int
    options: Mapping[str, str] = field(default_factory=lambda: _frozen({}))
    profile: str | None = None  # "Baseline" for H.264
    gop_frames: int = 3000  # keyframe interval when nobody asks
    threads: int = 1

    def clamp(self, bps: int) -> int:
        """``bps`` within this codec's bitrate range."""
        return max(self.min_bitrate, min(int(bps), self.max_bitrate))


# aiortc's VP8 settings (aiortc/codecs/vpx.py), which Chromium's receiver is tuned against:
# realtime deadline, no look-ahead (every frame leaves at once), one token partition.
_VP8_OPTIONS = {
    "cpu-used": "-6",
    "deadline": "realtime",
    "lag-in-frames": "0",
    "noise-sensitivity": "4",
    "overshoot-pct": "15",
    "partitions": "0",
    "static-thresh": "1",
    "undershoot-pct": "100",
    "qmin": "2",
    "qmax": "56",
}
# Constrained baseline (what every browser decodes, and what a Pi's VideoCore produces),
# no B-frames or look-ahead; SPS/PPS repeat before every IDR, so a keyframe stands alone.
_H264_OPTIONS = {
    "preset": "ultrafast",
    "tune": "zerolatency",
    "level": "31",
    "x264-params": "repeat-headers=1:bframes=0",
}


def video_settings(codec: str = "VP8", width: int = 640, height: int = 480) -> VideoCodecSettings:
    """The kiosk's settings for ``codec`` at ``width`` x ``height``.

    Up to 640x480 aiortc's bitrate range; above, the range scales with the picture
    (Chromium's own cap: 2.5 Mbps VP8 at 720p). One encoder thread at every size: a second
    libvpx thread at 720p cost 2.4x the CPU (0.20 vs 0.08 CPU-s/s, docs/media-path.md).
    """
    if codec not in CODECS:
        raise CodecSettingsError(f"unknown video codec {codec!r}: use one of {', '.join(CODECS)}")
    if not (16 <= width <= MAX_WIDTH and 16 <= height <= MAX_HEIGHT):
        raise CodecSettingsError(
            f"picture size {width}x{height} is outside 16x16..{MAX_WIDTH}x{MAX_HEIGHT}"
        )
    if width % 2 or height % 2:
        raise CodecSettingsError(f"picture size {width}x{height} must be even (yuv420p)")
    hd = width * height >= HD_PIXELS
    if codec == "VP8":
        return VideoCodecSettings(
            codec="VP8",
            encoder="libvpx",
            min_bitrate=250_000,
            start_bitrate=800_000 if hd else 500_000,
            max_bitrate=2_500_000 if hd else 1_500_000,
            options=_frozen(_VP8_OPTIONS),
            profile=None,
            gop_frames=3000,
            threads=1,
        )
    return VideoCodecSettings(
        codec="H264",
        encoder="libx264",
        min_bitrate=300_000,
        start_bitrate=1_000_000,
        max_bitrate=3_000_000 if hd else 1_500_000,
        options=_frozen(_H264_OPTIONS),
        profile="Baseline",
        gop_frames=3000,
        threads=1,
    )


def encoder_options(settings: VideoCodecSettings, bitrate: int) -> dict[str, str]:
    """The PyAV options for ``settings`` at ``bitrate`` (libvpx's CBR needs the rate thrice)."""
    options = dict(settings.options)
    if settings.encoder == "libvpx":
        rate = str(settings.clamp(bitrate))
        # minrate = maxrate = bit_rate selects CBR; bufsize = one second of data.
        options.update(bufsize=rate, minrate=rate, maxrate=rate)
    return options


def _video_context(name: str, mode: Literal["r", "w"]) -> VideoCodecContext:
    codec = av.CodecContext.create(name, mode)
    if not isinstance(codec, VideoCodecContext):
        raise CodecSettingsError(f"PyAV's {name} is not a video codec: reinstall PyAV")
    return codec


def open_encoder(
    settings: VideoCodecSettings, width: int, height: int, fps: float, bitrate: int
) -> VideoCodecContext:
    """An open PyAV encoder for ``settings``; ``bitrate`` is clamped to the settings' range.

    Give it yuv420p frames whose pts count in ``VIDEO_TIME_BASE`` (90 kHz).
    """
    if not (0 < fps <= MAX_FPS):
        raise CodecSettingsError(f"frame rate {fps} is outside 0..{MAX_FPS}")
    codec = _video_context(settings.encoder, "w")
    codec.width, codec.height = width, height
    codec.pix_fmt = "yuv420p"
    codec.bit_rate = settings.clamp(bitrate)
    codec.time_base = VIDEO_TIME_BASE
    codec.framerate = Fraction(fps).limit_denominator(1001)
    codec.gop_size = settings.gop_frames
    codec.thread_count = settings.threads
    if settings.profile is not None:
        codec.profile = settings.profile
    codec.options = encoder_options(settings, bitrate)
    codec.open()
    return codec


def open_decoder(settings: VideoCodecSettings) -> VideoCodecContext:
    """A PyAV decoder matching ``settings`` (the benchmark's baseline decodes with it)."""
    name = "libvpx" if settings.codec == "VP8" else "h264"
    codec = _video_context(name, "r")
    return codec


@dataclass(frozen=True)
class OpusSettings:
    """The kiosk's audio encoding: aiortc's Opus settings (aiortc/codecs/opus.py), mono, cheaper.

    ``layout`` is the kiosk's microphones' (mono); the packetizer opens the encoder with the
    microphone frame's own layout. ``complexity`` 5 instead of libopus's 10: what WebRTC uses
    on ARM; 96 kbps voice keeps its SNR (19.5 dB at both) for ~25 % less encoder CPU
    (measured 2026-12-07, docs/call-loop.md).
    """

    sample_rate: int = 48_000
    layout: str = "mono"
    format: str = "s16"
    bitrate: int = 96_000
    frame_samples: int = 960  # 20 ms
    application: str = "voip"
    complexity: int = 5  # libopus 0 (cheapest) .. 10 (its default)


OPUS = OpusSettings()


def open_opus_encoder(settings: OpusSettings = OPUS) -> AudioCodecContext:
    """An open PyAV Opus encoder for the kiosk's microphone (``settings``: see OpusSettings)."""
    if not 0 <= settings.complexity <= 10:
        raise CodecSettingsError(
            f"Opus complexity {settings.complexity} is outside libopus's 0..10"
        )
    codec = av.CodecContext.create("libopus", "w")
    if not isinstance(codec, AudioCodecContext):
        raise CodecSettingsError("PyAV's libopus is not an audio codec: reinstall PyAV")
    codec.bit_rate = settings.bitrate
    codec.format = settings.format
    codec.layout = settings.layout
    codec.sample_rate = settings.sample_rate
    codec.time_base = Fraction(1, settings.sample_rate)
    codec.options = {
        "application": settings.application,
        "compression_level": str(settings.complexity),
    }
    codec.open()
    return codec
