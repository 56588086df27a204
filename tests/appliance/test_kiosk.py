"""The Kiosk runner through the real hub, on the paths where no media flows.

A call that never connects (no answer, a bad answer), leaving the queue on stop, a refused
token. The full media journey is in test_call_loopback.py (network namespace only).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from appliance.call import CallError
from appliance.config import KioskConfig
from appliance.hub_client import HubRejected
from appliance.kiosk import Kiosk
from drivers.camera.simulated import SimulatedCamera
from drivers.microphone.simulated import SimulatedMicrophone
from protocol import messages
from tests.support.hub import RunningHub, SignallingPeer, connect_adviser, http_session, running_hub

PASSWORD = "correct horse battery staple"


@asynccontextmanager
async def kiosk_and_adviser(
    tmp_path: Path, *, connect_timeout_s: float = 30.0
) -> AsyncIterator[tuple[RunningHub, Kiosk, SignallingPeer]]:
    async with running_hub(tmp_path) as hub, http_session() as http:
        token = hub.add_device("kiosk-1")
        hub.add_adviser("ann", PASSWORD)
        config = KioskConfig(
            token=token, hub_url=hub.ws_url, reconnect_min_s=0.05, reconnect_max_s=0.2
        )
        kiosk = Kiosk(
            config,
            SimulatedCamera(),
            SimulatedMicrophone(),
            connect_timeout_s=connect_timeout_s,
        )
        task = asyncio.create_task(kiosk.run())
        try:
            async with asyncio.timeout(10):
                await kiosk.wait_state("queueing")
            peer = await connect_adviser(http, hub, "ann", PASSWORD)
            yield hub, kiosk, peer
            await peer.close()
        finally:
            kiosk.request_stop()
            async with asyncio.timeout(10):
                await task


async def waiting(peer: SignallingPeer) -> messages.QueueEntry:
    async with asyncio.timeout(10):
        while True:
            message = await peer.receive()
            if isinstance(message, messages.Queue) and message.entries:
                return message.entries[0]


async def next_of(peer: SignallingPeer, kind: type[messages.AnyMessage]) -> messages.AnyMessage:
    async with asyncio.timeout(10):
        while True:
            message = await peer.receive()
            if isinstance(message, kind):
                return message


async def accept(peer: SignallingPeer) -> str:
    cid = (await waiting(peer)).consultation_id
    await peer.send(messages.Accept(consultation_id=cid))
    await peer.send(messages.SasCommit(consultation_id=cid, commitment="00" * 32))
    offer = await next_of(peer, messages.Offer)
    assert isinstance(offer, messages.Offer) and offer.sdp.startswith("v=0")
    return cid


async def test_unanswered_call_times_out_ends_as_failed_and_requeues(tmp_path: Path) -> None:
    async with kiosk_and_adviser(tmp_path, connect_timeout_s=0.5) as (_hub, kiosk, peer):
        cid = await accept(peer)
        ended = await next_of(peer, messages.Ended)
        assert isinstance(ended, messages.Ended)
        assert (ended.consultation_id, ended.reason) == (cid, "failed")
        entry = await waiting(peer)
        assert entry.consultation_id != cid
        (stats,) = kiosk.stats
        assert stats.end_reason == "failed" and stats.accepted_to_connected_ms is None


async def test_bad_answer_fails_the_call_and_the_kiosk_keeps_running(tmp_path: Path) -> None:
    async with kiosk_and_adviser(tmp_path) as (_hub, kiosk, peer):
        cid = await accept(peer)
        await peer.send(messages.Answer(consultation_id=cid, sdp="not an sdp at all"))
        ended = await next_of(peer, messages.Ended)
        assert isinstance(ended, messages.Ended) and ended.reason == "failed"
        await waiting(peer)
        async with asyncio.timeout(5):
            await kiosk.wait_state("queueing")
        # Candidates for the finished consultation are ignored.
        await peer.send(
            messages.IceCandidate(consultation_id=cid, candidate="garbage", sdp_mline_index=0)
        )
        assert kiosk.stats[0].end_reason == "failed"


async def test_peer_end_before_answer_requeues(tmp_path: Path) -> None:
    async with kiosk_and_adviser(tmp_path) as (_hub, kiosk, peer):
        cid = await accept(peer)
        await peer.send(messages.End(consultation_id=cid, reason="hangup"))
        entry = await waiting(peer)
        assert entry.consultation_id != cid
        assert kiosk.stats[0].end_reason == "hangup"
        with pytest.raises(CallError, match="no consultation"):
            kiosk.send_chat("hello")


async def test_stop_leaves_the_queue(tmp_path: Path) -> None:
    async with kiosk_and_adviser(tmp_path) as (_hub, kiosk, peer):
        await waiting(peer)
        kiosk.request_stop()
        async with asyncio.timeout(10):
            while True:
                message = await peer.receive()
                if isinstance(message, messages.Queue) and not message.entries:
                    break
        async with asyncio.timeout(5):
            await kiosk.wait_state("stopped")


async def test_refused_token_stops_the_kiosk(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub:
        config = KioskConfig(token="not-a-device", hub_url=hub.ws_url)
        camera = SimulatedCamera()
        kiosk = Kiosk(config, camera, SimulatedMicrophone())
        with pytest.raises(HubRejected):
            async with asyncio.timeout(10):
                await kiosk.run()
        assert kiosk.phase == "stopped"
        with pytest.raises(Exception, match="start"):
            await camera.frame()  # released
