"""The relay for enrolled kiosks: each kiosk connection's relay token (docs/enrolment.md,
"Reports and relay").

An enrolled kiosk has no device token; its welcome carries a relay token, valid while that
connection lives. The kiosk side is the real one: enrolment through provisioning.enrolment,
the certificate hello through HubClient, sealed files through RelayClient.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from appliance.custody.vault import ArtifactKind, SessionVault
from appliance.exchange.transfer import (
    ExchangeLimits,
    RelayClient,
    RelayError,
    receive_offer,
    upload_artifact,
)
from appliance.runner.hub_client import Backoff, HubClient, HubEvent, HubMessage, HubUp
from hub.pki.secret import HubSecret
from hub.relay import RELAY
from protocol.channel import FileOffer
from protocol.messages import (
    Accept,
    Accepted,
    AnyMessage,
    Queue,
    QueuePosition,
    QueueRequest,
    Welcome,
)
from protocol.sealed import MIN_CHUNK, Opener, new_key, seal_bytes
from provisioning.identity import IdentityStore
from tests.support.hub import (
    RunningHub,
    SignallingPeer,
    connect_adviser,
    connect_kiosk,
    http_session,
    login,
    running_hub,
)
from tests.support.hub_enrol import hub_secret
from tests.support.kiosk_enrol import enrolled_store

PASSWORD = "correct horse battery"
MIB = 1024 * 1024
TID = "xfer-abcdefgh"
PDF = b"%PDF-1.4\n" + os.urandom(5000) + b"\n%%EOF\n"
LIMITS = ExchangeLimits(max_file_bytes=MIB)
pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def secret(tmp_path: Path) -> tuple[Path, HubSecret]:
    return hub_secret(tmp_path)


@pytest.fixture
async def hub(tmp_path: Path, secret: tuple[Path, HubSecret]) -> AsyncIterator[RunningHub]:
    """The production default: a hub secret, device tokens off."""
    async with running_hub(tmp_path, secret_file=secret[0], allow_device_tokens=False) as running:
        running.add_adviser("alice", PASSWORD)
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with http_session() as session:
        yield session


@dataclass
class Kiosk:
    """The kiosk's real hub client, its events as they come."""

    client: HubClient
    events: asyncio.Queue[HubEvent]
    task: asyncio.Task[None]

    async def welcome(self) -> Welcome:
        """The welcome of the next connection (what came before it is skipped)."""
        while True:
            event = await self.next_event()
            if isinstance(event, HubUp):
                return event.welcome

    async def next_event(self) -> HubEvent:
        async with asyncio.timeout(10):
            return await self.events.get()

    async def expect(self, kind: type[AnyMessage]) -> AnyMessage:
        while True:
            event = await self.next_event()
            if isinstance(event, HubMessage) and isinstance(event.message, kind):
                return event.message


@asynccontextmanager
async def kiosk_client(hub: RunningHub, store: IdentityStore) -> AsyncIterator[Kiosk]:
    """HubClient with the enrolled identity (no token), connected to ``hub``."""
    client = HubClient(
        f"{hub.ws_url}/ws/kiosk", None, backoff=Backoff(0.05, 0.2), identity=store.load
    )
    events: asyncio.Queue[HubEvent] = asyncio.Queue()
    task = asyncio.create_task(client.run(events.put_nowait))
    try:
        yield Kiosk(client, events, task)
    finally:
        await client.close()
        with contextlib.suppress(Exception):
            await task


async def accepted_by_alice(
    http: aiohttp.ClientSession, hub: RunningHub, kiosk: Kiosk
) -> tuple[SignallingPeer, str, str]:
    """The kiosk queues, alice accepts; (alice's socket, consultation id, alice's csrf)."""
    adviser = await connect_adviser(http, hub, "alice", PASSWORD)
    await adviser.expect(Queue)
    await kiosk.client.send(QueueRequest())
    position = await kiosk.expect(QueuePosition)
    assert isinstance(position, QueuePosition)
    await adviser.expect(Queue)
    await adviser.send(Accept(consultation_id=position.consultation_id))
    await adviser.expect(Accepted)
    await kiosk.expect(Accepted)
    csrf = await login(http, hub, "alice", PASSWORD)  # a fresh csrf for the API calls
    return adviser, position.consultation_id, csrf


def relay_client(http: aiohttp.ClientSession, hub: RunningHub, token: str, cid: str) -> RelayClient:
    return RelayClient(http, hub_url=f"{hub.ws_url}/ws/kiosk", token=token, consultation_id=cid)


