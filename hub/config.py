"""Settings of one hub process; immutable, passed to ``create_app``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from hub.forwarded import IPNetwork
from hub.turn import TurnSettings
from protocol.messages import IceServer

WEB_ROOT = Path(__file__).resolve().parent / "web"
MAX_PURGE_INTERVAL_S = 7 * 86400.0


@dataclass(frozen=True, kw_only=True)
class HubConfig:
    """Everything the hub needs to start; defaults suit a local demo."""

    host: str = "127.0.0.1"
    port: int = 8080
    db_path: Path = Path("var/hub.sqlite3")
    web_root: Path = WEB_ROOT
    heartbeat_s: int = 10
    # A WebSocket that has not said hello within this many seconds is closed (1008).
    hello_timeout_s: float = 5.0
    ice_servers: tuple[IceServer, ...] = ()
    # TURN relay (coturn, shared-secret REST credentials minted per connection); None = no relay.
    turn: TurnSettings | None = None
    # Login throttling: failures counted in a sliding window, per (ip, name) and per ip.
    login_window_s: float = 300.0
    login_failures_per_name: int = 5
    login_failures_per_ip: int = 20
    # At most this many argon2 password checks run at once; a login that cannot start one
    # within login_verify_wait_s gets 429.
    login_verify_concurrency: int = 2
    login_verify_wait_s: float = 2.0
    session_lifetime_s: float = 12 * 3600.0
    # None = automatic: Secure when the request came over TLS (or via a trusted proxy over https).
    cookie_secure: bool | None = None
    # Reverse proxies whose X-Forwarded-For/-Proto the hub believes (hub/forwarded.py); a
    # request from any other address has those headers ignored.
    trusted_proxies: tuple[IPNetwork, ...] = ()
    # How long a consultation waits for a dropped party to resume (docs/reconnection.md).
    grace_s: int = 60
    # All sealed blobs in the relay together (RAM only) may not exceed this (docs/exchange.md).
    relay_max_bytes: int = 512 * 1024 * 1024
    # The blobs of one consultation together may not exceed this many of the tenant's largest
    # sealed file (so one party cannot fill the relay for everybody).
    relay_files_per_consultation: int = 4
    # Each 256 KiB of a relay upload must arrive, and of a download be taken, within this long;
    # a stalled transfer is cut off and gives its memory back.
    relay_chunk_timeout_s: float = 30.0
    # Connections that sent no complete request yet, or WebSockets that did not say hello yet,
    # in all and per source address (TCP peer; IPv6 per /64; trusted proxies count in all
    # only); more are answered 503 at once (hub/admission.py, README "Connection limits").
    max_pending_connections: int = 4096
    max_pending_per_address: int = 128
    # A connection that sent no complete request within this long is closed, so silent
    # connections give their pending slot (and descriptor) back long before keep-alive would.
    first_request_timeout_s: float = 10.0
    # Recurring log events (limits hit, accept() failing, malformed requests) are written at
    # most once per this many seconds, with a count.
    log_repeat_interval_s: float = 60.0
    # Enrolment (docs/enrolment.md): the hub secret the tenant CA keys and code HMACs derive
    # from (None: no enrolment, no certificate hellos); device tokens only when allowed (the
    # migration path); the URL kiosks reach the hub at, which their signed hello names (None:
    # from the request's Host header and scheme, as trusted proxies forward it); how long a
    # device certificate lives; wrong enrolment attempts allowed per address and window.
    secret_file: Path | None = None
    allow_device_tokens: bool = False
    public_url: str | None = None
    device_cert_days: int = 30
    enrol_window_s: float = 300.0
    enrol_failures_per_address: int = 10
    # Records past their tenant's retention are deleted this often, and once at start
    # (hub/governance/purger.py); 0 turns the purge off (then nothing is ever deleted).
    purge_interval_s: float = 3600.0

    def __post_init__(self) -> None:
        if not 1 <= self.heartbeat_s <= 300:
            raise ValueError("heartbeat_s must be between 1 and 300 seconds")
        if not 0 < self.hello_timeout_s <= 300:
            raise ValueError("hello_timeout_s must be positive and at most 300 seconds")
        if not 0 <= self.port <= 65535:
            raise ValueError("port must be between 0 and 65535")
        if self.login_window_s <= 0 or self.session_lifetime_s <= 0:
            raise ValueError("login_window_s and session_lifetime_s must be positive")
        if self.login_failures_per_name < 1 or self.login_failures_per_ip < 1:
            raise ValueError("login failure limits must be at least 1")
        if self.login_verify_concurrency < 1 or self.login_verify_wait_s <= 0:
            raise ValueError("login_verify_concurrency must be >= 1, login_verify_wait_s > 0")
        if not 1 <= self.grace_s <= 3600:
            raise ValueError("grace_s must be between 1 and 3600 seconds")
        if self.relay_max_bytes < 1:
            raise ValueError("relay_max_bytes must be positive")
        if self.relay_files_per_consultation < 1:
            raise ValueError("relay_files_per_consultation must be at least 1")
        if not 0 < self.relay_chunk_timeout_s <= 3600:
            raise ValueError("relay_chunk_timeout_s must be positive and at most 3600 seconds")
        if not 1 <= self.max_pending_connections <= 1_000_000:
            raise ValueError("--max-pending-connections must be between 1 and 1000000")
        if not 1 <= self.max_pending_per_address <= 1_000_000:
            raise ValueError("--max-pending-per-address must be between 1 and 1000000")
        if not 0 < self.first_request_timeout_s <= 300:
            raise ValueError("--first-request-timeout must be positive and at most 300 seconds")
        if not 0 < self.log_repeat_interval_s <= 3600:
            raise ValueError("log_repeat_interval_s must be positive and at most 3600 seconds")
        if not 1 <= self.device_cert_days <= 3650:
            raise ValueError("--device-cert-days must be between 1 and 3650")
        if self.enrol_window_s <= 0 or self.enrol_failures_per_address < 1:
            raise ValueError("enrol_window_s must be positive, enrol_failures_per_address >= 1")
        if self.public_url is not None:
            _check_public_url(self.public_url)
        if not (self.purge_interval_s == 0 or 1 <= self.purge_interval_s <= MAX_PURGE_INTERVAL_S):
            raise ValueError(
                f"--purge-interval-s must be 0 (off) or between 1 and {MAX_PURGE_INTERVAL_S:.0f}"
            )


def _check_public_url(url: str) -> None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"--public-url {url!r} must be http(s)://HOST[:PORT], the address kiosks use"
        )
