"""Signalling over real WebSockets: the queue (the rest: test_hub_signalling*.py)."""

from __future__ import annotations

import secrets
import time

import aiohttp
import pytest

from hub.signalling import (
    QUEUE_ENTRIES_SENT,
    Waiting,
)
from protocol.codec import MAX_FRAME_BYTES
from protocol.messages import (
    End,
    Queue,
    QueueLeave,
    QueuePosition,
    QueueRequest,
    Status,
    decode,
)
from tests.support.hub import (
    RunningHub,
    connect_adviser,
    connect_kiosk,
    settle,
)
from tests.support.signalling_tests import (
    PASSWORD,
    expect_error,
    hub,
    queue_kiosk,
)

__all__ = ["hub"]  # the shared fixture, re-exported by name so pytest finds it here


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
