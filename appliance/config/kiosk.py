"""The kiosk's configuration: a TOML file plus command-line overrides, strictly validated.

Layout of the file (every key optional; without an enrolled identity a token source)::

    hub_url = "wss://hub.example.org"      # ws:// or wss://; /ws/kiosk is appended
    token_file = "/etc/branch-kiosk/token"  # or token = "..." (prefer the file: mode 0600)
    identity_dir = "/var/lib/branch-kiosk"  # key and certificate from `kiosk enrol`
    simulate = false                        # simulated camera and microphone
    production = true                       # requires wss:// and refuses simulate
    ice_host_addresses = []                 # see appliance.call.ice
    stats_file = "/var/lib/branch-kiosk/calls.jsonl"

    [video]
    width = 640
    height = 480
    fps = 30
    codec = "vp8"                           # or "h264" (docs/media-path.md)

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

    [signature]                             # signing at the kiosk (docs/signature.md)
    trustee_cert = "trustee.pem"            # optional pin (else the tenant CA must have signed it)
    max_seconds = 120                       # longer pen input is dropped ("too long")

    [devices.camera]                        # one table per fitted device class:
    backend = "pyav"                        # see appliance.config.devices

msgspec checks the file's shape (:class:`KioskFile`: unknown keys, types, ranges); small checks
after it look at values (URLs, tokens, addresses, limits that depend on each other). Every
mistake raises :class:`ConfigError` naming the key, so a technician can fix the file.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlsplit

import msgspec
from msgspec import Meta, Struct

from appliance.config import devices as ds
from appliance.config import ui as us
from appliance.config import vault as vs
from appliance.config.schema import NO_NUL, decode
from appliance.config.schema import ConfigError as ConfigError  # its home for most callers
from provisioning.identity import DEFAULT_IDENTITY_DIR, enrolled_hub_url, is_enrolled

DEFAULT_HUB_URL = "ws://127.0.0.1:8080"
# The token the technician screen reads the configuration with while the kiosk is not enrolled.
ENROLMENT_PENDING = "enrolment-pending"
TOKEN_MAX = 256  # protocol.messages.Hello.token
ExchangeType = Literal["pdf", "jpeg", "png"]  # appliance.exchange.transfer.TYPE_NAMES
EXCHANGE_TYPES: tuple[ExchangeType, ...] = get_args(ExchangeType)
ADDRESSES_MAX = 16

FilePath = Annotated[str, Meta(min_length=1, pattern=NO_NUL, description="must be a file path")]
Seconds = Annotated[
    float, Meta(ge=0.01, le=3600, description="must be a number of seconds (0.01..3600)")
]


class MissingCredential(ConfigError):
    """Neither a device token nor an enrolled identity: a kiosk to enrol, not a mistake."""


class VideoTable(Struct, frozen=True, forbid_unknown_fields=True):
    """``[video]``: the size the camera is scaled to; width in the test picture's clock blocks.

    ``codec``: what the kiosk encodes a raw camera's frames with (a camera that encodes by
    itself, such as the h264-standin or a Pi's VideoCore, always sends its own H.264).
    """

    width: Annotated[int, Meta(ge=64, le=4096, multiple_of=32)] = 640
    height: Annotated[int, Meta(ge=64, le=2304, multiple_of=2)] = 480
    fps: Annotated[int, Meta(ge=1, le=60)] = 30
    codec: Annotated[Literal["vp8", "h264"], Meta(description="must be 'vp8' or 'h264'")] = "vp8"


class ReconnectTable(Struct, frozen=True, forbid_unknown_fields=True):
    """``[reconnect]``: the back-off while the hub is unreachable."""

    min_s: Seconds = 0.5
    max_s: Seconds = 30.0


class ExchangeTable(Struct, frozen=True, forbid_unknown_fields=True):
    """``[exchange]`` as written in the file."""

    allowed_types: Annotated[
        list[ExchangeType], Meta(description="must be a list of: " + ", ".join(EXCHANGE_TYPES))
    ] = msgspec.field(default_factory=lambda: list(EXCHANGE_TYPES))
    max_file_mib: Annotated[int, Meta(ge=1, le=1024)] = 25
    scan_dpi: Annotated[int, Meta(ge=75, le=600)] = 200
    scan_mode: Annotated[
        Literal["colour", "grey"], Meta(description="must be 'colour' or 'grey'")
    ] = "colour"
    photo_countdown_s: Annotated[int, Meta(ge=0, le=10)] = 3
    upload_mib_s: Annotated[int, Meta(ge=0, le=1024)] = 32


class SignatureTable(Struct, frozen=True, forbid_unknown_fields=True):
    """``[signature]`` as written in the file."""

    trustee_cert: FilePath | None = None
    max_seconds: Annotated[int, Meta(ge=5, le=600)] = 120


class KioskFile(Struct, frozen=True, forbid_unknown_fields=True):
    """The kiosk's TOML file as written: every key, its type and its range."""

    # None: the hub the kiosk enrolled with (`kiosk enrol`), else DEFAULT_HUB_URL.
    hub_url: (
        Annotated[str, Meta(description="must be a string such as wss://hub.example.org")] | None
    ) = None
    token: str | None = None
    token_file: FilePath | None = None
    identity_dir: FilePath = str(DEFAULT_IDENTITY_DIR)
    simulate: bool = False
    production: bool = False
    ice_host_addresses: Annotated[
        list[str],
        Meta(
            max_length=ADDRESSES_MAX,
            description=f"must be a list of at most {ADDRESSES_MAX} IP addresses",
        ),
    ] = []
    stats_file: FilePath | None = None
    video: VideoTable = VideoTable()
    reconnect: ReconnectTable = ReconnectTable()
    vault: vs.VaultTable = vs.VaultTable()
    devices: ds.DevicesTable = ds.DevicesConfig()
    ui: us.UiTable | None = None
    exchange: ExchangeTable = ExchangeTable()
    signature: SignatureTable = SignatureTable()


