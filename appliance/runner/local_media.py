"""The kiosk's own camera, microphone and speaker across calls, and the customer's switches.

The devices start once with the kiosk and stop with it; every call gets fresh tracks on them.
Mute and camera-off keep the streams running (silence, a black picture) so that nothing has to
be renegotiated; both are reset by the wipe, with the self view.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import av

from appliance.call.codecs import video_settings
from appliance.call.encoded import PacketSource, SoftwareVideoSource
from appliance.call.media import MicrophoneTrack
from drivers.camera import Camera
from drivers.camera.encoded import EncodingCamera
from drivers.errors import DriverError
from drivers.microphone import Microphone
from drivers.speaker import Speaker

log = logging.getLogger(__name__)


class LocalMedia:
    """The devices a consultation uses at the kiosk, and the privacy switches on them."""

    def __init__(
        self,
        camera: Camera,
        microphone: Microphone,
        speaker: Speaker | None = None,
        *,
        video_codec: str = "VP8",
    ) -> None:
        self._camera = camera
        self._video_codec = video_codec  # for a camera that gives raw frames; see codecs.py
        self._source: PacketSource | None = None  # the current call's video
        self._microphone = microphone
        self._speaker = speaker
        self._speaker_ok = False
        self.muted = False
        self._camera_off = False
        self.latest_local_frame: av.VideoFrame | None = None  # the self view (UI thread reads)

    async def start(self, say: Callable[[str], None]) -> None:
        """Start camera and microphone; the speaker if it works (``say`` why not)."""
        await self._camera.start()
        await self._microphone.start()
        if self._speaker is None:
            return
        try:
            await self._speaker.start()
        except DriverError as exc:
            # Without a speaker the call still runs: the adviser can type.
            log.warning("speaker unavailable, calls run without sound: %s", exc)
            say(f"speaker unavailable: {exc}")
            return
        self._speaker_ok = True

    async def stop(self) -> None:
        """Release every device."""
        await self._camera.stop()
        await self._microphone.stop()
        if self._speaker is not None:
            await self._speaker.stop()

    @property
    def camera_off(self) -> bool:
        """The customer turned the camera off: the call's video goes black, the stream runs."""
        return self._camera_off

    @camera_off.setter
    def camera_off(self, off: bool) -> None:
        self._camera_off = off
        if self._source is not None:
            self._source.set_blank(off)

    def video_source(self) -> PacketSource:
        """A new call's encoded video: black while the camera is off; it feeds the self view.

        A camera that encodes by itself (a Pi's VideoCore, the stand-in) brings its own
        source; any other is encoded here (``SoftwareVideoSource``, its own thread).
        """
        source: PacketSource
        if isinstance(self._camera, EncodingCamera):
            source = self._camera.packet_source(on_preview=self._shown)
        else:
            info = self._camera.info
            settings = video_settings(self._video_codec, info.width, info.height)
            source = SoftwareVideoSource(self._camera, settings, on_frame=self._shown)
        source.set_blank(self._camera_off)
        self._source = source
        return source

    def audio_track(self) -> MicrophoneTrack:
        """A new call's microphone track: silence while muted."""
        return MicrophoneTrack(self._microphone, silence=lambda: self.muted)

    @property
    def audio_sink(self) -> Callable[[av.AudioFrame], Awaitable[None]] | None:
        """Where the adviser's voice goes: the speaker, if it started."""
        if self._speaker_ok and self._speaker is not None:
            return self._speaker.play
        return None

    def reset(self) -> None:
        """The session is wiped: switches back on, no self view kept."""
        self.muted = False
        self.camera_off = False
        self.latest_local_frame = None

    def _shown(self, frame: av.VideoFrame) -> None:
        self.latest_local_frame = frame
