"""Signalling over real WebSockets: slow readers, outgoing queues, bad frames, heartbeats,
shutdown (the rest: test_hub_signalling.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hub.signalling import (
    CLOSE_SILENT,
    OUTGOING_MAX,
)
from protocol.codec import MAX_FRAME_BYTES
from protocol.messages import (
    Accept,
    Ended,
    Heartbeat,
    Hello,
    Queue,
    QueueLeave,
    QueueRequest,
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
    expect_closed,
    expect_error,
    hub,
    queue_kiosk,
)

__all__ = ["hub"]  # the shared fixture, re-exported by name so pytest finds it here


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


async def test_heartbeat_is_answered(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    clock = FakeClock()
    async with running_hub(tmp_path, clock=clock) as hub:
        kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
        await kiosk.send(Heartbeat(ts=123))
        reply = await kiosk.expect(Heartbeat)
        assert reply.ts == int(clock.now * 1000)  # the hub's own clock in ms, not the echo


async def test_silent_connection_is_closed(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    async with running_hub(tmp_path, heartbeat_s=1) as hub:
        kiosk = await connect_kiosk(http, hub, hub.add_device("kiosk-1"))
        lively = await connect_kiosk(http, hub, hub.add_device("kiosk-2"))
        patient = await connect_kiosk(http, hub, hub.add_device("kiosk-3"))
        for _ in range(5):  # 2.5 s of heartbeats keep one alive
            await asyncio.sleep(0.5)
            await lively.send(Heartbeat(ts=1))
            await lively.expect(Heartbeat)
        # silent for 2.5 periods and still served: not closed before three silent periods
        await patient.send(Heartbeat(ts=1))
        await patient.expect(Heartbeat)
        await expect_closed(kiosk, CLOSE_SILENT, within=5)
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
