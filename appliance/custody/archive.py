"""What the tenant keeps of a consultation, sealed here before the wipe (docs/archive.md).

Content is never kept by default. When the hub's welcome says the tenant archives signed
contracts and/or chat transcripts, the consultation's signed PDFs (the vault's signature
artifacts) and its chat (both directions, with times, as UTF-8 text) are sealed at the kiosk to
the tenant's archive certificate (CMS AuthEnvelopedData, ``signing.sealed.seal_bytes``) and
uploaded to ``POST /api/archive/{consultation_id}?kind=...`` with the connection's relay token,
before the session is wiped. The certificate counts only when the tenant CA the kiosk enrolled
with signed it: a hostile hub naming its own would otherwise get the plaintext. A failed upload
is logged with a code, retried once, then given up: nothing is ever kept unsealed, and the wipe
takes the content either way. Logs carry codes and counts only.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Protocol

import aiohttp
from cryptography import x509

from appliance.custody.ledger import ArtifactKind, VaultError
from appliance.custody.vault import SessionVault
from appliance.exchange.transfer import relay_base_url
from protocol.channel import HistoryChat
from protocol.messages import ArchiveKind

log = logging.getLogger(__name__)

ArchiveCode = Literal[
    "no_certificate", "untrusted", "seal_failed", "unreachable", "refused", "bad_answer"
]
RETRY_PAUSE_S: Final = 2.0
CONNECT_TIMEOUT_S: Final = 10.0
SOCK_READ_TIMEOUT_S: Final = 20.0
# All of a consultation's items: the wipe follows, and the goodbye screen gives up on a wipe
# that does not report within 60 s (journey_state.Timeouts.wipe_confirm).
BUDGET_S: Final = 40.0
_AUTHORS: Final = {"kiosk": "customer", "adviser": "adviser"}


class ArchiveError(Exception):
    """An item could not be sealed or uploaded; the message holds codes and numbers only."""

    def __init__(self, code: ArchiveCode, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code: ArchiveCode = code


@dataclass(frozen=True)
class ArchiveItem:
    """One thing to keep, in plaintext: memory only, sealed before it leaves."""

    kind: ArchiveKind
    content: bytes = field(repr=False)


@dataclass(frozen=True)
class ArchiveOutcome:
    """What became of a consultation's items (counts only, for the log and the tests)."""

    uploaded: int = 0
    failed: int = 0
    skipped: ArchiveCode | None = None  # why nothing was even tried


class ArchiveUploader(Protocol):
    """The hub's archive endpoint as the archiver uses it (``ArchiveClient`` or a stand-in)."""

    async def upload(self, consultation_id: str, kind: ArchiveKind, sealed: bytes) -> str:
        """Store one sealed item; the hub's id for it. ``ArchiveError`` otherwise."""
        ...


