"""The exchange of one consultation against the real hub's relay, the real SANE test backend,
the simulated scanner and camera, and a real session vault.

The adviser's side is played over HTTP with its session cookie and CSRF token, like the
console does; the data channel is the ``send`` callable and ``handle``.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import os
import weakref
from collections.abc import AsyncIterator, Callable
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import av
import pypdfium2 as pdfium
import pytest
from aiohttp import web

from appliance.config.kiosk import ConfigError, config_from_mapping
from appliance.custody.vault import ArtifactKind, SessionVault
from appliance.exchange.files import TransferCancelled
from appliance.exchange.images import PREVIEW_MAX_WIDTH, build_pdf, encode_jpeg, pnm_frame
from appliance.exchange.service import Exchange, limits_from, scan_settings_from
from appliance.exchange.state import ExchangeState
from appliance.exchange.transfer import ExchangeLimits, Relay, RelayClient, TransferError, sniff
from drivers.camera.simulated import SimulatedCamera
from drivers.scanner import (
    DocumentScanner,
    PageSink,
    ProgressCallback,
    ScannerInfo,
    ScanSettings,
)
from drivers.scanner.sane import SaneScanner
from drivers.scanner.simulated import SimulatedScanner, sample_page
from kiosk_ui.pdfium_lock import PDFIUM_LOCK
from protocol.channel import (
    ChannelMessage,
    FileCancel,
    FileDone,
    FileError,
    FileOffer,
    FileProgress,
    PhotoRequest,
    RequestCancel,
    RequestStatus,
    ScanRequest,
    ScreenShare,
)
from protocol.messages import (
    Accept,
    Accepted,
    Hello,
    Queue,
    QueuePosition,
    QueueRequest,
    Welcome,
)
from protocol.sealed import (
    HEADER_SIZE,
    MIN_CHUNK,
    RECORD_HEADER_SIZE,
    Opener,
    new_key,
    seal_bytes,
)
from tests.support.hub import (
    RunningHub,
    SignallingPeer,
    connect_kiosk,
    http_session,
    login,
    running_hub,
)
from tests.support.requirements import require_tool

MIB = 1024 * 1024
PASSWORD = "correct horse battery"
CANARY = "Canary-Kontoauszug-7f3a"
PDF = b"%PDF-1.4\n" + CANARY.encode() + os.urandom(20_000) + b"\n%%EOF\n"
M = TypeVar("M")


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


@dataclass
class Console:
    """The adviser's end: the relay over HTTP (cookie + CSRF) and the channel's messages."""

    hub: RunningHub
    http: aiohttp.ClientSession
    consultation: str
    csrf: str
    received: list[ChannelMessage] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def send(self, message: ChannelMessage) -> None:
        """The kiosk's ``send``: what the adviser receives on the data channel."""
        self.received.append(message)
        self.arrived.set()

    async def expect(
        self, kind: type[M], where: Callable[[M], bool] = lambda m: True, within: float = 20
    ) -> M:
        """Wait for a message of ``kind`` (matching ``where``); earlier ones stay listed."""
        async with asyncio.timeout(within):
            while True:
                for message in self.received:
                    if isinstance(message, kind) and where(message):
                        return message
                self.arrived.clear()
                await self.arrived.wait()

    def statuses(self, request_id: str) -> list[str]:
        return [
            m.state for m in self.received if isinstance(m, RequestStatus) and m.id == request_id
        ]

    async def upload(self, blob: bytes) -> str:
        async with self.http.post(
            f"{self.hub.url}/api/relay/{self.consultation}",
            data=io.BytesIO(blob),
            headers={"X-CSRF-Token": self.csrf, "Content-Type": "application/octet-stream"},
        ) as response:
            assert response.status == 201, await response.text()
            blob_id: str = (await response.json())["blob"]
            return blob_id

    async def fetch(self, offer: FileOffer) -> bytes:
        """Download and open what the kiosk offered (checking everything, as the console)."""
        async with self.http.get(
            f"{self.hub.url}/api/relay/{self.consultation}/{offer.blob}",
            headers={"X-CSRF-Token": self.csrf},
        ) as response:
            assert response.status == 200
            sealed = await response.read()
        opener = Opener(bytes.fromhex(offer.key), offer.id, size=offer.size, sha256=offer.sha256)
        data = b"".join(opener.feed(sealed))
        opener.finish()
        return data

    async def blob_status(self, blob: str) -> int:
        async with self.http.get(
            f"{self.hub.url}/api/relay/{self.consultation}/{blob}",
            headers={"X-CSRF-Token": self.csrf},
        ) as response:
            return response.status

    async def offer(
        self,
        data: bytes,
        *,
        mime: str = "application/pdf",
        purpose: str = "file",
        tid: str | None = None,
        mangle: Callable[[bytes], bytes] = lambda b: b,
        **changes: Any,
    ) -> FileOffer:
        """Seal ``data`` with a fresh key, upload it (maybe mangled), return the offer."""
        tid = tid or "adv-" + os.urandom(6).hex()
        key = new_key()
        blob = mangle(seal_bytes(key, tid, data, MIN_CHUNK))
        offer = FileOffer(
            id=tid,
            name=f"{CANARY}.pdf",
            size=len(data),
            mime=mime,
            sha256=hashlib.sha256(data).hexdigest(),
            purpose=purpose,  # type: ignore[arg-type]
            blob=await self.upload(blob),
            key=key.hex(),
        )
        return replace(offer, **changes)


