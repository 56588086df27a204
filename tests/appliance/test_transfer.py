"""Moving files through the relay: the open-check-store pipeline on byte streams, then the
real hub's relay (a kiosk and an adviser paired over real WebSockets)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest

from appliance.custody.vault import ArtifactKind, SessionVault
from appliance.exchange.transfer import (
    ExchangeLimits,
    RelayClient,
    RelayError,
    TransferError,
    check_offer,
    receive_offer,
    receive_stream,
    relay_base_url,
    sniff,
    upload_artifact,
)
from hub.relay import RELAY
from protocol.channel import FileOffer
from protocol.messages import Accept, Accepted, Queue, QueuePosition, QueueRequest
from protocol.sealed import HEADER_SIZE, MIN_CHUNK, RECORD_HEADER_SIZE, new_key, seal_bytes
from tests.support.hub import (
    RunningHub,
    SignallingPeer,
    connect_adviser,
    connect_kiosk,
    http_session,
    login,
    running_hub,
)

MIB = 1024 * 1024
PDF = b"%PDF-1.4\n" + os.urandom(5000) + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(3000)
JPEG = b"\xff\xd8\xff\xe0" + os.urandom(3000)
LIMITS = ExchangeLimits(max_file_bytes=MIB)
TID = "xfer-abcdefgh"
BLOB = "b" * 20


def make_vault(root: Path, *, max_file: int = 8 * MIB, max_session: int = 16 * MIB) -> SessionVault:
    return SessionVault(root, max_file_bytes=max_file, max_session_bytes=max_session)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def offer_for(
    data: bytes,
    mime: str = "application/pdf",
    *,
    key: bytes | None = None,
    size: int | None = None,
    name: str = "Kontoauszug Müller.pdf",
) -> tuple[FileOffer, bytes]:
    key = key or new_key()
    blob = seal_bytes(key, TID, data, MIN_CHUNK)
    offer = FileOffer(
        id=TID,
        name=name,
        size=len(data) if size is None else size,
        mime=mime,
        sha256=hashlib.sha256(data).hexdigest(),
        purpose="file",
        blob=BLOB,
        key=key.hex(),
    )
    return offer, blob


async def pieces(blob: bytes, step: int = 777) -> AsyncIterator[bytes]:
    for start in range(0, len(blob), step):
        yield blob[start : start + step]
        await asyncio.sleep(0)


def records(blob: bytes) -> tuple[bytes, list[bytes]]:
    header, rest = blob[:HEADER_SIZE], blob[HEADER_SIZE:]
    out = []
    while rest:
        length = int.from_bytes(rest[5:9], "big")
        out.append(rest[: RECORD_HEADER_SIZE + length])
        rest = rest[RECORD_HEADER_SIZE + length :]
    return header, out


# -- the pipeline on byte streams ------------------------------------------------------


@pytest.mark.parametrize(("data", "mime"), [(PDF, "application/pdf"), (PNG, "image/png")])
async def test_a_good_file_lands_in_the_vault(tmp_path: Path, data: bytes, mime: str) -> None:
    vault = make_vault(tmp_path)
    offer, blob = offer_for(data, mime)
    seen: list[int] = []
    artifact, digest = await receive_stream(
        pieces(blob), vault, offer, LIMITS, progress=lambda done, size: seen.append(done)
    )
    assert vault.read_bytes(artifact) == data
    assert (artifact.kind, artifact.name, artifact.size) == (
        ArtifactKind.FILE_RECEIVED,
        offer.name,
        len(data),
    )
    assert digest == offer.sha256
    assert seen and seen[-1] == len(data) and seen == sorted(seen)


def _bad_cases() -> list[tuple[str, str, object]]:
    return [
        ("oversize offer", "too_large", "size"),
        ("more than announced", "too_large", "short_size"),
        ("claimed type not allowed", "type_not_allowed", "mime"),
        ("content is not what is claimed", "type_not_allowed", "png_as_pdf"),
        ("content of no allowed type", "type_not_allowed", "text"),
        ("truncated", "truncated", "cut"),
        ("duplicated chunk", "duplicate", "dup"),
        ("out of order chunks", "out_of_order", "swap"),
        ("a flipped byte", "corrupt", "flip"),
        ("wrong hash", "hash_mismatch", "hash"),
        ("vault file cap", "too_large", "vault_file"),
        ("vault session cap", "storage_full", "vault_session"),
    ]


@pytest.mark.parametrize(("case", "code", "how"), _bad_cases(), ids=[c[0] for c in _bad_cases()])
async def test_bad_input_is_a_typed_error_and_leaves_nothing(
    tmp_path: Path, case: str, code: str, how: str
) -> None:
    vault = make_vault(
        tmp_path,
        max_file=2000 if how == "vault_file" else 8 * MIB,
        max_session=2000 if how == "vault_session" else 16 * MIB,
    )
    kept = vault.store(ArtifactKind.PHOTO, "earlier.jpg", b"x" * 100)
    data, mime = PDF, "application/pdf"
    if how == "png_as_pdf":
        data = PNG
    elif how == "text":
        data = b"just some text, which is not a PDF at all" * 100
    elif how == "mime":
        mime = "text/plain"
    offer, blob = offer_for(data, mime)
    if how == "size":
        offer, blob = offer_for(data, mime, size=MIB + 1)
    elif how == "short_size":
        offer, blob = offer_for(data, mime, size=len(data) - 1)
    elif how == "hash":
        offer = FileOffer(**{**offer.__dict__, "sha256": "0" * 64})
    header, recs = records(blob)
    if how == "cut":
        blob = blob[: len(blob) - 10]
    elif how == "dup":
        blob = header + recs[0] + recs[1] + recs[1] + b"".join(recs[2:])
    elif how == "swap":
        blob = header + recs[1] + recs[0] + b"".join(recs[2:])
    elif how == "flip":
        mutable = bytearray(blob)
        mutable[HEADER_SIZE + RECORD_HEADER_SIZE + 100] ^= 1
        blob = bytes(mutable)
    with pytest.raises(TransferError) as caught:
        check_offer(offer, LIMITS)
        await receive_stream(pieces(blob), vault, offer, LIMITS)
    assert caught.value.code == code
    assert vault.artifacts == [kept]
    assert len(files_under(vault.directory)) == 1


async def test_the_next_file_still_works_after_a_refusal(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    offer, blob = offer_for(PDF)
    with pytest.raises(TransferError):
        await receive_stream(pieces(blob[:-1]), vault, offer, LIMITS)
    artifact, _ = await receive_stream(pieces(blob), vault, offer, LIMITS)
    assert vault.read_bytes(artifact) == PDF
    assert vault.artifacts == [artifact]


async def test_a_failing_network_is_download_failed_and_leaves_nothing(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    offer, blob = offer_for(PDF)

    async def broken() -> AsyncIterator[bytes]:
        yield blob[:2000]
        raise RelayError("download_failed", 0, "ClientPayloadError")

    with pytest.raises(TransferError) as caught:
        await receive_stream(broken(), vault, offer, LIMITS)
    assert caught.value.code == "download_failed"
    assert vault.artifacts == [] and files_under(vault.directory) == []


async def test_cancel_halfway_leaves_nothing(tmp_path: Path) -> None:
    vault = make_vault(tmp_path)
    offer, blob = offer_for(PDF)
    halfway = asyncio.Event()

    async def slow() -> AsyncIterator[bytes]:
        yield blob[: len(blob) // 2]
        halfway.set()
        await asyncio.Event().wait()  # the rest never comes
        yield b""

    task = asyncio.ensure_future(receive_stream(slow(), vault, offer, LIMITS))
    await halfway.wait()
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert vault.artifacts == [] and files_under(vault.directory) == []


def test_sniffing_and_limits() -> None:
    assert sniff(PDF) == "application/pdf"
    assert sniff(PNG) == "image/png"
    assert sniff(JPEG) == "image/jpeg"
    assert sniff(b"GIF89a") is None and sniff(b"") is None
    limits = ExchangeLimits.combine(25 * MIB, 10 * MIB, ["application/pdf"])
    assert limits == ExchangeLimits(10 * MIB, frozenset({"application/pdf"}))
    assert ExchangeLimits.combine(5 * MIB, 10 * MIB).max_file_bytes == 5 * MIB


@pytest.mark.parametrize(
    ("ws", "base"),
    [
        ("ws://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("wss://hub.example.org/ws/kiosk", "https://hub.example.org"),
        ("wss://example.org/branch/ws/kiosk/", "https://example.org/branch"),
    ],
)
def test_relay_base_url(ws: str, base: str) -> None:
    assert relay_base_url(ws) == base


def test_relay_base_url_refuses_other_schemes() -> None:
    with pytest.raises(ValueError):
        relay_base_url("ftp://example.org")


# -- against the real hub ---------------------------------------------------------------

PASSWORD = "correct horse battery"


async def pair(http: aiohttp.ClientSession, hub: RunningHub, token: str) -> tuple[str, str]:
    """A kiosk and an adviser in an accepted consultation; returns (consultation id, csrf)."""
    kiosk = await connect_kiosk(http, hub, token)
    adviser: SignallingPeer = await connect_adviser(http, hub, "alice", PASSWORD)
    await adviser.expect(Queue)
    await kiosk.send(QueueRequest())
    position = await kiosk.expect(QueuePosition)
    await adviser.expect(Queue)
    await adviser.send(Accept(consultation_id=position.consultation_id))
    await kiosk.expect(Accepted)
    await adviser.expect(Accepted)
    csrf = await login(http, hub, "alice", PASSWORD)  # a fresh csrf for the API calls
    return position.consultation_id, csrf


@asynccontextmanager
async def kiosk_in_a_call(
    tmp_path: Path,
) -> AsyncIterator[tuple[RunningHub, RelayClient, SessionVault]]:
    """A hub with a live consultation, the kiosk's relay client for it, and a session vault."""
    async with running_hub(tmp_path) as hub, http_session() as http:
        hub.add_adviser("alice", PASSWORD)
        token = hub.add_device("kiosk-1")
        consultation, _csrf = await pair(http, hub, token)
        async with aiohttp.ClientSession() as kiosk_http:
            relay = RelayClient(
                kiosk_http, hub_url=hub.ws_url, token=token, consultation_id=consultation
            )
            yield hub, relay, make_vault(tmp_path)


