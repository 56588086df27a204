"""Network scanners speaking eSCL (Apple AirScan, Mopria) over HTTP, with aiohttp.

The exchange: ``GET /eSCL/ScannerCapabilities``; ``POST /eSCL/ScanJobs`` with the settings,
answered ``201 Created`` and the job's ``Location``; ``GET {job}/NextDocument`` until ``404``
(no more pages), retrying on ``503`` (still scanning); ``DELETE {job}`` to cancel.
"""

from __future__ import annotations

import asyncio
import contextlib
import xml.etree.ElementTree as ET
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit
from xml.sax.saxutils import escape

import aiohttp

from drivers.errors import (
    DeviceBusy,
    DeviceGone,
    DeviceNotFound,
    DeviceProtocolError,
    DriverError,
    DriverTimeout,
    NoDocuments,
    ScanCancelled,
    UnsupportedSetting,
)
from drivers.scanner import (
    ColourMode,
    PageSink,
    ProgressCallback,
    ScannedPage,
    ScannerInfo,
    ScanProgress,
    ScanSettings,
    Source,
)

NS = {
    "scan": "http://schemas.hp.com/imaging/escl/2011/05/03",
    "pwg": "http://www.pwg.org/schemas/2010/12/sm",
}
# A page bigger than this is not a document scan; refuse rather than fill the RAM vault.
MAX_PAGE_BYTES = 64 * 1024 * 1024
MAX_XML_BYTES = 1024 * 1024
REQUEST_TIMEOUT_S = 30.0
MAX_BUSY_WAIT_S = 120.0
_COLOUR = {"colour": "RGB24", "grey": "Grayscale8"}
_SOURCE = {"flatbed": "Platen", "feeder": "Feeder"}


def _parse_xml(data: bytes) -> ET.Element:
    # ElementTree resolves no external entities, and expat >= 2.4.1 (Python 3.11 bundles it)
    # refuses entity-expansion bombs; the size cap bounds the rest.
    if len(data) > MAX_XML_BYTES:
        raise DeviceProtocolError("the scanner's XML answer is too large")
    try:
        return ET.fromstring(data)  # noqa: S314
    except ET.ParseError:
        raise DeviceProtocolError("the scanner answered with malformed XML") from None


def parse_capabilities(data: bytes, name: str) -> ScannerInfo:
    """``ScannerCapabilities`` XML → :class:`ScannerInfo`."""
    root = _parse_xml(data)
    sources: list[Source] = []
    if root.find("scan:Platen", NS) is not None:
        sources.append("flatbed")
    if root.find("scan:Adf", NS) is not None:
        sources.append("feeder")
    modes: list[ColourMode] = []
    for el in root.iterfind(".//scan:ColorMode", NS):
        text = (el.text or "").strip()
        if text == "RGB24" and "colour" not in modes:
            modes.append("colour")
        elif text == "Grayscale8" and "grey" not in modes:
            modes.append("grey")
    dpis = set()
    for el in root.iterfind(".//scan:XResolution", NS):
        with contextlib.suppress(ValueError):
            dpis.add(int((el.text or "").strip()))
    if not sources:
        raise DeviceProtocolError("the scanner offers neither a platen nor a feeder", device=name)
    return ScannerInfo(name, tuple(sources), tuple(modes), tuple(sorted(dpis)))


