"""Scans and photos in one consultation's exchange: the real SANE test backend, the simulated
scanner and camera, the adviser's console over the real hub's relay; and the picture helpers
(PNM, JPEG, the scan's PDF) behind them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent import futures
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import av
import pypdfium2 as pdfium
import pytest

from appliance.custody.vault import ArtifactKind
from appliance.exchange.images import PREVIEW_MAX_WIDTH, build_pdf, encode_jpeg, pnm_frame
from appliance.exchange.transfer import sniff
from drivers.scanner import ScanSettings
from drivers.scanner.sane import SaneScanner
from drivers.scanner.simulated import SimulatedScanner, sample_page
from kiosk_ui.pdfium_lock import PDFIUM_LOCK
from protocol.channel import (
    FileCancel,
    FileDone,
    FileError,
    FileOffer,
    FileProgress,
    PhotoRequest,
    RequestCancel,
    RequestStatus,
    ScanRequest,
)
from tests.support.exchange_harness import (
    Setup,
    SwitchedScanner,
    camera_still,
    exchange_setup,
    settled,
)
from tests.support.requirements import require_tool


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    async with exchange_setup(tmp_path) as s:
        yield s


@pytest.fixture
async def camera_frame() -> av.VideoFrame:
    return await camera_still()


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
