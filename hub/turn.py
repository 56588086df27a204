"""Time-limited TURN credentials for coturn's shared-secret REST scheme.

coturn (``use-auth-secret`` + ``static-auth-secret``) accepts a username of the form
``<expiry unix time>:<tag>`` whose password is base64(HMAC-SHA1(secret, username)). The hub
mints one per authenticated WebSocket, so only kiosks and advisers it let in can relay, and a
leaked credential dies with its expiry. The tag is random: coturn logs usernames, and nothing
in them may point at a person or a device.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from protocol.messages import IceServer

MIN_SECRET_BYTES = 16


class TurnConfigError(ValueError):
    """The TURN settings cannot work; the message names the setting."""


@dataclass(frozen=True, kw_only=True, repr=False)
class TurnSettings:
    """Where the TURN server is and the secret it shares with the hub."""

    urls: tuple[str, ...]
    secret: str
    ttl_s: int = 3600
    relay_only: bool = False

    def __post_init__(self) -> None:
        if not self.urls:
            raise TurnConfigError("turn: at least one turn:/turns: URL is needed")
        for url in self.urls:
            if not url.startswith(("turn:", "turns:")):
                raise TurnConfigError(f"turn: {url!r} is not a turn: or turns: URL")
        if len(self.secret.encode()) < MIN_SECRET_BYTES:
            raise TurnConfigError(
                f"turn: the shared secret needs at least {MIN_SECRET_BYTES} bytes"
            )
        if not 60 <= self.ttl_s <= 86400:
            raise TurnConfigError("turn: ttl_s must be between 60 and 86400 seconds")

    def __repr__(self) -> str:  # never print the secret
        return f"TurnSettings(urls={self.urls!r}, ttl_s={self.ttl_s}, relay_only={self.relay_only})"

    @property
    def policy(self) -> Literal["all", "relay"]:
        return "relay" if self.relay_only else "all"

    @classmethod
    def from_secret_file(
        cls, urls: tuple[str, ...], path: Path, *, ttl_s: int = 3600, relay_only: bool = False
    ) -> TurnSettings:
        """Read the shared secret from a file (first line), as coturn's config would hold it."""
        try:
            secret = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise TurnConfigError(
                f"turn: cannot read the secret file {path}: {exc.strerror}"
            ) from None
        return cls(urls=urls, secret=secret, ttl_s=ttl_s, relay_only=relay_only)


def credential_for(secret: str, username: str) -> str:
    """coturn's REST password for ``username``."""
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def mint(settings: TurnSettings, *, now: float) -> IceServer:
    """A fresh credential for one connection, valid for ``settings.ttl_s``."""
    username = f"{int(now) + settings.ttl_s}:{secrets.token_hex(6)}"
    return IceServer(
        urls=settings.urls,
        username=username,
        credential=credential_for(settings.secret, username),
    )
