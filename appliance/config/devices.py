"""Which driver backend each device class uses: the ``[devices.*]`` tables of the kiosk
config, validated (pure: no drivers imported; :mod:`appliance.runner.devices` builds them).

    [devices.camera]
    backend = "pyav"            # pyav | picamera2 | simulated
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

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

ErrorFn = Callable[[str, str], NoReturn]

DEVICE_CLASSES = ("camera", "microphone", "speaker", "tablet", "scanner")
BACKENDS: dict[str, dict[str, set[str]]] = {
    # backend → the keys it accepts besides ``backend``
    "camera": {
        "pyav": {"device", "format", "options", "capture_width", "capture_height"},
        "picamera2": {"index"},
        "simulated": set(),
    },
    "microphone": {
        "alsa": {"device", "sample_rate"},
        "pyav": {"device", "format", "options", "sample_rate"},
        "simulated": {"frequency"},
    },
    "speaker": {"alsa": {"device", "sample_rate"}, "simulated": set()},
    "tablet": {
        "evdev": {"device", "report_rate_hz", "grab"},
        "isdv4": {"device", "baud", "report_rate_hz"},
        "simulated": set(),
    },
    "scanner": {
        "sane": {"device", "scanimage"},
        "escl": {"url"},
        "simulated": {"feeder_pages"},
    },
}
# Backends that cannot work without a device path or URL.
REQUIRED = {"pyav": "device", "isdv4": "device", "sane": "device", "escl": "url"}
BAUD_RATES = (38400, 19200)


@dataclass(frozen=True)
class DeviceConfig:
    """One device class's backend and its validated parameters."""

    backend: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DevicesConfig:
    """The fitted devices; ``None`` for a class the kiosk does not have."""

    camera: DeviceConfig | None = None
    microphone: DeviceConfig | None = None
    speaker: DeviceConfig | None = None
    tablet: DeviceConfig | None = None
    scanner: DeviceConfig | None = None

    @classmethod
    def simulated(cls) -> DevicesConfig:
        """Every class fitted with its simulator."""
        return cls(**{name: DeviceConfig("simulated") for name in DEVICE_CLASSES})

    def fitted(self) -> list[tuple[str, DeviceConfig]]:
        """(class, config) of each fitted device, in a fixed order."""
        out = []
        for name in DEVICE_CLASSES:
            cfg = getattr(self, name)
            if cfg is not None:
                out.append((name, cfg))
        return out


def parse_devices(value: Any, *, error: ErrorFn) -> DevicesConfig:
    """Validate the ``devices`` table; ``error(key, problem)`` reports a mistake (raises)."""
    if value is None:
        return DevicesConfig()
    if not isinstance(value, Mapping):
        error("devices", "must be a table ([devices.camera], ...)")
    parsed: dict[str, DeviceConfig] = {}
    for name, table in value.items():
        if name not in BACKENDS:
            error(f"devices.{name}", f"unknown device class (use {', '.join(DEVICE_CLASSES)})")
        if not isinstance(table, Mapping):
            error(f"devices.{name}", "must be a table")
        parsed[name] = _device(name, table, error)
    return DevicesConfig(**parsed)


def _device(name: str, table: Mapping[str, Any], error: ErrorFn) -> DeviceConfig:
    backend = table.get("backend")
    choices = BACKENDS[name]
    if not isinstance(backend, str) or backend not in choices:
        error(
            f"devices.{name}.backend",
            f"unknown backend {str(backend)[:40]!r} (choose {', '.join(sorted(choices))})",
        )
    params = {k: v for k, v in table.items() if k != "backend"}
    for key in params:
        if key not in choices[backend]:
            error(f"devices.{name}.{key}", f"not a setting of the {backend} backend")
    required = REQUIRED.get(backend)
    if required is not None and required not in params:
        error(f"devices.{name}.{required}", f"missing: the {backend} backend needs a {required}")
    for key, v in params.items():
        where = f"devices.{name}.{key}"
        if key in ("device", "format", "url", "scanimage"):
            if not isinstance(v, str) or not v or "\x00" in v:
                error(where, "must be a non-empty string")
        elif key == "options":
            if not isinstance(v, Mapping) or not all(
                isinstance(k, str) and isinstance(x, str) for k, x in v.items()
            ):
                error(where, "must be a table of strings")
        elif key == "baud":
            if isinstance(v, bool) or v not in BAUD_RATES:
                error(where, f"{v!r} is not 38400 or 19200 (ISDV4 baud rates)")
        elif key == "grab":
            if not isinstance(v, bool):
                error(where, "must be true or false")
        elif key in ("report_rate_hz", "frequency"):
            if isinstance(v, bool) or not isinstance(v, int | float) or not 1 <= v <= 2000:
                error(where, "must be a number between 1 and 2000")
        elif isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 20000:
            error(where, "must be a whole number")
    if backend == "escl" and not str(params["url"]).startswith(("http://", "https://")):
        error(f"devices.{name}.url", "must start with http:// or https://")
    return DeviceConfig(backend, params)
