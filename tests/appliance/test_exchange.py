"""The exchange of one consultation against the real hub's relay and a real session vault:
files from the adviser, files sent, closing, screen share, logs, limits and the config.
Scans and photos are in test_exchange_capture.py, signatures in test_signature_exchange.py.

The adviser's side is played over HTTP with its session cookie and CSRF token, like the
console does; the data channel is the ``send`` callable and ``handle``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest
from aiohttp import web

from appliance.config.kiosk import ConfigError, config_from_mapping
from appliance.custody.vault import ArtifactKind
from appliance.exchange.files import TransferCancelled
from appliance.exchange.service import limits_from, scan_settings_from
from appliance.exchange.transfer import ExchangeLimits, RelayClient, TransferError
from drivers.scanner import ScanSettings
from drivers.scanner.simulated import SimulatedScanner
from protocol.channel import (
    FileCancel,
    FileDone,
    FileError,
    FileOffer,
    PhotoRequest,
    ScanRequest,
    ScreenShare,
)
from protocol.sealed import HEADER_SIZE, MIN_CHUNK, RECORD_HEADER_SIZE, seal_bytes
from tests.support.exchange_harness import (
    CANARY,
    MIB,
    PDF,
    Setup,
    SwitchedRelay,
    camera_still,
    exchange_setup,
    files_under,
    settled,
)


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[Setup]:
    async with exchange_setup(tmp_path) as s:
        yield s


@pytest.fixture
async def camera_frame() -> av.VideoFrame:
    return await camera_still()


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


# -- limits and the config section -------------------------------------------------------


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
