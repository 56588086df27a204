"""Signing a connection in: the kiosk's certificate (or token), the console's session and CSRF.

The first frame of every connection must be a ``hello``; a kiosk proves itself by signing the
hub's ``challenge`` with its device key and certificate (hub/pki/hello_check.py; a device token
only with ``--allow-device-tokens``), a console with its session cookie (checked before the
upgrade) and the session's CSRF token. A kiosk's ``welcome`` carries its relay token
(``hub.signalling.relay_tokens``) and its tenant's trustee and timestamp authority; every
welcome carries the hub's TURN server only if the tenant switched TURN on. What the
database says is awaited before the peer is registered, and registering is one synchronous step,
so two hellos of one device cannot both win.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
from collections.abc import Callable
from dataclasses import replace

from aiohttp import web

from hub.auth import Clock, SessionCookie
from hub.config import HubConfig
from hub.pki.authorities import Authorities
from hub.pki.hello_check import HelloRefused, check_certificate_hello
from hub.signalling.pairing_events import CLOSE_UNAUTHORIZED, CLOSE_UNAVAILABLE
from hub.signalling.peers import Peer, send_error
from hub.signalling.switchboard import Switchboard
from hub.storage import (
    DEFAULT_MAX_FILE_BYTES,
    Storage,
    StorageError,
    Tenant,
    TenantSigning,
    secret_digest,
)
from hub.storage.records import ArchiveSettings
from hub.turn import mint as mint_turn_credential
from protocol.messages import ArchiveKind, ErrorCode, Hello, Role, Welcome

log = logging.getLogger("hub.signalling")
_ARCHIVE_KINDS: tuple[ArchiveKind, ...] = ("contract", "transcript")

TOKENS_OFF = (
    "device tokens are turned off at this hub: enrol the kiosk with a code (kiosk enrol), "
    "or start the hub with --allow-device-tokens"
)


class Greeter:
    """Answers hellos: a signed-in ``Peer`` with its ``welcome``, or a refusal and a close."""

    def __init__(
        self,
        config: HubConfig,
        storage: Storage,
        clock: Clock,
        switchboard: Switchboard,
        authorities: Authorities,
    ) -> None:
        self._config = config
        self._storage = storage
        self._clock = clock
        self._switchboard = switchboard
        self._authorities = authorities
        self._seen: set[asyncio.Task[None]] = set()  # last-seen writes under way

    async def kiosk(
        self, ws: web.WebSocketResponse, msg: Hello, nonce: bytes, origin: Callable[[], str]
    ) -> Peer | None:
        """A kiosk's hello: a certificate that signed ``nonce`` for ``origin()`` and its
        tenant (docs/enrolment.md), or, with ``--allow-device-tokens``, a device token."""
        device, serial = None, None
        try:
            if msg.role == "kiosk" and (msg.certificate or msg.signature):
                try:
                    stored = await check_certificate_hello(
                        self._storage,
                        self._authorities,
                        certificate=msg.certificate,
                        signature=msg.signature,
                        origin=origin(),
                        nonce=nonce,
                        now=self._clock(),
                    )
                except HelloRefused as exc:
                    await refuse(ws, "unauthorized", str(exc))
                    return None
                device, serial = stored.device, stored.serial
            elif msg.role == "kiosk" and msg.token:
                if not self._config.allow_device_tokens:
                    await refuse(ws, "unauthorized", TOKENS_OFF)
                    return None
                device = await self._storage.device_for_token(msg.token)
        except StorageError as exc:
            await self._refuse_unavailable(ws, exc)
            return None
        if device is None:
            await refuse(ws, "unauthorized", "unknown or revoked device token")
            return None
        max_file_bytes = await self._file_limit(device.tenant.id)
        turn = await self._turn_enabled(device.tenant.id)
        peer = Peer(
            ws=ws,
            conn=self._switchboard.new_connection(),
            role="kiosk",
            name=device.name,
            tenant=device.tenant,
            device=device,
            token_digest=None if serial is not None else secret_digest(msg.token or ""),
            cert_serial=serial,
            checked_at=self._clock(),
        )
        self._record_seen(device.id, msg.client)
        signing = await self._signing(device.tenant.id)
        archive = await self._archive(device.tenant.id)
        welcome = self._welcome("kiosk", device.name, device.tenant, max_file_bytes, turn)
        # the kiosk's credential for /api/relay while this connection lives (hub/relay.py)
        # and the tenant's trustee and timestamp authority for signing (docs/signature.md)
        welcome = replace(
            welcome,
            relay_token=self._switchboard.relay_tokens.issue(peer),
            trustee_cert=None
            if signing.trustee_cert is None
            else base64.b64encode(signing.trustee_cert).decode("ascii"),
            trustee_name=signing.trustee_name,
            tsa_url=signing.tsa_url,
            # what the tenant keeps sealed to its archive certificate (docs/archive.md)
            archive_cert=None
            if archive.cert_der is None
            else base64.b64encode(archive.cert_der).decode("ascii"),
            archive_kinds=tuple(k for k in _ARCHIVE_KINDS if k in archive.kinds),
        )
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
        turn = await self._turn_enabled(adviser.tenant.id)
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
        welcome = self._welcome("adviser", adviser.name, adviser.tenant, max_file_bytes, turn)
        self._switchboard.signed_in(peer, welcome)
        log.info("adviser connected (adviser id %d, tenant id %d)", adviser.id, adviser.tenant.id)
        return peer

    def _record_seen(self, device_id: int, client: str | None) -> None:
        """Store the hello's time and software version beside the hello, not before it."""
        version = None if client is None else "".join(c if c.isprintable() else "?" for c in client)
        task = asyncio.create_task(self._seen_write(device_id, version))
        self._seen.add(task)
        task.add_done_callback(self._seen.discard)

    async def _seen_write(self, device_id: int, version: str | None) -> None:
        try:
            await self._storage.device_seen(device_id, now=self._clock(), version=version)
        except StorageError as exc:
            log.warning("could not record a kiosk's hello: %s", exc)

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

    async def _signing(self, tenant_id: int) -> TenantSigning:
        """The tenant's signature settings; unreadable: none, and the kiosk refuses to sign."""
        try:
            return await self._storage.tenant_signing(tenant_id)
        except StorageError:
            log.exception("could not read a tenant's signature settings; signing is off")
            return TenantSigning()

    async def _archive(self, tenant_id: int) -> ArchiveSettings:
        """What the tenant keeps sealed; unreadable: nothing (content is never kept then)."""
        try:
            return await self._storage.governance.archive_settings(tenant_id)
        except StorageError:
            log.exception("could not read a tenant's archive settings; archiving is off")
            return ArchiveSettings()

    async def _turn_enabled(self, tenant_id: int) -> bool:
        """Whether the tenant's administrator switched TURN relaying on; unreadable: off."""
        if self._config.turn is None:
            return False  # nothing to switch on: skip the read
        try:
            return await self._storage.governance.turn_enabled(tenant_id)
        except StorageError:
            # off is the promise a tenant gets until it decides otherwise (docs/privacy.md)
            log.exception("could not read a tenant's TURN setting; TURN is off for this hello")
            return False

    def _welcome(
        self, role: Role, name: str, tenant: Tenant, max_file_bytes: int, turn_on: bool
    ) -> Welcome:
        servers = self._config.ice_servers
        # TURN relays media through a third party: only for a tenant that switched it on
        turn = self._config.turn if turn_on else None
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
