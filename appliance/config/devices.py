"""Which driver backend each device class uses: the ``[devices.*]`` tables of the kiosk
config, one struct per backend (pure: no drivers imported; :mod:`appliance.runner.devices`
builds them).

    [devices.camera]
    backend = "pyav"            # pyav | picamera2 | simulated | h264-standin
    # simulated: width = 1280, height = 720, fps = 30 (unset: the [video] table's)
    device = "/dev/video0"      # pyav: a path or lavfi graph
    format = "v4l2"             # pyav: FFmpeg input format (v4l2, lavfi...)

    [devices.microphone]
    backend = "alsa"            # alsa | pyav | simulated
    device = "default"

    [devices.speaker]
    backend = "alsa"            # alsa | simulated
    device = "default"

    [devices.tablet]
    backend = "isdv4"           # evdev | isdv4 | simulated
    device = "/dev/ttyS0"       # evdev: /dev/input/by-id/... or "auto"
    baud = 38400                # isdv4: 38400 or 19200

    [devices.scanner]
    backend = "sane"            # sane | escl | simulated
    device = "test"             # sane: a `scanimage -L` name; escl: url = "http://host/eSCL"

A device class without a table is not fitted. ``simulate = true`` makes every class simulated.
"""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta, Struct

from appliance.config.schema import NO_NUL, decode

DEVICE_CLASSES = ("camera", "microphone", "speaker", "tablet", "scanner")

Text = Annotated[str, Meta(min_length=1, pattern=NO_NUL, description="must be a non-empty string")]
Count = Annotated[int, Meta(ge=0, le=20000)]
RateHz = Annotated[float, Meta(ge=1, le=2000)]
Options = Annotated[dict[str, str], Meta(description="must be a table of strings")]
Url = Annotated[
    str, Meta(pattern=r"^https?://[^\x00]+\Z", description="must start with http:// or https://")
]
Baud = Annotated[
    Literal[38400, 19200], Meta(description="must be 38400 or 19200 (ISDV4 baud rates)")
]
# A camera's picture size and rate (the simulated camera's limits; the test picture's clock
# needs the width in 32 equal blocks). Unset: the [video] table's value.
CameraWidth = Annotated[
    int,
    Meta(
        ge=64,
        le=4096,
        multiple_of=32,
        description="must be a whole multiple of 32 between 64 and 4096",
    ),
]
CameraHeight = Annotated[
    int, Meta(ge=64, le=2304, multiple_of=2, description="must be an even number, 64 to 2304")
]
CameraFps = Annotated[int, Meta(ge=1, le=120, description="must be a whole number, 1 to 120")]


class DeviceSettings(Struct, frozen=True, forbid_unknown_fields=True, tag_field="backend"):
    """One device class's backend (the table's ``backend`` key picks the subclass)."""

    @property
    def backend(self) -> str:
        """The backend's name as written in the file (``"pyav"``)."""
        return str(self.__struct_config__.tag)


class PyAVCameraSettings(DeviceSettings, frozen=True, tag="pyav"):
    """A camera FFmpeg can open: V4L2, a file, a lavfi test source."""

    device: Text
    format: Text | None = None
    options: Options | None = None
    capture_width: Count | None = None
    capture_height: Count | None = None


class Picamera2CameraSettings(DeviceSettings, frozen=True, tag="picamera2"):
    """A Raspberry Pi camera module."""

    index: Count = 0


class SimulatedCameraSettings(DeviceSettings, frozen=True, tag="simulated"):
    """The test picture with a clock, ``width`` x ``height`` at ``fps`` (unset: ``[video]``)."""

    width: CameraWidth | None = None
    height: CameraHeight | None = None
    fps: CameraFps | None = None


class H264StandinCameraSettings(DeviceSettings, frozen=True, tag="h264-standin"):
    """The test picture encoded to H.264 by a child process: a hardware encoder's stand-in
    (drivers/camera/h264_standin.py, docs/hardware-video.md); size and rate as the simulator's."""

    width: CameraWidth | None = None
    height: CameraHeight | None = None
    fps: CameraFps | None = None
    bitrate: Annotated[int, Meta(ge=300_000, le=4_000_000)] = 1_000_000