class SwitchedRelay:
    """The kiosk's relay, replaceable mid-test (``target``), counting uploads in flight."""

    def __init__(self, target: Relay) -> None:
        self.target = target
        self.uploading = 0
        self.upload_started = asyncio.Event()

    async def upload(
        self, body: AsyncIterator[bytes], length: int, transfer_id: str | None = None
    ) -> str:
        self.uploading += 1
        self.upload_started.set()
        try:
            return await self.target.upload(body, length, transfer_id)
        finally:
            self.uploading -= 1

    def download(self, blob: str) -> AsyncIterator[bytes]:
        return self.target.download(blob)

    async def cancel(self, transfer_id: str) -> None:
        await self.target.cancel(transfer_id)

    async def delete(self, blob: str) -> None:
        await self.target.delete(blob)


class SwitchedScanner:
    """A scanner replaceable mid-test (``target``): a slow one first, then a quick one."""

    def __init__(self, target: DocumentScanner) -> None:
        self.target = target

    async def describe(self) -> ScannerInfo:
        return await self.target.describe()

    async def scan(
        self, settings: ScanSettings, sink: PageSink, progress: ProgressCallback | None = None
    ) -> int:
        return await self.target.scan(settings, sink, progress)

    def cancel(self) -> None:
        self.target.cancel()


class Screen:
    """The ExchangeObserver: every snapshot the kiosk's screen was given."""

    def __init__(self) -> None:
        self.states: list[ExchangeState] = []
        self.changed = asyncio.Event()

    def exchange_changed(self, state: ExchangeState) -> None:
        self.states.append(state)
        self.changed.set()


@dataclass
class Setup:
    console: Console
    relay: RelayClient
    vault: SessionVault
    screen: Screen
    tmp: Path

    def exchange(self, **kwargs: Any) -> Exchange:
        options: dict[str, Any] = {
            "vault": self.vault,
            "send": self.console.send,
            "relay": self.relay,
            "scanner": None,
            "latest_frame": lambda: None,
            "limits": ExchangeLimits(max_file_bytes=MIB),
            "auto_confirm": False,
            "observer": self.screen,
            "photo_countdown_s": 0,
        }
        options.update(kwargs)
        exchange = Exchange(**options)
        SCREENS[exchange] = options["observer"]
        return exchange


# The Screen each exchange was given, for settled() to wait on.
SCREENS: weakref.WeakKeyDictionary[Exchange, Screen] = weakref.WeakKeyDictionary()


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    async with running_hub(tmp_path) as hub, http_session() as http:
        hub.add_adviser("alice", PASSWORD)
        token = hub.add_device("kiosk-1")
        kiosk = await connect_kiosk(http, hub, token)
        csrf = await login(http, hub, "alice", PASSWORD)
        ws = await http.ws_connect(f"{hub.ws_url}/ws/adviser", headers={"Origin": hub.url})
        adviser = SignallingPeer(ws)
        await adviser.send(Hello(role="adviser", csrf=csrf))
        await adviser.expect(Welcome)
        await adviser.expect(Queue)
        await kiosk.send(QueueRequest())
        position = await kiosk.expect(QueuePosition)
        await adviser.expect(Queue)
        await adviser.send(Accept(consultation_id=position.consultation_id))
        await kiosk.expect(Accepted)
        await adviser.expect(Accepted)
        console = Console(hub, http, position.consultation_id, csrf)
        (tmp_path / "vault").mkdir()
        vault = SessionVault(tmp_path / "vault", max_file_bytes=8 * MIB, max_session_bytes=32 * MIB)
        async with aiohttp.ClientSession() as kiosk_http:
            relay = RelayClient(
                kiosk_http,
                hub_url=hub.ws_url,
                token=token,
                consultation_id=position.consultation_id,
            )
            yield Setup(console, relay, vault, Screen(), tmp_path)