async def relay_status(hub: RunningHub, cid: str, token: str) -> int:
    """A kiosk's small upload with ``token`` as its bearer: the relay's status."""
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{hub.url}/api/relay/{cid}",
            data=b"sealed",
            headers={"Authorization": f"Bearer {token}"},
        ) as response,
    ):
        return response.status


# -- an enrolled kiosk uses the relay ---------------------------------------------------


async def test_an_enrolled_kiosk_sends_and_receives_sealed_files(
    hub: RunningHub, secret: tuple[Path, HubSecret], http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    store = await enrolled_store(hub, secret[1], tmp_path / "identity")
    (tmp_path / "vault").mkdir()
    vault = SessionVault(tmp_path / "vault", max_file_bytes=8 * MIB, max_session_bytes=16 * MIB)
    async with kiosk_client(hub, store) as kiosk, aiohttp.ClientSession() as kiosk_http:
        welcome = await kiosk.welcome()
        assert welcome.relay_token is not None and len(welcome.relay_token) == 43
        assert welcome.relay_token not in repr(welcome)  # a credential: never in a repr
        _adviser, cid, csrf = await accepted_by_alice(http, hub, kiosk)
        relay = relay_client(kiosk_http, hub, welcome.relay_token, cid)

        # kiosk -> adviser: a file from the vault, sealed on the way up
        data = b"%PDF-1.4\n" + os.urandom(2 * MIB)
        artifact = vault.store(ArtifactKind.SCAN, "scan.pdf", data)
        sent = await upload_artifact(relay, vault, artifact, TID)
        url = f"{hub.url}/api/relay/{cid}/{sent.blob}"
        async with http.get(url, headers={"X-CSRF-Token": csrf}) as response:
            assert response.status == 200
            sealed = await response.read()
        opener = Opener(sent.key, TID, size=len(data), sha256=sent.sha256)
        assert b"".join(opener.feed(sealed)) == data
        await relay.delete(sent.blob)

        # adviser -> kiosk: the console uploads, the kiosk downloads into its vault
        key = new_key()
        async with http.post(
            f"{hub.url}/api/relay/{cid}",
            data=seal_bytes(key, TID, PDF, MIN_CHUNK),
            headers={"X-CSRF-Token": csrf, "Content-Type": "application/octet-stream"},
        ) as response:
            assert response.status == 201, await response.text()
            blob = (await response.json())["blob"]
        offer = FileOffer(
            id=TID,
            name="Kontoauszug.pdf",
            size=len(PDF),
            mime="application/pdf",
            sha256=hashlib.sha256(PDF).hexdigest(),
            purpose="file",
            blob=blob,
            key=key.hex(),
        )
        received, digest = await receive_offer(relay, vault, offer, LIMITS)
        assert vault.read_bytes(received) == PDF and digest == offer.sha256


async def test_the_relay_token_dies_with_its_connection_and_a_new_one_takes_over(
    hub: RunningHub, secret: tuple[Path, HubSecret], http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    store = await enrolled_store(hub, secret[1], tmp_path / "identity")
    async with kiosk_client(hub, store) as kiosk:
        first = (await kiosk.welcome()).relay_token
        assert first is not None
        _adviser, cid, _csrf = await accepted_by_alice(http, hub, kiosk)
        assert await relay_status(hub, cid, first) == 201
        # The connection drops (the consultation waits for the kiosk): its token is dead.
        switchboard = hub.switchboard
        (peer,) = [p for p in switchboard.connections() if p.role == "kiosk"]
        await peer.ws.close()
        second = (await kiosk.welcome()).relay_token  # HubClient reconnects by itself
        assert second is not None and second != first
        assert await relay_status(hub, cid, first) == 401
        assert len(switchboard.relay_tokens) == 1  # the closed connection's token is gone


async def test_another_devices_relay_token_reaches_no_other_consultation(
    hub: RunningHub, secret: tuple[Path, HubSecret], http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    first = await enrolled_store(hub, secret[1], tmp_path / "one", "kiosk-1")
    second = await enrolled_store(hub, secret[1], tmp_path / "two", "kiosk-2")
    async with kiosk_client(hub, first) as one, kiosk_client(hub, second) as two:
        await one.welcome()
        other = (await two.welcome()).relay_token
        assert other is not None
        _adviser, cid, _csrf = await accepted_by_alice(http, hub, one)
        assert await relay_status(hub, cid, other) == 404  # not a party of that consultation
        assert hub.app[RELAY].stats()["blobs"] == 0


async def test_a_revoked_kiosk_is_refused_by_the_relay_at_once(
    hub: RunningHub, secret: tuple[Path, HubSecret], http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    store = await enrolled_store(hub, secret[1], tmp_path / "identity")
    async with kiosk_client(hub, store) as kiosk:
        token = (await kiosk.welcome()).relay_token
        assert token is not None
        _adviser, cid, _csrf = await accepted_by_alice(http, hub, kiosk)
        assert await relay_status(hub, cid, token) == 201
        await hub.storage.revoke_device("kiosk-1", now=time.time())
        # before the connection's next heartbeat check: the relay re-checks the certificate
        assert await relay_status(hub, cid, token) == 401


async def test_made_up_and_malformed_relay_tokens_are_refused(
    hub: RunningHub, secret: tuple[Path, HubSecret], http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    store = await enrolled_store(hub, secret[1], tmp_path / "identity")
    async with kiosk_client(hub, store) as kiosk:
        token = (await kiosk.welcome()).relay_token
        assert token is not None
        _adviser, cid, _csrf = await accepted_by_alice(http, hub, kiosk)
        for wrong in ("A" * 43, token[:-1] + ("A" if token[-1] != "A" else "B"), token.upper()):
            if wrong != token:
                assert await relay_status(hub, cid, wrong) == 401


# -- device tokens: only with --allow-device-tokens ---------------------------------------


async def test_device_tokens_are_refused_at_the_relay_by_default(
    hub: RunningHub, secret: tuple[Path, HubSecret], http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    store = await enrolled_store(hub, secret[1], tmp_path / "identity")
    device_token = hub.add_device("old-kiosk")  # a token the hub would refuse at hello too
    async with kiosk_client(hub, store) as kiosk:
        await kiosk.welcome()
        _adviser, cid, _csrf = await accepted_by_alice(http, hub, kiosk)
        assert await relay_status(hub, cid, device_token) == 401


async def test_a_token_kiosk_keeps_working_and_gets_a_relay_token_too(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub, http_session() as http:  # device tokens on
        hub.add_adviser("alice", PASSWORD)
        device_token = hub.add_device("kiosk-1")
        kiosk = await connect_kiosk(http, hub, device_token)
        assert kiosk.welcome is not None and kiosk.welcome.relay_token is not None
        adviser = await connect_adviser(http, hub, "alice", PASSWORD)
        await adviser.expect(Queue)
        await kiosk.send(QueueRequest())
        position = await kiosk.expect(QueuePosition)
        await adviser.send(Accept(consultation_id=position.consultation_id))
        await kiosk.expect(Accepted)
        cid = position.consultation_id
        assert await relay_status(hub, cid, device_token) == 201  # the migration path
        assert await relay_status(hub, cid, kiosk.welcome.relay_token) == 201
        # A revoked token kiosk: its relay token goes with its device token.
        await hub.storage.revoke_device("kiosk-1", now=time.time())
        assert await relay_status(hub, cid, kiosk.welcome.relay_token) == 401
        assert await relay_status(hub, cid, device_token) == 401


async def test_an_adviser_gets_no_relay_token(hub: RunningHub, http: aiohttp.ClientSession) -> None:
    adviser = await connect_adviser(http, hub, "alice", PASSWORD)
    assert adviser.welcome is not None and adviser.welcome.relay_token is None


async def test_relay_errors_for_a_stale_token_are_typed(
    hub: RunningHub, secret: tuple[Path, HubSecret], http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    store = await enrolled_store(hub, secret[1], tmp_path / "identity")
    (tmp_path / "vault").mkdir()
    vault = SessionVault(tmp_path / "vault", max_file_bytes=MIB, max_session_bytes=2 * MIB)
    async with kiosk_client(hub, store) as kiosk, aiohttp.ClientSession() as kiosk_http:
        await kiosk.welcome()
        _adviser, cid, _csrf = await accepted_by_alice(http, hub, kiosk)
        stale = relay_client(kiosk_http, hub, "B" * 43, cid)
        small = vault.store(ArtifactKind.SCAN, "s.pdf", b"%PDF-1")
        with pytest.raises(RelayError) as caught:
            await upload_artifact(stale, vault, small, TID)
        assert (caught.value.code, caught.value.status) == ("upload_failed", 401)
