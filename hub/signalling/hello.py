"""Signing a connection in: the kiosk's device token, the console's session and CSRF token.

The first frame of every connection must be a ``hello``; a kiosk proves itself with its
device token, a console with its session cookie (checked before the upgrade) and the session's
CSRF token. What the database says is awaited before the peer is registered, and registering
is one synchronous step, so two hellos of one device cannot both win.
"""

from __future__ import annotations

import hmac
import logging

from aiohttp import web

from hub.auth import Clock, SessionCookie
from hub.config import HubConfig
from hub.signalling.pairing_events import CLOSE_UNAUTHORIZED, CLOSE_UNAVAILABLE
from hub.signalling.peers import Peer, send_error
from hub.signalling.switchboard import Switchboard
from hub.storage import DEFAULT_MAX_FILE_BYTES, Storage, StorageError, Tenant, secret_digest
from hub.turn import mint as mint_turn_credential
from protocol.messages import ErrorCode, Hello, Role, Welcome

log = logging.getLogger("hub.signalling")


class Greeter:
    """Answers hellos: a signed-in ``Peer`` with its ``welcome``, or a refusal and a close."""

    def __init__(
        self, config: HubConfig, storage: Storage, clock: Clock, switchboard: Switchboard
    ) -> None:
        self._config = config
        self._storage = storage
        self._clock = clock
        self._switchboard = switchboard

    async def kiosk(self, ws: web.WebSocketResponse, msg: Hello) -> Peer | None:
        """A kiosk's hello: its device token must be known and not revoked."""
        device = None
        try:
            if msg.role == "kiosk" and msg.token:
                device = await self._storage.device_for_token(msg.token)
        except StorageError as exc:
            await self._refuse_unavailable(ws, exc)
            return None
        if device is None:
            await refuse(ws, "unauthorized", "unknown or revoked device token")
            return None
        max_file_bytes = await self._file_limit(device.tenant.id)
        peer = Peer(
            ws=ws,
            conn=self._switchboard.new_connection(),
            role="kiosk",
            name=device.name,
            tenant=device.tenant,
            device=device,
            token_digest=secret_digest(msg.token or ""),
            checked_at=self._clock(),
        )
        welcome = self._welcome("kiosk", device.name, device.tenant, max_file_bytes)
        # One synchronous step: a newer connection of the device replaces the older one.
        self._switchboard.signed_in(peer, welcome)
        log.info("kiosk connected (device id %d, tenant id %d)", device.id, device.tenant.id)
        return peer

    async def adviser(
        self, ws: web.WebSocketResponse, msg: Hello, cookie: SessionCookie
    ) -> Peer | None:
        """A console's hello: its session must live and the CSRF token match it."""
        try:
            session = await self._storage.session(cookie.session_id, now=self._clock())
        except StorageError as exc:
            await self._refuse_unavailable(ws, exc)
            return None
        csrf_ok = (
            session is not None
            and msg.csrf is not None
            and hmac.compare_digest(session.csrf.encode(), msg.csrf.encode())
        )
        if msg.role != "adviser" or session is None or not csrf_ok:
            await refuse(ws, "unauthorized", "missing or wrong CSRF token, or logged out")
            return None
        adviser = session.adviser
        max_file_bytes = await self._file_limit(adviser.tenant.id)
        peer = Peer(
            ws=ws,
            conn=self._switchboard.new_connection(),
            role="adviser",
            name=adviser.name,
            tenant=adviser.tenant,
            adviser=adviser,
            session_digest=cookie.digest,
            checked_at=self._clock(),
        )
        welcome = self._welcome("adviser", adviser.name, adviser.tenant, max_file_bytes)
        self._switchboard.signed_in(peer, welcome)
        log.info("adviser connected (adviser id %d, tenant id %d)", adviser.id, adviser.tenant.id)
        return peer

    async def _refuse_unavailable(self, ws: web.WebSocketResponse, exc: StorageError) -> None:
        log.warning("refused a hello: %s", exc)
        text = "the hub's database is unavailable; try again later"
        await send_error(ws, "internal", text, fatal=True)
        await ws.close(code=CLOSE_UNAVAILABLE, message=b"database unavailable")

    async def _file_limit(self, tenant_id: int) -> int:
        try:
            return await self._storage.max_file_bytes(tenant_id)
        except StorageError:
            log.exception("could not read a tenant's file size limit; using the default")
            return DEFAULT_MAX_FILE_BYTES

    def _welcome(self, role: Role, name: str, tenant: Tenant, max_file_bytes: int) -> Welcome:
        servers = self._config.ice_servers
        turn = self._config.turn
        if turn is not None:
            servers = (*servers, mint_turn_credential(turn, now=self._clock()))
        return Welcome(
            role=role,
            name=name,
            tenant=tenant.name,
            heartbeat_s=self._config.heartbeat_s,
            ice_servers=servers,
            ice_transport_policy="all" if turn is None else turn.policy,
            max_file_bytes=max_file_bytes,
            grace_s=self._config.grace_s,
        )


async def refuse(ws: web.WebSocketResponse, code: ErrorCode, text: str) -> None:
    """A fatal error, then close with 1008 (before or instead of signing in)."""
    await send_error(ws, code, text, fatal=True)
    await ws.close(code=CLOSE_UNAUTHORIZED, message=b"unauthorized")