async def test_a_paced_upload_is_not_faster_than_its_pace(tmp_path: Path) -> None:
    """The pace protects the call's video: 2 MiB at 8 MiB/s is spread over 0.25 s."""
    async with kiosk_in_a_call(tmp_path) as (_hub, relay, vault):
        data = b"%PDF-1.4\n" + os.urandom(2 * MIB)
        artifact = vault.store(ArtifactKind.SCAN, "scan.pdf", data)
        # A virtual clock that only the pacing's sleeps move: the test reads how long the
        # upload chose to take, not how fast this machine is.
        virtual = [0.0]

        async def sleep(seconds: float) -> None:
            virtual[0] += seconds
            await asyncio.sleep(0)

        sent = await upload_artifact(
            relay,
            vault,
            artifact,
            TID,
            pace_bytes_s=8 * MIB,
            clock=lambda: virtual[0],
            sleep=sleep,
        )
        paced = virtual[0]
        assert sent.size == len(data)
        # 2 MiB at 8 MiB/s: the last of the eight 256 KiB records waits until 0.25 s.
        assert paced >= len(data) / (8 * MIB) - 256 * 1024 / (8 * MIB)


async def test_an_upload_the_kiosk_gave_up_on_is_cancelled_by_its_name(tmp_path: Path) -> None:
    """The hub may store a blob whose answer the kiosk no longer waits for: its name finds it."""
    async with kiosk_in_a_call(tmp_path) as (hub, relay, vault):
        artifact = vault.store(ArtifactKind.SCAN, "scan.pdf", b"%PDF-1.4\n" + os.urandom(MIB))
        await upload_artifact(relay, vault, artifact, TID)  # its blob id is "lost"
        assert hub.app[RELAY].stats()["blobs"] == 1
        await relay.cancel(TID)
        assert hub.app[RELAY].stats() == {"blobs": 0, "bytes": 0, "reserved": 0}
        await relay.cancel(TID)  # nothing left: still fine
        await relay.cancel("not a transfer id")  # never sent


