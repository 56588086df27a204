"""Raspberry Pi camera modules through picamera2 (libcamera), imported only when used.

picamera2 exists only on Raspberry Pi OS (``apt install python3-picamera2``, or the ``pi``
extra); elsewhere :meth:`Picamera2Camera.start` raises ``BackendUnavailable`` saying so.

Two paths: :class:`Picamera2Camera` returns yuv420p frames (software encoding by aiortc, the
only choice on a Pi 5), and :class:`Picamera2H264Source` returns ``av.Packet``s from the Pi 4's
hardware H.264 encoder. aiortc forwards such packets as they are and cannot pass a browser's
keyframe request back to the encoder, so the encoder is told to emit a keyframe every
``keyframe_interval_s`` instead.
"""

from __future__ import annotations

import asyncio
import importlib
import threading
import time
from collections import deque
from collections.abc import Callable
from fractions import Fraction
from types import ModuleType
from typing import Any

import av
import numpy as np

from drivers.camera import CameraInfo
from drivers.errors import BackendUnavailable, DeviceGone, DeviceNotFound, DeviceNotStarted

TIME_BASE = Fraction(1, 1_000_000)
INSTALL_HINT = (
    "picamera2 is not available: it runs only on Raspberry Pi OS; install python3-picamera2 "
    '(apt) or the kiosk\'s `pi` extra, or configure a USB webcam (backend = "pyav")'
)


def import_picamera2(importer: Callable[[str], ModuleType] = importlib.import_module) -> Any:
    """The picamera2 module, or ``BackendUnavailable`` with what to install."""
    try:
        return importer("picamera2")
    except ImportError:  # includes libcamera missing underneath picamera2
        raise BackendUnavailable(INSTALL_HINT, device="camera") from None


class Picamera2Camera:
    """A :class:`drivers.camera.Camera` on the Pi camera (software path: raw frames)."""

    def __init__(
        self,
        width: int = 640,
        height: int = 480,
        fps: float = 30.0,
        *,
        camera_index: int = 0,
        name: str = "pi camera",
        importer: Callable[[str], ModuleType] = importlib.import_module,
    ) -> None:
        self._info = CameraInfo(width=width, height=height, fps=float(fps), name=name)
        self._index = camera_index
        self._importer = importer
        self._cam: Any = None
        self._still_config: Any = None

    @property
    def info(self) -> CameraInfo:
        """Size and rate of the frames for the call."""
        return self._info

    async def start(self) -> None:
        """Open and configure the camera."""
        if self._cam is not None:
            return
        module = import_picamera2(self._importer)
        try:
            cam = await asyncio.to_thread(module.Picamera2, self._index)
        except (IndexError, RuntimeError) as exc:
            raise DeviceNotFound(
                f"no camera module at index {self._index} ({exc}): check the ribbon cable",
                device=self._info.name,
            ) from None
        size = (self._info.width, self._info.height)
        frame_us = round(1e6 / self._info.fps)
        config = cam.create_video_configuration(
            main={"size": size, "format": "YUV420"},
            controls={"FrameDurationLimits": (frame_us, frame_us)},
            buffer_count=2,  # few buffers: the newest frame, not a backlog
        )
        self._still_config = cam.create_still_configuration()
        cam.configure(config)
        await asyncio.to_thread(cam.start)
        self._cam = cam

    async def frame(self) -> av.VideoFrame:
        """The next frame (capture_array waits for a fresh one)."""
        cam = self._cam
        if cam is None:
            raise DeviceNotStarted("frame() called before start()", device=self._info.name)
        try:
            array = await asyncio.to_thread(cam.capture_array, "main")
        except RuntimeError as exc:
            raise DeviceGone(f"the camera stopped ({exc})", device=self._info.name) from None
        buf = np.ascontiguousarray(array[: self._info.height * 3 // 2, : self._info.width])
        frame = av.VideoFrame.from_ndarray(buf, format="yuv420p")
        frame.pts = int(time.time() * 1_000_000)
        frame.time_base = TIME_BASE
        return frame

    async def photo(self) -> av.VideoFrame:
        """A still at the sensor's full resolution (briefly switches mode)."""
        cam = self._cam
        if cam is None:
            raise DeviceNotStarted("photo() called before start()", device=self._info.name)
        array = await asyncio.to_thread(cam.switch_mode_and_capture_array, self._still_config)
        return av.VideoFrame.from_ndarray(np.ascontiguousarray(array[:, :, :3]), format="bgr24")

    async def stop(self) -> None:
        """Stop and close the camera; idempotent."""
        cam, self._cam = self._cam, None
        if cam is not None:
            await asyncio.to_thread(cam.stop)
            await asyncio.to_thread(cam.close)


class Picamera2H264Source:
    """Pre-encoded H.264 from the Pi 4's hardware encoder, as ``av.Packet``s for aiortc."""

    def __init__(
        self,
        width: int = 640,
        height: int = 480,
        fps: float = 30.0,
        *,
        bitrate: int = 1_500_000,
        keyframe_interval_s: float = 2.0,
        name: str = "pi camera (H.264)",
        importer: Callable[[str], ModuleType] = importlib.import_module,
    ) -> None:
        self._info = CameraInfo(width=width, height=height, fps=float(fps), name=name)
        self._bitrate = bitrate
        self._iperiod = max(1, round(keyframe_interval_s * fps))
        self._importer = importer
        self._cam: Any = None
        self._packets: deque[av.Packet[Any]] = deque(maxlen=2 * self._iperiod)
        self._lock = threading.Lock()
        self._event: asyncio.Event | None = None

    @property
    def info(self) -> CameraInfo:
        """Size and rate of the stream."""
        return self._info

    async def start(self) -> None:
        """Start the camera and the hardware encoder."""
        if self._cam is not None:
            return
        module = import_picamera2(self._importer)
        encoders = self._importer("picamera2.encoders")
        outputs = self._importer("picamera2.outputs")
        loop = asyncio.get_running_loop()
        event = self._event = asyncio.Event()
        packets, lock = self._packets, self._lock

        class PacketOutput(outputs.Output):  # type: ignore[misc, name-defined]
            def outputframe(
                self, frame: bytes, keyframe: bool = True, timestamp: int | None = None, *_: Any
            ) -> None:
                packet = av.Packet(frame)
                packet.pts = timestamp
                packet.time_base = TIME_BASE
                packet.is_keyframe = keyframe
                with lock:
                    packets.append(packet)
                loop.call_soon_threadsafe(event.set)

        cam = await asyncio.to_thread(module.Picamera2)
        size = (self._info.width, self._info.height)
        cam.configure(cam.create_video_configuration(main={"size": size}))
        # iperiod: a keyframe every N frames, since aiortc cannot ask for one on this path.
        encoder = encoders.H264Encoder(bitrate=self._bitrate, iperiod=self._iperiod, repeat=True)
        await asyncio.to_thread(cam.start_recording, encoder, PacketOutput())
        self._cam = cam

    async def packet(self) -> av.Packet[Any]:
        """The next encoded packet."""
        if self._cam is None or self._event is None:
            raise DeviceNotStarted("packet() called before start()", device=self._info.name)
        while True:
            with self._lock:
                if self._packets:
                    return self._packets.popleft()
            self._event.clear()
            await self._event.wait()

    async def stop(self) -> None:
        """Stop recording; idempotent."""
        cam, self._cam = self._cam, None
        if cam is not None:
            await asyncio.to_thread(cam.stop_recording)
            await asyncio.to_thread(cam.close)
