"""The exchange of one consultation: files both ways, document push, scan and photo requests.

Control messages come and go on the data channel (``send``/``handle``); bytes go sealed through
the hub's relay (``appliance.exchange.transfer``); everything received or produced is written to the
session vault and nowhere else. The customer sees ``ExchangeState`` snapshots (through the
``ExchangeObserver``) and decides through the ``CustomerDecisions`` methods; the adviser hears
``request_status`` at every change of a request, ``file_progress`` while we upload, and
``file_done``/``file_error`` for what it sent us.

:class:`Exchange` routes the adviser's messages to the two halves of the work: the files
(``appliance.exchange.files``) and the scan and photo requests (``appliance.exchange.requests``,
with the pictures in ``appliance.exchange.images``).

Everything here runs on the kiosk's event loop: call ``handle`` and the decision methods from
it (the UI bridge hands decisions over with ``call_soon_threadsafe``). Logs carry codes and
sizes only, never a file name, a picture or a document.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import av

from appliance.config.kiosk import ExchangeSettings
from appliance.custody.vault import Artifact, ArtifactKind, SessionVault
from appliance.exchange.files import FileTransfers
from appliance.exchange.requests import Requests
from appliance.exchange.state import CustomerDecisions, ExchangeObserver, ExchangeState
from appliance.exchange.tasks import TaskSet
from appliance.exchange.transfer import TYPE_NAMES, ExchangeLimits, Relay
from drivers.scanner import ColourMode, DocumentScanner, ScanSettings
from protocol.channel import (
    CancelReason,
    ChannelMessage,
    FileCancel,
    FileDone,
    FileError,
    FileOffer,
    FilePurpose,
    PhotoRequest,
    RequestCancel,
    ScanRequest,
    ScreenShare,
    SignatureCancel,
    SignatureRequest,
    SignatureStatus,
)

if TYPE_CHECKING:
    from appliance.signing.service import SignatureDesk

log = logging.getLogger(__name__)


# -- from the configuration ----------------------------------------------------------


def limits_from(settings: ExchangeSettings, tenant_max_file_bytes: int) -> ExchangeLimits:
    """The kiosk's ``[exchange]`` section and the tenant's ``welcome.max_file_bytes``."""
    return ExchangeLimits.combine(
        tenant_max_file_bytes,
        settings.max_file_bytes,
        (TYPE_NAMES[name] for name in settings.allowed_types),
        settings.upload_mib_s * 1024 * 1024 or None,
    )


def scan_settings_from(settings: ExchangeSettings) -> ScanSettings:
    """How a requested scan is made (flatbed, the configured resolution and colour mode)."""
    mode: ColourMode = "grey" if settings.scan_mode == "grey" else "colour"
    return ScanSettings(mode=mode, dpi=settings.scan_dpi)


# -- the exchange ----------------------------------------------------------------------


class Exchange(CustomerDecisions):
    """Files, documents, scans and photos of one consultation (docs/exchange.md)."""

    def __init__(
        self,
        *,
        vault: SessionVault,
        send: Callable[[ChannelMessage], None],
        relay: Relay,
        scanner: DocumentScanner | None,
        latest_frame: Callable[[], av.VideoFrame | None],
        limits: ExchangeLimits,
        auto_confirm: bool,
        observer: ExchangeObserver | None,
        photo_countdown_s: int = 3,
        scan_settings: ScanSettings | None = None,
    ) -> None:
        self._send_raw = send
        self.vault = vault
        self._observer = observer
        self._tasks = TaskSet()
        self._files = FileTransfers(
            vault=vault,
            send=self._send,
            relay=relay,
            limits=limits,
            tasks=self._tasks,
            changed=self._changed,
        )
        self._requests = Requests(
            files=self._files,
            send=self._send,
            tasks=self._tasks,
            changed=self._changed,
            scanner=scanner,
            latest_frame=latest_frame,
            auto_confirm=auto_confirm,
            photo_countdown_s=photo_countdown_s,
            scan_settings=scan_settings or ScanSettings(mode="colour", dpi=200),
        )
        self._screen_share = False
        self._closed = False
        self.signatures: SignatureDesk | None = None  # set by the shell (appliance.signing)

    # -- what the screen shows ----------------------------------------------------------

    @property
    def state(self) -> ExchangeState:
        """The current snapshot."""
        return ExchangeState(
            request=self._requests.view,
            documents=self._files.documents,
            transfers=self._files.transfers,
            screen_share=self._screen_share,
        )

    def _changed(self) -> None:
        if self._observer is not None:
            self._observer.exchange_changed(self.state)

    # -- messages from the adviser ------------------------------------------------------

    async def handle(self, message: ChannelMessage) -> None:
        """One data-channel message of the exchange; anything else is ignored.

        Returns quickly: downloads, scans and countdowns run as tasks of their own.
        """
        if self._closed:
            return
        if isinstance(message, FileOffer):
            self._files.offered(message)
        elif isinstance(message, FileCancel):
            if await self._files.cancelled(message.id):
                self._requests.upload_cancelled(message.id)
        elif isinstance(message, FileDone):
            if self._files.confirmed(message):
                self._requests.upload_delivered(message.id)
        elif isinstance(message, FileError):
            if self._files.refused(message):
                self._requests.upload_refused(message.id, message.code)
        elif isinstance(message, ScanRequest):
            self._requests.asked(message.id, "scan")
        elif isinstance(message, PhotoRequest):
            self._requests.asked(message.id, "photo")
        elif isinstance(message, RequestCancel):
            self._requests.withdrawn(message.id)
        elif isinstance(message, SignatureRequest | SignatureCancel):
            if self.signatures is not None:
                await self.signatures.handle(message)
            elif isinstance(message, SignatureRequest):
                self._send(SignatureStatus(id=message.id, state="failed", code="no_tablet"))
        elif isinstance(message, ScreenShare):
            if self._screen_share != message.active:
                self._screen_share = message.active
                self._changed()

    def connection_lost(self) -> None:
        """The call's connection is gone, and a shared screen with it.

        The screen is a track of that connection; a resumed console that still shares says so
        again once verified, and a reloaded one has nothing to share.
        """
        if self._screen_share:
            self._screen_share = False
            self._changed()

    async def resend_offers(self) -> None:
        """After a resume: offer again every file we uploaded this session (same blob, key).

        Files the adviser refused or cancelled are gone and not offered; a request still
        running says again where it stands (a reloaded console lost it).
        """
        self._files.resend_offers()
        self._requests.restate()
        if self.signatures is not None:
            self.signatures.restate()

    # -- sending ------------------------------------------------------------------------

    async def send_file(
        self,
        kind: ArtifactKind,
        name: str,
        mime: str,
        data: bytes | Artifact,
        purpose: FilePurpose = "file",
        request_id: str | None = None,
    ) -> str:
        """Store (unless already an artifact), seal, upload, then offer; returns the id.

        Raises :class:`~appliance.exchange.files.TransferCancelled` when the adviser, the
        customer or the session's end stopped it, and ``TransferError`` (code) when it failed.
        """
        return await self._files.send_file(kind, name, mime, data, purpose, request_id)

    def stored(self, transfer_id: str) -> Artifact | None:
        """The vault's copy of a file of this call (either direction), by transfer id."""
        return self._files.stored(transfer_id)

    async def send_signed(self, artifact: Artifact, request_id: str) -> str:
        """Offer the signed PDF of signature request ``request_id`` (purpose "signed")."""
        return await self.send_file(
            artifact.kind, artifact.name, "application/pdf", artifact, "signed", request_id
        )

    # -- the customer's decisions -------------------------------------------------------

    def start(self, request_id: str) -> None:
        """The customer placed the document / is ready for the photo."""
        self._requests.start(request_id)

    def retake(self, request_id: str) -> None:
        """Scan again / take the photo again (the preview is dropped)."""
        self._requests.retake(request_id)

    def confirm(self, request_id: str) -> None:
        """Send what the preview shows."""
        self._requests.confirm(request_id)

    def decline(self, request_id: str) -> None:
        """The customer does not want to send anything for this request."""
        self._requests.decline(request_id)

    # -- closing ------------------------------------------------------------------------

    async def close(self, reason: CancelReason = "session_ending") -> None:
        """The consultation ends: stop everything, tell the adviser, delete our blobs."""
        if self._closed:
            return
        self._closed = True
        if self.signatures is not None:
            await self.signatures.close()
        self._requests.close()
        stopping = self._files.stop(reason)
        pending = self._tasks.cancel_all()
        # Uploads are not in the task set (send_file awaits them): wait for them here too, so
        # none still reads the vault when the session's wipe starts.
        await asyncio.gather(*pending, *stopping.uploads, return_exceptions=True)
        await self._files.clean_up(stopping)
        self._changed()

    # -- helpers ------------------------------------------------------------------------

    def _send(self, message: ChannelMessage) -> None:
        try:
            self._send_raw(message)
        except Exception as exc:  # a closed channel must not break the exchange's bookkeeping
            log.info("exchange: could not send %s (%s)", message.TYPE, type(exc).__name__)
