"""The kiosk's configuration: a TOML file plus command-line overrides, strictly validated.

Layout of the file (every key optional except a token source)::

    hub_url = "wss://hub.example.org"      # ws:// or wss://; /ws/kiosk is appended
    token_file = "/etc/branch-kiosk/token"  # or token = "..." (prefer the file: mode 0600)
    simulate = false                        # simulated camera and microphone
    production = true                       # requires wss:// and refuses simulate
    ice_host_addresses = []                 # see appliance.call.ice
    stats_file = "/var/lib/branch-kiosk/calls.jsonl"

    [video]
    width = 640
    height = 480
    fps = 30

    [reconnect]
    min_s = 0.5
    max_s = 30.0

    [vault]                                 # see appliance.config.vault
    path = "/run/kiosk/session"

    [exchange]                              # files, scans, photos (docs/exchange.md)
    allowed_types = ["pdf", "jpeg", "png"]
    max_file_mib = 25                       # the tenant's limit applies too: the smaller wins
    scan_dpi = 200
    scan_mode = "colour"                    # or "grey"
    photo_countdown_s = 3
    upload_mib_s = 32

    [devices.camera]                        # one table per fitted device class:
    backend = "pyav"                        # see appliance.config.devices

Every mistake raises :class:`ConfigError` naming the key, so a technician can fix the file.
"""

from __future__ import annotations

import ipaddress
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from appliance.config import devices as ds
from appliance.config import ui as us
from appliance.config import vault as vs

DEFAULT_HUB_URL = "ws://127.0.0.1:8080"
TOKEN_MAX = 256  # protocol.messages.Hello.token


EXCHANGE_TYPES = ("pdf", "jpeg", "png")  # appliance.transfer.TYPE_NAMES


@dataclass(frozen=True)
class ExchangeSettings:
    """The kiosk's side of the exchange: what it accepts, how it scans and photographs."""

    allowed_types: tuple[str, ...] = EXCHANGE_TYPES  # short names: pdf, jpeg, png
    max_file_bytes: int = 25 * 1024 * 1024
    scan_dpi: int = 200
    scan_mode: str = "colour"  # "colour" or "grey" (drivers.scanner.ColourMode)
    photo_countdown_s: int = 3
    # Uploads are paced to this rate so a transfer never starves the call's video (0: unpaced).
    upload_mib_s: int = 32


class ConfigError(ValueError):
    """A configuration value is missing or wrong; ``key`` names it (dotted for sections)."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"configuration key {key!r}: {problem}")
        self.key = key
        self.problem = problem


@dataclass(frozen=True)
class KioskConfig:
    """Everything the kiosk process needs to know, validated."""

    token: str = field(repr=False)  # a credential: never in logs or reprs
    hub_url: str = DEFAULT_HUB_URL
    simulate: bool = False
    production: bool = False
    ice_host_addresses: tuple[str, ...] = ()
    video_width: int = 640
    video_height: int = 480
    video_fps: int = 30
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    stats_file: Path | None = None
    vault: vs.VaultSettings = field(default_factory=vs.VaultSettings)
    devices: ds.DevicesConfig = field(default_factory=ds.DevicesConfig)
    ui: us.UiSettings = field(default_factory=us.UiSettings)
    exchange: ExchangeSettings = field(default_factory=ExchangeSettings)

    @property
    def kiosk_ws_url(self) -> str:
        """The hub's kiosk WebSocket endpoint."""
        base = self.hub_url.rstrip("/")
        return base if base.endswith("/ws/kiosk") else base + "/ws/kiosk"


_TOP_KEYS = {
    "hub_url",
    "token",
    "token_file",
    "simulate",
    "production",
    "ice_host_addresses",
    "stats_file",
    "video",
    "reconnect",
    "vault",
    "devices",  # [devices.*]: see appliance.config.devices
    "ui",  # [ui]: tenant branding, consent text, intake fields (appliance.config.ui)
    "exchange",
}
_SECTIONS: dict[str, set[str]] = {
    "video": {"width", "height", "fps"},
    "reconnect": {"min_s", "max_s"},
    "vault": vs.KEYS,
    "exchange": {
        "allowed_types",
        "max_file_mib",
        "scan_dpi",
        "scan_mode",
        "photo_countdown_s",
        "upload_mib_s",
    },
}


