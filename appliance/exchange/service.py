"""The exchange of one consultation: files both ways, document push, scan and photo requests.

Control messages come and go on the data channel (``send``/``handle``); bytes go sealed through
the hub's relay (``appliance.exchange.transfer``); everything received or produced is written to the
session vault and nowhere else. The customer sees ``ExchangeState`` snapshots (through the
``ExchangeObserver``) and decides through the ``CustomerDecisions`` methods; the adviser hears
``request_status`` at every change of a request, ``file_progress`` while we upload, and
``file_done``/``file_error`` for what it sent us.

Everything here runs on the kiosk's event loop: call ``handle`` and the decision methods from
it (the UI bridge hands decisions over with ``call_soon_threadsafe``). Logs carry codes and
sizes only, never a file name, a picture or a document.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Final, Literal

import av
import numpy as np

from appliance.config.kiosk import ExchangeSettings
from appliance.custody.vault import Artifact, ArtifactKind, SessionVault, VaultClosed, VaultFull
from appliance.exchange.state import (
    CustomerDecisions,
    ExchangeObserver,
    ExchangeState,
    Preview,
    ReceivedDocument,
    RequestView,
    Transfer,
    TransferPhase,
)
from appliance.exchange.transfer import (
    TYPE_NAMES,
    ExchangeLimits,
    RelayClient,
    RelayError,
    TransferError,
    receive_offer,
    upload_artifact,
)
from drivers.errors import (
    DeviceBusy,
    DeviceGone,
    DeviceNotFound,
    DriverError,
    DriverTimeout,
    NoDocuments,
    ScanCancelled,
)
from drivers.scanner import ColourMode, DocumentScanner, ScannedPage, ScanProgress, ScanSettings
from drivers.scanner.pdf import write_pdf
from protocol.channel import (
    FILE_NAME_MAX,
    CancelReason,
    ChannelMessage,
    FileCancel,
    FileDone,
    FileError,
    FileErrorCode,
    FileOffer,
    FileProgress,
    FilePurpose,
    PhotoRequest,
    RequestCancel,
    RequestState,
    RequestStatus,
    ScanRequest,
    ScreenShare,
)

log = logging.getLogger(__name__)

PREVIEW_MAX_WIDTH: Final = 1024
PROGRESS_INTERVAL_S: Final = 0.1  # file_progress and screen updates: at most ~10 per second
MAX_INCOMING: Final = 3  # downloads at once; more get "busy"
DELETE_TIMEOUT_S: Final = 2.0  # closing does not wait longer for the relay
JPEG_QUALITY: Final = 4  # mjpeg qscale: 2 (best) .. 31; 4 keeps small print readable
_TERMINAL: Final = frozenset({"declined", "failed", "cancelled"})
_MIME_EXT: Final = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png"}
_NAME_SAFE = re.compile(r"[\x00-\x1f\x7f]")

RequestKind = Literal["scan", "photo"]


class TransferCancelled(Exception):
    """The upload was cancelled (by the adviser, the customer or the end of the session)."""


# -- pictures: PNM/JPEG/PNG in, JPEG and previews out, pages into one PDF -----------------


@dataclass(frozen=True)
class JpegPicture:
    """One encoded JPEG with its size in pixels and the resolution it was taken at."""

    jpeg: bytes = field(repr=False)
    width: int
    height: int
    dpi: int = 72


def decode_page(page: ScannedPage) -> av.VideoFrame:
    """A scanner's page as a video frame (PNM from SANE and the simulator, JPEG/PNG from eSCL)."""
    if page.media_type in ("image/x-portable-anymap", "image/x-portable-pixmap"):
        return pnm_frame(page.data)
    codec = {"image/jpeg": "mjpeg", "image/png": "png"}.get(page.media_type)
    if codec is None:
        raise ValueError("a scanned page in a format we cannot read")
    return _decode_image(page.data, codec)