async def test_upload_and_download_through_the_real_relay(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub, http_session() as http:
        hub.add_adviser("alice", PASSWORD)
        token = hub.add_device("kiosk-1")
        consultation, csrf = await pair(http, hub, token)
        vault = make_vault(tmp_path)
        async with aiohttp.ClientSession() as kiosk_http:
            relay = RelayClient(
                kiosk_http,
                hub_url=f"{hub.ws_url}/ws/kiosk",
                token=token,
                consultation_id=consultation,
            )
            assert token not in repr(relay)
            # kiosk -> adviser: a 3 MiB file streamed from the vault, sealed on the way.
            data = b"%PDF-1.4\n" + os.urandom(3 * MIB)
            artifact = vault.store(ArtifactKind.SCAN, "scan.pdf", data)
            seen: list[int] = []
            sent = await upload_artifact(
                relay, vault, artifact, TID, progress=lambda d, s: seen.append(d)
            )
            assert seen[-1] == len(data)
            url = f"{hub.url}/api/relay/{consultation}/{sent.blob}"
            async with http.get(url, headers={"X-CSRF-Token": csrf}) as response:
                assert response.status == 200
                sealed = await response.read()
            from protocol.sealed import Opener

            opener = Opener(sent.key, TID, size=len(data), sha256=sent.sha256)
            assert b"".join(opener.feed(sealed)) == data
            assert opener.finish() == hashlib.sha256(data).hexdigest()
            # The kiosk may not fetch its own blob; it deletes it.
            with pytest.raises(RelayError):
                async for _ in relay.download(sent.blob):
                    pass
            await relay.delete(sent.blob)
            async with http.get(url, headers={"X-CSRF-Token": csrf}) as response:
                assert response.status == 404

            # adviser -> kiosk: the console uploads, the kiosk downloads into its vault.
            offer, blob = offer_for(PDF)
            async with http.post(
                f"{hub.url}/api/relay/{consultation}",
                data=blob,
                headers={"X-CSRF-Token": csrf, "Content-Type": "application/octet-stream"},
            ) as response:
                assert response.status == 201, await response.text()
                blob_id = (await response.json())["blob"]
            offer = FileOffer(**{**offer.__dict__, "blob": blob_id})
            received, digest = await receive_offer(relay, vault, offer, LIMITS)
            assert vault.read_bytes(received) == PDF and digest == offer.sha256

            # A missing blob and a tampered download fail typed, leaving nothing.
            before = vault.artifacts
            missing = FileOffer(**{**offer.__dict__, "blob": "z" * 24})
            with pytest.raises(TransferError) as caught:
                await receive_offer(relay, vault, missing, LIMITS)
            assert caught.value.code == "download_failed"
            wrong_key = FileOffer(**{**offer.__dict__, "key": new_key().hex()})
            with pytest.raises(TransferError) as caught:
                await receive_offer(relay, vault, wrong_key, LIMITS)
            assert caught.value.code == "corrupt"
            assert vault.artifacts == before


async def test_relay_refusals_are_typed(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub, http_session() as http:
        hub.add_adviser("alice", PASSWORD)
        token = hub.add_device("kiosk-1")
        consultation, _ = await pair(http, hub, token)
        await hub.storage.set_max_file_bytes("default", 2048)
        vault = make_vault(tmp_path)
        big = vault.store(ArtifactKind.SCAN, "scan.pdf", b"%PDF-" + bytes(64 * 1024))
        async with aiohttp.ClientSession() as kiosk_http:
            relay = RelayClient(
                kiosk_http, hub_url=hub.ws_url, token=token, consultation_id=consultation
            )
            with pytest.raises(RelayError) as caught:
                await upload_artifact(relay, vault, big, TID)
            assert (caught.value.code, caught.value.status) == ("too_large", 413)
            stranger = RelayClient(
                kiosk_http,
                hub_url=hub.ws_url,
                token="bkd_" + "x" * 40,
                consultation_id=consultation,
            )
            small = vault.store(ArtifactKind.SCAN, "s.pdf", b"%PDF-1")
            with pytest.raises(RelayError) as caught:
                await upload_artifact(stranger, vault, small, TID)
            assert (caught.value.code, caught.value.status) == ("upload_failed", 401)
            other = RelayClient(
                kiosk_http, hub_url=hub.ws_url, token=token, consultation_id="c" * 16
            )
            with pytest.raises(RelayError) as caught:
                await upload_artifact(other, vault, small, TID)
            assert caught.value.status == 404