async def settled(exchange: Exchange, check: Callable[[ExchangeState], bool]) -> ExchangeState:
    """Wait until the exchange's snapshot passes ``check`` (woken by the observer)."""
    screen = SCREENS[exchange]
    async with asyncio.timeout(20):
        while not check(exchange.state):
            screen.changed.clear()
            await screen.changed.wait()
    return exchange.state


# -- files from the adviser ---------------------------------------------------------------


async def test_a_pushed_document_is_stored_and_shown(setup: Setup) -> None:
    exchange = setup.exchange()
    offer = await setup.console.offer(PDF, purpose="document")
    await exchange.handle(offer)
    done = await setup.console.expect(FileDone)
    assert (done.id, done.sha256) == (offer.id, offer.sha256)
    state = exchange.state
    (document,) = state.documents
    assert (document.id, document.name, document.mime) == (offer.id, offer.name, offer.mime)
    (artifact,) = setup.vault.artifacts
    assert artifact.ref == document.ref and artifact.kind is ArtifactKind.FILE_RECEIVED
    assert setup.vault.read_bytes(artifact) == PDF
    assert state.transfers[0].phase == "done" and state.transfers[0].done_bytes == len(PDF)
    assert any(s.transfers and s.transfers[0].phase == "downloading" for s in setup.screen.states)
    # Offered again after a resume: acknowledged again, stored once.
    await exchange.handle(offer)
    assert len([m for m in setup.console.received if isinstance(m, FileDone)]) == 2
    assert len(setup.vault.artifacts) == 1
    await exchange.close("session_ending")


def _swap(blob: bytes) -> bytes:
    first = HEADER_SIZE
    size = RECORD_HEADER_SIZE + MIN_CHUNK + 16
    return (
        blob[:first]
        + blob[first + size : first + 2 * size]
        + blob[first : first + size]
        + (blob[first + 2 * size :])
    )


def _dup(blob: bytes) -> bytes:
    size = RECORD_HEADER_SIZE + MIN_CHUNK + 16
    return (
        blob[: HEADER_SIZE + size]
        + blob[HEADER_SIZE : HEADER_SIZE + size]
        + blob[HEADER_SIZE + size :]
    )


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("oversize", {"size_over": True}, "too_large"),
    ("disallowed type", {"mime": "image/gif"}, "type_not_allowed"),
    ("content not as claimed", {"data": b"\x89PNG\r\n\x1a\n" + bytes(5000)}, "type_not_allowed"),
    ("truncated", {"mangle": lambda b: b[:-5]}, "truncated"),
    ("duplicated chunk", {"mangle": _dup}, "duplicate"),
    ("out-of-order chunks", {"mangle": _swap}, "out_of_order"),
    ("tampered", {"mangle": lambda b: b[:-1] + bytes([b[-1] ^ 1])}, "corrupt"),
    ("wrong hash", {"sha256": "0" * 64}, "hash_mismatch"),
]


@pytest.mark.parametrize(("case", "how", "code"), BAD, ids=[b[0] for b in BAD])
async def test_bad_files_get_a_typed_error_and_leave_nothing(
    setup: Setup, case: str, how: dict[str, Any], code: str
) -> None:
    exchange = setup.exchange()
    kept = setup.vault.store(ArtifactKind.PHOTO, "earlier.jpg", b"\xff\xd8\xff" + bytes(100))
    options = dict(how)
    data = options.pop("data", PDF)
    if options.pop("size_over", False):
        data = b"%PDF-" + bytes(MIB + 1)
    offer = await setup.console.offer(data, **options)
    await exchange.handle(offer)
    error = await setup.console.expect(FileError)
    assert (error.id, error.code) == (offer.id, code)
    assert setup.vault.artifacts == [kept]
    assert len(files_under(setup.vault.directory)) == 1
    transfer = exchange.state.transfers[0]
    assert (transfer.phase, transfer.error) == ("failed", code)
    assert exchange.state.documents == ()
    # The exchange still works for the next transfer.
    good = await setup.console.offer(PDF, purpose="document")
    await exchange.handle(good)
    assert (await setup.console.expect(FileDone)).id == good.id
    assert len(setup.vault.artifacts) == 2
    await exchange.close("session_ending")


