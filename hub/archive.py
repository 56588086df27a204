"""The archive's HTTP endpoints: kiosks upload sealed items, the tenant's people download them.

Content is kept only where the tenant's administrator switched a kind on (docs/archive.md); the
kiosk seals it to the tenant's archive certificate first, so the hub keeps ciphertext it cannot
open. ``POST /api/archive/{consultation_id}?kind=contract|transcript`` is authenticated like a
kiosk's relay upload (``Authorization: Bearer`` the relay token of its live connection); the
consultation must be the kiosk's own, live or ended less than ``UPLOAD_GRACE_S`` ago. The body
must be a CMS ContentInfo of (Authenticated)EnvelopedData and nothing else. ``GET
/api/archive/{id}`` gives an item to a console session of the same tenant (any role), audited;
another tenant's item answers like an unknown one. Nothing but kinds and sizes is logged.
"""

from __future__ import annotations

import asyncio
import logging
import re

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from asn1crypto import cms

from hub.access_log import ACCESS_TENANT
from hub.auth import Clock, ConsoleAuth
from hub.config import HubConfig
from hub.relay import CHUNK, RelayRefused, kiosk_of_token, parse_bearer
from hub.signalling.relay_tokens import RelayTokens
from hub.storage import NotFound, Storage
from hub.storage.errors import ArchiveRefused
from hub.storage.records import ARCHIVE_KINDS
from hub.storage.sqlite_archive_ops import ARCHIVE_ID_PATTERN
from protocol.messages import ID_PATTERN

log = logging.getLogger("hub.archive")

UPLOAD_GRACE_S = 600.0  # a kiosk seals and uploads between the call's end and its wipe
CMS_OVERHEAD = 64 * 1024  # recipients, parameters and tag around the sealed file
UPLOADS_AT_ONCE = 4  # bounds the memory bodies being received hold
CONTENT_TYPE = "application/cms"
SEALED_TYPES = ("enveloped_data", "authenticated_enveloped_data")
_CONSULTATION_ID = re.compile(ID_PATTERN)
_ARCHIVE_ID = re.compile(ARCHIVE_ID_PATTERN)

NO_SUCH = RelayRefused(404, "not_found", "no such consultation or archived item")
UNAUTHORIZED = RelayRefused(401, "unauthorized", "no or bad credentials")


class NotSealed(ValueError):
    """Bytes that are not one CMS ContentInfo of (Authenticated)EnvelopedData."""


def check_sealed(data: bytes) -> None:
    """Accept exactly one DER CMS ContentInfo whose content is EnvelopedData or
    AuthEnvelopedData (parsed to its end); ``NotSealed`` otherwise."""
    try:
        info = cms.ContentInfo.load(data, strict=True)  # strict: no trailing bytes
        kind = info["content_type"].native
        if kind not in SEALED_TYPES:
            raise NotSealed(f"a CMS {kind}, not sealed data")
        content = info["content"]
        _ = content.native  # parse every field: a damaged structure fails here
    except NotSealed:
        raise
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise NotSealed("not a DER CMS ContentInfo") from exc