# Overrides that are file paths (relative ones resolve against the current directory).
_PATH_OVERRIDES = frozenset({"token_file", "stats_file", "vault.path"})


def load_config(
    path: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> KioskConfig:
    """Read ``path`` (TOML) if given, apply ``overrides`` and validate.

    Override keys use dotted names for sections (``"video.fps"``); ``None`` values are
    ignored so argparse defaults can be passed straight through. A token given as an
    override replaces any token source of the file, and so does a token file.
    """
    data: dict[str, Any] = {}
    base_dir = Path.cwd()
    if path is not None:
        try:
            with path.open("rb") as f:
                data = tomllib.load(f)
        except FileNotFoundError:
            raise ConfigError("config", f"file {path} does not exist") from None
        except OSError as exc:
            raise ConfigError("config", f"cannot read {path}: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError("config", f"{path} is not valid TOML: {exc}") from None
        base_dir = path.parent
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key in ("token", "token_file"):
            data.pop("token", None)
            data.pop("token_file", None)
        if key in _PATH_OVERRIDES and isinstance(value, str | Path) and str(value):
            # A path typed on the command line means the current directory, not the config's.
            value = str(Path.cwd() / value)
        section, _, sub = key.partition(".")
        if sub:
            existing = data.get(section)
            target = dict(existing) if isinstance(existing, dict) else {}
            target[sub] = value
            data[section] = target
        else:
            data[key] = value
    return config_from_mapping(data, base_dir=base_dir)


def config_from_mapping(data: Mapping[str, Any], *, base_dir: Path) -> KioskConfig:
    """Validate an already parsed configuration (relative paths resolve from ``base_dir``)."""
    if not isinstance(data, Mapping):
        raise ConfigError("config", "must be a table of keys")
    for key in data:
        if key not in _TOP_KEYS:
            raise ConfigError(str(key), "unknown key (check the spelling)")
    sections: dict[str, Mapping[str, Any]] = {}
    for name, allowed in _SECTIONS.items():
        section = data.get(name, {})
        if not isinstance(section, Mapping):
            raise ConfigError(name, "must be a table ([" + name + "])")
        for key in section:
            if key not in allowed:
                raise ConfigError(f"{name}.{key}", "unknown key (check the spelling)")
        sections[name] = section

    production = _bool(data, "production", False)
    simulate = _bool(data, "simulate", False)
    hub_url = _hub_url(data.get("hub_url", DEFAULT_HUB_URL), production=production)
    if production and simulate:
        raise ConfigError("simulate", "cannot be true in production (real devices only)")
    token = _token(data, base_dir)
    addresses = _addresses(data.get("ice_host_addresses", []))
    stats_file = data.get("stats_file")
    if stats_file is not None:
        if not isinstance(stats_file, str) or not stats_file or "\x00" in stats_file:
            raise ConfigError("stats_file", "must be a file path")
        stats_path: Path | None = base_dir / stats_file
    else:
        stats_path = None

    video = sections["video"]
    width = _int(video, "video.width", "width", 640, 64, 4096)
    height = _int(video, "video.height", "height", 480, 64, 2304)
    fps = _int(video, "video.fps", "fps", 30, 1, 60)
    if width % 32:
        raise ConfigError("video.width", f"{width} must be a multiple of 32")
    if height % 2:
        raise ConfigError("video.height", f"{height} must be even")

    reconnect = sections["reconnect"]
    rmin = _seconds(reconnect, "reconnect.min_s", "min_s", 0.5)
    rmax = _seconds(reconnect, "reconnect.max_s", "max_s", 30.0)
    if rmax < rmin:
        raise ConfigError("reconnect.max_s", f"{rmax:g} must not be below min_s ({rmin:g})")

    return KioskConfig(
        token=token,
        hub_url=hub_url,
        simulate=simulate,
        production=production,
        ice_host_addresses=addresses,
        video_width=width,
        video_height=height,
        video_fps=fps,
        reconnect_min_s=rmin,
        reconnect_max_s=rmax,
        stats_file=stats_path,
        vault=vs.vault_settings(sections["vault"], base_dir=base_dir, error=_fail),
        devices=ds.parse_devices(data.get("devices"), error=_fail),
        ui=us.ui_settings(data.get("ui"), base_dir=base_dir, error=_fail),
        exchange=_exchange(sections["exchange"]),
    )


def _exchange(section: Mapping[str, Any]) -> ExchangeSettings:
    types = section.get("allowed_types", list(EXCHANGE_TYPES))
    if not isinstance(types, list) or not all(t in EXCHANGE_TYPES for t in types):
        raise ConfigError("exchange.allowed_types", "must be a list of: pdf, jpeg, png")
    mode = section.get("scan_mode", "colour")
    if mode not in ("colour", "grey"):
        raise ConfigError("exchange.scan_mode", "must be 'colour' or 'grey'")
    return ExchangeSettings(
        allowed_types=tuple(dict.fromkeys(types)),
        max_file_bytes=_int(section, "exchange.max_file_mib", "max_file_mib", 25, 1, 1024)
        * 1024
        * 1024,
        scan_dpi=_int(section, "exchange.scan_dpi", "scan_dpi", 200, 75, 600),
        scan_mode=mode,
        photo_countdown_s=_int(
            section, "exchange.photo_countdown_s", "photo_countdown_s", 3, 0, 10
        ),
        upload_mib_s=_int(section, "exchange.upload_mib_s", "upload_mib_s", 32, 0, 1024),
    )


def _fail(key: str, problem: str) -> NoReturn:
    raise ConfigError(key, problem)


def _bool(data: Mapping[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(key, "must be true or false")
    return value


def _int(data: Mapping[str, Any], key: str, name: str, default: int, lo: int, hi: int) -> int:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(key, "must be an integer")
    if not lo <= value <= hi:
        raise ConfigError(key, f"{value} must be between {lo} and {hi}")
    return value


def _seconds(data: Mapping[str, Any], key: str, name: str, default: float) -> float:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(key, "must be a number of seconds")
    if not (math.isfinite(value) and 0.01 <= value <= 3600):
        raise ConfigError(key, "must be between 0.01 and 3600 seconds")
    return float(value)


def _hub_url(value: Any, *, production: bool) -> str:
    if not isinstance(value, str):
        raise ConfigError("hub_url", "must be a string such as wss://hub.example.org")
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises ValueError for a bad port
    except ValueError:
        raise ConfigError("hub_url", "is not a valid URL") from None
    if parts.scheme not in ("ws", "wss"):
        raise ConfigError("hub_url", "must start with ws:// or wss://")
    if not parts.hostname:
        raise ConfigError("hub_url", "has no host name")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError("hub_url", "must not contain credentials, a query or a fragment")
    if production and parts.scheme != "wss":
        raise ConfigError("hub_url", "must use wss:// (TLS) in production")
    return value


def _token(data: Mapping[str, Any], base_dir: Path) -> str:
    if "token" in data and "token_file" in data:
        raise ConfigError("token", "give either token or token_file, not both")
    if "token_file" in data:
        name = data["token_file"]
        if not isinstance(name, str) or not name or "\x00" in name:
            raise ConfigError("token_file", "must be a file path")
        path = base_dir / name
        try:
            token: Any = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise ConfigError("token_file", f"{path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConfigError("token_file", f"cannot read {path}: {reason}") from None
        key = "token_file"
    elif "token" in data:
        token, key = data["token"], "token"
    else:
        raise ConfigError("token", "missing: set token_file (from `kiosk-hub device add`) or token")
    if not isinstance(token, str):
        raise ConfigError(key, "must be a string")
    if not token:
        raise ConfigError(key, "is empty")
    if len(token) > TOKEN_MAX or not token.isprintable() or any(c.isspace() for c in token):
        raise ConfigError(key, f"is not a device token (at most {TOKEN_MAX} printable characters)")
    return token


def _addresses(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        raise ConfigError("ice_host_addresses", "must be a list of IP addresses")
    out: list[str] = []
    for item in value:
        if not isinstance(item, str):
            raise ConfigError("ice_host_addresses", "must be a list of IP addresses")
        try:
            out.append(str(ipaddress.ip_address(item)))
        except ValueError:
            raise ConfigError("ice_host_addresses", f"{item[:60]!r} is not an IP address") from None
    if len(out) > 16:
        raise ConfigError("ice_host_addresses", "at most 16 addresses")
    return tuple(out)
