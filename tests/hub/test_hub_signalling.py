"""Signalling over real WebSockets: authentication, queue, pairing, relay, bad frames."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hub.signalling import (
    CLOSE_LOGGED_OUT,
    CLOSE_REPLACED,
    CLOSE_SILENT,
    CLOSE_UNAUTHORIZED,
    OUTGOING_MAX,
    QUEUE_ENTRIES_SENT,
    Waiting,
)
from protocol.codec import MAX_FRAME_BYTES
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
    IceServer,
    Offer,
    PeerAway,
    Queue,
    QueueLeave,
    QueuePosition,
    QueueRequest,
    ResumeGrant,
    SasCommit,
    Status,
    Welcome,
    decode,
)
from tests.support.hub import (
    FakeClock,
    RunningHub,
    SignallingPeer,
    connect_adviser,
    connect_kiosk,
    http_session,
    login,
    running_hub,
    settle,
)

PASSWORD = "correct horse battery"
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    ice = (IceServer(urls=("turn:127.0.0.1:3478",), username="u", credential="c"),)
    async with running_hub(tmp_path, ice_servers=ice) as running:
        running.add_adviser("alice", PASSWORD)
        yield running


async def expect_closed(peer: SignallingPeer, code: int, within: float = 5.0) -> None:
    frame = await peer.ws.receive(timeout=within)
    assert frame.type is aiohttp.WSMsgType.CLOSE, frame
    assert frame.data == code


async def expect_error(peer: SignallingPeer, code: str, *, fatal: bool = False) -> Error:
    error = await peer.expect(Error)
    assert (error.code, error.fatal) == (code, fatal), error
    return error


async def queue_kiosk(peer: SignallingPeer) -> QueuePosition:
    await peer.send(QueueRequest())
    return await peer.expect(QueuePosition)


async def pair(
    http: aiohttp.ClientSession,
    hub: RunningHub,
    *,
    before_accept: Callable[[], None] | None = None,
) -> tuple[SignallingPeer, SignallingPeer, str]:
    kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
    adviser = await connect_adviser(http, hub, "alice", PASSWORD)
    await adviser.expect(Queue)
    position = await queue_kiosk(kiosk)
    await adviser.expect(Queue)
    if before_accept is not None:
        before_accept()
    await adviser.send(Accept(consultation_id=position.consultation_id))
    assert (await kiosk.expect(Accepted)).peer == "alice"
    await kiosk.expect(ResumeGrant)
    assert (await adviser.expect(Accepted)).peer == "kiosk-1"
    await adviser.expect(ResumeGrant)
    await adviser.expect(Queue)  # now empty
    return kiosk, adviser, position.consultation_id


# -- authentication -------------------------------------------------------


async def test_kiosk_welcome(hub: RunningHub, http: aiohttp.ClientSession) -> None:
    token = hub.add_device("kiosk-1")
    async with http.ws_connect(f"{hub.ws_url}/ws/kiosk") as ws:
        peer = SignallingPeer(ws)
        await peer.send(Hello(role="kiosk", token=token, client="test/1"))
        welcome = await peer.expect(Welcome)
    # the kiosk's relay token is random per connection (docs/enrolment.md, "Reports and relay")
    assert welcome.relay_token is not None and len(welcome.relay_token) == 43
    assert dataclasses.replace(welcome, relay_token=None) == Welcome(
        role="kiosk",
        name="kiosk-1",
        tenant="default",
        heartbeat_s=hub.config.heartbeat_s,
        ice_servers=hub.config.ice_servers,
    )


async def test_welcome_carries_the_tenant_file_limit_and_the_grace_period(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with running_hub(tmp_path, grace_s=7) as hub:
        hub.add_tenant("small-bank")
        await hub.storage.set_max_file_bytes("small-bank", 3 * 1024 * 1024)
        hub.add_adviser("sam", PASSWORD, tenant="small-bank")
        kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1", tenant="small-bank"))
        adviser = await connect_adviser(http, hub, "sam", PASSWORD)
        default = await connect_kiosk(http, hub, hub.add_device("kiosk-2"))
        for peer in (kiosk, adviser):
            assert peer.welcome is not None
            assert (peer.welcome.max_file_bytes, peer.welcome.grace_s) == (3 * 1024 * 1024, 7)
        assert default.welcome is not None
        assert default.welcome.max_file_bytes == 25 * 1024 * 1024


@pytest.mark.parametrize(
    "hello",
    [
        Hello(role="kiosk", token="not-a-token"),
        Hello(role="kiosk"),
        Hello(role="adviser", csrf="x"),
    ],
)
async def test_kiosk_bad_hello_is_fatal(
    hub: RunningHub, http: aiohttp.ClientSession, hello: Hello
) -> None:
    hub.add_device("kiosk-1")
    peer = SignallingPeer(await http.ws_connect(f"{hub.ws_url}/ws/kiosk"))
    await peer.send(hello)
    await expect_error(peer, "unauthorized", fatal=True)
    await expect_closed(peer, CLOSE_UNAUTHORIZED)


async def test_revoked_device_is_refused(hub: RunningHub, http: aiohttp.ClientSession) -> None:
    token = hub.add_device("kiosk-1")
    await hub.storage.revoke_device("kiosk-1")
    peer = SignallingPeer(await http.ws_connect(f"{hub.ws_url}/ws/kiosk"))
    await peer.send(Hello(role="kiosk", token=token))
    await expect_error(peer, "unauthorized", fatal=True)


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (json.dumps({"v": 1, "type": "queue_request"}), "unauthorized"),
        (json.dumps({"v": 1, "type": "heartbeat", "ts": 1}), "unauthorized"),
        ("{not json", "malformed"),
        (json.dumps({"v": 1, "type": "hello", "role": "kiosk", "extra": 1}), "unknown_field"),
        (b"\x00\x01", "malformed"),
    ],
)
async def test_anything_before_hello_is_fatal(
    hub: RunningHub, http: aiohttp.ClientSession, frame: str | bytes, code: str
) -> None:
    peer = SignallingPeer(await http.ws_connect(f"{hub.ws_url}/ws/kiosk"))
    if isinstance(frame, bytes):
        await peer.ws.send_bytes(frame)
    else:
        await peer.send_raw(frame)
    await expect_error(peer, code, fatal=True)
    await expect_closed(peer, CLOSE_UNAUTHORIZED)


async def test_no_hello_in_time_closes_the_socket(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with running_hub(tmp_path, hello_timeout_s=0.3) as hub:
        silent = SignallingPeer(await http.ws_connect(f"{hub.ws_url}/ws/kiosk"))
        pinging = SignallingPeer(await http.ws_connect(f"{hub.ws_url}/ws/kiosk"))
        for _ in range(5):  # pings do not count as a hello
            await pinging.ws.ping()
            await asyncio.sleep(0.1)
        for peer in (silent, pinging):
            await expect_error(peer, "unauthorized", fatal=True)
            await expect_closed(peer, CLOSE_UNAUTHORIZED)
        await settle()
        assert hub.switchboard.stats()["sockets"] == 0


async def test_adviser_ws_needs_session_cookie(hub: RunningHub) -> None:
    async with http_session() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{hub.ws_url}/ws/adviser", headers={"Origin": hub.url})
        assert refused.value.status == 401


@pytest.mark.parametrize("origin", [None, "http://evil.example", "https://127.0.0.1", "null"])
async def test_adviser_ws_needs_own_origin(
    hub: RunningHub, http: aiohttp.ClientSession, origin: str | None
) -> None:
    await login(http, hub, "alice", PASSWORD)
    headers = {} if origin is None else {"Origin": origin}
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(f"{hub.ws_url}/ws/adviser", headers=headers)
    assert refused.value.status == 403


@pytest.mark.parametrize("csrf", [None, "wrong-token-wrong-token"])
async def test_adviser_hello_needs_session_csrf(
    hub: RunningHub, http: aiohttp.ClientSession, csrf: str | None
) -> None:
    await login(http, hub, "alice", PASSWORD)
    ws = await http.ws_connect(f"{hub.ws_url}/ws/adviser", headers={"Origin": hub.url})
    peer = SignallingPeer(ws)
    await peer.send(Hello(role="adviser", csrf=csrf))
    await expect_error(peer, "unauthorized", fatal=True)
    await expect_closed(peer, CLOSE_UNAUTHORIZED)


async def test_adviser_welcome_then_queue(hub: RunningHub, http: aiohttp.ClientSession) -> None:
    csrf = await login(http, hub, "alice", PASSWORD)
    ws = await http.ws_connect(f"{hub.ws_url}/ws/adviser", headers={"Origin": hub.url})
    peer = SignallingPeer(ws)
    await peer.send(Hello(role="adviser", csrf=csrf))
    welcome = await peer.expect(Welcome)
    assert (welcome.role, welcome.name, welcome.tenant) == ("adviser", "alice", "default")
    assert await peer.expect(Queue) == Queue(entries=())


async def test_logout_closes_adviser_socket(hub: RunningHub, http: aiohttp.ClientSession) -> None:
    adviser = await connect_adviser(http, hub, "alice", PASSWORD)
    await adviser.expect(Queue)
    async with http.get(f"{hub.url}/api/session") as r:
        csrf = (await r.json())["csrf"]
    async with http.post(f"{hub.url}/api/logout", headers={"X-CSRF-Token": csrf}) as r:
        assert r.status == 204
    await expect_closed(adviser, CLOSE_LOGGED_OUT)


# -- queue ----------------------------------------------------------------


async def test_queue_order_and_dropouts(hub: RunningHub, http: aiohttp.ClientSession) -> None:
    adviser = await connect_adviser(http, hub, "alice", PASSWORD)
    await adviser.expect(Queue)
    kiosks = [await connect_kiosk(http, hub, hub.add_device(f"kiosk-{i}")) for i in range(3)]
    ids = []
    for i, kiosk in enumerate(kiosks):
        mine = await queue_kiosk(kiosk)
        assert (mine.position, mine.waiting) == (i + 1, i + 1)
        ids.append(mine.consultation_id)
        for earlier in kiosks[:i]:  # everyone hears the new total
            update = await earlier.expect(QueuePosition)
            assert update.waiting == i + 1
        queue = await adviser.expect(Queue)
        assert [e.device for e in queue.entries] == [f"kiosk-{j}" for j in range(i + 1)]
        assert [e.position for e in queue.entries] == list(range(1, i + 2))
    assert len(set(ids)) == 3

    await kiosks[1].close()  # the middle kiosk disconnects
    first = await kiosks[0].expect(QueuePosition)
    last = await kiosks[2].expect(QueuePosition)
    assert (first.position, first.waiting) == (1, 2)
    assert (last.consultation_id, last.position, last.waiting) == (ids[2], 2, 2)
    queue = await adviser.expect(Queue)
    assert [e.consultation_id for e in queue.entries] == [ids[0], ids[2]]

    await kiosks[0].send(QueueLeave())  # the first one cancels
    last = await kiosks[2].expect(QueuePosition)
    assert (last.position, last.waiting) == (1, 1)
    assert [e.device for e in (await adviser.expect(Queue)).entries] == ["kiosk-2"]
    await kiosks[0].send(QueueLeave())
    await expect_error(kiosks[0], "not_found")

    reasons = {r.id: r.end_reason for r in await hub.storage.consultations()}
    assert reasons == {ids[0]: "customer_left", ids[1]: "peer_gone", ids[2]: None}


async def test_queue_request_twice_is_a_conflict(
    hub: RunningHub, http: aiohttp.ClientSession
) -> None:
    kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
    await queue_kiosk(kiosk)
    await kiosk.send(QueueRequest())
    await expect_error(kiosk, "conflict")


async def test_waiting_kiosk_can_end_its_request(
    hub: RunningHub, http: aiohttp.ClientSession
) -> None:
    kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
    mine = await queue_kiosk(kiosk)
    await kiosk.send(End(consultation_id=mine.consultation_id, reason="timeout"))
    await settle()
    assert hub.switchboard.stats()["waiting"] == 0
    assert (await hub.storage.consultations())[0].end_reason == "timeout"


async def test_out_of_service_kiosk_leaves_and_cannot_join_the_queue(
    hub: RunningHub, http: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
    await queue_kiosk(kiosk)
    await kiosk.send(Status(state="out_of_service", reason="wipe_failed"))
    await settle()
    assert hub.switchboard.stats()["waiting"] == 0  # no adviser can take a broken kiosk
    assert "kiosk out of service" in caplog.text and "wipe_failed" in caplog.text
    await kiosk.send(QueueRequest())
    await expect_error(kiosk, "conflict")
    await kiosk.send(Status(state="ready"))
    await queue_kiosk(kiosk)
    assert hub.switchboard.stats()["waiting"] == 1


async def test_only_kiosks_report_service_state(
    hub: RunningHub, http: aiohttp.ClientSession
) -> None:
    hub.add_adviser("ann", PASSWORD)
    adviser = await connect_adviser(http, hub, "ann", PASSWORD)
    await adviser.expect(Queue)
    await adviser.send(Status(state="out_of_service", reason="wipe_failed"))
    await expect_error(adviser, "forbidden")


async def fill_queue(hub: RunningHub, count: int, name: str) -> None:
    """Put ``count`` waiting kiosks (devices in storage, no sockets) in the default queue."""
    queue = hub.switchboard.queue_of((await hub.storage.tenant("default")).id)
    for i in range(count):
        device, _token = await hub.storage.add_device(f"{i:04d}{name}"[:64], now=time.time())
        queue.add(Waiting(secrets.token_urlsafe(16), device.name, time.time()))


async def test_long_queue_is_cut_to_fit_one_frame(
    hub: RunningHub, http: aiohttp.ClientSession
) -> None:
    await fill_queue(hub, 500, "k" * 64)
    adviser = await connect_adviser(http, hub, "alice", PASSWORD)
    first = await adviser.expect(Queue)
    assert len(first.entries) == QUEUE_ENTRIES_SENT
    assert [e.position for e in first.entries] == list(range(1, QUEUE_ENTRIES_SENT + 1))
    assert all(len(e.device) == 64 for e in first.entries)
    kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-last"))
    mine = await queue_kiosk(kiosk)
    assert (mine.position, mine.waiting) == (501, 501)
    assert len((await adviser.expect(Queue)).entries) == QUEUE_ENTRIES_SENT  # broadcasts work


async def test_queue_of_wide_characters_fits_one_frame(
    hub: RunningHub, http: aiohttp.ClientSession
) -> None:
    await fill_queue(hub, 300, "\U0001f3e6" * 64)  # 4 bytes each in UTF-8
    adviser = await connect_adviser(http, hub, "alice", PASSWORD)
    text = await adviser.ws.receive_str(timeout=5)  # the queue, as it went over the wire
    assert len(text.encode("utf-8")) <= MAX_FRAME_BYTES
    queue = decode(text)
    assert isinstance(queue, Queue)
    assert 100 < len(queue.entries) < QUEUE_ENTRIES_SENT


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


def server_side(hub: RunningHub, name: str) -> Any:
    """The hub's Peer object of a connection, by kiosk or adviser name."""
    (peer,) = [p for p in hub.switchboard.connections() if p.name == name]
    return peer


