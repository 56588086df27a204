"""Relay credentials of the signed-in kiosk connections (docs/enrolment.md, "Reports and relay").

An enrolled kiosk has no device token to show ``/api/relay``: instead every kiosk connection
gets a random bearer token in its ``welcome``, valid while that connection is signed in. The
hub keeps only its SHA-256, in memory; the token dies with its connection (closed, replaced by
a newer one of the device, revoked) and with the hub. Each use re-checks the credential the
connection signed in with, so a revoked certificate or token stops the relay at once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from hub.signalling.pairing_events import ConnectionId
from hub.signalling.peers import Peer
from hub.storage import Storage, secret_digest


@dataclass(frozen=True)
class RelayGrant:
    """Whose relay token it is: the connection, its device and what it signed in with."""

    conn: ConnectionId
    device_id: int
    cert_serial: str | None  # the device certificate's serial, or
    token_digest: str | None  # the device token's digest (``--allow-device-tokens``)

    async def still_valid(self, storage: Storage, *, now: float) -> bool:
        """Whether the credential behind the token is still good (not revoked or expired)."""
        if self.cert_serial is not None:
            return await storage.certificate_valid(self.cert_serial, now=now)
        if self.token_digest is not None:
            return await storage.device_token_valid(self.device_id, self.token_digest)
        return False


class RelayTokens:
    """The relay tokens of live kiosk connections, by their digest."""

    def __init__(self) -> None:
        self._grants: dict[str, RelayGrant] = {}  # token digest -> grant
        self._digests: dict[ConnectionId, str] = {}  # connection -> its token's digest

    def __len__(self) -> int:
        return len(self._grants)

    def issue(self, peer: Peer) -> str:
        """A new token for a kiosk connection that just signed in (replaces one it had)."""
        if peer.device is None:
            raise ValueError("relay tokens are for kiosk connections")
        self.forget(peer.conn)
        token = secrets.token_urlsafe(32)  # 43 characters: protocol.messages.RELAY_TOKEN_PATTERN
        digest = secret_digest(token)
        self._grants[digest] = RelayGrant(
            peer.conn, peer.device.id, peer.cert_serial, peer.token_digest
        )
        self._digests[peer.conn] = digest
        return token

    def holder(self, token: str) -> RelayGrant | None:
        """The grant of a live connection's token, or None."""
        return self._grants.get(secret_digest(token))

    def forget(self, conn: ConnectionId) -> None:
        """The connection is gone (or revoked): its token is refused from now on."""
        digest = self._digests.pop(conn, None)
        if digest is not None:
            self._grants.pop(digest, None)