class AlsaMicrophoneSettings(DeviceSettings, frozen=True, tag="alsa"):
    """An ALSA capture device."""

    device: Text = "default"
    sample_rate: Count = 48000


class PyAVMicrophoneSettings(DeviceSettings, frozen=True, tag="pyav"):
    """Any FFmpeg audio input."""

    device: Text
    format: Text | None = None
    options: Options | None = None
    sample_rate: Count = 48000


class SimulatedMicrophoneSettings(DeviceSettings, frozen=True, tag="simulated"):
    """A sine tone."""

    frequency: RateHz = 440.0


class AlsaSpeakerSettings(DeviceSettings, frozen=True, tag="alsa"):
    """An ALSA playback device."""

    device: Text = "default"
    sample_rate: Count = 48000


class SimulatedSpeakerSettings(DeviceSettings, frozen=True, tag="simulated"):
    """A speaker that measures what it is given."""


class EvdevTabletSettings(DeviceSettings, frozen=True, tag="evdev"):
    """A USB pen tablet through the kernel's input layer."""

    device: Text = "auto"
    report_rate_hz: RateHz = 200.0
    grab: bool = True


class Isdv4TabletSettings(DeviceSettings, frozen=True, tag="isdv4"):
    """A serial (ISDV4) pen tablet."""

    device: Text
    baud: Baud = 38400
    report_rate_hz: RateHz = 133.0


class SimulatedTabletSettings(DeviceSettings, frozen=True, tag="simulated"):
    """Recorded signature strokes: a JSON-lines recording, or the built-in demo signature."""

    # tests/fixtures/pen/signature_3s.jsonl is one; relative paths: from the current directory.
    recording: Text | None = None


class SaneScannerSettings(DeviceSettings, frozen=True, tag="sane"):
    """A scanner ``scanimage`` can drive."""

    device: Text
    scanimage: Text = "scanimage"


class EsclScannerSettings(DeviceSettings, frozen=True, tag="escl"):
    """A network (AirScan/eSCL) scanner."""

    url: Url


class SimulatedScannerSettings(DeviceSettings, frozen=True, tag="simulated"):
    """Generated pages from a feeder."""

    feeder_pages: Count = 3


CameraSettings = (
    PyAVCameraSettings
    | Picamera2CameraSettings
    | SimulatedCameraSettings
    | H264StandinCameraSettings
)
MicrophoneSettings = AlsaMicrophoneSettings | PyAVMicrophoneSettings | SimulatedMicrophoneSettings
SpeakerSettings = AlsaSpeakerSettings | SimulatedSpeakerSettings
TabletSettings = EvdevTabletSettings | Isdv4TabletSettings | SimulatedTabletSettings
ScannerSettings = SaneScannerSettings | EsclScannerSettings | SimulatedScannerSettings


class DevicesConfig(Struct, frozen=True, forbid_unknown_fields=True):
    """The fitted devices; ``None`` for a class the kiosk does not have."""

    camera: CameraSettings | None = None
    microphone: MicrophoneSettings | None = None
    speaker: SpeakerSettings | None = None
    tablet: TabletSettings | None = None
    scanner: ScannerSettings | None = None

    @classmethod
    def simulated(cls) -> DevicesConfig:
        """Every class fitted with its simulator."""
        return cls(
            SimulatedCameraSettings(),
            SimulatedMicrophoneSettings(),
            SimulatedSpeakerSettings(),
            SimulatedTabletSettings(),
            SimulatedScannerSettings(),
        )

    def fitted(self) -> list[tuple[str, DeviceSettings]]:
        """(class, settings) of each fitted device, in a fixed order."""
        devices = (self.camera, self.microphone, self.speaker, self.tablet, self.scanner)
        return [(name, d) for name, d in zip(DEVICE_CLASSES, devices, strict=True) if d is not None]


DevicesTable = Annotated[
    DevicesConfig,
    Meta(
        description="must be a table ([devices.camera], ...)",
        extra={"unknown_key": f"unknown device class (use {', '.join(DEVICE_CLASSES)})"},
    ),
]


def parse_devices(value: object) -> DevicesConfig:
    """The ``devices`` table (``None`` when absent), or :class:`ConfigError` naming the key."""
    if value is None:
        return DevicesConfig()
    config: DevicesConfig = decode(value, DevicesTable, at="devices")
    return config