def transcript(lines: Sequence[HistoryChat]) -> bytes:
    """The chat as UTF-8 text, one line per message: UTC time, who, text (continuations
    indented so a message's own line breaks cannot pass for another message)."""
    out: list[str] = []
    for line in lines:
        at = dt.datetime.fromtimestamp(line.ts / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        text = line.text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\n    ")
        out.append(f"{at} UTC {_AUTHORS[line.author]}: {text}\n")
    return "".join(out).encode("utf-8")


def collect(
    kinds: frozenset[ArchiveKind], vault: SessionVault | None, chat: Sequence[HistoryChat]
) -> list[ArchiveItem]:
    """The items of this consultation the tenant keeps: signed PDFs, then the transcript."""
    items: list[ArchiveItem] = []
    if "contract" in kinds and vault is not None:
        for artifact in vault.artifacts:
            if artifact.kind is ArtifactKind.SIGNATURE:
                items.append(ArchiveItem("contract", vault.read_bytes(artifact)))
    if "transcript" in kinds and chat:
        items.append(ArchiveItem("transcript", transcript(chat)))
    return items


def archive_certificate(
    cert_b64: str | None, *, anchors: Sequence[x509.Certificate], now: dt.datetime
) -> x509.Certificate:
    """The welcome's archive certificate, checked like the trustee's; ``ArchiveError`` else."""
    if not cert_b64:
        raise ArchiveError("no_certificate", "the tenant has no archive certificate")
    try:
        der = base64.b64decode(cert_b64, validate=True)
    except (binascii.Error, ValueError):
        raise ArchiveError("untrusted", "the archive certificate is not base64") from None
    from signing.trustee import TrusteeError, check_trustee

    try:
        return check_trustee(der, anchors=anchors, now=now)
    except TrusteeError as exc:
        raise ArchiveError("untrusted", exc.code) from None


class ArchiveClient:
    """The kiosk's side of ``/api/archive/{consultation_id}``: bearer relay token, CMS body.

    ``http`` gives the kiosk's shared aiohttp session (not closed here); ``token`` is asked at
    each request (a reconnection brings a new relay token).
    """

    def __init__(
        self,
        http: Callable[[], aiohttp.ClientSession],
        *,
        hub_url: str,
        token: Callable[[], str],
    ) -> None:
        self._http = http
        self._hub_url = hub_url
        self._token = token
        self._timeout = aiohttp.ClientTimeout(
            total=BUDGET_S, sock_connect=CONNECT_TIMEOUT_S, sock_read=SOCK_READ_TIMEOUT_S
        )

    def __repr__(self) -> str:
        return "ArchiveClient(<hub>)"  # not the token

    async def upload(self, consultation_id: str, kind: ArchiveKind, sealed: bytes) -> str:
        """POST one sealed item; the hub's id for it (201 ``{"id"}``)."""
        try:
            url = f"{relay_base_url(self._hub_url)}/api/archive/{consultation_id}"
        except ValueError:
            raise ArchiveError("unreachable", "the hub URL is not ws(s):// or http(s)://") from None
        headers = {
            "Authorization": f"Bearer {self._token()}",
            "Content-Type": "application/cms",
        }
        try:
            async with self._http().post(
                url,
                params={"kind": kind},
                data=sealed,
                headers=headers,
                timeout=self._timeout,
            ) as response:
                if response.status != 201:
                    raise ArchiveError("refused", f"the hub answered {response.status}")
                answer: Any = await response.json()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ArchiveError("unreachable", type(exc).__name__) from None
        except ValueError:
            raise ArchiveError("bad_answer", "the hub's answer is not JSON") from None
        item = answer.get("id") if isinstance(answer, dict) else None
        if not isinstance(item, str) or not item:
            raise ArchiveError("bad_answer", "the hub answered without an id")
        return item


class Archiver:
    """Seals and uploads a consultation's items at its end, as the tenant's welcome says."""

    def __init__(
        self,
        uploader: ArchiveUploader,
        *,
        anchors: Callable[[], Sequence[x509.Certificate]],
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        retry_pause_s: float = RETRY_PAUSE_S,
        budget_s: float = BUDGET_S,
    ) -> None:
        self._uploader = uploader
        self._anchors = anchors
        self._now = now
        self._sleep = sleep
        self._retry_pause_s = retry_pause_s
        self._budget_s = budget_s
        self._cert_b64: str | None = None
        self.kinds: frozenset[ArchiveKind] = frozenset()

    def welcomed(self, cert_b64: str | None, kinds: Sequence[ArchiveKind]) -> None:
        """The hub's welcome: the tenant's archive certificate and what it keeps."""
        self._cert_b64 = cert_b64
        self.kinds = frozenset(kinds)

    async def archive(
        self, consultation_id: str, vault: SessionVault | None, chat: Sequence[HistoryChat]
    ) -> ArchiveOutcome:
        """Seal and upload what the tenant keeps of this consultation (before its wipe)."""
        if not self.kinds:
            return ArchiveOutcome()
        try:
            items = collect(self.kinds, vault, chat)
        except (VaultError, OSError) as exc:
            log.warning("archive: the session's items are unreadable (%s)", type(exc).__name__)
            return ArchiveOutcome(skipped="seal_failed")
        if not items:
            return ArchiveOutcome()
        try:
            anchors = self._anchors()
            certificate = archive_certificate(self._cert_b64, anchors=anchors, now=self._now())
        except ArchiveError as exc:
            log.warning("archive: %d item(s) not kept: %s", len(items), exc)
            return ArchiveOutcome(failed=len(items), skipped=exc.code)
        uploaded = failed = 0
        try:
            async with asyncio.timeout(self._budget_s):
                for item in items:
                    if await self._keep(consultation_id, item, certificate):
                        uploaded += 1
                    else:
                        failed += 1
        except TimeoutError:
            log.warning("archive: out of time, %d item(s) given up", len(items) - uploaded - failed)
            failed = len(items) - uploaded
        log.info("archive: %d item(s) sealed and uploaded, %d given up", uploaded, failed)
        return ArchiveOutcome(uploaded=uploaded, failed=failed)

    async def _keep(
        self, consultation_id: str, item: ArchiveItem, certificate: x509.Certificate
    ) -> bool:
        from signing.sealed import SealError, seal_bytes

        try:
            sealed = await asyncio.to_thread(seal_bytes, item.content, certificate)
        except SealError as exc:
            log.warning("archive: a %s was not sealed (%s)", item.kind, exc.reason)
            return False
        for attempt in (1, 2):
            try:
                await self._uploader.upload(consultation_id, item.kind, sealed)
                return True
            except ArchiveError as exc:
                log.warning("archive: upload of a %s failed (%s), try %d", item.kind, exc, attempt)
            except Exception as exc:  # whatever it was, the wipe must follow
                name = type(exc).__name__
                log.warning("archive: upload of a %s failed (%s), try %d", item.kind, name, attempt)
            if attempt == 1:
                await self._sleep(self._retry_pause_s)
        return False