def pnm_frame(data: bytes) -> av.VideoFrame:
    """Parse binary PGM (P5) or PPM (P6), 8 or 16 bits, into a frame (no copy of the header)."""
    tokens: list[bytes] = []
    pos = 0
    while len(tokens) < 4:
        while pos < len(data) and data[pos : pos + 1].isspace():
            pos += 1
        if pos < len(data) and data[pos : pos + 1] == b"#":
            end = data.find(b"\n", pos)
            pos = len(data) if end < 0 else end + 1
            continue
        start = pos
        while pos < len(data) and not data[pos : pos + 1].isspace():
            pos += 1
        if start == pos:
            raise ValueError("not a PNM image")
        tokens.append(data[start:pos])
    pos += 1  # the single whitespace byte before the pixels
    magic, width_s, height_s, maxval_s = tokens
    if magic not in (b"P5", b"P6") or not (width_s + height_s + maxval_s).isdigit():
        raise ValueError("not a binary PGM/PPM image")
    width, height, maxval = int(width_s), int(height_s), int(maxval_s)
    channels = 3 if magic == b"P6" else 1
    if not (0 < width <= 20_000 and 0 < height <= 30_000 and 0 < maxval < 65536):
        raise ValueError("PNM dimensions out of range")
    count = width * height * channels
    if len(data) - pos < count * (2 if maxval > 255 else 1):
        raise ValueError("PNM image is truncated")
    if maxval > 255:
        wide = np.frombuffer(data, dtype=">u2", count=count, offset=pos).astype(np.uint32)
        pixels = (wide * 255 // maxval).astype(np.uint8)
    else:
        pixels = np.frombuffer(data, dtype=np.uint8, count=count, offset=pos)
        if maxval != 255:
            pixels = (pixels.astype(np.uint32) * 255 // maxval).astype(np.uint8)
    if channels == 3:
        return av.VideoFrame.from_ndarray(pixels.reshape(height, width, 3), format="rgb24")
    return av.VideoFrame.from_ndarray(pixels.reshape(height, width), format="gray")


def _decode_image(data: bytes, codec: str) -> av.VideoFrame:
    context: Any = av.CodecContext.create(codec, "r")
    frames = list(context.decode(av.Packet(data)))
    if not frames:
        raise ValueError("the image could not be decoded")
    frame: av.VideoFrame = frames[0]
    return frame


def encode_jpeg(frame: av.VideoFrame, dpi: int = 72) -> JpegPicture:
    """``frame`` as a baseline JPEG (PyAV's mjpeg encoder; no imaging library needed)."""
    context = av.CodecContext.create("mjpeg", "w")
    context.width = frame.width
    context.height = frame.height
    context.pix_fmt = "yuvj420p"
    context.time_base = Fraction(1, 25)
    context.options = {"qmin": str(JPEG_QUALITY), "qmax": str(JPEG_QUALITY)}
    context.open()
    packets = context.encode(frame.reformat(format="yuvj420p")) + context.encode(None)
    return JpegPicture(b"".join(bytes(p) for p in packets), frame.width, frame.height, dpi)


def preview(frame: av.VideoFrame) -> Preview:
    """RGB bytes at a screen-friendly size (at most ``PREVIEW_MAX_WIDTH`` wide)."""
    width = min(PREVIEW_MAX_WIDTH, frame.width)
    height = max(1, round(frame.height * width / frame.width))
    rgb = frame.reformat(width=width, height=height, format="rgb24").to_ndarray()
    return Preview(width, height, np.ascontiguousarray(rgb).tobytes())


def build_pdf(pages: Iterable[JpegPicture]) -> bytes:
    """One PDF, one page per picture, each page the picture's size at its resolution.

    JPEGs go in unchanged as DCTDecode images (drivers.scanner.pdf writes the container).
    """
    pictures = list(pages)
    if not pictures:
        raise ValueError("a PDF needs at least one page")
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{3 + 3 * i} 0 R" for i in range(len(pictures)))
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pictures)} >>".encode())
    for i, picture in enumerate(pictures):
        w_pt = picture.width * 72 / picture.dpi
        h_pt = picture.height * 72 / picture.dpi
        content = f"q {w_pt:.2f} 0 0 {h_pt:.2f} 0 0 cm /Im0 Do Q".encode()
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {w_pt:.2f} {h_pt:.2f}] "
            f"/Resources << /XObject << /Im0 {5 + 3 * i} 0 R >> >> "
            f"/Contents {4 + 3 * i} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
        objects.append(
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
            b"/BitsPerComponent 8 /Filter /DCTDecode /Length %d >>\nstream\n"
            % (picture.width, picture.height, len(picture.jpeg))
            + picture.jpeg
            + b"\nendstream"
        )
    return write_pdf(objects)


