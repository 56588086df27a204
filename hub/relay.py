"""The relay for sealed file blobs (docs/exchange.md, "The hub's relay").

A party of a live consultation uploads a sealed blob; the other party downloads it (as often
as it likes while the consultation lives); the uploader deletes it. The hub only ever holds
ciphertext: the key travels end to end on the data channel. Blobs live in RAM only, never on
disk, and go when their consultation ends and when the hub stops. Nothing about a blob is
logged but its size.

The upload is streamed from ``request.content`` (so the application's ``client_max_size``
does not apply) into a buffer of the declared length, never more than the caller's limit: the
length is checked first and reserved against the consultation's share
(``relay_files_per_consultation`` of the tenant's largest sealed file) and the global
``relay_max_bytes`` before a byte is read. Downloads are streamed in slices with backpressure,
so a slow reader makes no copies. A transfer that stalls for ``relay_chunk_timeout_s`` on one
256 KiB piece is cut off, and a blob deleted (or ended with its consultation) stops its
downloads.

A kiosk authenticates with the relay token of its live connection (its ``welcome`` carries it:
``hub.signalling.relay_tokens``), or, with ``--allow-device-tokens``, with its device token; an
adviser with the console's session cookie and CSRF token.

An upload may name its transfer (``X-Transfer-Id``, the id of the ``file_offer`` to come). The
uploader can then cancel it by that name, ``DELETE .../transfer/{id}``, whether the blob is
stored or its bytes are still coming in. Without that name, a client that gave up after the
last byte was sent never learnt the blob id, and the blob stayed until the consultation ended.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from dataclasses import dataclass

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from hub.auth import Clock, ConsoleAuth
from hub.config import HubConfig
from hub.signalling import LiveConsultations, Party
from hub.signalling.relay_tokens import RelayTokens
from hub.storage import Storage
from protocol.channel import BLOB_ID_PATTERN, TRANSFER_ID_PATTERN
from protocol.messages import ID_PATTERN, Role

log = logging.getLogger("hub.relay")

CHUNK = 256 * 1024  # the piece of an upload or download that must move within the timeout
BEARER_MAX = 256  # relay tokens are 43 characters, device tokens ~47; longer is junk
_BLOB_ID = re.compile(BLOB_ID_PATTERN)
_BEARER_TOKEN = re.compile(rf"[\x21-\x7e]{{1,{BEARER_MAX}}}")
_CONSULTATION_ID = re.compile(ID_PATTERN)
_TRANSFER_ID = re.compile(TRANSFER_ID_PATTERN)
TRANSFER_HEADER = "X-Transfer-Id"
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


async def kiosk_of_token(
    token: str, tokens: RelayTokens, storage: Storage, clock: Clock, allow_device_tokens: bool
) -> int | None:
    """The device whose live connection holds this relay token (its credential re-checked),
    or, with ``allow_device_tokens``, the device holding this device token; else None."""
    grant = tokens.holder(token)
    if grant is not None:
        valid = await grant.still_valid(storage, now=clock())
        # the connection may have gone while the database answered
        return grant.device_id if valid and tokens.holder(token) is grant else None
    if not allow_device_tokens:
        return None
    device = await storage.device_for_token(token)
    return None if device is None else device.id


class RelayRefused(Exception):
    """A request the relay answers with a JSON error (status, code, message)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code
        self.message = message

    def response(self) -> web.Response:
        """The JSON API's ``{"error", "message"}``."""
        response = web.json_response(
            {"error": self.code, "message": self.message}, status=self.status
        )
        if self.status in (400, 408, 409):
            # the body was not read to its end: the connection cannot carry another request
            response.force_close()
        return response


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
    transfer_id: str | None = None  # as named by the uploader, for a cancel by that name


# (consultation id, uploader's role, transfer id): an upload named by its uploader
_Transfer = tuple[str, Role, str]


