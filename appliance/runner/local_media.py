"""The kiosk's own camera, microphone and speaker across calls, and the customer's switches.

The devices start once with the kiosk and stop with it; every call gets fresh tracks on them.
Mute and camera-off keep the streams running (silence, a black picture) so that nothing has to
be renegotiated; both are reset by the wipe, with the self view.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import av

from appliance.call.media import CameraTrack, MicrophoneTrack
from drivers.camera import Camera
from drivers.errors import DriverError
from drivers.microphone import Microphone
from drivers.speaker import Speaker

log = logging.getLogger(__name__)


class LocalMedia:
    """The devices a consultation uses at the kiosk, and the privacy switches on them."""

    def __init__(
        self, camera: Camera, microphone: Microphone, speaker: Speaker | None = None
    ) -> None:
        self._camera = camera
        self._microphone = microphone
        self._speaker = speaker
        self._speaker_ok = False
        self.muted = False
        self.camera_off = False
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

    def video_track(self) -> CameraTrack:
        """A new call's camera track: black while the camera is off; it feeds the self view."""
        return CameraTrack(self._camera, blank=lambda: self.camera_off, on_frame=self._shown)

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
        self.muted = self.camera_off = False
        self.latest_local_frame = None

    def _shown(self, frame: av.VideoFrame) -> None:
        self.latest_local_frame = frame
