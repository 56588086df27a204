"""The sealed-blob relay over real HTTP (docs/exchange.md, "The hub's relay")."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.relay import BEARER_MAX, RELAY, Relay, parse_bearer, sealed_limit
from protocol.messages import End, Ended, PeerAway
from tests.support.hub import (
    PairedCall,
    RunningHub,
    connect_kiosk,
    http_session,
    login,
    pair_call,
    resume,
    running_hub,
    settle,
)

PASSWORD = "correct horse battery"
MIB = 1024 * 1024


@dataclass
class Parties:
    """A live call and how each side authenticates to the relay."""

    hub: RunningHub
    call: PairedCall
    device_token: str
    adviser_http: aiohttp.ClientSession
    csrf: str

    @property
    def url(self) -> str:
        return f"{self.hub.url}/api/relay/{self.call.consultation_id}"

    @property
    def kiosk(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.device_token}"}

    @property
    def adviser(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf}

    @property
    def relay(self) -> Relay:
        return self.hub.app[RELAY]


async def parties_of(hub: RunningHub, http: aiohttp.ClientSession) -> Parties:
    hub.add_adviser("alice", PASSWORD)
    token = hub.add_device("kiosk-1")
    call = await pair_call(http, hub, token, "alice", PASSWORD)
    async with http.get(f"{hub.url}/api/session") as response:
        csrf = (await response.json())["csrf"]
    return Parties(hub, call, token, http, csrf)


@pytest.fixture
async def parties(tmp_path: Path, http: aiohttp.ClientSession) -> AsyncIterator[Parties]:
    async with running_hub(tmp_path) as hub:
        yield await parties_of(hub, http)


async def upload(p: Parties, data: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    # BytesIO: aiohttp warns about large raw bytes bodies; it still sends a Content-Length
    async with p.adviser_http.post(p.url, data=io.BytesIO(data), headers=headers) as response:
        return response.status, await response.json()


async def upload_ok(p: Parties, data: bytes, headers: dict[str, str]) -> str:
    status, body = await upload(p, data, headers)
    assert status == 201, body
    blob: str = body["blob"]
    return blob


async def fetch(p: Parties, blob: str, headers: dict[str, str]) -> tuple[int, bytes]:
    async with p.adviser_http.get(f"{p.url}/{blob}", headers=headers) as response:
        return response.status, await response.read()


async def delete(p: Parties, blob: str, headers: dict[str, str]) -> int:
    async with p.adviser_http.delete(f"{p.url}/{blob}", headers=headers) as response:
        return response.status


async def raw_request(hub: RunningHub, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    """Send bytes on a fresh connection, half-close, read the status line's code (0: none)."""
    address = urlsplit(hub.url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    writer.write(head + body)
    await writer.drain()
    try:
        line = await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
    return (int(line.split()[1]) if line else 0), line


def upload_head(p: Parties, length: int | None, *headers: str) -> bytes:
    """The head of a kiosk's raw relay upload (Content-Length unless None, extra header lines)."""
    lines = [
        f"POST /api/relay/{p.call.consultation_id} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: Bearer {p.device_token}",
        *headers,
        *([f"Content-Length: {length}"] if length is not None else []),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# -- round trips ----------------------------------------------------------


async def test_twenty_mib_go_up_and_come_back_byte_exact(parties: Parties) -> None:
    data = os.urandom(20 * MIB)
    blob = await upload_ok(parties, data, parties.kiosk)
    assert parties.relay.stats() == {"blobs": 1, "bytes": len(data), "reserved": 0}
    for _ in range(2):  # may be fetched again while the consultation lives
        status, got = await fetch(parties, blob, parties.adviser)
        assert status == 200 and got == data
    assert await delete(parties, blob, parties.kiosk) == 204
    assert parties.relay.stats()["blobs"] == 0


async def test_adviser_to_kiosk(parties: Parties) -> None:
    blob = await upload_ok(parties, b"sealed bytes", parties.adviser)
    async with parties.adviser_http.get(f"{parties.url}/{blob}", headers=parties.kiosk) as response:
        assert response.status == 200
        assert response.content_type == "application/octet-stream"
        assert response.headers["Cache-Control"] == "no-store"
        assert await response.read() == b"sealed bytes"


async def test_only_the_other_party_fetches_and_only_the_uploader_deletes(
    parties: Parties,
) -> None:
    blob = await upload_ok(parties, b"x" * 100, parties.kiosk)
    assert (await fetch(parties, blob, parties.kiosk))[0] == 404  # its own blob
    assert await delete(parties, blob, parties.adviser) == 404  # not the uploader
    assert await delete(parties, blob, parties.kiosk) == 204
    assert await delete(parties, blob, parties.kiosk) == 404  # deleted twice
    assert (await fetch(parties, blob, parties.adviser))[0] == 404


@pytest.mark.parametrize("blob", ["A" * 32, "short", "../../etc", "x" * 65])
async def test_unknown_blobs_are_404(parties: Parties, blob: str) -> None:
    await upload_ok(parties, b"x", parties.kiosk)
    assert (await fetch(parties, blob, parties.adviser))[0] == 404
    assert await delete(parties, blob, parties.kiosk) == 404


async def test_a_blob_of_another_consultation_is_404(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub, http_session() as http:
        p = await parties_of(hub, http)
        hub.add_adviser("bob", PASSWORD)
        async with http_session() as bob_http:
            token = hub.add_device("kiosk-2")
            theirs = await pair_call(bob_http, hub, token, "bob", PASSWORD)
            their_url = f"{hub.url}/api/relay/{theirs.consultation_id}"
            async with bob_http.post(
                their_url, data=b"theirs", headers={"Authorization": f"Bearer {token}"}
            ) as response:
                their_blob = (await response.json())["blob"]
        # alice's side asks for bob's blob under her own consultation, and under theirs
        assert (await fetch(p, their_blob, p.adviser))[0] == 404
        async with http.get(f"{their_url}/{their_blob}", headers=p.adviser) as response:
            assert response.status == 404


# -- bad input ------------------------------------------------------------


async def test_no_or_bad_credentials_are_401(parties: Parties) -> None:
    async with http_session() as stranger:
        for headers in (
            {},
            {"Authorization": "Bearer bkd_not-a-token"},
            {"Authorization": f"Basic {parties.device_token}"},
            {"Authorization": "Bearer"},
            {"Authorization": "Bearer " + "x" * 1000},
            {"X-CSRF-Token": parties.csrf},  # CSRF without a session
        ):
            async with stranger.post(parties.url, data=b"x", headers=headers) as response:
                assert response.status == 401, headers
                assert (await response.json())["error"] == "unauthorized"
            async with stranger.get(f"{parties.url}/{'A' * 32}", headers=headers) as response:
                assert response.status == 401
    assert parties.relay.stats()["blobs"] == 0


async def test_an_adviser_needs_the_csrf_token(parties: Parties) -> None:
    blob = await upload_ok(parties, b"x", parties.kiosk)
    for headers in ({}, {"X-CSRF-Token": "wrong"}, {"X-CSRF-Token": ""}):
        status, body = await upload(parties, b"x", headers)
        assert (status, body["error"]) == (403, "forbidden")
        assert (await fetch(parties, blob, headers))[0] == 403  # also on GET
        assert await delete(parties, blob, headers) == 403


async def test_a_revoked_device_is_401(parties: Parties) -> None:
    await parties.hub.storage.revoke_device("kiosk-1")
    status, body = await upload(parties, b"x", parties.kiosk)
    assert (status, body["error"]) == (401, "unauthorized")


async def test_other_tenants_and_other_parties_get_404(parties: Parties) -> None:
    hub = parties.hub
    hub.add_tenant("other-bank")
    hub.add_adviser("olga", PASSWORD, tenant="other-bank")
    hub.add_adviser("bob", PASSWORD)
    blob = await upload_ok(parties, b"x", parties.kiosk)
    outsiders = [
        {"Authorization": f"Bearer {hub.add_device('kiosk-9', tenant='other-bank')}"},
        {"Authorization": f"Bearer {hub.add_device('kiosk-2')}"},  # same tenant, not its call
    ]
    for name in ("olga", "bob"):
        async with http_session() as http:
            csrf = await login(http, hub, name, PASSWORD)
            async with http.post(
                parties.url, data=b"x", headers={"X-CSRF-Token": csrf}
            ) as response:
                assert response.status == 404
                assert (await response.json())["error"] == "not_found"
            async with http.get(f"{parties.url}/{blob}", headers={"X-CSRF-Token": csrf}) as r:
                assert r.status == 404
    for headers in outsiders:
        assert (await upload(parties, b"x", headers))[0] == 404
        assert (await fetch(parties, blob, headers))[0] == 404
        assert await delete(parties, blob, headers) == 404
    assert parties.relay.stats()["blobs"] == 1


@pytest.mark.parametrize("consultation_id", ["unknown-consultation-id", "bad", "%2e%2e"])
async def test_unknown_consultations_are_404(parties: Parties, consultation_id: str) -> None:
    url = f"{parties.hub.url}/api/relay/{consultation_id}"
    async with parties.adviser_http.post(url, data=b"x", headers=parties.kiosk) as response:
        assert response.status == 404


async def test_an_ended_consultation_takes_its_blobs(parties: Parties) -> None:
    blob = await upload_ok(parties, b"x" * 1000, parties.kiosk)
    await parties.call.adviser.send(
        End(consultation_id=parties.call.consultation_id, reason="hangup")
    )
    await parties.call.kiosk.expect(Ended)
    assert parties.relay.stats() == {"blobs": 0, "bytes": 0, "reserved": 0}
    assert (await fetch(parties, blob, parties.adviser))[0] == 404
    assert (await upload(parties, b"x", parties.kiosk))[0] == 404  # not live


async def test_over_the_tenant_limit_is_413(parties: Parties) -> None:
    await parties.hub.storage.set_max_file_bytes("default", 1024)
    limit = sealed_limit(1024)
    assert limit == 1024 + 8 + 25 * 2
    status, body = await upload(parties, b"x" * (limit + 1), parties.kiosk)
    assert (status, body["error"]) == (413, "too_large")
    await upload_ok(parties, b"x" * limit, parties.kiosk)


async def test_an_announced_length_over_the_limit_is_refused_before_the_body(
    parties: Parties,
) -> None:
    head = upload_head(parties, 2 * 1024**3)
    status, _ = await raw_request(parties.hub, head)  # not a byte of the body sent
    assert status == 413
    assert parties.relay.stats() == {"blobs": 0, "bytes": 0, "reserved": 0}


async def test_a_body_without_length_is_411(parties: Parties) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"x" * 1024

    async with parties.adviser_http.post(
        parties.url, data=chunks(), headers=parties.kiosk
    ) as response:
        assert response.status == 411
        assert (await response.json())["error"] == "length_required"

    async def huge() -> AsyncIterator[bytes]:  # chunked and over any limit
        for _ in range(64):
            yield b"x" * MIB

    async with parties.adviser_http.post(
        parties.url, data=huge(), headers=parties.kiosk
    ) as response:
        assert response.status == 411
    head = upload_head(parties, None)
    assert (await raw_request(parties.hub, head))[0] == 411
    assert parties.relay.stats()["blobs"] == 0


async def test_a_full_relay_is_507(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    async with running_hub(tmp_path, relay_max_bytes=3000) as hub:
        p = await parties_of(hub, http)
        first = await upload_ok(p, b"x" * 2000, p.kiosk)
        status, body = await upload(p, b"x" * 1001, p.adviser)
        assert (status, body["error"]) == (507, "relay_full")
        await upload_ok(p, b"x" * 1000, p.adviser)  # exactly full
        assert await delete(p, first, p.kiosk) == 204
        await upload_ok(p, b"x" * 2000, p.kiosk)


async def test_a_truncated_upload_leaves_nothing(parties: Parties) -> None:
    head = upload_head(parties, 4 * MIB)
    address = urlsplit(parties.hub.url)
    _reader, writer = await asyncio.open_connection(address.hostname, address.port)
    writer.write(head + b"x" * (1 * MIB))
    await writer.drain()
    for _ in range(100):  # the hub has started reading it
        if parties.relay.stats()["reserved"]:
            break
        await asyncio.sleep(0.02)
    assert parties.relay.stats()["reserved"] == 4 * MIB
    writer.close()  # the client goes away mid-body
    await writer.wait_closed()
    for _ in range(100):
        if not parties.relay.stats()["reserved"]:
            break
        await asyncio.sleep(0.02)
    assert parties.relay.stats() == {"blobs": 0, "bytes": 0, "reserved": 0}
    await upload_ok(parties, b"still works", parties.kiosk)


async def test_a_consultation_has_its_share_of_the_relay(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with running_hub(tmp_path) as hub:
        p = await parties_of(hub, http)
        await hub.storage.set_max_file_bytes("default", 1024)
        limit = sealed_limit(1024)
        assert hub.config.relay_files_per_consultation == 4
        blobs = [await upload_ok(p, b"x" * limit, p.kiosk) for _ in range(3)]
        await upload_ok(p, b"x" * (limit - 1), p.adviser)  # both parties' blobs count
        status, body = await upload(p, b"x" * 2, p.kiosk)
        assert (status, body["error"]) == (507, "relay_full")
        await upload_ok(p, b"x", p.kiosk)  # exactly the share
        # another consultation of the tenant is not held back by this one
        hub.add_adviser("bob", PASSWORD)
        async with http_session() as bob_http:
            device_token = hub.add_device("kiosk-2")
            other = await pair_call(bob_http, hub, device_token, "bob", PASSWORD)
            async with bob_http.post(
                f"{hub.url}/api/relay/{other.consultation_id}",
                data=b"x" * limit,
                headers={"Authorization": f"Bearer {device_token}"},
            ) as response:
                assert response.status == 201
        assert await delete(p, blobs[0], p.kiosk) == 204  # deleting makes room again
        await upload_ok(p, b"x" * limit, p.kiosk)


async def until(condition: Callable[[], bool]) -> None:
    """Wait for something the hub does on its own (the test's timeout guards the wait)."""
    while not condition():  # noqa: ASYNC110 - the hub offers no event to wait on
        await asyncio.sleep(0.02)


async def test_a_stalled_upload_gives_its_reservation_back(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with running_hub(tmp_path, relay_chunk_timeout_s=0.3) as hub:
        p = await parties_of(hub, http)
        await hub.storage.set_max_file_bytes("default", MIB)
        limit = sealed_limit(MIB)
        head = upload_head(p, limit)
        address = urlsplit(hub.url)
        reader, writer = await asyncio.open_connection(address.hostname, address.port)
        writer.write(head + b"x" * 1000)  # and then nothing, the connection open
        await until(lambda: p.relay.stats()["reserved"] == limit)
        await until(lambda: p.relay.stats()["reserved"] == 0)
        line = await asyncio.wait_for(reader.readline(), 10)
        assert line.split()[1] == b"408"
        writer.close()
        assert p.relay.stats() == {"blobs": 0, "bytes": 0, "reserved": 0}
        for _ in range(4):  # the consultation's whole share is free again
            await upload_ok(p, b"x" * limit, p.kiosk)


async def test_a_trickling_upload_is_cut_off_too(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    # bytes keep coming, but no 256 KiB piece is ever complete within the timeout
    async with running_hub(tmp_path, relay_chunk_timeout_s=0.3) as hub:
        p = await parties_of(hub, http)
        head = upload_head(p, MIB)
        address = urlsplit(hub.url)
        reader, writer = await asyncio.open_connection(address.hostname, address.port)
        writer.write(head)
        await until(lambda: p.relay.stats()["reserved"] == MIB)
        while p.relay.stats()["reserved"]:
            writer.write(b"x" * 100)
            await writer.drain()
            await asyncio.sleep(0.02)
        line = await asyncio.wait_for(reader.readline(), 10)
        assert line.split()[1] == b"408"
        writer.close()
        assert p.relay.stats() == {"blobs": 0, "bytes": 0, "reserved": 0}


# -- cancelling a named transfer --------------------------------------------

TID = "transfer-0001"


async def cancel(p: Parties, transfer_id: str, headers: dict[str, str]) -> int:
    async with p.adviser_http.delete(f"{p.url}/transfer/{transfer_id}", headers=headers) as r:
        return r.status


async def test_a_stored_transfer_is_cancelled_by_its_name(parties: Parties) -> None:
    named = {**parties.adviser, "X-Transfer-Id": TID}
    blob = await upload_ok(parties, b"sealed bytes", named)
    # Only the uploader's cancel counts: the kiosk naming the same transfer drops nothing.
    assert await cancel(parties, TID, parties.kiosk) == 204
    assert await fetch(parties, blob, parties.kiosk) == (200, b"sealed bytes")
    assert await cancel(parties, TID, parties.adviser) == 204
    assert (await fetch(parties, blob, parties.kiosk))[0] == 404
    assert await cancel(parties, TID, parties.adviser) == 204  # idempotent
    assert parties.relay.stats() == {"blobs": 0, "bytes": 0, "reserved": 0}
    # The name is free again once its blob is gone.
    await upload_ok(parties, b"again", named)


async def test_an_upload_cancelled_while_it_comes_in_is_not_kept(parties: Parties) -> None:
    # The client gave up after its last byte was on its way: the blob id it never read
    # would be lost to it, so the cancel by name must catch the upload still coming in.
    head = upload_head(parties, MIB, f"X-Transfer-Id: {TID}")
    address = urlsplit(parties.hub.url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(head + b"x" * 1000)
        await writer.drain()
        await until(lambda: parties.relay.stats()["reserved"] == MIB)
        assert await cancel(parties, TID, parties.kiosk) == 204
        writer.write(b"x" * (MIB - 1000))
        await writer.drain()
        line = await asyncio.wait_for(reader.readline(), 10)
        assert line.split()[1] == b"410"
    finally:
        writer.close()
    assert parties.relay.stats() == {"blobs": 0, "bytes": 0, "reserved": 0}
    await upload_ok(parties, b"the next one", {**parties.kiosk, "X-Transfer-Id": TID})


@pytest.mark.parametrize("bad", ["short", "x" * 65, "has space", "dots.are.out", ""])
async def test_a_bad_transfer_name_is_400(parties: Parties, bad: str) -> None:
    status, body = await upload(parties, b"x", {**parties.kiosk, "X-Transfer-Id": bad})
    assert (status, body["error"]) == (400, "bad_transfer_id")
    assert parties.relay.stats() == {"blobs": 0, "bytes": 0, "reserved": 0}


async def test_a_transfer_name_in_use_is_409_and_bad_cancels_are_404(parties: Parties) -> None:
    named = {**parties.kiosk, "X-Transfer-Id": TID}
    await upload_ok(parties, b"first", named)
    status, body = await upload(parties, b"second", named)
    assert (status, body["error"]) == (409, "duplicate_transfer")
    assert parties.relay.stats()["blobs"] == 1
    assert await cancel(parties, "bad id!", parties.kiosk) == 404
    async with http_session() as stranger:
        url = f"{parties.url}/transfer/{TID}"
        async with stranger.delete(url, headers={"Authorization": "Bearer bkd_nope"}) as r:
            assert r.status == 401
    assert parties.relay.stats()["blobs"] == 1


# -- streamed downloads ---------------------------------------------------


async def test_a_slow_reader_gets_every_byte_with_a_content_length(parties: Parties) -> None:
    data = os.urandom(3 * MIB + 12345)  # not a whole number of slices
    blob = await upload_ok(parties, data, parties.kiosk)
    url = f"{parties.url}/{blob}"
    async with parties.adviser_http.get(url, headers=parties.adviser) as response:
        assert response.status == 200
        assert response.headers["Content-Length"] == str(len(data))
        assert "Transfer-Encoding" not in response.headers
        got = bytearray()
        while chunk := await response.content.read(64 * 1024):
            got += chunk
            await asyncio.sleep(0.001)  # the hub waits for us, it does not pile up copies
    assert got == data
    assert parties.relay.stats() == {"blobs": 1, "bytes": len(data), "reserved": 0}


async def large_blob(p: Parties, by: dict[str, str]) -> tuple[str, bytes]:
    """A blob larger than everything the sockets and buffers between hub and test can hold."""
    await p.hub.storage.set_max_file_bytes("default", 64 * MIB)
    data = os.urandom(48 * MIB)
    return await upload_ok(p, data, by), data


async def read_after(
    p: Parties, blob: str, size: int, meanwhile: Callable[[], Awaitable[None]]
) -> int:
    """Start a download, run ``meanwhile`` once it is under way, return how much arrived."""
    got = 0
    async with p.adviser_http.get(f"{p.url}/{blob}", headers=p.adviser) as response:
        assert response.status == 200
        got += len(await response.content.readexactly(64 * 1024))
        await meanwhile()
        with pytest.raises((aiohttp.ClientPayloadError, aiohttp.ClientConnectionError)):
            while chunk := await response.content.read(MIB):
                got += len(chunk)
    assert got < size
    return got


async def test_deleting_a_blob_stops_its_downloads(parties: Parties) -> None:
    blob, data = await large_blob(parties, parties.kiosk)

    async def delete_it() -> None:
        assert await delete(parties, blob, parties.kiosk) == 204

    await read_after(parties, blob, len(data), delete_it)
    assert parties.relay.stats() == {"blobs": 0, "bytes": 0, "reserved": 0}
    other = await upload_ok(parties, b"still works", parties.kiosk)  # the hub carries on
    assert await fetch(parties, other, parties.adviser) == (200, b"still works")


async def test_ending_the_consultation_stops_its_downloads(parties: Parties) -> None:
    blob, data = await large_blob(parties, parties.kiosk)

    async def end_it() -> None:
        cid = parties.call.consultation_id
        await parties.call.kiosk.send(End(consultation_id=cid, reason="hangup"))
        assert await parties.call.adviser.expect(Ended) == Ended(
            consultation_id=cid, reason="hangup"
        )

    await read_after(parties, blob, len(data), end_it)
    assert parties.relay.stats() == {"blobs": 0, "bytes": 0, "reserved": 0}


async def test_a_stalled_reader_is_cut_off(
    tmp_path: Path, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="hub.relay")
    async with running_hub(tmp_path, relay_chunk_timeout_s=0.3) as hub:
        p = await parties_of(hub, http)
        blob, data = await large_blob(p, p.adviser)
        address = urlsplit(hub.url)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, (address.hostname, address.port))
        reader, writer = await asyncio.open_connection(sock=sock)
        writer.write(
            f"GET /api/relay/{p.call.consultation_id}/{blob} HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nAuthorization: Bearer {p.device_token}\r\n\r\n".encode()
        )
        await writer.drain()
        await until(lambda: "stalled" in caplog.text)
        received = 0
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(MIB):
                received += len(chunk)
        writer.close()
        assert 0 < received < len(data)
        assert await fetch(p, blob, p.kiosk) == (200, data)  # a reader that reads gets it whole


# -- lifetime -------------------------------------------------------------


async def test_blobs_outlive_a_resume_but_not_the_grace_period(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with running_hub(tmp_path, grace_s=1) as hub:
        p = await parties_of(hub, http)
        blob = await upload_ok(p, b"sealed", p.kiosk)
        await p.call.adviser.close()
        await p.call.kiosk.expect(PeerAway)
        # the away adviser's tab reloads: it re-fetches while the consultation waits for it
        assert await fetch(p, blob, p.adviser) == (200, b"sealed")
        kiosk = p.call.kiosk
        await kiosk.close()
        await asyncio.sleep(1.5)  # both away past the grace period
        await settle()
        assert (await hub.storage.consultations())[0].end_reason == "peer_gone"
        assert p.relay.stats()["blobs"] == 0
        again = await connect_kiosk(http, hub, p.device_token)
        await resume(again, p.call.kiosk_grant)
        assert (await again.receive()).TYPE == "error"


async def test_a_stopping_hub_drops_every_blob(tmp_path: Path) -> None:
    async with http_session() as http:
        async with running_hub(tmp_path) as hub:
            p = await parties_of(hub, http)
            await upload_ok(p, b"x" * 10, p.kiosk)
            relay = p.relay
        assert relay.stats() == {"blobs": 0, "bytes": 0, "reserved": 0}


async def test_nothing_but_sizes_reaches_the_log(
    parties: Parties, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    blob = await upload_ok(parties, b"x" * 4321, parties.kiosk)
    await fetch(parties, blob, parties.adviser)
    await fetch(parties, "A" * 40, parties.adviser)
    await delete(parties, blob, parties.kiosk)
    await settle()
    assert "4321" in caplog.text
    for secret in (blob, parties.device_token, parties.csrf, parties.call.consultation_id):
        assert secret not in caplog.text


# -- parsers --------------------------------------------------------------

VISIBLE = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=300)


@given(st.text(max_size=400))
def test_any_authorization_header_parses_or_is_refused(header: str) -> None:
    token = parse_bearer(header)
    if token is not None:
        assert 1 <= len(token) <= BEARER_MAX and token.isascii() and token.isprintable()
        assert " " not in token and header.lower().lstrip(" \t").startswith("bearer ")


@given(VISIBLE, st.sampled_from(["Bearer", "bearer", "BEARER"]), st.sampled_from([" ", "  "]))
def test_bearer_tokens_round_trip(token: str, scheme: str, gap: str) -> None:
    expected = token if len(token) <= BEARER_MAX else None
    assert parse_bearer(f"{scheme}{gap}{token}") == expected
    assert parse_bearer(f"Basic {token}") is None


@given(st.integers(min_value=0, max_value=1024 * MIB))
def test_the_sealed_limit_covers_every_record(max_file_bytes: int) -> None:
    limit = sealed_limit(max_file_bytes)
    records = max_file_bytes // 1024 + 1  # chunk_size >= 1024: at most this many records
    assert limit == max_file_bytes + 8 + 25 * records
    assert sealed_limit(max_file_bytes + 1) >= limit
