"""Build the drivers the ``[devices.*]`` tables ask for (validated by
:mod:`appliance.config.devices`, whose docstring shows the tables): the composition root's
factory, the only place that picks a real or simulated backend."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from appliance.config.devices import DeviceConfig, DevicesConfig, parse_devices
from appliance.config.kiosk import ConfigError
from drivers.camera import Camera
from drivers.camera.picamera2 import Picamera2Camera
from drivers.camera.pyav import PyAVCamera
from drivers.camera.simulated import SimulatedCamera
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
from drivers.tablet.simulated import SimulatedTablet


def load_devices(path: Path | None, *, simulate: bool = False) -> DevicesConfig:
    """Read only the ``devices`` table of a kiosk config (for ``kiosk selftest``)."""
    if simulate:
        return DevicesConfig.simulated()
    if path is None:
        return DevicesConfig()
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError("config", f"file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError("config", f"cannot read {path}: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError("config", f"{path} is not valid TOML: {exc}") from None
    if data.get("simulate") is True:
        return DevicesConfig.simulated()
    return parse_devices(data.get("devices"), error=_fail)


def _fail(key: str, problem: str) -> NoReturn:
    raise ConfigError(key, problem)


@dataclass
class Devices:
    """The built drivers; ``None`` for classes not fitted."""

    camera: Camera | None = None
    microphone: Microphone | None = None
    speaker: Speaker | None = None
    tablet: SignatureTablet | None = None
    scanner: DocumentScanner | None = None


def build_camera(cfg: DeviceConfig, width: int = 640, height: int = 480, fps: int = 30) -> Camera:
    """The camera backend for ``cfg``."""
    p = cfg.params
    if cfg.backend == "pyav":
        size = None
        if "capture_width" in p and "capture_height" in p:
            size = (int(p["capture_width"]), int(p["capture_height"]))
        return PyAVCamera(
            str(p["device"]),
            fmt=p.get("format"),
            options=p.get("options"),
            width=width,
            height=height,
            fps=fps,
            capture_size=size,
        )
    if cfg.backend == "picamera2":
        return Picamera2Camera(width, height, fps, camera_index=int(p.get("index", 0)))
    return SimulatedCamera(width, height, fps)


def build_devices(
    config: DevicesConfig, *, width: int = 640, height: int = 480, fps: int = 30
) -> Devices:
    """Build every fitted device's driver (nothing is opened yet)."""
    devices = Devices()
    if config.camera is not None:
        devices.camera = build_camera(config.camera, width, height, fps)
    if (mic := config.microphone) is not None:
        p = mic.params
        rate = int(p.get("sample_rate", 48000))
        if mic.backend == "simulated":
            devices.microphone = SimulatedMicrophone(frequency=float(p.get("frequency", 440.0)))
        else:
            devices.microphone = PyAVMicrophone(
                str(p.get("device", "default")),
                fmt="alsa" if mic.backend == "alsa" else p.get("format"),
                options=p.get("options"),
                sample_rate=rate,
            )
    if (spk := config.speaker) is not None:
        if spk.backend == "simulated":
            devices.speaker = SimulatedSpeaker()
        else:
            devices.speaker = PyAVSpeaker(
                str(spk.params.get("device", "default")),
                sample_rate=int(spk.params.get("sample_rate", 48000)),
            )
    if (tab := config.tablet) is not None:
        p = tab.params
        if tab.backend == "evdev":
            devices.tablet = EvdevTablet(
                str(p.get("device", "auto")),
                report_rate_hz=float(p.get("report_rate_hz", 200.0)),
                grab=bool(p.get("grab", True)),
            )
        elif tab.backend == "isdv4":
            devices.tablet = Isdv4Tablet(
                str(p["device"]),
                baud=int(p.get("baud", 38400)),
                report_rate_hz=float(p.get("report_rate_hz", 133.0)),
            )
        else:
            devices.tablet = SimulatedTablet()
    if (scn := config.scanner) is not None:
        p = scn.params
        if scn.backend == "sane":
            devices.scanner = SaneScanner(
                str(p["device"]), scanimage=str(p.get("scanimage", "scanimage"))
            )
        elif scn.backend == "escl":
            devices.scanner = EsclScanner(str(p["url"]))
        else:
            devices.scanner = SimulatedScanner(feeder_pages=int(p.get("feeder_pages", 3)))
    return devices
