"""Moving one file's bytes through the hub's relay: seal, upload, download, open, check, store.

The data channel carries the control messages (``file_offer`` with the key and the hash); the
bytes go sealed (``protocol.sealed``) through ``/api/relay`` because aiortc's pure-Python SCTP
would starve the call's video (docs/exchange.md). Everything here streams: an upload reads the
vault artifact chunk by chunk and seals as it sends, a download opens records as they arrive
and writes the plaintext straight into a vault ``ArtifactWriter``. Any failure or cancel
aborts that writer, so nothing partial is ever left in the session vault.

Every failure surfaces as :class:`TransferError` whose ``code`` is the ``FileErrorCode`` the
kiosk answers with. Logs carry codes and sizes only: names, content, keys and the device
token never appear in them.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from appliance.custody.vault import Artifact, ArtifactKind, SessionVault, VaultClosed, VaultFull
from protocol.channel import BLOB_ID_PATTERN, TRANSFER_ID_PATTERN, FileErrorCode, FileOffer
from protocol.sealed import (
    DEFAULT_CHUNK,
    Opener,
    SealedError,
    new_key,
    seal,
    sealed_size,
)

log = logging.getLogger(__name__)

MIB: Final = 1024 * 1024
# The content types an exchanged file may have, by the short names the config uses.
TYPE_NAMES: Final = {"pdf": "application/pdf", "jpeg": "image/jpeg", "png": "image/png"}
DEFAULT_ALLOWED_TYPES: Final = frozenset(TYPE_NAMES.values())
PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
SNIFF_BYTES: Final = 8
DOWNLOAD_READ: Final = 256 * 1024
# A relay that stops sending for this long is gone; a big file may still take minutes.
SOCK_READ_TIMEOUT_S: Final = 30.0
CONNECT_TIMEOUT_S: Final = 10.0

Progress = Callable[[int, int], None]  # (plaintext bytes done, size)
_BLOB_ID: Final = re.compile(BLOB_ID_PATTERN)
_TRANSFER_ID: Final = re.compile(TRANSFER_ID_PATTERN)


class TransferError(Exception):
    """A transfer failed; ``code`` is what the receiver answers (``file_error``).

    The message holds codes and numbers only, so it is safe to log.
    """

    def __init__(self, code: FileErrorCode, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code: FileErrorCode = code


class RelayError(TransferError):
    """The relay refused or could not be reached; ``status`` is the HTTP status (0: none)."""

    def __init__(self, code: FileErrorCode, status: int, detail: str = "") -> None:
        super().__init__(code, detail)
        self.status = status


@dataclass(frozen=True)
class ExchangeLimits:
    """What the kiosk accepts: the tighter of the tenant's and the kiosk's size limits."""

    max_file_bytes: int
    allowed_types: frozenset[str] = DEFAULT_ALLOWED_TYPES
    upload_bytes_s: int | None = None  # pace of our uploads; None: as fast as it goes

    @classmethod
    def combine(
        cls,
        tenant_max_file_bytes: int,
        kiosk_max_file_bytes: int,
        allowed_types: Iterable[str] = DEFAULT_ALLOWED_TYPES,
        upload_bytes_s: int | None = None,
    ) -> ExchangeLimits:
        """``welcome.max_file_bytes`` and the kiosk's ``[exchange]`` limit: the smaller wins."""
        return cls(
            min(tenant_max_file_bytes, kiosk_max_file_bytes),
            frozenset(allowed_types),
            upload_bytes_s,
        )


def sniff(head: bytes) -> str | None:
    """The content type of a file from its first bytes, if it is one we know."""
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(PNG_SIGNATURE):
        return "image/png"
    return None