def stall_sends(peer: Any, monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Make the hub's writes to one peer hang (as if it stopped reading) until the event."""
    release = asyncio.Event()
    real_send = peer.ws.send_str

    async def stalled(text: str) -> None:
        await release.wait()
        await real_send(text)

    monkeypatch.setattr(peer.ws, "send_str", stalled)
    return release


async def toggle_queue(kiosk: SignallingPeer) -> None:
    """Queue the kiosk, then take it out again."""
    await queue_kiosk(kiosk)
    await kiosk.send(QueueLeave())
    await kiosk.send(Heartbeat(ts=1))  # the round trip shows the leave was handled
    await kiosk.expect(Heartbeat)


async def test_a_peer_that_does_not_read_delays_nobody(
    hub: RunningHub, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.add_adviser("bob", PASSWORD)
    alice = await connect_adviser(http, hub, "alice", PASSWORD)
    await alice.expect(Queue)
    async with http_session() as bob_http:
        bob = await connect_adviser(bob_http, hub, "bob", PASSWORD)
        await bob.expect(Queue)
        stall_sends(server_side(hub, "bob"), monkeypatch)
        kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
        for _ in range(3):
            await toggle_queue(kiosk)
            assert len((await alice.expect(Queue, within=1.0)).entries) == 1
            assert (await alice.expect(Queue, within=1.0)).entries == ()


async def test_queue_announcements_are_coalesced(
    hub: RunningHub, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = await connect_adviser(http, hub, "alice", PASSWORD)
    await alice.expect(Queue)
    release = stall_sends(server_side(hub, "alice"), monkeypatch)
    kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
    for _ in range(3):
        await toggle_queue(kiosk)
    last = await queue_kiosk(kiosk)
    release.set()
    first = await alice.expect(Queue)  # the one that was being written when alice stalled
    latest = await alice.expect(Queue)  # then the queue as it is now, not the ones between
    assert len(first.entries) == 1 and first.entries[0].consultation_id != last.consultation_id
    assert [e.consultation_id for e in latest.entries] == [last.consultation_id]
    await alice.expect_silence()


async def test_a_peer_whose_outgoing_queue_overflows_is_dropped(
    hub: RunningHub, http: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
    await queue_kiosk(kiosk)
    stall_sends(server_side(hub, "kiosk-1"), monkeypatch)
    for _ in range(OUTGOING_MAX + 2):
        await kiosk.send(Heartbeat(ts=1))
    await expect_closed(kiosk, CLOSE_SILENT)
    await settle()
    assert hub.switchboard.stats()["waiting"] == 0
    assert (await hub.storage.consultations())[0].end_reason == "peer_gone"


# -- bad frames -----------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "malformed"),
        ("[1, 2]", "malformed"),
        ('{"v": 1, "type": "teleport"}', "unknown_type"),
        ('{"v": 1, "type": "heartbeat", "ts": 1, "extra": true}', "unknown_field"),
        ('{"v": 1, "type": "heartbeat"}', "missing_field"),
        ('{"v": 1, "type": "heartbeat", "ts": "now"}', "wrong_type"),
        ('{"v": 1, "type": "heartbeat", "ts": -1}', "invalid_value"),
        ('{"v": 2, "type": "heartbeat", "ts": 1}', "unsupported_version"),
        ('{"v": 1, "type": "offer", "consultation_id": "x", "sdp": "s"}', "invalid_value"),
        ('{"v":1,"type":"heartbeat","ts":1,"pad":"' + "x" * MAX_FRAME_BYTES + '"}', "too_large"),
    ],
)
async def test_bad_frames_get_an_error_and_the_connection_goes_on(
    hub: RunningHub, http: aiohttp.ClientSession, frame: str, code: str
) -> None:
    kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
    adviser = await connect_adviser(http, hub, "alice", PASSWORD)
    await adviser.expect(Queue)
    await kiosk.send_raw(frame)
    await adviser.send_raw(frame)
    await expect_error(kiosk, code)
    await expect_error(adviser, code)
    for peer in (kiosk, adviser):  # both still served
        await peer.send(Heartbeat(ts=1))
        await peer.expect(Heartbeat)
    await queue_kiosk(kiosk)
    await adviser.expect(Queue)


async def test_binary_frames_are_malformed(hub: RunningHub, http: aiohttp.ClientSession) -> None:
    kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
    await kiosk.ws.send_bytes(b'{"v":1,"type":"heartbeat","ts":1}')
    await expect_error(kiosk, "malformed")
    await kiosk.send(Heartbeat(ts=1))
    await kiosk.expect(Heartbeat)


async def test_huge_frame_closes_only_that_connection(
    hub: RunningHub, http: aiohttp.ClientSession
) -> None:
    kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
    other = await connect_kiosk(http, hub, hub.add_device("kiosk-2"))
    await kiosk.send_raw("x" * (4 * MAX_FRAME_BYTES))
    await expect_closed(kiosk, int(aiohttp.WSCloseCode.MESSAGE_TOO_BIG))
    await other.send(Heartbeat(ts=1))
    await other.expect(Heartbeat)


@pytest.mark.parametrize("who", ["kiosk", "adviser"])
async def test_messages_of_the_other_role_are_forbidden(
    hub: RunningHub, http: aiohttp.ClientSession, who: str
) -> None:
    if who == "kiosk":
        peer = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
        wrong = [Accept(consultation_id="a" * 22), Queue(entries=())]
    else:
        peer = await connect_adviser(http, hub, "alice", PASSWORD)
        await peer.expect(Queue)
        wrong = [QueueRequest(), QueueLeave(), Ended(consultation_id="a" * 22, reason="hangup")]
    for message in wrong:
        await peer.send(message)  # type: ignore[arg-type]
        await expect_error(peer, "forbidden")
    await peer.send(Hello(role="kiosk", token="again"))
    await expect_error(peer, "protocol_error")


# -- heartbeat and shutdown -----------------------------------------------


async def test_heartbeat_is_answered(hub: RunningHub, http: aiohttp.ClientSession) -> None:
    kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
    await kiosk.send(Heartbeat(ts=123))
    reply = await kiosk.expect(Heartbeat)
    assert reply.ts > 1_000_000_000_000  # the hub's own clock in ms


async def test_silent_connection_is_closed(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    async with running_hub(tmp_path, heartbeat_s=1) as hub:
        kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
        lively = await connect_kiosk(http, hub, hub.add_device("kiosk-2"))
        loop = asyncio.get_running_loop()
        start = loop.time()
        for _ in range(5):  # 2.5 s of heartbeats keep one alive
            await asyncio.sleep(0.5)
            await lively.send(Heartbeat(ts=1))
            await lively.expect(Heartbeat)
        await expect_closed(kiosk, CLOSE_SILENT, within=5)
        assert loop.time() - start >= 2.5  # not before three silent periods
        await lively.send(Heartbeat(ts=1))
        await lively.expect(Heartbeat)


async def test_shutdown_closes_sockets_with_1001(tmp_path: Path) -> None:
    async with http_session() as http:
        async with running_hub(tmp_path) as hub:
            hub.add_adviser("alice", PASSWORD)
            kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
            adviser = await connect_adviser(http, hub, "alice", PASSWORD)
            await adviser.expect(Queue)
        for peer in (kiosk, adviser):
            await expect_closed(peer, int(aiohttp.WSCloseCode.GOING_AWAY))
