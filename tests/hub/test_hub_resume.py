"""Resume tokens, grace period and renegotiation over real WebSockets (docs/reconnection.md)."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from hub.relay import RELAY
from hub.signalling import CLOSE_REPLACED, RESUME_REFUSED
from hub.storage import secret_digest
from protocol.messages import (
    RESUME_TOKEN_PATTERN,
    Accept,
    Accepted,
    Answer,
    End,
    Ended,
    Error,
    Heartbeat,
    Offer,
    PeerAway,
    PeerBack,
    Queue,
    QueuePosition,
    QueueRequest,
    Resume,
    Resumed,
    ResumeGrant,
)
from tests.support.hub import (
    PairedCall,
    RunningHub,
    SignallingPeer,
    connect_adviser,
    connect_kiosk,
    http_session,
    pair_call,
    resume,
    running_hub,
    settle,
)

PASSWORD = "correct horse battery"
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
OTHER_TOKEN = "A" * 43  # well-formed, never granted


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    async with running_hub(tmp_path) as running:
        running.add_adviser("alice", PASSWORD)
        yield running


async def paired(http: aiohttp.ClientSession, hub: RunningHub, device: str = "kiosk-1") -> Call:
    token = hub.add_device(device)
    return Call(await pair_call(http, hub, token, "alice", PASSWORD), token)


class Call:
    """A paired call plus the kiosk's device token (to reconnect it)."""

    def __init__(self, paired: PairedCall, device_token: str) -> None:
        self.kiosk = paired.kiosk
        self.adviser = paired.adviser
        self.cid = paired.consultation_id
        self.kiosk_grant = paired.kiosk_grant
        self.adviser_grant = paired.adviser_grant
        self.device_token = device_token


async def reconnect_adviser(
    http: aiohttp.ClientSession, hub: RunningHub, name: str = "alice"
) -> SignallingPeer:
    adviser = await connect_adviser(http, hub, name, PASSWORD)
    await adviser.expect(Queue)
    return adviser


async def resumed(peer: SignallingPeer, grant: ResumeGrant) -> tuple[ResumeGrant, Resumed]:
    """Resume with ``grant``; return the new grant and the ``resumed``."""
    await resume(peer, grant)
    new = await peer.expect(ResumeGrant)
    assert new.consultation_id == grant.consultation_id and new.token != grant.token
    return new, await peer.expect(Resumed)


async def expect_refused(peer: SignallingPeer) -> None:
    """Every refused resume gets exactly the same non-fatal answer."""
    assert await peer.expect(Error) == Error(code="not_found", message=RESUME_REFUSED)


async def expect_closed(peer: SignallingPeer, code: int) -> None:
    frame = await peer.frame(5)
    assert frame.type is aiohttp.WSMsgType.CLOSE, frame
    assert frame.data == code


def files_bytes(directory: Path) -> bytes:
    """Everything in the files of a directory, concatenated."""
    return b"".join(file.read_bytes() for file in sorted(directory.iterdir()))