def scan_settings_xml(settings: ScanSettings, document_format: str = "image/jpeg") -> bytes:
    """The ``ScanSettings`` document for a job."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<scan:ScanSettings xmlns:scan="{NS["scan"]}" xmlns:pwg="{NS["pwg"]}">'
        "<pwg:Version>2.0</pwg:Version>"
        f"<pwg:InputSource>{_SOURCE[settings.source]}</pwg:InputSource>"
        f"<scan:ColorMode>{_COLOUR[settings.mode]}</scan:ColorMode>"
        f"<scan:XResolution>{settings.dpi}</scan:XResolution>"
        f"<scan:YResolution>{settings.dpi}</scan:YResolution>"
        f"<pwg:DocumentFormat>{escape(document_format)}</pwg:DocumentFormat>"
        f"<scan:DocumentFormatExt>{escape(document_format)}</scan:DocumentFormatExt>"
        "</scan:ScanSettings>"
    ).encode()


class EsclScanner:
    """A :class:`drivers.scanner.DocumentScanner` on an eSCL network scanner.

    ``url`` is the eSCL root, e.g. ``http://192.0.2.7/eSCL``. ``session`` makes the HTTP
    client session (tests may pass one with their own connector).
    """

    def __init__(
        self,
        url: str,
        *,
        name: str = "network scanner",
        document_format: str = "image/jpeg",
        poll_interval_s: float = 0.5,
        session: Callable[[], aiohttp.ClientSession] | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UnsupportedSetting(
                f"eSCL URL {url!r} must be http(s)://host[:port]/eSCL", device=name
            )
        self._url = url.rstrip("/") + "/"
        self._name = name
        self._format = document_format
        self._poll = poll_interval_s
        self._session_factory = session or (
            lambda: aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S))
        )
        self._cancel = asyncio.Event()
        self._running = False

    async def describe(self) -> ScannerInfo:
        """Fetch and parse ``ScannerCapabilities``."""
        async with self._session_factory() as session:
            try:
                async with session.get(self._url + "ScannerCapabilities") as resp:
                    if resp.status != 200:
                        raise DeviceProtocolError(
                            f"capabilities request answered {resp.status}: is this an eSCL "
                            "scanner? check the URL",
                            device=self._name,
                        )
                    data = await resp.content.read(MAX_XML_BYTES + 1)
            except aiohttp.ClientError as exc:
                raise DeviceNotFound(
                    f"cannot reach the scanner at {self._url} ({type(exc).__name__}): "
                    "check that it is on and on the network",
                    device=self._name,
                ) from None
            except TimeoutError:
                raise DriverTimeout(
                    "the scanner did not answer in time", device=self._name
                ) from None
        return parse_capabilities(data, self._name)

    async def scan(
        self,
        settings: ScanSettings,
        sink: PageSink,
        progress: ProgressCallback | None = None,
    ) -> int:
        """Run one scan job; each page goes to ``sink`` as soon as it is downloaded."""
        if self._running:
            raise DeviceBusy("a scan is already running", device=self._name)
        self._running = True
        self._cancel.clear()
        try:
            async with self._session_factory() as session:
                job = await self._create_job(session, settings)
                finished = False
                try:
                    delivered = await self._pages(session, job, settings, sink, progress)
                    finished = True
                    return delivered
                finally:
                    if not finished:
                        await self._delete(session, job)
        finally:
            self._running = False

    async def _create_job(self, session: aiohttp.ClientSession, settings: ScanSettings) -> str:
        body = scan_settings_xml(settings, self._format)
        try:
            async with session.post(
                self._url + "ScanJobs", data=body, headers={"Content-Type": "text/xml"}
            ) as resp:
                if resp.status == 201 and resp.headers.get("Location"):
                    return urljoin(self._url, resp.headers["Location"]).rstrip("/")
                if resp.status == 409 and settings.source == "feeder":
                    raise NoDocuments(
                        "the document feeder is empty: insert the pages", device=self._name
                    )
                if resp.status in (409, 503):
                    raise DeviceBusy("the scanner is busy with another job", device=self._name)
                raise DeviceProtocolError(
                    f"the scanner refused the job ({resp.status})", device=self._name
                )
        except aiohttp.ClientError as exc:
            raise DeviceNotFound(
                f"cannot reach the scanner at {self._url} ({type(exc).__name__})",
                device=self._name,
            ) from None
        except TimeoutError:
            raise DriverTimeout("the scanner did not answer in time", device=self._name) from None

    async def _pages(
        self,
        session: aiohttp.ClientSession,
        job: str,
        settings: ScanSettings,
        sink: PageSink,
        progress: ProgressCallback | None,
    ) -> int:
        delivered = 0
        limit = 1 if settings.source == "flatbed" else settings.max_pages
        loop = asyncio.get_running_loop()
        while limit is None or delivered < limit:
            page = delivered + 1
            if progress is not None:
                progress(ScanProgress(page, 0.0))
            busy_since = loop.time()
            while True:
                if self._cancel.is_set():
                    raise ScanCancelled(
                        f"scan cancelled after {delivered} page(s)", device=self._name
                    )
                status, media_type, data = await self._next_document(session, job)
                if status != 503:
                    break
                if loop.time() - busy_since > MAX_BUSY_WAIT_S:
                    raise DriverTimeout("the scanner took too long for a page", device=self._name)
                await self._wait_or_cancel(self._poll)
            if status == 404:
                break
            if status != 200:
                raise DeviceProtocolError(
                    f"the scanner answered {status} for page {page}", device=self._name
                )
            delivered += 1
            await sink(ScannedPage(delivered, data, media_type, settings.dpi, settings.mode))
            if progress is not None:
                progress(ScanProgress(page, 100.0))
        if delivered == 0:
            raise NoDocuments(
                "the scanner delivered no page: put the document in", device=self._name
            )
        return delivered

    async def _next_document(
        self, session: aiohttp.ClientSession, job: str
    ) -> tuple[int, str, bytes]:
        try:
            async with session.get(job + "/NextDocument") as resp:
                if resp.status != 200:
                    return resp.status, "", b""
                data = await resp.content.read(MAX_PAGE_BYTES + 1)
                if len(data) > MAX_PAGE_BYTES:
                    raise DeviceProtocolError(
                        f"a page larger than {MAX_PAGE_BYTES // 2**20} MiB was refused",
                        device=self._name,
                    )
                return 200, resp.content_type or "application/octet-stream", data
        except aiohttp.ClientError:
            raise DeviceGone(
                "the scanner went away during the scan: check its power and network",
                device=self._name,
            ) from None
        except TimeoutError:
            raise DriverTimeout(
                "the scanner did not deliver the page in time", device=self._name
            ) from None

    async def _wait_or_cancel(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._cancel.wait()

    async def _delete(self, session: aiohttp.ClientSession, job: str) -> None:
        # Best effort: a scanner that is gone has no job to cancel.
        with contextlib.suppress(aiohttp.ClientError, TimeoutError, DriverError):
            async with asyncio.timeout(5):
                async with session.delete(job):
                    pass

    def cancel(self) -> None:
        """Cancel the running job (``scan`` raises ``ScanCancelled``; the job is deleted)."""
        if self._running:
            self._cancel.set()