class Relay:
    """The blobs of every live consultation, and its HTTP handlers."""

    def __init__(
        self,
        config: HubConfig,
        storage: Storage,
        consultations: LiveConsultations,
        auth: ConsoleAuth,
        tokens: RelayTokens,
        clock: Clock,
    ) -> None:
        self._config = config
        self._storage = storage
        self._consultations = consultations
        self._auth = auth
        self._tokens = tokens
        self._clock = clock
        self._blobs: dict[str, Blob] = {}
        self._by_consultation: dict[str, set[str]] = {}
        self._stored = 0  # bytes of all blobs held
        self._reserved = 0  # bytes promised to uploads still coming in
        self._held: dict[str, int] = {}  # per consultation: its blobs' bytes plus reservations
        self._incoming: dict[_Transfer, bool] = {}  # named uploads under way: cancelled yet?
        consultations.end_listeners.append(self.consultation_ended)

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
            party, blob = await self._find(request)
        except RelayRefused as refused:
            return refused.response()
        if blob.uploader == party.role:
            return NO_SUCH.response()  # only the other party may fetch it
        return await self._stream(request, request.match_info["blob"], blob)

    async def delete(self, request: web.Request) -> web.StreamResponse:
        """``DELETE /api/relay/{consultation_id}/{blob}``: the uploader drops its blob."""
        try:
            party, blob = await self._find(request)
        except RelayRefused as refused:
            return refused.response()
        if blob.uploader != party.role:
            return NO_SUCH.response()
        self._discard(request.match_info["blob"])
        return web.Response(status=204)

    async def cancel(self, request: web.Request) -> web.StreamResponse:
        """``DELETE /api/relay/{consultation_id}/transfer/{transfer_id}``: the uploader cancels.

        A stored blob of that transfer is deleted; an upload of it still coming in is not kept
        (it is answered 410). Idempotent: 204 whatever there was.
        """
        try:
            consultation_id = request.match_info["consultation_id"]
            party = self._party(await self._caller(request), consultation_id)
            transfer_id = request.match_info["transfer_id"]
            if not _TRANSFER_ID.fullmatch(transfer_id):
                raise NO_SUCH
        except RelayRefused as refused:
            return refused.response()
        key = (consultation_id, party.role, transfer_id)
        if key in self._incoming:
            self._incoming[key] = True
        blob_id = self._named_blob(key)
        if blob_id is not None:
            self._discard(blob_id)
        return web.Response(status=204)

    # -- state ------------------------------------------------------------

    def consultation_ended(self, consultation_id: str) -> None:
        """Drop every blob of a consultation that ended (an end listener of the registry)."""
        for blob_id in list(self._by_consultation.get(consultation_id, ())):
            self._discard(blob_id)

    def clear(self) -> None:
        """Drop everything (the hub stops)."""
        for blob_id in list(self._blobs):
            self._discard(blob_id)

    def stats(self) -> dict[str, int]:
        """Counts for tests and health checks."""
        return {"blobs": len(self._blobs), "bytes": self._stored, "reserved": self._reserved}

    # -- internals --------------------------------------------------------

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        caller = await self._caller(request)
        consultation_id = request.match_info["consultation_id"]
        party = self._party(caller, consultation_id)
        max_file_bytes = await self._storage.max_file_bytes(party.tenant_id)
        # From here on no await until the reservation: the checks and it happen together.
        if self._party(caller, consultation_id) != party:
            raise NO_SUCH  # the consultation ended while the limit was looked up
        transfer = self._transfer(request, consultation_id, party)
        length = request.content_length
        if length is None:
            raise RelayRefused(411, "length_required", "send the blob with a Content-Length")
        limit = sealed_limit(max_file_bytes)
        if length > limit:
            raise RelayRefused(413, "too_large", "the blob is over this tenant's file size limit")
        share = self._config.relay_files_per_consultation * limit
        if self._held.get(consultation_id, 0) + length > share:
            log.warning("relay: a consultation's share is full; refused a blob of %d bytes", length)
            raise RelayRefused(
                507, "relay_full", "this consultation's files fill its share of the relay"
            )
        if self._stored + self._reserved + length > self._config.relay_max_bytes:
            log.warning("relay full: refused a blob of %d bytes", length)
            raise RelayRefused(507, "relay_full", "the relay is full; try again later")
        self._reserved += length
        self._hold(consultation_id, length)
        if transfer is not None:
            self._incoming[transfer] = False
        try:
            data = await self._receive(request, length)
        finally:
            self._reserved -= length
            self._hold(consultation_id, -length)
            cancelled = transfer is not None and self._incoming.pop(transfer)
        if self._party(caller, consultation_id) != party:
            raise NO_SUCH  # the consultation ended while the bytes came in
        if cancelled:
            log.info("relay: an upload of %d bytes was cancelled; nothing kept", length)
            raise RelayRefused(410, "cancelled", "the transfer was cancelled while it came in")
        blob_id = secrets.token_urlsafe(24)
        self._blobs[blob_id] = Blob(
            consultation_id, party.role, data, transfer[2] if transfer is not None else None
        )
        self._by_consultation.setdefault(consultation_id, set()).add(blob_id)
        self._stored += len(data)
        self._hold(consultation_id, len(data))
        log.info("relay: stored a blob of %d bytes", len(data))
        return web.json_response({"blob": blob_id}, status=201)

    async def _receive(self, request: web.Request, length: int) -> bytearray:
        """The body, exactly ``length`` bytes, or RelayRefused (nothing partial is kept)."""
        try:
            return await _read_exactly(request, length, self._config.relay_chunk_timeout_s)
        except TimeoutError:
            log.info("relay: an upload of %d bytes stalled; nothing kept", length)
            raise RelayRefused(408, "timeout", "the body stopped coming; send it again") from None
        except _Truncated:
            log.info("relay: an upload of %d bytes was cut short; nothing kept", length)
            raise RelayRefused(
                400, "truncated", "the body ended before its Content-Length"
            ) from None

    async def _stream(self, request: web.Request, blob_id: str, blob: Blob) -> web.StreamResponse:
        """Send a blob in slices, each awaited (backpressure: no copies pile up for a slow reader).

        Stops, closing the connection, when the blob goes (deleted, consultation ended), the
        reader stalls for ``relay_chunk_timeout_s`` on one slice, or goes away.
        """
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.content_length = len(blob.data)
        # not released by hand: the transport may still hold slices of it; nothing resizes it
        view = memoryview(blob.data)
        try:
            await response.prepare(request)
            for start in range(0, len(view), CHUNK):
                if self._blobs.get(blob_id) is not blob:
                    _cut_off(request, response)  # gone: not a byte more, not even buffered ones
                    return response
                async with asyncio.timeout(self._config.relay_chunk_timeout_s):
                    await response.write(view[start : start + CHUNK])
            await response.write_eof()
        except TimeoutError:
            log.info("relay: a download of %d bytes stalled; cut off", len(view))
            _cut_off(request, response)
        except ConnectionError:
            response.force_close()  # the reader went away
        return response

    def _transfer(
        self, request: web.Request, consultation_id: str, party: Party
    ) -> _Transfer | None:
        """The upload's named transfer, if it names one (refused if malformed or in use)."""
        transfer_id = request.headers.get(TRANSFER_HEADER)
        if transfer_id is None:
            return None
        if not _TRANSFER_ID.fullmatch(transfer_id):
            raise RelayRefused(400, "bad_transfer_id", f"{TRANSFER_HEADER} is not a transfer id")
        key = (consultation_id, party.role, transfer_id)
        if key in self._incoming or self._named_blob(key) is not None:
            raise RelayRefused(409, "duplicate_transfer", "this transfer is already uploaded")
        return key

    def _named_blob(self, key: _Transfer) -> str | None:
        """The id of the stored blob of a named transfer, if there is one."""
        consultation_id, role, transfer_id = key
        for blob_id in self._by_consultation.get(consultation_id, ()):
            blob = self._blobs[blob_id]
            if blob.uploader == role and blob.transfer_id == transfer_id:
                return blob_id
        return None

    async def _find(self, request: web.Request) -> tuple[Party, Blob]:
        caller = await self._caller(request)
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
        self._hold(blob.consultation_id, -len(blob.data))
        ids = self._by_consultation.get(blob.consultation_id)
        if ids is not None:
            ids.discard(blob_id)
            if not ids:
                del self._by_consultation[blob.consultation_id]

    def _hold(self, consultation_id: str, delta: int) -> None:
        """Count bytes for (or, negative, against) a consultation's share of the relay."""
        held = self._held.get(consultation_id, 0) + delta
        if held:
            self._held[consultation_id] = held
        else:
            self._held.pop(consultation_id, None)

    async def _caller(self, request: web.Request) -> Caller:
        """A kiosk by its bearer token, else an adviser by session cookie and CSRF."""
        header = request.headers.get("Authorization")
        if header is not None:
            token = parse_bearer(header)
            device_id = None if token is None else await self._kiosk(token)
            if device_id is None:
                raise RelayRefused(401, "unauthorized", "no or bad credentials")
            return Caller(device_id=device_id)
        current, csrf_ok = await self._auth.session_with_csrf(request)
        if current is None:
            raise RelayRefused(401, "unauthorized", "no or bad credentials")
        if not csrf_ok:
            raise RelayRefused(403, "forbidden", "missing or wrong CSRF token; reload the page")
        if current.session.adviser.role != "adviser":
            raise RelayRefused(403, "forbidden", "only advisers exchange files")
        return Caller(adviser_id=current.session.adviser.id)

    async def _kiosk(self, token: str) -> int | None:
        return await kiosk_of_token(
            token, self._tokens, self._storage, self._clock, self._config.allow_device_tokens
        )

    def _party(self, caller: Caller, consultation_id: str) -> Party:
        party = None
        if _CONSULTATION_ID.fullmatch(consultation_id):
            party = self._consultations.party(
                consultation_id, device_id=caller.device_id, adviser_id=caller.adviser_id
            )
        if party is None:
            raise NO_SUCH
        return party