async def test_both_sides_get_a_grant_on_accept(
    hub: RunningHub, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    call = await paired(http, hub)
    for grant in (call.kiosk_grant, call.adviser_grant):
        assert grant.consultation_id == call.cid
        assert re.fullmatch(RESUME_TOKEN_PATTERN, grant.token)
    assert call.kiosk_grant.token != call.adviser_grant.token
    with sqlite3.connect(hub.config.db_path) as conn:  # a reader beside the hub's connection
        rows = conn.execute("SELECT token_hash, role FROM resume_tokens ORDER BY role").fetchall()
    conn.close()
    assert rows == [
        (secret_digest(call.adviser_grant.token), "adviser"),
        (secret_digest(call.kiosk_grant.token), "kiosk"),
    ]
    written = files_bytes(tmp_path)  # the database, its WAL: only hashes
    assert call.kiosk_grant.token.encode() not in written
    assert call.adviser_grant.token.encode() not in written


async def test_kiosk_drops_and_resumes(hub: RunningHub, http: aiohttp.ClientSession) -> None:
    call = await paired(http, hub)
    await call.kiosk.close()
    assert await call.adviser.expect(PeerAway) == PeerAway(consultation_id=call.cid)
    await call.adviser.expect_silence()
    kiosk = await connect_kiosk(http, hub, call.device_token)
    _grant, answer = await resumed(kiosk, call.kiosk_grant)
    assert answer == Resumed(consultation_id=call.cid, peer="alice", peer_present=True)
    assert await call.adviser.expect(PeerBack) == PeerBack(consultation_id=call.cid)
    # renegotiation: a new offer for the same consultation, and its answer
    offer = Offer(consultation_id=call.cid, sdp=SDP)
    await kiosk.send(offer)
    assert await call.adviser.expect(Offer) == offer
    await call.adviser.send(Answer(consultation_id=call.cid, sdp=SDP))
    assert await kiosk.expect(Answer) == Answer(consultation_id=call.cid, sdp=SDP)
    await kiosk.send(offer)  # and again, any time during the call
    assert await call.adviser.expect(Offer) == offer
    assert (await hub.storage.consultations())[0].end_reason is None


async def test_adviser_drops_and_resumes(hub: RunningHub, http: aiohttp.ClientSession) -> None:
    call = await paired(http, hub)
    await call.adviser.close()
    assert await call.kiosk.expect(PeerAway) == PeerAway(consultation_id=call.cid)
    async with http_session() as other_http:  # a new tab or a reloaded one
        adviser = await reconnect_adviser(other_http, hub)
        _grant, answer = await resumed(adviser, call.adviser_grant)
        assert answer == Resumed(consultation_id=call.cid, peer="kiosk-1", peer_present=True)
        assert await call.kiosk.expect(PeerBack) == PeerBack(consultation_id=call.cid)
        await call.kiosk.send(Offer(consultation_id=call.cid, sdp=SDP))
        assert (await adviser.expect(Offer)).consultation_id == call.cid


async def test_both_away_then_back_one_by_one(hub: RunningHub, http: aiohttp.ClientSession) -> None:
    call = await paired(http, hub)
    await call.kiosk.close()
    await call.adviser.expect(PeerAway)
    await call.adviser.close()
    await settle()
    assert hub.switchboard.stats()["away"] == 2
    kiosk = await connect_kiosk(http, hub, call.device_token)
    _grant, answer = await resumed(kiosk, call.kiosk_grant)
    assert answer.peer_present is False
    adviser = await reconnect_adviser(http, hub)
    _grant, answer = await resumed(adviser, call.adviser_grant)
    assert answer.peer_present is True
    assert await kiosk.expect(PeerBack) == PeerBack(consultation_id=call.cid)


async def test_a_token_works_once(hub: RunningHub, http: aiohttp.ClientSession) -> None:
    call = await paired(http, hub)
    await call.kiosk.close()
    await call.adviser.expect(PeerAway)
    kiosk = await connect_kiosk(http, hub, call.device_token)
    new_grant, _ = await resumed(kiosk, call.kiosk_grant)
    await call.adviser.expect(PeerBack)
    await kiosk.close()
    await call.adviser.expect(PeerAway)
    kiosk = await connect_kiosk(http, hub, call.device_token)
    await resume(kiosk, call.kiosk_grant)  # used up
    await expect_refused(kiosk)
    await resumed(kiosk, new_grant)  # the one it got with resumed works
    await call.adviser.expect(PeerBack)


async def test_tokens_are_bound_to_their_side_and_consultation(
    hub: RunningHub, http: aiohttp.ClientSession
) -> None:
    hub.add_adviser("bob", PASSWORD)
    mine = await paired(http, hub)
    async with http_session() as bob_http:
        bob_token = hub.add_device("kiosk-2")
        theirs = await pair_call(bob_http, hub, bob_token, "bob", PASSWORD)
        for _ in range(2):  # alice saw kiosk-2 queue and leave the queue
            await mine.adviser.expect(Queue)
        await mine.kiosk.close()
        await mine.adviser.expect(PeerAway)
        await theirs.kiosk.close()
        await theirs.adviser.expect(PeerAway)
        kiosk = await connect_kiosk(http, hub, mine.device_token)
        attempts = [
            Resume(consultation_id=mine.cid, token=theirs.kiosk_grant.token),  # other device's
            Resume(consultation_id=theirs.consultation_id, token=theirs.kiosk_grant.token),
            Resume(consultation_id=mine.cid, token=mine.adviser_grant.token),  # the adviser's
            Resume(consultation_id=theirs.consultation_id, token=mine.kiosk_grant.token),
            Resume(consultation_id=mine.cid, token=OTHER_TOKEN),
            Resume(consultation_id="unknown-consultation", token=mine.kiosk_grant.token),
        ]
        for attempt in attempts:
            await kiosk.send(attempt)
            await expect_refused(kiosk)
        # bob (another adviser, same tenant) cannot take alice's side either
        bob = await reconnect_adviser(bob_http, hub, "bob")
        await resume(bob, mine.adviser_grant)
        await expect_refused(bob)
        await mine.adviser.expect_silence()
        # none of that used up a token: the owners still resume
        await resumed(kiosk, mine.kiosk_grant)
        await mine.adviser.expect(PeerBack)
        await resumed(bob, theirs.adviser_grant)


async def test_resume_is_refused_while_queued_or_in_a_call(
    hub: RunningHub, http: aiohttp.ClientSession
) -> None:
    call = await paired(http, hub)
    await resume(call.kiosk, call.kiosk_grant)  # already in it
    await expect_refused(call.kiosk)
    await resume(call.adviser, call.adviser_grant)
    await expect_refused(call.adviser)
    other = await connect_kiosk(http, hub, hub.add_device("kiosk-2"))
    await other.send(QueueRequest())
    await other.expect(QueuePosition)
    await resume(other, call.kiosk_grant)
    await expect_refused(other)


async def test_grace_expiry_ends_the_consultation(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with running_hub(tmp_path, grace_s=1) as hub:
        hub.add_adviser("alice", PASSWORD)
        call = await paired(http, hub)
        assert call.kiosk.welcome is not None and call.kiosk.welcome.grace_s == 1
        await call.kiosk.close()
        await call.adviser.expect(PeerAway)
        assert await call.adviser.expect(Ended, within=5) == Ended(
            consultation_id=call.cid, reason="peer_gone"
        )
        (record,) = await hub.storage.consultations()
        assert record.end_reason == "peer_gone" and record.ended_at is not None
        kiosk = await connect_kiosk(http, hub, call.device_token)
        await resume(kiosk, call.kiosk_grant)  # too late
        await expect_refused(kiosk)
        await kiosk.send(QueueRequest())  # free again
        waiting = await kiosk.expect(QueuePosition)
        await call.adviser.expect(Queue)
        await call.adviser.send(Accept(consultation_id=waiting.consultation_id))
        await call.adviser.expect(Accepted)  # and the adviser is no longer busy


async def test_end_while_the_other_side_is_away_ends_at_once(
    hub: RunningHub, http: aiohttp.ClientSession
) -> None:
    call = await paired(http, hub)
    await call.kiosk.close()
    await call.adviser.expect(PeerAway)
    await call.adviser.send(End(consultation_id=call.cid, reason="hangup"))
    await settle()
    assert (await hub.storage.consultations())[0].end_reason == "hangup"
    assert hub.switchboard.stats()["calls"] == 0
    kiosk = await connect_kiosk(http, hub, call.device_token)
    await resume(kiosk, call.kiosk_grant)
    await expect_refused(kiosk)


async def test_a_revoked_kiosk_ends_its_call_at_once(
    hub: RunningHub, http: aiohttp.ClientSession
) -> None:
    call = await paired(http, hub)
    await hub.storage.revoke_device("kiosk-1")
    await call.kiosk.send(Heartbeat(ts=1))  # the credentials are checked again
    assert (await call.kiosk.expect(Error)).code == "unauthorized"
    assert await call.adviser.expect(Ended) == Ended(consultation_id=call.cid, reason="peer_gone")
    assert (await hub.storage.consultations())[0].end_reason == "peer_gone"


async def test_an_away_party_is_still_busy(hub: RunningHub, http: aiohttp.ClientSession) -> None:
    call = await paired(http, hub)
    await call.adviser.close()
    await call.kiosk.expect(PeerAway)
    # the kiosk, still in its consultation, cannot queue while that waits for the adviser
    await call.kiosk.send(QueueRequest())
    assert (await call.kiosk.expect(Error)).code == "conflict"
    async with http_session() as tab:
        adviser = await reconnect_adviser(tab, hub)
        # an accept that cannot succeed does not give the away consultation up
        await adviser.send(Accept(consultation_id="unknown-consultation"))
        assert (await adviser.expect(Error)).code == "not_found"
        await settle()
        assert hub.switchboard.stats()["calls"] == 1
        await resumed(adviser, call.adviser_grant)
        await call.kiosk.expect(PeerBack)
        # and with the consultation held by this tab, another tab's accept is a conflict
        other = await connect_kiosk(http, hub, hub.add_device("kiosk-2"))
        await other.send(QueueRequest())
        waiting = await other.expect(QueuePosition)
        async with http_session() as second_tab:
            second = await reconnect_adviser(second_tab, hub)
            await second.send(Accept(consultation_id=waiting.consultation_id))
            assert (await second.expect(Error)).code == "conflict"
        await call.kiosk.expect_silence()


async def relay_blob(http: aiohttp.ClientSession, hub: RunningHub, call: Call) -> None:
    """The kiosk puts a blob into the relay for its consultation."""
    async with http.post(
        f"{hub.url}/api/relay/{call.cid}",
        data=b"sealed" * 100,
        headers={"Authorization": f"Bearer {call.device_token}"},
    ) as response:
        assert response.status == 201
    assert hub.app[RELAY].stats()["blobs"] == 1


def token_rows(hub: RunningHub, consultation_id: str) -> int:
    with sqlite3.connect(hub.config.db_path) as conn:  # a reader beside the hub's connection
        (count,) = conn.execute(
            "SELECT count(*) FROM resume_tokens WHERE consultation_id = ?", (consultation_id,)
        ).fetchone()
    conn.close()
    assert isinstance(count, int)
    return count


async def test_a_kiosk_that_queues_instead_of_resuming_ends_its_consultation(
    hub: RunningHub, http: aiohttp.ClientSession
) -> None:
    # The kiosk's own grace ran out (or its resume was refused, or it restarted) while the
    # hub's still runs: it comes back without a usable token and asks for a new adviser.
    call = await paired(http, hub)
    await relay_blob(http, hub, call)
    await call.kiosk.close()
    await call.adviser.expect(PeerAway)
    kiosk = await connect_kiosk(http, hub, call.device_token)
    await kiosk.send(QueueRequest())
    assert await call.adviser.expect(Ended) == Ended(consultation_id=call.cid, reason="peer_gone")
    waiting = await kiosk.expect(QueuePosition)
    assert waiting.consultation_id != call.cid and waiting.position == 1
    entries = (await call.adviser.expect(Queue)).entries
    assert [e.consultation_id for e in entries] == [waiting.consultation_id]
    records = {r.id: r.end_reason for r in await hub.storage.consultations()}
    assert records == {call.cid: "peer_gone", waiting.consultation_id: None}
    assert hub.app[RELAY].stats()["blobs"] == 0
    assert token_rows(hub, call.cid) == 0
    assert hub.switchboard.stats()["calls"] == 0
    # the adviser is free again and takes the kiosk's new request
    await call.adviser.send(Accept(consultation_id=waiting.consultation_id))
    assert (await call.adviser.expect(Accepted)).peer == "kiosk-1"


async def test_an_away_adviser_taking_a_new_customer_ends_the_old_consultation(
    hub: RunningHub, http: aiohttp.ClientSession
) -> None:
    # A reloaded tab that lost its token (or another tab) accepts instead of resuming.
    call = await paired(http, hub)
    await relay_blob(http, hub, call)
    await call.adviser.close()
    await call.kiosk.expect(PeerAway)
    other = await connect_kiosk(http, hub, hub.add_device("kiosk-2"))
    await other.send(QueueRequest())
    waiting = await other.expect(QueuePosition)
    async with http_session() as tab:
        adviser = await reconnect_adviser(tab, hub)
        await adviser.send(Accept(consultation_id=waiting.consultation_id))
        assert await call.kiosk.expect(Ended) == Ended(consultation_id=call.cid, reason="peer_gone")
        assert await adviser.expect(Accepted) == Accepted(
            consultation_id=waiting.consultation_id, peer="kiosk-2"
        )
        assert (await other.expect(Accepted)).peer == "alice"
        records = {r.id: r.end_reason for r in await hub.storage.consultations()}
        assert records == {call.cid: "peer_gone", waiting.consultation_id: None}
        assert hub.app[RELAY].stats()["blobs"] == 0
        assert token_rows(hub, call.cid) == 0
        assert hub.switchboard.stats()["calls"] == 1
        # the old kiosk is free to queue again
        await call.kiosk.send(QueueRequest())
        assert (await call.kiosk.expect(QueuePosition)).position == 1


async def test_a_replaced_kiosk_connection_goes_away_and_resumes(
    hub: RunningHub, http: aiohttp.ClientSession
) -> None:
    call = await paired(http, hub)
    kiosk = await connect_kiosk(http, hub, call.device_token)  # same device, new connection
    await expect_closed(call.kiosk, CLOSE_REPLACED)
    assert await call.adviser.expect(PeerAway) == PeerAway(consultation_id=call.cid)
    await call.adviser.expect_silence()  # not ended
    _grant, answer = await resumed(kiosk, call.kiosk_grant)
    assert answer.peer_present is True
    await call.adviser.expect(PeerBack)
    await kiosk.send(Offer(consultation_id=call.cid, sdp=SDP))
    await call.adviser.expect(Offer)


async def test_an_adviser_resuming_elsewhere_replaces_the_old_connection(
    hub: RunningHub, http: aiohttp.ClientSession
) -> None:
    call = await paired(http, hub)
    async with http_session() as tab:
        adviser = await reconnect_adviser(tab, hub)
        _grant, answer = await resumed(adviser, call.adviser_grant)
        assert answer.peer_present is True
        await expect_closed(call.adviser, CLOSE_REPLACED)
        await call.kiosk.expect(PeerBack)  # the console is new: the kiosk offers again
        await call.kiosk.send(Offer(consultation_id=call.cid, sdp=SDP))
        await adviser.expect(Offer)
        await settle()
        assert hub.switchboard.stats()["calls"] == 1


async def test_live_consultations_survive_a_hub_restart(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with running_hub(tmp_path) as hub:
        hub.add_adviser("alice", PASSWORD)
        call = await paired(http, hub)
    async with running_hub(tmp_path) as hub:
        assert hub.switchboard.stats()["calls"] == 1
        kiosk = await connect_kiosk(http, hub, call.device_token)
        _grant, answer = await resumed(kiosk, call.kiosk_grant)
        assert answer == Resumed(consultation_id=call.cid, peer="alice", peer_present=False)
        adviser = await reconnect_adviser(http, hub)
        _grant, answer = await resumed(adviser, call.adviser_grant)
        assert answer == Resumed(consultation_id=call.cid, peer="kiosk-1", peer_present=True)
        assert await kiosk.expect(PeerBack) == PeerBack(consultation_id=call.cid)
        offer = Offer(consultation_id=call.cid, sdp=SDP)
        await kiosk.send(offer)
        assert await adviser.expect(Offer) == offer
        await adviser.send(End(consultation_id=call.cid, reason="hangup"))
        assert await kiosk.expect(Ended) == Ended(consultation_id=call.cid, reason="hangup")
        assert (await hub.storage.consultations())[0].end_reason == "hangup"


async def test_after_a_restart_grace_ends_who_does_not_come_back(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with running_hub(tmp_path) as hub:
        hub.add_adviser("alice", PASSWORD)
        hub.add_adviser("bob", PASSWORD)
        first = await paired(http, hub)
        async with http_session() as bob_http:
            await pair_call(bob_http, hub, hub.add_device("kiosk-2"), "bob", PASSWORD)
    async with running_hub(tmp_path, grace_s=1) as hub:
        assert hub.switchboard.stats()["calls"] == 2
        kiosk = await connect_kiosk(http, hub, first.device_token)
        await resumed(kiosk, first.kiosk_grant)
        assert await kiosk.expect(Ended, within=5) == Ended(
            consultation_id=first.cid, reason="peer_gone"
        )
        await asyncio.sleep(0.2)
        assert {r.end_reason for r in await hub.storage.consultations()} == {"peer_gone"}
        assert hub.switchboard.stats()["calls"] == 0


async def test_tokens_never_reach_the_log(
    hub: RunningHub, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    call = await paired(http, hub)
    await call.kiosk.close()
    await call.adviser.expect(PeerAway)
    kiosk = await connect_kiosk(http, hub, call.device_token)
    await resume(kiosk, call.adviser_grant)  # refused
    await expect_refused(kiosk)
    new_grant, _ = await resumed(kiosk, call.kiosk_grant)
    await resume(kiosk, call.kiosk_grant)  # refused: in the call, token used
    await expect_refused(kiosk)
    await call.adviser.send(End(consultation_id=call.cid, reason="hangup"))
    await kiosk.expect(Ended)
    await settle()
    assert "resumed" in caplog.text  # the log did capture the hub
    for token in (call.kiosk_grant.token, call.adviser_grant.token, new_grant.token):
        assert token not in caplog.text
