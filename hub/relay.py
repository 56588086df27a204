"""The relay for sealed file blobs (docs/exchange.md, "The hub's relay").

A party of a live consultation uploads a sealed blob; the other party downloads it (as often
as it likes while the consultation lives); the uploader deletes it. The hub only ever holds
ciphertext: the key travels end to end on the data channel. Blobs live in RAM only, never on
disk, and go when their consultation ends and when the hub stops. Nothing about a blob is
logged but its size.

The upload is streamed from ``request.content`` (so the application's ``client_max_size``
does not apply) into memory, never more than the caller's limit: the declared length is
checked first and reserved against the global ``relay_max_bytes`` before a byte is read.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from hub.auth import ConsoleAuth
from hub.config import HubConfig
from hub.signalling import Party, Switchboard
from hub.storage import Storage
from protocol.channel import BLOB_ID_PATTERN
from protocol.messages import ID_PATTERN, Role

log = logging.getLogger("hub.relay")

READ_CHUNK = 256 * 1024
BEARER_MAX = 256  # device tokens are ~47 characters; anything much longer is junk
_BLOB_ID = re.compile(BLOB_ID_PATTERN)
_BEARER_TOKEN = re.compile(rf"[\x21-\x7e]{{1,{BEARER_MAX}}}")
_CONSULTATION_ID = re.compile(ID_PATTERN)
# sealed format (docs/exchange.md): 8-byte header, 25 bytes of framing and tag per record,
# at least 1024 plaintext bytes per record but the last
SEALED_HEADER = 8
SEALED_RECORD_OVERHEAD = 25
SEALED_MIN_CHUNK = 1024


def sealed_limit(max_file_bytes: int) -> int:
    """The largest sealed blob a file of at most ``max_file_bytes`` can become."""
    records = max_file_bytes // SEALED_MIN_CHUNK + 1
    return max_file_bytes + SEALED_HEADER + SEALED_RECORD_OVERHEAD * records


def parse_bearer(header: str) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header; None for anything else.

    The scheme is case-insensitive (RFC 9110); the token is one run of visible ASCII, at most
    ``BEARER_MAX`` characters.
    """
    scheme, _, token = header.strip(" \t").partition(" ")
    token = token.strip(" \t")
    if scheme.lower() != "bearer" or not _BEARER_TOKEN.fullmatch(token):
        return None
    return token


class RelayRefused(Exception):
    """A request the relay answers with a JSON error (status, code, message)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> web.Response:
        """The JSON API's ``{"error", "message"}``."""
        return web.json_response({"error": self.code, "message": self.message}, status=self.status)


NO_SUCH = RelayRefused(404, "not_found", "no such live consultation or blob")


@dataclass(frozen=True)
class Caller:
    """Who sent a relay request: a kiosk (device id) or an adviser (adviser id)."""

    device_id: int | None = None
    adviser_id: int | None = None


@dataclass(frozen=True, eq=False)
class Blob:
    """One sealed blob, as uploaded."""

    consultation_id: str
    uploader: Role
    data: bytes | bytearray


