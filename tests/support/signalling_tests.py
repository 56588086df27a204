"""Helpers of the signalling tests over real WebSockets (tests/hub/test_hub_signalling*.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp
import pytest

from protocol.messages import (
    Accept,
    Accepted,
    Error,
    IceServer,
    Queue,
    QueuePosition,
    QueueRequest,
    ResumeGrant,
)
from tests.support.hub import (
    RunningHub,
    SignallingPeer,
    connect_adviser,
    connect_kiosk,
    running_hub,
)

PASSWORD = "correct horse battery"
SDP = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"


async def expect_closed(peer: SignallingPeer, code: int, within: float = 5.0) -> None:
    frame = await peer.frame(within)
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


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    ice = (IceServer(urls=("turn:127.0.0.1:3478",), username="u", credential="c"),)
    async with running_hub(tmp_path, ice_servers=ice) as running:
        running.add_adviser("alice", PASSWORD)
        yield running
