"""Signalling over real WebSockets: pairing and relay (hello and authentication:
test_hub_signalling_auth.py; the queue: test_hub_signalling_queue.py; slow peers, bad frames,
heartbeats: test_hub_signalling_frames.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hub.signalling import (
    CLOSE_LOGGED_OUT,
    CLOSE_REPLACED,
    CLOSE_UNAUTHORIZED,
)
from protocol.messages import (
    Accept,
    Accepted,
    Answer,
    End,
    Ended,
    Error,
    Heartbeat,
    Hello,
    IceCandidate,
    Offer,
    PeerAway,
    Queue,
    QueueLeave,
    QueuePosition,
    ResumeGrant,
    SasCommit,
    decode,
)
from tests.support.hub import (
    FakeClock,
    RunningHub,
    SignallingPeer,
    connect_adviser,
    connect_kiosk,
    http_session,
    running_hub,
    settle,
)
from tests.support.signalling_tests import (
    PASSWORD,
    SDP,
    expect_closed,
    expect_error,
    hub,
    pair,
    queue_kiosk,
)

__all__ = ["hub"]  # the shared fixture, re-exported by name so pytest finds it here


# -- pairing and relay ----------------------------------------------------


async def test_accept_relay_and_end(hub: RunningHub, http: aiohttp.ClientSession) -> None:
    kiosk, adviser, cid = await pair(http, hub)
    offer = Offer(consultation_id=cid, sdp=SDP)
    await kiosk.send(offer)
    assert await adviser.expect(Offer) == offer
    answer = Answer(consultation_id=cid, sdp=SDP)
    await adviser.send(answer)
    assert await kiosk.expect(Answer) == answer
    candidate = IceCandidate(
        consultation_id=cid, candidate="candidate:1 1 udp 1 127.0.0.1 9 typ host", sdp_mid="0"
    )
    await adviser.send(candidate)
    assert await kiosk.expect(IceCandidate) == candidate
    await kiosk.send(candidate)
    assert await adviser.expect(IceCandidate) == candidate

    await adviser.send(End(consultation_id=cid, reason="hangup"))
    assert await kiosk.expect(Ended) == Ended(consultation_id=cid, reason="hangup")
    await adviser.expect_silence()
    await kiosk.send(Offer(consultation_id=cid, sdp=SDP))  # the call is over
    await expect_error(kiosk, "not_found")
    (record,) = await hub.storage.consultations()
    assert (record.id, record.adviser, record.end_reason) == (cid, "alice", "hangup")
    assert record.accepted_at is not None and record.ended_at is not None

    again = await queue_kiosk(kiosk)  # after a call the kiosk queues again
    assert again.consultation_id != cid
    assert [e.consultation_id for e in (await adviser.expect(Queue)).entries] == [
        again.consultation_id
    ]


@pytest.mark.parametrize("first", ["adviser", "kiosk"])
async def test_the_second_end_of_a_consultation_is_no_error(
    hub: RunningHub, http: aiohttp.ClientSession, first: str
) -> None:
    # The console says `bye` end to end and `end` to the hub; the kiosk answers the bye with its
    # own `end`. Whichever reaches the hub second finds the consultation over: a normal race.
    kiosk, adviser, cid = await pair(http, hub)
    early, late = (adviser, kiosk) if first == "adviser" else (kiosk, adviser)
    await early.send(End(consultation_id=cid, reason="hangup"))
    assert await late.expect(Ended) == Ended(consultation_id=cid, reason="hangup")
    await late.send(End(consultation_id=cid, reason="hangup"))
    await late.expect_silence()
    await early.expect_silence()
    await late.send(End(consultation_id="x" * 22, reason="hangup"))  # never its consultation
    await expect_error(late, "not_found")
    (record,) = await hub.storage.consultations()
    assert record.end_reason == "hangup"


async def test_relay_only_within_the_pair(hub: RunningHub, http: aiohttp.ClientSession) -> None:
    kiosk, adviser, cid = await pair(http, hub)
    hub.add_adviser("bob", PASSWORD)
    async with http_session() as other_http:
        bob = await connect_adviser(other_http, hub, "bob", PASSWORD)
        await bob.expect(Queue)
        other_kiosk = await connect_kiosk(other_http, hub, hub.add_device("kiosk-2"))
        await bob.send(Answer(consultation_id=cid, sdp=SDP))
        await expect_error(bob, "not_found")
        await other_kiosk.send(Offer(consultation_id=cid, sdp=SDP))
        await expect_error(other_kiosk, "not_found")
        await bob.send(End(consultation_id=cid, reason="hangup"))
        await expect_error(bob, "not_found")
        await kiosk.send(Offer(consultation_id="x" * 22, sdp=SDP))  # not its consultation
        await expect_error(kiosk, "not_found")
        await kiosk.expect_silence()
        await adviser.expect_silence()
        await other_kiosk.expect_silence()


async def test_accept_conflicts(hub: RunningHub, http: aiohttp.ClientSession) -> None:
    hub.add_adviser("bob", PASSWORD)
    kiosk_a = await connect_kiosk(http, hub, hub.add_device("kiosk-a"))
    kiosk_b = await connect_kiosk(http, hub, hub.add_device("kiosk-b"))
    alice = await connect_adviser(http, hub, "alice", PASSWORD)
    await alice.expect(Queue)
    async with http_session() as bob_http:
        bob = await connect_adviser(bob_http, hub, "bob", PASSWORD)
        await bob.expect(Queue)
        a = (await queue_kiosk(kiosk_a)).consultation_id
        b = (await queue_kiosk(kiosk_b)).consultation_id
        for adviser in (alice, bob):
            await adviser.expect(Queue)
            await adviser.expect(Queue)
        await kiosk_a.expect(QueuePosition)

        await alice.send(Accept(consultation_id=a))
        await alice.expect(Accepted)
        await alice.expect(ResumeGrant)
        await alice.expect(Queue)
        await kiosk_a.expect(Accepted)
        assert (await kiosk_b.expect(QueuePosition)).position == 1
        await bob.expect(Queue)  # the queue update after alice's accept
        await bob.send(Accept(consultation_id=a))  # too late
        await expect_error(bob, "conflict")
        await alice.send(Accept(consultation_id=b))  # already in a call
        await expect_error(alice, "conflict")
        await bob.send(Accept(consultation_id="unknown-consultation"))
        await expect_error(bob, "not_found")
        await bob.send(Accept(consultation_id=b))
        assert (await bob.expect(Accepted)).peer == "kiosk-b"


async def test_peer_gone_after_the_grace_period(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with running_hub(tmp_path, grace_s=1) as hub:
        hub.add_adviser("alice", PASSWORD)
        kiosk, adviser, cid = await pair(http, hub)
        await kiosk.close()
        assert await adviser.expect(PeerAway) == PeerAway(consultation_id=cid)
        assert await adviser.expect(Ended) == Ended(consultation_id=cid, reason="peer_gone")

        token = hub.add_device("kiosk-2")
        kiosk2 = await connect_kiosk(http, hub, token)
        mine = await queue_kiosk(kiosk2)
        await adviser.expect(Queue)
        await adviser.send(Accept(consultation_id=mine.consultation_id))
        await adviser.expect(Accepted)
        await kiosk2.expect(Accepted)
        await kiosk2.expect(ResumeGrant)
        await adviser.close()
        assert await kiosk2.expect(PeerAway) == PeerAway(consultation_id=mine.consultation_id)
        assert await kiosk2.expect(Ended) == Ended(
            consultation_id=mine.consultation_id, reason="peer_gone"
        )
        reasons = [r.end_reason for r in await hub.storage.consultations()]
        assert reasons == ["peer_gone", "peer_gone"]


async def test_tenant_isolation(hub: RunningHub, http: aiohttp.ClientSession) -> None:
    hub.add_tenant("other-bank")
    hub.add_adviser("olga", PASSWORD, tenant="other-bank")
    alice = await connect_adviser(http, hub, "alice", PASSWORD)
    await alice.expect(Queue)
    async with http_session() as other_http:
        olga = await connect_adviser(other_http, hub, "olga", PASSWORD)
        assert await olga.expect(Queue) == Queue(entries=())
        kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
        cid = (await queue_kiosk(kiosk)).consultation_id
        assert len((await alice.expect(Queue)).entries) == 1
        await olga.expect_silence()
        await olga.send(Accept(consultation_id=cid))
        await expect_error(olga, "not_found")  # existence is not revealed either

        other_kiosk = await connect_kiosk(
            other_http, hub, hub.add_device("kiosk-1", tenant="other-bank")
        )
        other = await queue_kiosk(other_kiosk)
        assert (other.position, other.waiting) == (1, 1)  # its own tenant's queue
        assert [e.consultation_id for e in (await olga.expect(Queue)).entries] == [
            other.consultation_id
        ]
        await alice.expect_silence()
        await kiosk.expect_silence()
        await alice.send(Accept(consultation_id=other.consultation_id))
        await expect_error(alice, "not_found")
        await alice.send(Accept(consultation_id=cid))
        assert (await alice.expect(Accepted)).peer == "kiosk-1"


async def test_same_device_reconnecting_replaces_the_old_connection(
    hub: RunningHub, http: aiohttp.ClientSession
) -> None:
    token = hub.add_device("kiosk-1")
    adviser = await connect_adviser(http, hub, "alice", PASSWORD)
    await adviser.expect(Queue)
    old = await connect_kiosk(http, hub, token)
    await queue_kiosk(old)
    await adviser.expect(Queue)
    new = await connect_kiosk(http, hub, token)
    await expect_closed(old, CLOSE_REPLACED)
    assert (await adviser.expect(Queue)).entries == ()  # the old request left the queue
    mine = await queue_kiosk(new)
    assert (mine.position, mine.waiting) == (1, 1)
    await adviser.expect(Queue)
    await settle()
    assert hub.switchboard.stats()["kiosks"] == 1


async def final_close_code(peer: SignallingPeer, within: float = 0.5) -> int | None:
    """Read until the socket closes (its close code) or stays quiet (None)."""
    while True:
        try:
            frame = await peer.ws.receive(timeout=within)
        except TimeoutError:
            return None
        if frame.type is aiohttp.WSMsgType.CLOSE:
            return int(frame.data)
        if frame.type is not aiohttp.WSMsgType.TEXT:
            return -1


async def test_two_hellos_of_one_device_at_once_leave_one_connection(
    hub: RunningHub, http: aiohttp.ClientSession
) -> None:
    token = hub.add_device("kiosk-1")
    adviser = await connect_adviser(http, hub, "alice", PASSWORD)
    await adviser.expect(Queue)
    old = await connect_kiosk(http, hub, token)
    await queue_kiosk(old)  # so replacing it has to tell the adviser (the hub awaits there)
    await adviser.expect(Queue)
    first = SignallingPeer(await http.ws_connect(f"{hub.ws_url}/ws/kiosk"))
    second = SignallingPeer(await http.ws_connect(f"{hub.ws_url}/ws/kiosk"))
    await asyncio.gather(
        first.send(Hello(role="kiosk", token=token)),
        second.send(Hello(role="kiosk", token=token)),
    )
    codes = await asyncio.gather(*(final_close_code(p) for p in (old, first, second)))
    assert codes[0] == CLOSE_REPLACED
    assert sorted(codes[1:], key=str) == [CLOSE_REPLACED, None], codes
    await settle()
    assert hub.switchboard.stats()["kiosks"] == 1
    assert hub.switchboard.stats()["sockets"] == 2  # the adviser and one kiosk


async def test_revoked_device_is_closed_on_its_next_heartbeat(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    clock = FakeClock()
    async with running_hub(tmp_path, clock=clock) as hub:
        hub.add_adviser("alice", PASSWORD)
        kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
        adviser = await connect_adviser(http, hub, "alice", PASSWORD)
        await adviser.expect(Queue)
        await queue_kiosk(kiosk)
        await adviser.expect(Queue)
        await hub.storage.revoke_device("kiosk-1")
        await kiosk.send(Heartbeat(ts=1))
        await expect_error(kiosk, "unauthorized", fatal=True)
        await expect_closed(kiosk, CLOSE_UNAUTHORIZED)
        assert (await adviser.expect(Queue)).entries == ()


async def test_replaced_token_is_rechecked_once_per_heartbeat_period(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    clock = FakeClock()
    async with running_hub(tmp_path, clock=clock) as hub:
        kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
        await hub.storage.add_device("kiosk-1", now=clock(), replace=True)  # old token dies
        await queue_kiosk(kiosk)  # checked at hello, not again within the period
        clock.advance(hub.config.heartbeat_s)
        await kiosk.send(QueueLeave())
        await expect_error(kiosk, "unauthorized", fatal=True)
        await expect_closed(kiosk, CLOSE_UNAUTHORIZED)


@pytest.mark.parametrize("how", ["password", "expiry"])
async def test_adviser_is_closed_when_the_session_ends(
    tmp_path: Path, http: aiohttp.ClientSession, how: str
) -> None:
    clock = FakeClock()
    async with running_hub(tmp_path, clock=clock) as hub:
        hub.add_adviser("alice", PASSWORD)
        adviser = await connect_adviser(http, hub, "alice", PASSWORD)
        await adviser.expect(Queue)
        await adviser.send(Heartbeat(ts=1))
        await adviser.expect(Heartbeat)
        if how == "password":
            await hub.storage.set_password("alice", "a new long password")
        else:
            clock.advance(hub.config.session_lifetime_s)
        await adviser.send(Heartbeat(ts=1))
        await expect_error(adviser, "unauthorized", fatal=True)
        await expect_closed(adviser, CLOSE_LOGGED_OUT)


async def test_error_frames_from_clients_are_not_answered(
    hub: RunningHub, http: aiohttp.ClientSession
) -> None:
    kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
    adviser = await connect_adviser(http, hub, "alice", PASSWORD)
    await adviser.expect(Queue)
    for peer in (kiosk, adviser):
        await peer.send(Error(code="malformed", message="what was that?"))
        await peer.expect_silence()
        await peer.send(Heartbeat(ts=1))
        await peer.expect(Heartbeat)


async def test_relay_direction_follows_the_role(
    hub: RunningHub, http: aiohttp.ClientSession
) -> None:
    kiosk, adviser, cid = await pair(http, hub)
    await adviser.send(Offer(consultation_id=cid, sdp=SDP))
    await expect_error(adviser, "forbidden")
    await kiosk.send(Answer(consultation_id=cid, sdp=SDP))
    await expect_error(kiosk, "forbidden")
    # The commitment goes adviser -> kiosk only: a kiosk cannot commit for the adviser.
    await kiosk.send(SasCommit(consultation_id=cid, commitment="ab" * 32))
    await expect_error(kiosk, "forbidden")
    await kiosk.expect_silence()
    await adviser.expect_silence()


async def test_commitment_is_relayed_adviser_to_kiosk_within_the_pair(
    hub: RunningHub, http: aiohttp.ClientSession
) -> None:
    kiosk, adviser, cid = await pair(http, hub)
    commit = SasCommit(consultation_id=cid, commitment="0f" * 32)
    await adviser.send(commit)
    assert await kiosk.expect(SasCommit) == commit
    await adviser.send(SasCommit(consultation_id="x" * 22, commitment="0f" * 32))
    await expect_error(adviser, "not_found")
    await kiosk.expect_silence()


async def test_adviser_hears_accepted_before_the_kiosk(
    hub: RunningHub, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[tuple[str, str]] = []

    def record_sends() -> None:
        # What the hub hands each connection's writer, in order (before any socket write).
        for peer in hub.switchboard.connections():
            real_put = peer.outgoing.put_nowait

            def recording_put(item: Any, peer: Any = peer, real_put: Any = real_put) -> None:
                if isinstance(item, str):
                    sent.append((peer.role, type(decode(item)).__name__))
                real_put(item)

            monkeypatch.setattr(peer.outgoing, "put_nowait", recording_put)

    await pair(http, hub, before_accept=record_sends)
    accepted = [role for role, kind in sent if kind == "Accepted"]
    assert accepted == ["adviser", "kiosk"]
