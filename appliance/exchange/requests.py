"""The adviser's scan and photo requests: asked, confirmed by the customer, sent as a file.

One request at a time. A scan runs the scanner into one PDF, a photo counts down and takes
the camera's latest frame; the customer sees previews and confirms, retakes or declines, and
the adviser hears ``request_status`` at every change. The result goes out through
``FileTransfers`` like any file the kiosk sends.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal

import av

from appliance.custody.vault import ArtifactKind
from appliance.exchange.files import FileTransfers, TransferCancelled
from appliance.exchange.images import JpegPicture, build_pdf, photo, scanned_picture
from appliance.exchange.state import Preview, RequestView
from appliance.exchange.tasks import TaskSet
from appliance.exchange.transfer import TransferError
from drivers.errors import (
    DeviceBusy,
    DeviceGone,
    DeviceNotFound,
    DriverError,
    DriverTimeout,
    NoDocuments,
    ScanCancelled,
)
from drivers.scanner import DocumentScanner, ScannedPage, ScanProgress, ScanSettings
from protocol.channel import ChannelMessage, FilePurpose, RequestState, RequestStatus

log = logging.getLogger(__name__)

TERMINAL: Final = frozenset({"declined", "failed", "cancelled"})

RequestKind = Literal["scan", "photo"]


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


class Requests:
    """The current scan or photo request and its work; ``changed`` updates the screen."""

    def __init__(
        self,
        *,
        files: FileTransfers,
        send: Callable[[ChannelMessage], None],
        tasks: TaskSet,
        changed: Callable[[], None],
        scanner: DocumentScanner | None,
        latest_frame: Callable[[], av.VideoFrame | None],
        auto_confirm: bool,
        photo_countdown_s: int,
        scan_settings: ScanSettings,
    ) -> None:
        self._files = files
        self._send = send
        self._tasks = tasks
        self._changed = changed
        self._scanner = scanner
        self._latest_frame = latest_frame
        self._auto_confirm = auto_confirm
        self._countdown_s = max(0, photo_countdown_s)
        self._scan_settings = scan_settings
        self._request: _Request | None = None
        self._delivered: set[str] = set()  # ids of requests whose file the adviser has
        self._closed = False

    @property
    def view(self) -> RequestView | None:
        """The current request for the screen (``None``: none, or delivered)."""
        return self._request.view() if self._request is not None else None

    # -- from the adviser ---------------------------------------------------------------

    def asked(self, request_id: str, kind: RequestKind) -> None:
        """A ``scan_request`` or ``photo_request``: refused typed, or shown to the customer."""
        current = self._request
        if current is not None and current.id == request_id:
            self._status(current)  # asked again (after a resume): where it stands
            return
        if request_id in self._delivered:
            return  # answered already (its file was confirmed by the adviser)
        if current is not None and current.state not in TERMINAL:
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

    def withdrawn(self, request_id: str) -> None:
        """The adviser cancelled the request (``request_cancel``)."""
        request = self._request
        if request is None or request.id != request_id or request.state in TERMINAL:
            return
        self._stop_work(request)
        self._state(request, "cancelled")

    def upload_delivered(self, transfer_id: str) -> None:
        """The adviser confirmed a file: if it was this request's, the request is done."""
        request = self._request
        if request is not None and request.transfer_id == transfer_id:
            self._delivered.add(request.id)
            self._request = None  # delivered: nothing more to show
            self._changed()

    def upload_refused(self, transfer_id: str, code: str) -> None:
        """The adviser refused a file: if it was this request's, the request failed."""
        request = self._request
        if request is not None and request.transfer_id == transfer_id:
            request.code = code
            self._state(request, "failed")

    def upload_cancelled(self, transfer_id: str) -> None:
        """The adviser cancelled a file: if it was this request's, so is the request."""
        request = self._request
        if request is not None and request.transfer_id == transfer_id:
            self._state(request, "cancelled")

    def restate(self) -> None:
        """After a resume: a request still running says again where it stands."""
        request = self._request
        if request is not None and request.state not in TERMINAL:
            self._status(request)

    # -- from the customer --------------------------------------------------------------

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
        self._state(request, "sending")
        request.task = self._tasks.spawn(self._send_result(request))

    def decline(self, request_id: str) -> None:
        """The customer does not want to send anything for this request."""
        request = self._current(request_id, "asked", "scanning", "countdown", "confirming")
        if request is None:
            return
        self._stop_work(request)
        self._state(request, "declined")

    def close(self) -> None:
        """The session ends: a request still running is cancelled (its task with it)."""
        self._closed = True
        request = self._request
        if request is not None and request.state not in TERMINAL:
            if request.task is not None:
                request.task.cancel()
            request.state = "cancelled"
            self._status(request)

    # -- the work -----------------------------------------------------------------------

    def _current(self, request_id: str, *states: RequestState) -> _Request | None:
        request = self._request
        if request is None or request.id != request_id or request.state not in states:
            return None
        return request

    def _stop_work(self, request: _Request) -> None:
        if request.task is not None and not request.task.done():
            request.task.cancel()
        if request.transfer_id is not None:
            self._files.stop_upload(request.transfer_id)
        request.result = None

    def _run(self, request: _Request) -> None:
        request.result = None
        request.previews = ()
        request.pages = 0
        request.progress = 0
        work = self._scan(request) if request.kind == "scan" else self._take_photo(request)
        request.task = self._tasks.spawn(work)

    async def _scan(self, request: _Request) -> None:
        scanner = self._scanner
        assert scanner is not None  # noqa: S101 - scan requests are refused without one
        pictures: list[JpegPicture] = []
        previews: list[Preview] = []

        async def sink(page: ScannedPage) -> None:
            picture, shown = await asyncio.to_thread(scanned_picture, page)
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

        self._state(request, "scanning")
        try:
            await scanner.scan(self._scan_settings, sink, progress)
        except asyncio.CancelledError:
            scanner.cancel()
            raise
        except DriverError as exc:
            self._scan_failed(request, _scan_code(exc))
            return
        except ValueError:  # a page that does not decode
            self._scan_failed(request, "scan_unreadable")
            return
        try:
            # In a thread: the viewer may hold pdfium's lock while it renders a document.
            pdf = await asyncio.to_thread(build_pdf, pictures)
        except ValueError:
            self._scan_failed(request, "scan_unreadable")
            return
        request.result = pdf
        request.previews = tuple(previews)
        request.progress = 100
        self._state(request, "confirming")
        if self._auto_confirm:
            self.confirm(request.id)

    def _scan_failed(self, request: _Request, code: str) -> None:
        request.code = code
        log.info("exchange: scan failed: %s", code)
        self._state(request, "failed")

    async def _take_photo(self, request: _Request) -> None:
        for left in range(self._countdown_s, 0, -1):
            request.countdown = left
            self._state(request, "countdown")
            await asyncio.sleep(1)
        request.countdown = None
        frame = self._latest_frame()
        if frame is None:
            request.code = "no_camera"
            self._state(request, "failed")
            return
        picture, shown = await asyncio.to_thread(photo, frame)
        request.result = picture.jpeg
        request.previews = (shown,)
        self._state(request, "confirming")
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

        def sending(done: int, size: int) -> None:
            if self._request is request and size:
                request.progress = min(100, done * 100 // size)
                self._status(request)
                self._changed()

        try:
            transfer_id, task = self._files.begin_upload(
                kind, name, mime, result, purpose, request.id, sending
            )
            request.transfer_id = transfer_id
            await self._files.finish_upload(transfer_id, task)
        except TransferCancelled:
            return
        except TransferError as exc:
            request.code = exc.code
            self._state(request, "failed")
            return
        request.result = None

    # -- telling the adviser and the screen ---------------------------------------------

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

    def _state(self, request: _Request, state: RequestState) -> None:
        request.state = state
        if state != "countdown":
            request.countdown = None
        if state in TERMINAL:
            request.result = None
            if state != "failed":
                request.previews = ()
        self._status(request)
        self._changed()


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