def _cut_off(request: web.Request, response: web.StreamResponse) -> None:
    """Drop a download's connection at once: short of its Content-Length, the reader knows.

    An abort, not a close: a close would wait (without end) for a stalled reader to take what
    the transport still buffers.
    """
    response.force_close()
    transport = request.transport
    if transport is not None:
        transport.abort()


class _Truncated(Exception):
    """The body ended (or the client went away) before its Content-Length."""


async def _read_exactly(request: web.Request, length: int, timeout_s: float) -> bytearray:
    """The body, streamed into a buffer allocated once (the length is reserved already).

    Each ``CHUNK`` of it must arrive within ``timeout_s`` (TimeoutError otherwise: a stalled or
    trickling upload gives its reservation back); _Truncated when it ends early. aiohttp hands
    over no more than the Content-Length, so the body cannot overrun the buffer.
    """
    data = bytearray(length)
    filled = 0
    with memoryview(data) as view:
        try:
            while filled < length:
                end = min(filled + CHUNK, length)
                async with asyncio.timeout(timeout_s):
                    while filled < end:
                        chunk = await request.content.read(end - filled)
                        if not chunk:
                            raise _Truncated
                        view[filled : filled + len(chunk)] = chunk
                        filled += len(chunk)
        except (ConnectionError, HttpProcessingError):
            raise _Truncated from None  # the client went away mid-body
    return data


RELAY = web.AppKey("relay", Relay)