def relay_base_url(hub_ws_url: str) -> str:
    """``ws(s)://host[:port][/prefix]/ws/kiosk`` → ``http(s)://host[:port][/prefix]``."""
    parts = urlsplit(hub_ws_url)
    scheme = {"ws": "http", "wss": "https", "http": "http", "https": "https"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError("the hub URL must be ws://, wss://, http:// or https://")
    path = parts.path.rstrip("/")
    if path.endswith("/ws/kiosk"):
        path = path[: -len("/ws/kiosk")]
    return urlunsplit((scheme, parts.netloc, path, "", ""))


class Relay(Protocol):
    """The hub's relay as the exchange uses it (``RelayClient``, or a test's stand-in)."""

    async def upload(
        self, body: AsyncIterator[bytes], length: int, transfer_id: str | None = None
    ) -> str:
        """Store the sealed ``body`` of exactly ``length`` bytes; returns the blob id."""
        ...

    def download(self, blob: str) -> AsyncIterator[bytes]:
        """The sealed bytes of ``blob`` as they arrive."""
        ...

    async def cancel(self, transfer_id: str) -> None:
        """Cancel our upload named ``transfer_id``, stored or still coming in."""
        ...

    async def delete(self, blob: str) -> None:
        """Delete our ``blob`` (one already gone counts as deleted)."""
        ...


class RelayClient:
    """The kiosk's side of ``/api/relay/{consultation_id}`` for one consultation.

    Authenticates with a bearer token: the relay token of the kiosk's current hub connection
    (its ``welcome``), or the device token. ``token`` may be a callable, asked at each request:
    a reconnection brings a new relay token. ``http`` is the kiosk's shared aiohttp session
    (not closed here).
    """

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        hub_url: str,
        token: str | Callable[[], str],
        consultation_id: str,
    ) -> None:
        self._http = http
        self._base = f"{relay_base_url(hub_url)}/api/relay/{consultation_id}"
        self._token = token
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=CONNECT_TIMEOUT_S, sock_read=SOCK_READ_TIMEOUT_S
        )

    def __repr__(self) -> str:
        return "RelayClient(<consultation>)"  # neither the token nor the ids

    @property
    def _headers(self) -> dict[str, str]:
        token = self._token() if callable(self._token) else self._token
        return {"Authorization": f"Bearer {token}"}

    async def upload(
        self, body: AsyncIterator[bytes], length: int, transfer_id: str | None = None
    ) -> str:
        """POST the sealed ``body`` of exactly ``length`` bytes; returns the blob id.

        Named by ``transfer_id``, the upload can be cancelled by that name (:meth:`cancel`)
        even when the hub stored it after we stopped waiting for its answer.
        """
        headers = {
            **self._headers,
            "Content-Type": "application/octet-stream",
            "Content-Length": str(length),
        }
        if transfer_id is not None:
            headers["X-Transfer-Id"] = transfer_id
        try:
            async with self._http.post(
                self._base, data=body, headers=headers, timeout=self._timeout
            ) as response:
                if response.status != 201:
                    raise _refused(response.status, "upload_failed")
                answer: Any = await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise RelayError("upload_failed", 0, type(exc).__name__) from None
        blob = answer.get("blob") if isinstance(answer, dict) else None
        if not isinstance(blob, str) or not _BLOB_ID.fullmatch(blob):
            raise RelayError("upload_failed", 201, "the relay answered without a blob id")
        return blob

    async def download(self, blob: str) -> AsyncIterator[bytes]:
        """GET the sealed bytes of ``blob`` as they arrive."""
        if not _BLOB_ID.fullmatch(blob):
            raise RelayError("download_failed", 0, "not a blob id")
        try:
            async with self._http.get(
                f"{self._base}/{blob}", headers=self._headers, timeout=self._timeout
            ) as response:
                if response.status != 200:
                    raise _refused(response.status)
                async for data in response.content.iter_chunked(DOWNLOAD_READ):
                    yield data
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RelayError("download_failed", 0, type(exc).__name__) from None

    async def cancel(self, transfer_id: str) -> None:
        """Cancel our named upload: the hub drops its blob, stored or still coming in."""
        if _TRANSFER_ID.fullmatch(transfer_id):
            await self._delete(f"transfer/{transfer_id}", "upload_failed")

    async def delete(self, blob: str) -> None:
        """DELETE our blob (204; a blob already gone counts as deleted)."""
        if _BLOB_ID.fullmatch(blob):
            await self._delete(blob, "download_failed")

    async def _delete(self, path: str, code: FileErrorCode) -> None:
        try:
            async with self._http.delete(
                f"{self._base}/{path}", headers=self._headers, timeout=self._timeout
            ) as response:
                if response.status not in (204, 404):
                    raise _refused(response.status, code)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise RelayError(code, 0, type(exc).__name__) from None


def _refused(status: int, otherwise: FileErrorCode = "download_failed") -> RelayError:
    code: FileErrorCode = {413: "too_large", 507: "storage_full"}.get(  # type: ignore[assignment]
        status, otherwise
    )
    return RelayError(code, status, f"relay answered {status}")


# -- sending ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Uploaded:
    """A file sealed into the relay: what its ``file_offer`` needs."""

    blob: str
    key: bytes = field(repr=False)
    sha256: str
    size: int