class Archive:
    """The upload and download handlers (made at startup: ``ARCHIVE``)."""

    def __init__(
        self,
        config: HubConfig,
        storage: Storage,
        auth: ConsoleAuth,
        tokens: RelayTokens,
        clock: Clock,
    ) -> None:
        self._config = config
        self._storage = storage
        self._auth = auth
        self._tokens = tokens
        self._clock = clock
        self._receiving = 0

    @property
    def receiving(self) -> int:
        """How many uploads' bodies are coming in now (for tests and health checks)."""
        return self._receiving

    async def upload(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/archive/{consultation_id}?kind=...``: keep a sealed item; 201 ``{"id"}``."""
        try:
            return await self._upload(request)
        except RelayRefused as refused:
            return refused.response()

    async def download(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/archive/{id}``: the sealed item, for the tenant's console sessions."""
        current = await self._auth.current_session(request)
        if current is None:
            return UNAUTHORIZED.response()
        archive_id = request.match_info["archive_id"]
        if not _ARCHIVE_ID.fullmatch(archive_id):
            return NO_SUCH.response()
        account = current.session.adviser
        found = await self._storage.governance.archive_data(
            account.tenant.id,
            archive_id,
            actor=f"{account.role}:{account.name}",
            now=self._clock(),
        )
        if found is None:
            return NO_SUCH.response()
        item, data = found
        return web.Response(
            body=data,
            content_type=CONTENT_TYPE,
            headers={"Content-Disposition": f'attachment; filename="{item.kind}-{item.id}.p7m"'},
        )

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        device_id = await self._kiosk(request)
        consultation_id = request.match_info["consultation_id"]
        kind = request.query.get("kind", "")
        if kind not in ARCHIVE_KINDS:
            raise RelayRefused(400, "bad_kind", "kind must be contract or transcript")
        tenant_id = await self._own_consultation(device_id, consultation_id)
        request[ACCESS_TENANT] = tenant_id
        if kind not in (await self._storage.governance.archive_settings(tenant_id)).kinds:
            raise RelayRefused(403, "archive_off", f"this tenant does not keep {kind}s")
        if request.content_type != CONTENT_TYPE:
            raise RelayRefused(415, "bad_content_type", f"send the item as {CONTENT_TYPE}")
        length = request.content_length
        if length is None:
            raise RelayRefused(411, "length_required", "send the item with a Content-Length")
        limit = await self._storage.max_file_bytes(tenant_id) + CMS_OVERHEAD
        if length > limit:
            raise RelayRefused(413, "too_large", "the item is over this tenant's file size limit")
        if self._receiving >= UPLOADS_AT_ONCE:
            raise RelayRefused(503, "busy", "the archive is busy; try again in a moment")
        self._receiving += 1
        try:
            data = await self._receive(request, length)
        finally:
            self._receiving -= 1
        try:
            check_sealed(data)
        except NotSealed:
            log.info("archive: refused an upload of %d bytes that is not sealed CMS", length)
            raise RelayRefused(
                400, "not_sealed", "the body is not CMS (Authenticated)EnvelopedData"
            ) from None
        try:
            item = await self._storage.governance.add_archive(
                tenant_id, consultation_id, kind, data, now=self._clock()
            )
        except ArchiveRefused as exc:
            status, code = (403, "archive_off") if exc.reason == "off" else (409, "archive_full")
            raise RelayRefused(status, code, str(exc)) from None
        except NotFound:
            raise NO_SUCH from None
        log.info("archive: kept a sealed %s of %d bytes", kind, len(data))
        return web.json_response({"id": item.id}, status=201)

    async def _kiosk(self, request: web.Request) -> int:
        """The device whose live connection holds the bearer relay token (its credential
        re-checked), or with ``--allow-device-tokens`` the holder of a device token."""
        token = parse_bearer(request.headers.get("Authorization", ""))
        device_id = None
        if token is not None:
            device_id = await kiosk_of_token(
                token, self._tokens, self._storage, self._clock, self._config.allow_device_tokens
            )
        if device_id is None:
            raise UNAUTHORIZED
        return device_id

    async def _own_consultation(self, device_id: int, consultation_id: str) -> int:
        """The tenant of the kiosk's own consultation, live or ended within the grace."""
        if not _CONSULTATION_ID.fullmatch(consultation_id):
            raise NO_SUCH
        target = await self._storage.governance.archive_target(consultation_id)
        if target is None:
            raise NO_SUCH
        tenant_id, owner, ended_at = target
        if owner != device_id:
            raise NO_SUCH  # another kiosk's: answered like an unknown one
        if ended_at is not None and ended_at < self._clock() - UPLOAD_GRACE_S:
            raise NO_SUCH
        return tenant_id

    async def _receive(self, request: web.Request, length: int) -> bytes:
        """Exactly ``length`` bytes of body, each ``CHUNK`` within the relay's timeout."""
        data = bytearray()
        try:
            while len(data) < length:
                async with asyncio.timeout(self._config.relay_chunk_timeout_s):
                    chunk = await request.content.read(min(CHUNK, length - len(data)))
                if not chunk:
                    raise _Truncated
                data += chunk
        except TimeoutError:
            raise RelayRefused(408, "timeout", "the body stopped coming; send it again") from None
        except (_Truncated, ConnectionError, HttpProcessingError):
            log.info("archive: an upload of %d bytes was cut short; nothing kept", length)
            raise RelayRefused(
                400, "truncated", "the body ended before its Content-Length"
            ) from None
        return bytes(data)


class _Truncated(Exception):
    """The body ended before its Content-Length."""


ARCHIVE = web.AppKey("archive", Archive)