class Relay:
    """The blobs of every live consultation, and the three HTTP handlers."""

    def __init__(
        self, config: HubConfig, storage: Storage, switchboard: Switchboard, auth: ConsoleAuth
    ) -> None:
        self._config = config
        self._storage = storage
        self._switchboard = switchboard
        self._auth = auth
        self._blobs: dict[str, Blob] = {}
        self._by_consultation: dict[str, set[str]] = {}
        self._stored = 0  # bytes of all blobs held
        self._reserved = 0  # bytes promised to uploads still coming in
        switchboard.end_listeners.append(self.consultation_ended)

    # -- handlers ---------------------------------------------------------

    async def upload(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/relay/{consultation_id}``: store the body; 201 ``{"blob": id}``."""
        try:
            return await self._upload(request)
        except RelayRefused as refused:
            return refused.response()

    async def download(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/relay/{consultation_id}/{blob}``: the other party fetches the bytes."""
        try:
            party, blob = self._find(request)
        except RelayRefused as refused:
            return refused.response()
        if blob.uploader == party.role:
            return NO_SUCH.response()  # only the other party may fetch it
        return web.Response(body=blob.data, content_type="application/octet-stream")

    async def delete(self, request: web.Request) -> web.StreamResponse:
        """``DELETE /api/relay/{consultation_id}/{blob}``: the uploader drops its blob."""
        try:
            party, blob = self._find(request)
        except RelayRefused as refused:
            return refused.response()
        if blob.uploader != party.role:
            return NO_SUCH.response()
        self._discard(request.match_info["blob"])
        return web.Response(status=204)

    # -- state ------------------------------------------------------------

    def consultation_ended(self, consultation_id: str) -> None:
        """Drop every blob of a consultation that ended (called by the switchboard)."""
        for blob_id in list(self._by_consultation.get(consultation_id, ())):
            self._discard(blob_id)

    def clear(self) -> None:
        """Drop everything (the hub stops)."""
        self._blobs.clear()
        self._by_consultation.clear()
        self._stored = 0

    def stats(self) -> dict[str, int]:
        """Counts for tests and health checks."""
        return {"blobs": len(self._blobs), "bytes": self._stored, "reserved": self._reserved}

    # -- internals --------------------------------------------------------

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        caller = self._caller(request)
        consultation_id = request.match_info["consultation_id"]
        party = self._party(caller, consultation_id)
        length = request.content_length
        if length is None:
            raise RelayRefused(411, "length_required", "send the blob with a Content-Length")
        if length > sealed_limit(self._storage.max_file_bytes(party.tenant_id)):
            raise RelayRefused(413, "too_large", "the blob is over this tenant's file size limit")
        if self._stored + self._reserved + length > self._config.relay_max_bytes:
            log.warning("relay full: refused a blob of %d bytes", length)
            raise RelayRefused(507, "relay_full", "the relay is full; try again later")
        self._reserved += length
        try:
            data = await _read_exactly(request, length)
        finally:
            self._reserved -= length
        if data is None:
            log.info("relay: an upload of %d bytes was cut short; nothing kept", length)
            raise RelayRefused(400, "truncated", "the body ended before its Content-Length")
        if self._party(caller, consultation_id) != party:
            raise NO_SUCH  # the consultation ended while the bytes came in
        blob_id = secrets.token_urlsafe(24)
        self._blobs[blob_id] = Blob(consultation_id, party.role, data)
        self._by_consultation.setdefault(consultation_id, set()).add(blob_id)
        self._stored += len(data)
        log.info("relay: stored a blob of %d bytes", len(data))
        return web.json_response({"blob": blob_id}, status=201)

    def _find(self, request: web.Request) -> tuple[Party, Blob]:
        caller = self._caller(request)
        consultation_id = request.match_info["consultation_id"]
        party = self._party(caller, consultation_id)
        blob_id = request.match_info["blob"]
        blob = self._blobs.get(blob_id) if _BLOB_ID.fullmatch(blob_id) else None
        if blob is None or blob.consultation_id != consultation_id:
            raise NO_SUCH
        return party, blob

    def _discard(self, blob_id: str) -> None:
        blob = self._blobs.pop(blob_id, None)
        if blob is None:
            return
        self._stored -= len(blob.data)
        ids = self._by_consultation.get(blob.consultation_id)
        if ids is not None:
            ids.discard(blob_id)
            if not ids:
                del self._by_consultation[blob.consultation_id]

    def _caller(self, request: web.Request) -> Caller:
        """A kiosk by its bearer device token, else an adviser by session cookie and CSRF."""
        header = request.headers.get("Authorization")
        if header is not None:
            token = parse_bearer(header)
            device = None if token is None else self._storage.device_for_token(token)
            if device is None:
                raise RelayRefused(401, "unauthorized", "no or bad credentials")
            return Caller(device_id=device.id)
        current, csrf_ok = self._auth.session_with_csrf(request)
        if current is None:
            raise RelayRefused(401, "unauthorized", "no or bad credentials")
        if not csrf_ok:
            raise RelayRefused(403, "forbidden", "missing or wrong CSRF token; reload the page")
        return Caller(adviser_id=current.session.adviser.id)

    def _party(self, caller: Caller, consultation_id: str) -> Party:
        party = None
        if _CONSULTATION_ID.fullmatch(consultation_id):
            party = self._switchboard.party(
                consultation_id, device_id=caller.device_id, adviser_id=caller.adviser_id
            )
        if party is None:
            raise NO_SUCH
        return party


async def _read_exactly(request: web.Request, length: int) -> bytearray | None:
    """The body, streamed; None when it ends early or overruns (nothing partial is kept)."""
    data = bytearray()
    try:
        async for chunk in request.content.iter_chunked(READ_CHUNK):
            if len(data) + len(chunk) > length:
                return None
            data += chunk
    except (ConnectionError, HttpProcessingError):
        return None  # the client went away mid-body
    if len(data) != length:
        return None
    return data


RELAY = web.AppKey("relay", Relay)