@dataclass(frozen=True)
class SignatureSettings:
    """Signing at the kiosk: a pinned trustee certificate (PEM or DER), the longest input."""

    trustee_cert: Path | None = None
    max_seconds: int = 120


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


@dataclass(frozen=True)
class KioskConfig:
    """Everything the kiosk process needs to know, validated."""

    token: str | None = field(repr=False)  # a credential: never in logs or reprs; None: enrolled
    hub_url: str = DEFAULT_HUB_URL
    simulate: bool = False
    production: bool = False
    ice_host_addresses: tuple[str, ...] = ()
    video_width: int = 640
    video_height: int = 480
    video_fps: int = 30
    video_codec: str = "VP8"  # the RTP name (appliance.call.codecs.CODECS)
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    stats_file: Path | None = None
    vault: vs.VaultSettings = field(default_factory=vs.VaultSettings)
    devices: ds.DevicesConfig = field(default_factory=ds.DevicesConfig)
    ui: us.UiSettings = field(default_factory=us.UiSettings)
    exchange: ExchangeSettings = field(default_factory=ExchangeSettings)
    signature: SignatureSettings = field(default_factory=SignatureSettings)
    identity_dir: Path = DEFAULT_IDENTITY_DIR  # device key and certificate (provisioning.identity)

    @property
    def kiosk_ws_url(self) -> str:
        """The hub's kiosk WebSocket endpoint."""
        base = self.hub_url.rstrip("/")
        return base if base.endswith("/ws/kiosk") else base + "/ws/kiosk"


# Overrides that are file paths (relative ones resolve against the current directory).
_PATH_OVERRIDES = frozenset({"token_file", "stats_file", "vault.path", "identity_dir"})