async def upload_artifact(
    relay: Relay,
    vault: SessionVault,
    artifact: Artifact,
    transfer_id: str,
    *,
    progress: Progress | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    pace_bytes_s: int | None = None,
    clock: Callable[[], float] | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> Uploaded:
    """Seal ``artifact`` from the vault as it is uploaded; never holds the whole blob.

    With ``pace_bytes_s`` the upload goes no faster than that: on a two-core kiosk an unpaced
    upload, the hub and the browser's decryption take the CPU the call's video encoder needs
    (`python -m bench transfer` measures both).
    """
    key = new_key()
    sealer = seal(key, transfer_id, chunk_size)
    length = sealed_size(artifact.size, chunk_size)
    now = clock if clock is not None else asyncio.get_running_loop().time

    async def body() -> AsyncIterator[bytes]:
        started = now()
        pieces = vault.read_chunks(artifact)
        try:
            for piece in pieces:
                out = sealer.feed(piece)
                if out:
                    yield out
                    if pace_bytes_s:
                        ahead = sealer.size / pace_bytes_s - (now() - started)
                        if ahead > 0:
                            await sleep(ahead)
                if progress is not None:
                    progress(sealer.size, artifact.size)
                await asyncio.sleep(0)  # let the call's media run between batches
        finally:
            close = getattr(pieces, "close", None)  # a generator: release its file now
            if close is not None:
                close()
        yield sealer.finish()

    blob = await relay.upload(body(), length, transfer_id)
    if sealer.size != artifact.size:
        raise TransferError("corrupt", "the artifact changed while it was sent")
    log.info("exchange: uploaded %d bytes (%d sealed)", artifact.size, length)
    return Uploaded(blob=blob, key=key, sha256=sealer.sha256, size=sealer.size)


# -- receiving -------------------------------------------------------------------------


async def receive_offer(
    relay: Relay,
    vault: SessionVault,
    offer: FileOffer,
    limits: ExchangeLimits,
    *,
    kind: ArtifactKind = ArtifactKind.FILE_RECEIVED,
    progress: Progress | None = None,
) -> tuple[Artifact, str]:
    """Download, open and check ``offer``'s blob into the vault; returns (artifact, sha256)."""
    check_offer(offer, limits)
    return await receive_stream(
        relay.download(offer.blob), vault, offer, limits, kind=kind, progress=progress
    )


def check_offer(offer: FileOffer, limits: ExchangeLimits) -> None:
    """Refuse before downloading what the offer itself says is too large or not allowed."""
    if offer.size > limits.max_file_bytes:
        raise TransferError("too_large", f"offer of {offer.size} bytes")
    if offer.mime not in limits.allowed_types:
        raise TransferError("type_not_allowed", "offered type not allowed")


async def receive_stream(
    stream: AsyncIterator[bytes],
    vault: SessionVault,
    offer: FileOffer,
    limits: ExchangeLimits,
    *,
    kind: ArtifactKind = ArtifactKind.FILE_RECEIVED,
    progress: Progress | None = None,
) -> tuple[Artifact, str]:
    """Open the sealed ``stream`` for ``offer`` into a new vault artifact; all or nothing."""
    try:
        key = bytes.fromhex(offer.key)
        opener = Opener(
            key, offer.id, size=offer.size, sha256=offer.sha256, limit=limits.max_file_bytes
        )
        writer = vault.create(kind, offer.name)
    except (ValueError, VaultClosed) as exc:
        raise TransferError("download_failed", type(exc).__name__) from None
    try:
        head = bytearray()
        async for data in stream:
            for plain in opener.feed(data):
                if len(head) < SNIFF_BYTES:
                    head += plain[: SNIFF_BYTES - len(head)]
                writer.write(plain)
                if progress is not None:
                    progress(opener.received, offer.size)
        digest = opener.finish()
        sniffed = sniff(bytes(head))
        if sniffed is None or sniffed not in limits.allowed_types or sniffed != offer.mime:
            raise TransferError("type_not_allowed", "content type not allowed or not as offered")
        artifact = writer.close()
    except SealedError as exc:
        writer.abort()
        raise TransferError(exc.code, "sealed blob refused") from None
    except VaultFull as exc:
        writer.abort()
        code: FileErrorCode = "too_large" if exc.limit == "file" else "storage_full"
        raise TransferError(code, f"vault {exc.limit} limit") from None
    except VaultClosed:
        writer.abort()
        raise TransferError("download_failed", "the session vault closed") from None
    except BaseException:
        writer.abort()
        raise
    finally:
        closer = getattr(stream, "aclose", None)
        if closer is not None:
            await closer()
    log.info("exchange: received %d bytes", artifact.size)
    return artifact, digest
