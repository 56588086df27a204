"""The device factory: builds the drivers the ``[devices.*]`` tables ask for (validated by
:mod:`appliance.config.devices`, whose docstring shows the tables). The only place that picks a
real or simulated backend; the composition root and ``kiosk selftest`` both call it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import msgspec

from appliance.config import devices as ds
from appliance.config.kiosk import KioskConfig
from drivers.camera import Camera
from drivers.camera.h264_standin import H264StandinCamera
from drivers.camera.picamera2 import Picamera2Camera
from drivers.camera.pyav import PyAVCamera
from drivers.camera.simulated import SimulatedCamera
from drivers.errors import DriverError
from drivers.microphone import Microphone
from drivers.microphone.pyav import PyAVMicrophone
from drivers.microphone.simulated import SimulatedMicrophone
from drivers.scanner import DocumentScanner
from drivers.scanner.escl import EsclScanner
from drivers.scanner.sane import SaneScanner
from drivers.scanner.simulated import SimulatedScanner
from drivers.speaker import Speaker
from drivers.speaker.pyav import PyAVSpeaker
from drivers.speaker.simulated import SimulatedSpeaker
from drivers.tablet import SignatureTablet
from drivers.tablet.evdev import EvdevTablet
from drivers.tablet.isdv4 import Isdv4Tablet
from drivers.tablet.pointer import PointerTablet
from drivers.tablet.simulated import SimulatedTablet, load_recording


@dataclass
class Devices:
    """The built drivers; ``None`` for classes not fitted."""

    camera: Camera | None = None
    microphone: Microphone | None = None
    speaker: Speaker | None = None
    tablet: SignatureTablet | None = None
    scanner: DocumentScanner | None = None


# Camera backends that need no hardware: `simulate = true` keeps them as configured.
SIMULATED_CAMERAS = frozenset({"simulated", "h264-standin"})


class CallDevices(NamedTuple):
    """The devices a consultation uses; the speaker and the scanner may be missing."""

    camera: Camera
    microphone: Microphone
    speaker: Speaker | None
    scanner: DocumentScanner | None


def build_devices(
    config: ds.DevicesConfig, *, width: int = 640, height: int = 480, fps: int = 30
) -> Devices:
    """Build every fitted device's driver (nothing is opened yet); the camera delivers
    ``width`` x ``height`` at ``fps``."""
    return Devices(
        camera=None if config.camera is None else _camera(config.camera, width, height, fps),
        microphone=None if config.microphone is None else _microphone(config.microphone),
        speaker=None if config.speaker is None else _speaker(config.speaker),
        tablet=None if config.tablet is None else _tablet(config.tablet),
        scanner=None if config.scanner is None else _scanner(config.scanner),
    )


def build_call_devices(config: KioskConfig) -> CallDevices:
    """The call's devices for ``kiosk run``: every simulator with ``simulate = true`` (a
    configured simulated camera kept, with its size), else the ``[devices.*]`` tables, which
    must fit a camera and a microphone."""
    fitted = ds.DevicesConfig.simulated() if config.simulate else config.devices
    camera = config.devices.camera
    if config.simulate and camera is not None and camera.backend in SIMULATED_CAMERAS:
        fitted = msgspec.structs.replace(fitted, camera=camera)  # keep its size and backend
    devices = build_devices(
        fitted, width=config.video_width, height=config.video_height, fps=config.video_fps
    )
    if devices.camera is None or devices.microphone is None:
        raise DriverError(
            "no camera or microphone is configured: add [devices.camera] and "
            "[devices.microphone] to the config (see docs/hardware.md), or run with --simulate"
        )
    return CallDevices(devices.camera, devices.microphone, devices.speaker, devices.scanner)


def build_signature_tablet(config: KioskConfig, *, pointer: bool) -> SignatureTablet | None:
    """The signature tablet for ``kiosk run``, if one is fitted (always with ``simulate``).

    A simulated tablet becomes the UI's pointer (``pointer``: the mouse or touch screen signs,
    pressure constant) or, without a UI, the recording replayed once per signature.
    """
    cfg = config.devices.tablet
    if config.simulate and not isinstance(cfg, ds.SimulatedTabletSettings):
        cfg = ds.DevicesConfig.simulated().tablet  # keep a configured simulator's recording
    if cfg is None:
        return None
    tablet = _tablet(cfg)
    if isinstance(tablet, SimulatedTablet):
        return PointerTablet() if pointer else tablet.one_pass()
    return tablet


def _camera(cfg: ds.CameraSettings, width: int, height: int, fps: int) -> Camera:
    match cfg:
        case ds.PyAVCameraSettings():
            size = None
            if cfg.capture_width is not None and cfg.capture_height is not None:
                size = (cfg.capture_width, cfg.capture_height)
            return PyAVCamera(
                cfg.device,
                fmt=cfg.format,
                options=cfg.options,
                width=width,
                height=height,
                fps=fps,
                capture_size=size,
            )
        case ds.Picamera2CameraSettings():
            return Picamera2Camera(width, height, fps, camera_index=cfg.index)
        case ds.SimulatedCameraSettings():
            return SimulatedCamera(cfg.width or width, cfg.height or height, cfg.fps or fps)
        case ds.H264StandinCameraSettings():
            return H264StandinCamera(
                cfg.width or width, cfg.height or height, cfg.fps or fps, bitrate=cfg.bitrate
            )


def _microphone(cfg: ds.MicrophoneSettings) -> Microphone:
    match cfg:
        case ds.AlsaMicrophoneSettings():
            return PyAVMicrophone(cfg.device, fmt="alsa", sample_rate=cfg.sample_rate)
        case ds.PyAVMicrophoneSettings():
            return PyAVMicrophone(
                cfg.device, fmt=cfg.format, options=cfg.options, sample_rate=cfg.sample_rate
            )
        case ds.SimulatedMicrophoneSettings():
            return SimulatedMicrophone(frequency=cfg.frequency)


def _speaker(cfg: ds.SpeakerSettings) -> Speaker:
    match cfg:
        case ds.AlsaSpeakerSettings():
            return PyAVSpeaker(cfg.device, sample_rate=cfg.sample_rate)
        case ds.SimulatedSpeakerSettings():
            return SimulatedSpeaker()


def _tablet(cfg: ds.TabletSettings) -> SignatureTablet:
    match cfg:
        case ds.EvdevTabletSettings():
            return EvdevTablet(cfg.device, report_rate_hz=cfg.report_rate_hz, grab=cfg.grab)
        case ds.Isdv4TabletSettings():
            return Isdv4Tablet(cfg.device, baud=cfg.baud, report_rate_hz=cfg.report_rate_hz)
        case ds.SimulatedTabletSettings():
            if cfg.recording is None:
                return SimulatedTablet()
            return SimulatedTablet(load_recording(Path(cfg.recording)))


def _scanner(cfg: ds.ScannerSettings) -> DocumentScanner:
    match cfg:
        case ds.SaneScannerSettings():
            return SaneScanner(cfg.device, scanimage=cfg.scanimage)
        case ds.EsclScannerSettings():
            return EsclScanner(cfg.url)
        case ds.SimulatedScannerSettings():
            return SimulatedScanner(feeder_pages=cfg.feeder_pages)