def _scanned_picture(page: ScannedPage) -> tuple[JpegPicture, Preview]:
    frame = decode_page(page)
    return encode_jpeg(frame, page.dpi), preview(frame)


def _photo(frame: av.VideoFrame) -> tuple[JpegPicture, Preview]:
    return encode_jpeg(frame), preview(frame)


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


@dataclass
class _Request:
    """A scan or photo request while it runs (its view is built from this)."""

    id: str
    kind: RequestKind
    state: RequestState = "asked"
    progress: int = 0
    countdown: int | None = None
    pages: int = 0
    previews: tuple[Preview, ...] = ()
    code: str | None = None
    result: bytes | None = field(default=None, repr=False)
    task: asyncio.Task[None] | None = None
    transfer_id: str | None = None

    def view(self) -> RequestView:
        return RequestView(
            id=self.id,
            kind=self.kind,
            state=self.state,
            progress=self.progress,
            countdown=self.countdown,
            previews=self.previews,
            code=self.code,
        )


@dataclass
class _Upload:
    """One file we sent: its offer (re-sent after a resume) and whether it is still wanted."""

    offer: FileOffer | None = None
    task: asyncio.Task[FileOffer] | None = None


class Exchange(CustomerDecisions):
    """Files, documents, scans and photos of one consultation (docs/exchange.md)."""

    def __init__(
        self,
        *,
        vault: SessionVault,
        send: Callable[[ChannelMessage], None],
        relay: RelayClient,
        scanner: DocumentScanner | None,
        latest_frame: Callable[[], av.VideoFrame | None],
        limits: ExchangeLimits,
        auto_confirm: bool,
        observer: ExchangeObserver | None,
        photo_countdown_s: int = 3,
        scan_settings: ScanSettings | None = None,
    ) -> None:
        self._vault = vault
        self._send_raw = send
        self._relay = relay
        self._scanner = scanner
        self._latest_frame = latest_frame
        self._limits = limits
        self._auto_confirm = auto_confirm
        self._observer = observer
        self._countdown_s = max(0, photo_countdown_s)
        self._scan_settings = scan_settings or ScanSettings(mode="colour", dpi=200)
        self._request: _Request | None = None
        self._transfers: dict[str, Transfer] = {}
        self._documents: list[ReceivedDocument] = []
        self._screen_share = False
        self._incoming: dict[str, asyncio.Task[None]] = {}
        self._received: dict[str, str] = {}  # transfer id -> sha256 of what we stored
        self._uploads: dict[str, _Upload] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._deletes: set[asyncio.Task[None]] = set()
        self._last_progress: dict[str, float] = {}
        self._delivered: set[str] = set()  # ids of requests whose file the adviser has
        self._closed = False

    # -- what the screen shows ----------------------------------------------------------

    @property
    def state(self) -> ExchangeState:
        """The current snapshot."""
        return ExchangeState(
            request=self._request.view() if self._request is not None else None,
            documents=tuple(self._documents),
            transfers=tuple(self._transfers.values()),
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
            self._on_offer(message)
        elif isinstance(message, FileCancel):
            await self._on_cancel(message.id)
        elif isinstance(message, FileDone):
            self._on_done(message)
        elif isinstance(message, FileError):
            self._on_error(message)
        elif isinstance(message, ScanRequest):
            self._on_request(message.id, "scan")
        elif isinstance(message, PhotoRequest):
            self._on_request(message.id, "photo")
        elif isinstance(message, RequestCancel):
            self._on_request_cancel(message.id)
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

    # -- receiving ----------------------------------------------------------------------

    def _on_offer(self, offer: FileOffer) -> None:
        if offer.id in self._received:
            # A resumed console offers again what we already have: say so again.
            self._send(FileDone(id=offer.id, sha256=self._received[offer.id]))
            return
        if offer.id in self._incoming or offer.id in self._uploads:
            return
        if len(self._incoming) >= MAX_INCOMING:
            self._send(FileError(id=offer.id, code="busy"))
            return
        purpose = offer.purpose if offer.purpose == "document" else "file"
        self._set_transfer(
            Transfer(offer.id, "in", purpose, offer.name, offer.size, 0, "downloading")
        )
        self._incoming[offer.id] = self._spawn(self._download(offer))

    async def _download(self, offer: FileOffer) -> None:
        try:
            artifact, digest = await receive_offer(
                self._relay,
                self._vault,
                offer,
                self._limits,
                kind=ArtifactKind.FILE_RECEIVED,
                progress=lambda done, _size: self._download_progress(offer.id, done),
            )
        except TransferError as exc:
            log.info("exchange: refused an incoming file of %d bytes: %s", offer.size, exc.code)
            self._finish_transfer(offer.id, "failed", exc.code)
            self._send(FileError(id=offer.id, code=exc.code))
            return
        except asyncio.CancelledError:
            self._finish_transfer(offer.id, "cancelled")
            raise
        except Exception as exc:  # a bug must not leave the adviser waiting
            log.error("exchange: download failed unexpectedly (%s)", type(exc).__name__)
            self._finish_transfer(offer.id, "failed", "download_failed")
            self._send(FileError(id=offer.id, code="download_failed"))
            return
        finally:
            self._incoming.pop(offer.id, None)
        self._received[offer.id] = digest
        if offer.purpose == "document":
            self._documents.append(ReceivedDocument(offer.id, offer.name, offer.mime, artifact.ref))
        self._finish_transfer(offer.id, "done")
        self._send(FileDone(id=offer.id, sha256=digest))

    def _download_progress(self, transfer_id: str, done: int) -> None:
        self._transfer_progress(transfer_id, done)

    async def _on_cancel(self, transfer_id: str) -> None:
        task = self._incoming.get(transfer_id)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            return
        upload = self._uploads.get(transfer_id)
        if upload is None:
            return
        if upload.task is not None and not upload.task.done():
            upload.task.cancel()
        self._drop_upload(transfer_id)
        self._finish_transfer(transfer_id, "cancelled")
        request = self._request
        if request is not None and request.transfer_id == transfer_id:
            self._request_state(request, "cancelled")

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

        Raises :class:`TransferError` (code) when it failed and :class:`TransferCancelled`
        when the adviser, the customer or the session's end stopped it.
        """
        transfer_id, task = self._begin_upload(kind, name, mime, data, purpose, request_id)
        await self._finish_upload(transfer_id, task)
        return transfer_id

    def _begin_upload(
        self,
        kind: ArtifactKind,
        name: str,
        mime: str,
        data: bytes | Artifact,
        purpose: FilePurpose,
        request_id: str | None,
    ) -> tuple[str, asyncio.Task[FileOffer]]:
        if self._closed:
            raise TransferCancelled("the exchange is closed")
        transfer_id = secrets.token_urlsafe(16)
        name = _clean_name(name, mime)
        try:
            artifact = data if isinstance(data, Artifact) else self._vault.store(kind, name, data)
        except VaultFull as exc:
            raise TransferError("storage_full", f"vault {exc.limit} limit") from None
        except VaultClosed:
            raise TransferCancelled("the session vault closed") from None
        self._set_transfer(
            Transfer(transfer_id, "out", purpose, name, artifact.size, 0, "uploading")
        )
        task = asyncio.ensure_future(
            self._upload(transfer_id, artifact, name, mime, purpose, request_id)
        )
        self._uploads[transfer_id] = _Upload(task=task)
        return transfer_id, task

    async def _finish_upload(self, transfer_id: str, task: asyncio.Task[FileOffer]) -> None:
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            self._cancel_upload(transfer_id, "cancelled")
            raise
        upload = self._uploads.get(transfer_id)
        if task.cancelled() or upload is None:
            raise TransferCancelled("the upload was cancelled")
        exc = task.exception()
        if exc is not None:
            if isinstance(exc, TransferError):
                code: FileErrorCode = exc.code
            else:
                code = "upload_failed"
                log.error("exchange: upload failed unexpectedly (%s)", type(exc).__name__)
            log.info("exchange: an upload failed: %s", code)
            self._drop_upload(transfer_id)  # the hub may have stored it all the same
            self._finish_transfer(transfer_id, "failed", code)
            raise TransferError(code, "upload failed")
        upload.offer = task.result()
        self._send(upload.offer)

    async def _upload(
        self,
        transfer_id: str,
        artifact: Artifact,
        name: str,
        mime: str,
        purpose: FilePurpose,
        request_id: str | None,
    ) -> FileOffer:
        if artifact.size > self._limits.max_file_bytes:
            raise TransferError("too_large", f"{artifact.size} bytes to send")
        uploaded = await upload_artifact(
            self._relay,
            self._vault,
            artifact,
            transfer_id,
            progress=lambda done, size: self._upload_progress(transfer_id, done, size),
            pace_bytes_s=self._limits.upload_bytes_s,
        )
        return FileOffer(
            id=transfer_id,
            name=name,
            size=uploaded.size,
            mime=mime,
            sha256=uploaded.sha256,
            purpose=purpose,
            request_id=request_id,
            blob=uploaded.blob,
            key=uploaded.key.hex(),
        )

    def _upload_progress(self, transfer_id: str, done: int, size: int) -> None:
        if self._transfer_progress(transfer_id, done):
            self._send(FileProgress(id=transfer_id, bytes=done, size=size))
            request = self._request
            if request is not None and request.transfer_id == transfer_id and size:
                request.progress = min(100, done * 100 // size)
                self._status(request)
                self._changed()

    def _on_done(self, message: FileDone) -> None:
        upload = self._uploads.get(message.id)
        if upload is None or upload.offer is None:
            return
        if message.sha256 != upload.offer.sha256:
            log.warning("exchange: the adviser confirmed a file with another hash")
        self._finish_transfer(message.id, "done")
        request = self._request
        if request is not None and request.transfer_id == message.id:
            self._delivered.add(request.id)
            self._request = None  # delivered: nothing more to show
            self._changed()

    def _on_error(self, message: FileError) -> None:
        upload = self._uploads.get(message.id)
        if upload is None:
            return
        log.info("exchange: the adviser refused a file: %s", message.code)
        self._drop_upload(message.id)
        self._finish_transfer(message.id, "failed", message.code)
        request = self._request
        if request is not None and request.transfer_id == message.id:
            request.code = message.code
            self._request_state(request, "failed")

    def _cancel_upload(self, transfer_id: str, reason: CancelReason) -> None:
        """We stop an upload: tell the adviser, delete the blob, show it cancelled."""
        if transfer_id not in self._uploads:
            return
        self._send(FileCancel(id=transfer_id, reason=reason))
        self._drop_upload(transfer_id)
        self._finish_transfer(transfer_id, "cancelled")

    def _drop_upload(self, transfer_id: str) -> None:
        upload = self._uploads.pop(transfer_id, None)
        if upload is None:
            return
        if upload.offer is not None:
            action = self._delete_blob(upload.offer.blob)
        else:
            # Stopped mid-upload: its last bytes may still reach the hub, and the blob id with
            # them is lost to us. Cancel it by its name.
            action = self._relay_quietly(lambda: self._relay.cancel(transfer_id))
        # Not in self._tasks: closing waits for deletes instead of cancelling them.
        task = asyncio.ensure_future(action)
        self._deletes.add(task)
        task.add_done_callback(self._deletes.discard)

    async def _delete_blob(self, blob: str) -> None:
        await self._relay_quietly(lambda: self._relay.delete(blob))

    async def _relay_quietly(self, action: Callable[[], Awaitable[None]]) -> None:
        """Run a clean-up at the relay; a failure is logged (the hub drops it at the end)."""
        try:
            async with asyncio.timeout(DELETE_TIMEOUT_S):
                await action()
        except (RelayError, TimeoutError) as exc:
            log.info("exchange: could not clean up at the relay (%s)", type(exc).__name__)

    async def resend_offers(self) -> None:
        """After a resume: offer again every file we uploaded this session (same blob, key).

        Files the adviser refused or cancelled are gone and not offered; a request still
        running says again where it stands (a reloaded console lost it).
        """
        for upload in list(self._uploads.values()):
            if upload.offer is not None:
                self._send(upload.offer)
        request = self._request
        if request is not None and request.state not in _TERMINAL:
            self._status(request)

    # -- requests: scan and photo -------------------------------------------------------

    def _on_request(self, request_id: str, kind: RequestKind) -> None:
        current = self._request
        if current is not None and current.id == request_id:
            self._status(current)  # asked again (after a resume): where it stands
            return
        if request_id in self._delivered:
            return  # answered already (its file was confirmed by the adviser)
        if current is not None and current.state not in _TERMINAL:
            self._send(RequestStatus(id=request_id, kind=kind, state="failed", code="busy"))
            return
        if kind == "scan" and self._scanner is None:
            self._send(RequestStatus(id=request_id, kind=kind, state="failed", code="no_scanner"))
            return
        self._request = _Request(request_id, kind)
        self._status(self._request)
        self._changed()
        if self._auto_confirm:
            self.start(request_id)

    def _on_request_cancel(self, request_id: str) -> None:
        request = self._request
        if request is None or request.id != request_id or request.state in _TERMINAL:
            return
        self._stop_request_work(request)
        self._request_state(request, "cancelled")

    def _stop_request_work(self, request: _Request) -> None:
        if request.task is not None and not request.task.done():
            request.task.cancel()
        if request.transfer_id is not None:
            upload = self._uploads.get(request.transfer_id)
            if upload is not None and upload.task is not None and not upload.task.done():
                upload.task.cancel()
            self._cancel_upload(request.transfer_id, "cancelled")
        request.result = None

    def _current(self, request_id: str, *states: RequestState) -> _Request | None:
        request = self._request
        if request is None or request.id != request_id or request.state not in states:
            return None
        return request

    def start(self, request_id: str) -> None:
        """The customer placed the document / is ready for the photo."""
        request = self._current(request_id, "asked")
        if request is None or self._closed:
            return
        self._run(request)

    def retake(self, request_id: str) -> None:
        """Scan again / take the photo again (the preview is dropped)."""
        request = self._current(request_id, "confirming", "failed")
        if request is None or self._closed:
            return
        request.code = None
        self._run(request)

    def confirm(self, request_id: str) -> None:
        """Send what the preview shows."""
        request = self._current(request_id, "confirming")
        if request is None or request.result is None or self._closed:
            return
        request.progress = 0
        self._request_state(request, "sending")
        request.task = self._spawn(self._send_result(request))

    def decline(self, request_id: str) -> None:
        """The customer does not want to send anything for this request."""
        request = self._current(request_id, "asked", "scanning", "countdown", "confirming")
        if request is None:
            return
        self._stop_request_work(request)
        self._request_state(request, "declined")

    def _run(self, request: _Request) -> None:
        request.result = None
        request.previews = ()
        request.pages = 0
        request.progress = 0
        work = self._scan(request) if request.kind == "scan" else self._take_photo(request)
        request.task = self._spawn(work)

    async def _scan(self, request: _Request) -> None:
        scanner = self._scanner
        assert scanner is not None  # noqa: S101 - scan requests are refused without one
        pictures: list[JpegPicture] = []
        previews: list[Preview] = []

        async def sink(page: ScannedPage) -> None:
            picture, shown = await asyncio.to_thread(_scanned_picture, page)
            pictures.append(picture)
            previews.append(shown)
            request.pages = len(pictures)
            self._status(request)

        page = [0]

        def progress(step: ScanProgress) -> None:
            percent = max(0, min(100, int(step.percent)))
            if step.page != page[0]:  # each page of a feeder scan counts from 0 again
                page[0] = step.page
                request.progress = 0
            if percent >= request.progress + 10 or (percent == 100 != request.progress):
                request.progress = percent
                self._status(request)
                self._changed()

        self._request_state(request, "scanning")
        try:
            await scanner.scan(self._scan_settings, sink, progress)
            pdf = build_pdf(pictures)
        except asyncio.CancelledError:
            scanner.cancel()
            raise
        except DriverError as exc:
            request.code = _scan_code(exc)
            log.info("exchange: scan failed: %s", request.code)
            self._request_state(request, "failed")
            return
        except ValueError:
            request.code = "scan_unreadable"
            log.info("exchange: scan failed: %s", request.code)
            self._request_state(request, "failed")
            return
        request.result = pdf
        request.previews = tuple(previews)
        request.progress = 100
        self._request_state(request, "confirming")
        if self._auto_confirm:
            self.confirm(request.id)

    async def _take_photo(self, request: _Request) -> None:
        for left in range(self._countdown_s, 0, -1):
            request.countdown = left
            self._request_state(request, "countdown")
            await asyncio.sleep(1)
        request.countdown = None
        frame = self._latest_frame()
        if frame is None:
            request.code = "no_camera"
            self._request_state(request, "failed")
            return
        picture, shown = await asyncio.to_thread(_photo, frame)
        request.result = picture.jpeg
        request.previews = (shown,)
        self._request_state(request, "confirming")
        if self._auto_confirm:
            self.confirm(request.id)

    async def _send_result(self, request: _Request) -> None:
        result = request.result
        assert result is not None  # noqa: S101 - confirm() checked it
        if request.kind == "scan":
            kind, name, mime = ArtifactKind.SCAN, "scan.pdf", "application/pdf"
        else:
            kind, name, mime = ArtifactKind.PHOTO, "photo.jpg", "image/jpeg"
        purpose: FilePurpose = request.kind
        try:
            transfer_id, task = self._begin_upload(kind, name, mime, result, purpose, request.id)
            request.transfer_id = transfer_id
            await self._finish_upload(transfer_id, task)
        except TransferCancelled:
            return
        except TransferError as exc:
            request.code = exc.code
            self._request_state(request, "failed")
            return
        request.result = None

    # -- closing ------------------------------------------------------------------------

    async def close(self, reason: CancelReason = "session_ending") -> None:
        """The consultation ends: stop everything, tell the adviser, delete our blobs."""
        if self._closed:
            return
        self._closed = True
        request = self._request
        if request is not None and request.state not in _TERMINAL:
            if request.task is not None:
                request.task.cancel()
            request.state = "cancelled"
            self._status(request)
        for transfer_id in list(self._incoming):
            self._send(FileCancel(id=transfer_id, reason=reason))
        uploading: list[asyncio.Task[FileOffer]] = []
        for transfer_id, upload in list(self._uploads.items()):
            if upload.task is not None and not upload.task.done():
                upload.task.cancel()
                uploading.append(upload.task)
                self._send(FileCancel(id=transfer_id, reason=reason))
        for task in list(self._incoming.values()):
            task.cancel()
        blobs = [u.offer.blob for u in self._uploads.values() if u.offer is not None]
        self._uploads.clear()
        pending = [t for t in self._tasks if not t.done()]
        for task in pending:
            task.cancel()
        # Uploads are not in self._tasks (send_file awaits them): wait for them here too, so
        # none still reads the vault when the session's wipe starts.
        await asyncio.gather(*pending, *uploading, return_exceptions=True)
        deletes = [*self._deletes, *(self._delete_blob(b) for b in blobs)]
        await asyncio.gather(*deletes, return_exceptions=True)
        for transfer in list(self._transfers.values()):
            if transfer.phase in ("sealing", "uploading", "downloading"):
                self._transfers[transfer.id] = replace(transfer, phase="cancelled")
        self._changed()

    # -- helpers ------------------------------------------------------------------------

    def _send(self, message: ChannelMessage) -> None:
        try:
            self._send_raw(message)
        except Exception as exc:  # a closed channel must not break the exchange's bookkeeping
            log.info("exchange: could not send %s (%s)", message.TYPE, type(exc).__name__)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("exchange: a task failed (%s)", type(exc).__name__)

    def _status(self, request: _Request) -> None:
        self._send(
            RequestStatus(
                id=request.id,
                kind=request.kind,
                state=request.state,
                progress=request.progress,
                pages=min(100, request.pages),
                code=request.code if request.state == "failed" else None,
            )
        )

    def _request_state(self, request: _Request, state: RequestState) -> None:
        request.state = state
        if state != "countdown":
            request.countdown = None
        if state in _TERMINAL:
            request.result = None
            if state != "failed":
                request.previews = ()
        self._status(request)
        self._changed()

    def _set_transfer(self, transfer: Transfer) -> None:
        self._transfers[transfer.id] = transfer
        self._changed()

    def _transfer_progress(self, transfer_id: str, done: int) -> bool:
        """Record progress; True (and the screen told) at most every PROGRESS_INTERVAL_S."""
        transfer = self._transfers.get(transfer_id)
        if transfer is None:
            return False
        now = asyncio.get_running_loop().time()
        last = self._last_progress.get(transfer_id)
        self._transfers[transfer_id] = replace(transfer, done_bytes=done)
        if last is not None and now - last < PROGRESS_INTERVAL_S and done < transfer.size:
            return False
        self._last_progress[transfer_id] = now
        self._changed()
        return True

    def _finish_transfer(
        self, transfer_id: str, phase: TransferPhase, code: FileErrorCode | None = None
    ) -> None:
        transfer = self._transfers.get(transfer_id)
        self._last_progress.pop(transfer_id, None)
        if transfer is None:
            return
        done = transfer.size if phase == "done" else transfer.done_bytes
        self._transfers[transfer_id] = replace(transfer, phase=phase, error=code, done_bytes=done)
        self._changed()


def _clean_name(name: str, mime: str) -> str:
    """A name the offer can carry: no control characters, 1..FILE_NAME_MAX characters."""
    cleaned = _NAME_SAFE.sub("", name).strip()[:FILE_NAME_MAX]
    return cleaned or f"file.{_MIME_EXT.get(mime, 'bin')}"


def _scan_code(exc: DriverError) -> str:
    """A driver error as a request_status code (the adviser's console explains it)."""
    if isinstance(exc, NoDocuments):
        return "no_documents"
    if isinstance(exc, DeviceNotFound | DeviceGone):
        return "no_scanner"
    if isinstance(exc, DeviceBusy):
        return "scanner_busy"
    if isinstance(exc, DriverTimeout):
        return "scanner_timeout"
    if isinstance(exc, ScanCancelled):
        return "cancelled"
    return "scanner_failed"