@pytest.fixture
async def stalling_relay() -> AsyncIterator[tuple[str, bytes, asyncio.Event]]:
    """An HTTP relay that sends half of a blob and then nothing (a cancel is due)."""
    key = bytes(32)
    tid = "stall-0001"
    blob = seal_bytes(key, tid, PDF, MIN_CHUNK)
    halfway = asyncio.Event()
    release = asyncio.Event()

    async def get(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_length = len(blob)
        await response.prepare(request)
        await response.write(blob[: len(blob) // 2])
        halfway.set()
        await release.wait()
        return response

    app = web.Application()
    app.router.add_get("/api/relay/{consultation}/{blob}", get)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"ws://127.0.0.1:{port}", key, halfway
    finally:
        release.set()
        await runner.cleanup()


async def test_cancel_halfway_keeps_nothing_and_the_next_works(
    setup: Setup, stalling_relay: tuple[str, bytes, asyncio.Event]
) -> None:
    url, key, halfway = stalling_relay
    async with aiohttp.ClientSession() as http:
        relay = SwitchedRelay(
            RelayClient(http, hub_url=url, token="bkd_x", consultation_id="c" * 16)
        )
        exchange = setup.exchange(relay=relay)
        offer = FileOffer(
            id="stall-0001",
            name=CANARY,
            size=len(PDF),
            mime="application/pdf",
            sha256=hashlib.sha256(PDF).hexdigest(),
            purpose="file",
            blob="s" * 20,
            key=key.hex(),
        )
        await exchange.handle(offer)
        await halfway.wait()
        await settled(exchange, lambda s: s.transfers[0].done_bytes > 0)
        await exchange.handle(FileCancel(id=offer.id))
        assert exchange.state.transfers[0].phase == "cancelled"
        assert setup.vault.artifacts == [] and files_under(setup.vault.directory) == []
        assert not [m for m in setup.console.received if isinstance(m, FileDone | FileError)]
        # The same exchange, its relay fixed, takes the next file.
        relay.target = setup.relay  # the hub's relay for the next file
        good = await setup.console.offer(PDF)
        await exchange.handle(good)
        assert (await setup.console.expect(FileDone)).id == good.id
        await exchange.close("session_ending")


async def test_too_many_downloads_at_once_are_busy(
    setup: Setup, stalling_relay: tuple[str, bytes, asyncio.Event]
) -> None:
    url, key, _ = stalling_relay
    async with aiohttp.ClientSession() as http:
        relay = RelayClient(http, hub_url=url, token="bkd_x", consultation_id="c" * 16)
        exchange = setup.exchange(relay=relay)
        for n in range(4):
            await exchange.handle(
                FileOffer(
                    id=f"stall-000{n}",
                    name="x",
                    size=len(PDF),
                    mime="application/pdf",
                    sha256="0" * 64,
                    purpose="file",
                    blob="s" * 20,
                    key=key.hex(),
                )
            )
        error = await setup.console.expect(FileError)
        assert (error.id, error.code) == ("stall-0003", "busy")
        await exchange.close("session_ending")
        cancels = {m.id for m in setup.console.received if isinstance(m, FileCancel)}
        assert cancels == {"stall-0000", "stall-0001", "stall-0002"}
        assert setup.vault.artifacts == [] and files_under(setup.vault.directory) == []


# -- scans --------------------------------------------------------------------------------


def pdf_pages(data: bytes) -> list[tuple[float, float]]:
    pdf = pdfium.PdfDocument(data)
    try:
        return [pdf[i].get_size() for i in range(len(pdf))]
    finally:
        pdf.close()


async def test_a_scan_with_the_real_sane_test_backend_is_one_pdf(setup: Setup) -> None:
    require_tool("scanimage", "sane-utils")
    scanner = SaneScanner("test", work_dir=setup.tmp)
    exchange = setup.exchange(scanner=scanner, scan_settings=ScanSettings(dpi=75))
    await exchange.handle(ScanRequest(id="scan-request-1"))
    assert exchange.state.request is not None and exchange.state.request.state == "asked"
    exchange.start("scan-request-1")
    state = await settled(
        exchange, lambda s: s.request is not None and s.request.state == "confirming"
    )
    assert state.request is not None
    (shown,) = state.request.previews
    assert 0 < shown.width <= PREVIEW_MAX_WIDTH and len(shown.rgb) == shown.width * shown.height * 3
    exchange.confirm("scan-request-1")
    offer = await setup.console.expect(FileOffer)
    assert (offer.purpose, offer.request_id, offer.mime) == (
        "scan",
        "scan-request-1",
        "application/pdf",
    )
    data = await setup.console.fetch(offer)
    ((width_pt, height_pt),) = pdf_pages(data)
    # The page has the scan's physical size: pixels at 75 dpi.
    assert shown.width < PREVIEW_MAX_WIDTH  # so the preview has the scan's pixel size
    assert abs(width_pt - shown.width * 72 / 75) < 0.5
    assert abs(height_pt - shown.height * 72 / 75) < 0.5
    statuses = setup.console.statuses("scan-request-1")
    assert statuses[0] == "asked" and "scanning" in statuses
    assert statuses.index("confirming") < statuses.index("sending")
    assert [a.kind for a in setup.vault.artifacts] == [ArtifactKind.SCAN]
    await exchange.handle(FileDone(id=offer.id, sha256=offer.sha256))
    assert exchange.state.request is None
    assert exchange.state.transfers[-1].phase == "done"
    await exchange.close("session_ending")


async def test_a_feeder_scan_is_one_pdf_page_per_sheet(setup: Setup) -> None:
    scanner = SimulatedScanner(feeder_pages=3, page_seconds=0.01)
    settings = ScanSettings(dpi=50, source="feeder", mode="grey")
    exchange = setup.exchange(scanner=scanner, scan_settings=settings, auto_confirm=True)
    await exchange.handle(ScanRequest(id="scan-request-2"))
    offer = await setup.console.expect(FileOffer)
    pages = pdf_pages(await setup.console.fetch(offer))
    assert len(pages) == 3
    width_px = round(210 / 25.4 * 50)
    assert abs(pages[0][0] - width_px * 72 / 50) < 0.5  # A4 wide at the scan's resolution
    assert max(s.request.progress for s in setup.screen.states if s.request) == 100
    assert any(m.pages == 3 for m in setup.console.received if isinstance(m, RequestStatus))
    await exchange.close("session_ending")


async def test_cancelling_a_scan_halfway_then_scanning_again(setup: Setup) -> None:
    scanner = SwitchedScanner(SimulatedScanner(feeder_pages=3, page_seconds=30))
    exchange = setup.exchange(scanner=scanner, scan_settings=ScanSettings(dpi=50))
    await exchange.handle(ScanRequest(id="scan-request-3"))
    exchange.start("scan-request-3")
    await settled(exchange, lambda s: s.request is not None and s.request.state == "scanning")
    await exchange.handle(RequestCancel(id="scan-request-3"))
    assert exchange.state.request is not None and exchange.state.request.state == "cancelled"
    assert setup.console.statuses("scan-request-3")[-1] == "cancelled"
    await asyncio.sleep(0.05)
    assert setup.vault.artifacts == []
    scanner.target = SimulatedScanner(page_seconds=0.01)  # a quick one now
    await exchange.handle(ScanRequest(id="scan-request-4"))
    exchange.start("scan-request-4")
    await settled(exchange, lambda s: s.request is not None and s.request.state == "confirming")
    exchange.decline("scan-request-4")
    assert setup.console.statuses("scan-request-4")[-1] == "declined"
    assert not [m for m in setup.console.received if isinstance(m, FileOffer)]
    await exchange.close("session_ending")


async def test_scan_requests_without_a_scanner_or_while_busy_fail_typed(setup: Setup) -> None:
    exchange = setup.exchange()
    await exchange.handle(ScanRequest(id="scan-request-5"))
    status = await setup.console.expect(RequestStatus)
    assert (status.state, status.code) == ("failed", "no_scanner")
    await exchange.handle(PhotoRequest(id="photo-request-1"))
    await exchange.handle(PhotoRequest(id="photo-request-2"))
    busy = await setup.console.expect(RequestStatus, lambda m: m.id == "photo-request-2")
    assert (busy.state, busy.code) == ("failed", "busy")
    exchange.start("photo-request-1")  # latest_frame gives nothing: no camera
    await settled(exchange, lambda s: s.request is not None and s.request.state == "failed")
    assert exchange.state.request is not None and exchange.state.request.code == "no_camera"
    await exchange.close("session_ending")


# -- photos -------------------------------------------------------------------------------


@pytest.fixture
async def camera_frame() -> av.VideoFrame:
    camera = SimulatedCamera(1280, 720)
    await camera.start()
    try:
        return await camera.frame()
    finally:
        await camera.stop()


async def test_a_photo_counts_down_previews_retakes_and_sends(
    setup: Setup, camera_frame: av.VideoFrame
) -> None:
    grabs: list[int] = []

    def latest() -> av.VideoFrame:
        grabs.append(1)
        return camera_frame

    exchange = setup.exchange(latest_frame=latest, photo_countdown_s=2)
    await exchange.handle(PhotoRequest(id="photo-request-3"))
    exchange.start("photo-request-3")
    state = await settled(
        exchange, lambda s: s.request is not None and s.request.state == "confirming"
    )
    assert [
        s.request.countdown for s in setup.screen.states if s.request and s.request.countdown
    ] == [2, 1]
    assert state.request is not None
    (shown,) = state.request.previews
    assert (shown.width, shown.height) == (1024, 576)
    exchange.retake("photo-request-3")
    await settled(exchange, lambda s: s.request is not None and s.request.state == "countdown")
    await settled(exchange, lambda s: s.request is not None and s.request.state == "confirming")
    assert len(grabs) == 2
    exchange.confirm("photo-request-3")
    offer = await setup.console.expect(FileOffer)
    assert (offer.purpose, offer.request_id, offer.mime) == (
        "photo",
        "photo-request-3",
        "image/jpeg",
    )
    data = await setup.console.fetch(offer)
    assert sniff(data) == "image/jpeg"
    assert setup.console.statuses("photo-request-3") == [
        "asked",
        "countdown",
        "countdown",
        "confirming",
        "countdown",
        "countdown",
        "confirming",
        "sending",
        *(["sending"] * (setup.console.statuses("photo-request-3").count("sending") - 1)),
    ]
    assert any(isinstance(m, FileProgress) and m.id == offer.id for m in setup.console.received)
    # The adviser refuses it: the request shows why, and the blob is gone.
    await exchange.handle(FileError(id=offer.id, code="type_not_allowed"))
    assert exchange.state.request is not None
    assert (exchange.state.request.state, exchange.state.request.code) == (
        "failed",
        "type_not_allowed",
    )
    await asyncio.sleep(0.2)
    assert await setup.console.blob_status(offer.blob) == 404
    await exchange.close("session_ending")


async def test_a_declined_photo_sends_nothing(setup: Setup, camera_frame: av.VideoFrame) -> None:
    exchange = setup.exchange(latest_frame=lambda: camera_frame)
    await exchange.handle(PhotoRequest(id="photo-request-4"))
    exchange.decline("photo-request-4")
    assert setup.console.statuses("photo-request-4") == ["asked", "declined"]
    assert exchange.state.request is not None and exchange.state.request.state == "declined"
    exchange.start("photo-request-4")  # too late: nothing happens
    await asyncio.sleep(0.05)
    assert setup.vault.artifacts == []
    assert not [m for m in setup.console.received if isinstance(m, FileOffer)]
    await exchange.close("session_ending")


async def test_the_simulated_customer_confirms_by_itself(
    setup: Setup, camera_frame: av.VideoFrame
) -> None:
    exchange = setup.exchange(latest_frame=lambda: camera_frame, auto_confirm=True)
    await exchange.handle(PhotoRequest(id="photo-request-5"))
    offer = await setup.console.expect(FileOffer)
    assert offer.request_id == "photo-request-5"
    await exchange.handle(FileDone(id=offer.id, sha256=offer.sha256))
    assert exchange.state.request is None
    await exchange.handle(PhotoRequest(id="photo-request-5"))  # again after a resume: done
    assert exchange.state.request is None
    # After a resume the same offer goes out again (same blob, same key).
    await exchange.resend_offers()
    offers = [m for m in setup.console.received if isinstance(m, FileOffer)]
    assert offers == [offer, offer]
    # The adviser cancels it: the blob is deleted.
    await exchange.handle(FileCancel(id=offer.id))
    await asyncio.sleep(0.2)
    assert await setup.console.blob_status(offer.blob) == 404
    await exchange.resend_offers()
    assert len([m for m in setup.console.received if isinstance(m, FileOffer)]) == 2
    await exchange.close("session_ending")


# -- sending files, closing, screen share, logs ---------------------------------------------


async def test_send_file_close_and_screen_share(setup: Setup) -> None:
    exchange = setup.exchange()
    transfer_id = await exchange.send_file(
        ArtifactKind.FILE_SENT, f"{CANARY}.pdf", "application/pdf", PDF, "file"
    )
    offer = await setup.console.expect(FileOffer)
    assert offer.id == transfer_id and offer.name == f"{CANARY}.pdf"
    assert await setup.console.fetch(offer) == PDF
    await exchange.handle(ScreenShare(active=True))
    assert exchange.state.screen_share
    await exchange.handle(ScreenShare(active=False))
    assert not exchange.state.screen_share
    # A lost connection takes the shared screen with it, until the adviser says so again.
    await exchange.handle(ScreenShare(active=True))
    exchange.connection_lost()
    assert not exchange.state.screen_share
    await exchange.handle(ScreenShare(active=True))
    assert exchange.state.screen_share
    await exchange.close("session_ending")
    assert await setup.console.blob_status(offer.blob) == 404
    with pytest.raises(TransferCancelled):
        await exchange.send_file(ArtifactKind.FILE_SENT, "x.pdf", "application/pdf", PDF)
    await exchange.handle(ScanRequest(id="scan-request-9"))  # ignored once closed
    assert exchange.state.request is None


async def test_closing_waits_for_uploads_before_the_wipe(setup: Setup) -> None:
    # The session's wipe follows close(): no upload may still be reading the vault then.
    relay = SwitchedRelay(setup.relay)
    exchange = setup.exchange(relay=relay, limits=ExchangeLimits(max_file_bytes=8 * MIB))
    sending = asyncio.create_task(
        exchange.send_file(ArtifactKind.FILE_SENT, "big.pdf", "application/pdf", PDF * 100)
    )
    await relay.upload_started.wait()  # send_file stored the file and started the upload
    assert relay.uploading == 1
    await exchange.close("session_ending")
    assert relay.uploading == 0
    with pytest.raises(TransferCancelled):
        await sending
    assert not any(isinstance(m, FileOffer) for m in setup.console.received)


async def test_closing_during_a_scan_cancels_it(setup: Setup) -> None:
    exchange = setup.exchange(scanner=SimulatedScanner(page_seconds=30))
    await exchange.handle(ScanRequest(id="scan-request-6"))
    exchange.start("scan-request-6")
    await settled(exchange, lambda s: s.request is not None and s.request.state == "scanning")
    await exchange.close("session_ending")
    assert setup.console.statuses("scan-request-6")[-1] == "cancelled"
    assert setup.vault.artifacts == []


async def test_no_file_name_or_content_in_any_log(
    setup: Setup, camera_frame: av.VideoFrame, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    exchange = setup.exchange(latest_frame=lambda: camera_frame, auto_confirm=True)
    good = await setup.console.offer(PDF, purpose="document")
    bad = await setup.console.offer(PDF, mangle=lambda b: b[:-3])
    await exchange.handle(good)
    await exchange.handle(bad)
    await setup.console.expect(FileDone)
    await setup.console.expect(FileError)
    await exchange.send_file(ArtifactKind.FILE_SENT, f"{CANARY}.pdf", "application/pdf", PDF)
    await exchange.handle(PhotoRequest(id="photo-request-6"))
    await setup.console.expect(FileOffer, lambda m: m.purpose == "photo")
    await exchange.close("session_ending")
    text = caplog.text
    assert caplog.records  # it did log (codes and sizes)
    assert CANARY not in text
    for message in setup.console.received:
        if isinstance(message, FileOffer):
            assert message.key not in text and message.blob not in text


# -- the picture helpers --------------------------------------------------------------------


def test_pnm_jpeg_and_pdf_helpers() -> None:
    page = sample_page(1, ScanSettings(dpi=30, mode="colour"))
    frame = pnm_frame(page)
    picture = encode_jpeg(frame, 30)
    assert sniff(picture.jpeg) == "image/jpeg"
    assert (picture.width, picture.height) == (frame.width, frame.height)
    grey = pnm_frame(sample_page(2, ScanSettings(dpi=30, mode="grey")))
    pdf = build_pdf([picture, encode_jpeg(grey, 30)])
    assert len(pdf_pages(pdf)) == 2
    for junk in (b"", b"P6\n", b"P3\n1 1\n255\n0 0 0", b"P5\n10 10\n255\n" + bytes(5)):
        with pytest.raises(ValueError):
            pnm_frame(junk)
    with pytest.raises(ValueError):
        build_pdf([])


def test_the_scan_pdf_holds_each_jpeg_unchanged_at_its_resolution() -> None:
    colour = encode_jpeg(pnm_frame(sample_page(1, ScanSettings(dpi=30, mode="colour"))), 30)
    grey = encode_jpeg(pnm_frame(sample_page(2, ScanSettings(dpi=60, mode="grey"))), 60)
    pdf = pdfium.PdfDocument(build_pdf([colour, grey]))
    try:
        assert len(pdf) == 2
        for page, picture in zip(pdf, (colour, grey), strict=True):
            width_pt, height_pt = page.get_size()
            assert abs(width_pt - picture.width * 72 / picture.dpi) < 0.01
            assert abs(height_pt - picture.height * 72 / picture.dpi) < 0.01
            (image,) = page.get_objects()
            assert image.get_filters() == ["DCTDecode"]
            assert image.get_px_size() == (picture.width, picture.height)
            assert bytes(image.get_data(decode_simple=False)) == picture.jpeg
            metadata = image.get_metadata()
            assert round(metadata.horizontal_dpi) == picture.dpi
        # Rendered at the scan's resolution, the colour page shows its letterhead at the top
        # and light paper below (sample_page: blue channel 200 over grey 235).
        bitmap = pdf[0].render(scale=colour.dpi / 72, rev_byteorder=True)
        pixels = bitmap.to_numpy()
        assert abs(pixels.shape[0] - colour.height) <= 1  # pdfium rounds the page up
        assert abs(pixels.shape[1] - colour.width) <= 1
        top, paper = pixels[1, colour.width // 2], pixels[colour.height // 12 + 3, 2]
        assert abs(int(top[0]) - 235) < 12 and abs(int(top[2]) - 200) < 12
        assert all(abs(int(c) - 235) < 12 for c in paper[:3])
    finally:
        pdf.close()


def test_the_scan_pdf_waits_while_the_viewer_holds_pdfium() -> None:
    # pdfium is not thread-safe: the scan's PDF is written under the viewer's lock.
    picture = encode_jpeg(pnm_frame(sample_page(1, ScanSettings(dpi=30))), 30)
    with ThreadPoolExecutor(1) as pool:
        with PDFIUM_LOCK:
            writing = pool.submit(build_pdf, [picture])
            done, _ = futures.wait([writing], timeout=0.5)
            assert not done  # blocked on the lock (a writer without it finishes in ms)
        assert len(pdf_pages(writing.result(timeout=20))) == 1


@pytest.mark.parametrize(
    ("header", "samples", "expected"),
    [
        (b"P5\n# SANE data follows\n2 1\n255\n", bytes([0, 255]), [0, 255]),
        (b"P5 2 1 15\n", bytes([0, 15]), [0, 255]),  # maxval below 255 is scaled up
        (b"P5\n2 1\n65535\n", b"\x00\x00\xff\xff", [0, 255]),  # 16 bits, big endian
        (b"P6\n1 1\n1000\n", (500).to_bytes(2, "big") * 3, [128, 128, 128]),
    ],
)
def test_pnm_depths_and_maxvals_decode(header: bytes, samples: bytes, expected: list[int]) -> None:
    frame = pnm_frame(header + samples)
    values = frame.reformat(format="rgb24").to_ndarray().reshape(-1, 3)
    if len(expected) == 2:  # grey: each pixel's channels are equal
        assert [int(v[0]) for v in values] == expected
    else:
        assert all(abs(int(a) - b) <= 1 for a, b in zip(values[0], expected, strict=True))


async def test_a_file_over_the_limit_is_not_sent(setup: Setup) -> None:
    exchange = setup.exchange(limits=ExchangeLimits(max_file_bytes=1000))
    with pytest.raises(TransferError) as caught:
        await exchange.send_file(ArtifactKind.FILE_SENT, "big.pdf", "application/pdf", PDF)
    assert caught.value.code == "too_large"
    assert exchange.state.transfers[0].phase == "failed"
    assert not [m for m in setup.console.received if isinstance(m, FileOffer)]
    await exchange.close("session_ending")


def test_the_exchange_section_of_the_config() -> None:
    config = config_from_mapping(
        {
            "token": "bkd_test",
            "exchange": {
                "allowed_types": ["pdf"],
                "max_file_mib": 10,
                "scan_dpi": 150,
                "scan_mode": "grey",
                "photo_countdown_s": 5,
                "upload_mib_s": 0,
            },
        },
        base_dir=Path("."),
    )
    limits = limits_from(config.exchange, tenant_max_file_bytes=25 * MIB)
    assert limits == ExchangeLimits(10 * MIB, frozenset({"application/pdf"}), None)
    assert limits_from(config.exchange, 2 * MIB).max_file_bytes == 2 * MIB
    assert scan_settings_from(config.exchange) == ScanSettings(mode="grey", dpi=150)
    assert config.exchange.photo_countdown_s == 5
    default = config_from_mapping({"token": "bkd_test"}, base_dir=Path(".")).exchange
    assert limits_from(default, 25 * MIB).allowed_types == frozenset(
        {"application/pdf", "image/jpeg", "image/png"}
    )
    assert limits_from(default, 25 * MIB).upload_bytes_s == 32 * MIB
    for key, value in [
        ("allowed_types", ["gif"]),
        ("allowed_types", "pdf"),
        ("max_file_mib", 0),
        ("scan_dpi", 5000),
        ("scan_mode", "sepia"),
        ("photo_countdown_s", 60),
        ("upload_mib_s", -1),
        ("upload_mib_s", 2000),
        ("colour", True),
    ]:
        with pytest.raises(ConfigError) as caught:
            config_from_mapping({"token": "bkd_test", "exchange": {key: value}}, base_dir=Path("."))
        assert caught.value.key == f"exchange.{key}"