def read_toml(path: Path) -> dict[str, Any]:
    """The TOML file at ``path`` as a table; a missing, unreadable or broken file is a
    :class:`ConfigError` for the key ``config``."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("config", f"file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError("config", f"cannot read {path}: {exc.strerror}") from None
    try:
        data: dict[str, Any] = msgspec.toml.decode(raw, type=dict[str, Any])
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise ConfigError("config", f"{path} is not valid TOML: {exc}") from None
    return data


def load_config(
    path: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> KioskConfig:
    """Read ``path`` (TOML) if given, apply ``overrides`` and validate.

    Override keys use dotted names for sections (``"video.fps"``); ``None`` values are
    ignored so argparse defaults can be passed straight through. A token given as an
    override replaces any token source of the file, and so does a token file.
    """
    data = {} if path is None else read_toml(path)
    base_dir = Path.cwd() if path is None else path.parent
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


def load_devices(path: Path | None, *, simulate: bool = False) -> ds.DevicesConfig:
    """Read only the ``devices`` table of a kiosk config (for ``kiosk selftest``)."""
    if simulate:
        return ds.DevicesConfig.simulated()
    if path is None:
        return ds.DevicesConfig()
    data = read_toml(path)
    if data.get("simulate") is True:
        return ds.DevicesConfig.simulated()
    return ds.parse_devices(data.get("devices"))


def config_from_mapping(data: Mapping[str, Any], *, base_dir: Path) -> KioskConfig:
    """Validate an already parsed configuration (relative paths resolve from ``base_dir``)."""
    file: KioskFile = decode(dict(data) if isinstance(data, Mapping) else data, KioskFile)
    identity_dir = base_dir / file.identity_dir
    configured = file.hub_url or enrolled_hub_url(identity_dir)
    token = _token(file, base_dir, enrolled=is_enrolled(identity_dir))
    if configured is None and file.production and token not in (None, ENROLMENT_PENDING):
        raise ConfigError("hub_url", "is required in production with a device token (wss://)")
    # Not configured and not enrolled: the default is a placeholder that enrolment replaces
    # (the QR code names the hub), so the image's shipped file boots to the enrolment screen.
    hub_url = (
        DEFAULT_HUB_URL if configured is None else _hub_url(configured, production=file.production)
    )
    if file.production and file.simulate:
        raise ConfigError("simulate", "cannot be true in production (real devices only)")
    if file.reconnect.max_s < file.reconnect.min_s:
        raise ConfigError(
            "reconnect.max_s",
            f"{file.reconnect.max_s:g} must not be below min_s ({file.reconnect.min_s:g})",
        )
    exchange = file.exchange
    return KioskConfig(
        token=token,
        hub_url=hub_url,
        simulate=file.simulate,
        production=file.production,
        ice_host_addresses=_addresses(file.ice_host_addresses),
        video_width=file.video.width,
        video_height=file.video.height,
        video_fps=file.video.fps,
        video_codec=file.video.codec.upper(),
        reconnect_min_s=file.reconnect.min_s,
        reconnect_max_s=file.reconnect.max_s,
        stats_file=None if file.stats_file is None else base_dir / file.stats_file,
        vault=vs.vault_settings(file.vault, base_dir=base_dir),
        devices=file.devices,
        ui=us.UiSettings() if file.ui is None else us.settings(file.ui, base_dir=base_dir),
        exchange=ExchangeSettings(
            allowed_types=tuple(dict.fromkeys(exchange.allowed_types)),
            max_file_bytes=exchange.max_file_mib * 1024 * 1024,
            scan_dpi=exchange.scan_dpi,
            scan_mode=exchange.scan_mode,
            photo_countdown_s=exchange.photo_countdown_s,
            upload_mib_s=exchange.upload_mib_s,
        ),
        signature=SignatureSettings(
            trustee_cert=(
                None
                if file.signature.trustee_cert is None
                else base_dir / file.signature.trustee_cert
            ),
            max_seconds=file.signature.max_seconds,
        ),
        identity_dir=identity_dir,
    )


def _hub_url(value: str, *, production: bool) -> str:
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


def _token(file: KioskFile, base_dir: Path, *, enrolled: bool) -> str | None:
    if file.token is not None and file.token_file is not None:
        raise ConfigError("token", "give either token or token_file, not both")
    if file.token_file is not None:
        path = base_dir / file.token_file
        try:
            token = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise ConfigError("token_file", f"{path} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConfigError("token_file", f"cannot read {path}: {reason}") from None
        key = "token_file"
    elif file.token is not None:
        token, key = file.token, "token"
    elif enrolled:
        return None  # the kiosk says hello with its certificate
    else:
        raise MissingCredential(
            "token",
            "missing: enrol this kiosk (`kiosk enrol --hub URL --code CODE`), or set token_file "
            "(from `kiosk-hub device add`) or token",
        )
    if not token:
        raise ConfigError(key, "is empty")
    if len(token) > TOKEN_MAX or not token.isprintable() or any(c.isspace() for c in token):
        raise ConfigError(key, f"is not a device token (at most {TOKEN_MAX} printable characters)")
    return token


def _addresses(values: list[str]) -> tuple[str, ...]:
    out: list[str] = []
    for item in values:
        try:
            out.append(str(ipaddress.ip_address(item)))
        except ValueError:
            raise ConfigError("ice_host_addresses", f"{item[:60]!r} is not an IP address") from None
    return tuple(out)
