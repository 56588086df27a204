"""The Kiosk runner through the real hub, on the paths where no media flows.

A call that never connects (no answer, a bad answer), leaving the queue on stop, a refused
token. The full media journey is in test_call_loopback.py (network namespace only).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from appliance.call.connection import CallError, Resumption
from appliance.config.kiosk import KioskConfig
from appliance.runner.hub_client import HubRejected
from appliance.runner.inputs import consultation_event
from appliance.runner.kiosk import Kiosk
from appliance.runner.reconnection import Reconnection
from appliance.session import consultation as c
from drivers.camera.simulated import SimulatedCamera
from drivers.microphone.simulated import SimulatedMicrophone
from protocol import messages
from protocol.messages import IceServer
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


# -- the shell while reconnecting (docs/reconnection.md) -------------------------------------

CID = "consult-1"


def reconnecting_kiosk(
    *, ice_servers: tuple[IceServer, ...] = (), reconnection: Reconnection | None = None
) -> Kiosk:
    """A kiosk whose machine holds a verified, resumable consultation (no hub, no call yet).

    Its hub address has nobody listening: the kiosk runs (``running``) without a hub, so a
    shell that never yields is a test that never returns (the pytest timeout), not a hang of
    the suite.
    """
    kiosk = Kiosk(
        KioskConfig(token="t", hub_url="ws://127.0.0.1:9"),
        SimulatedCamera(),
        SimulatedMicrophone(),
        ice_servers=ice_servers,
        reconnection=reconnection,
    )
    for event in (
        c.Welcomed(),
        c.Accepted(CID, "Ann"),
        c.CommitmentReceived(CID, "commitment"),
        c.CallPrepared(),
        c.AnswerReceived(CID, "sdp"),
        c.MediaConnected(),
        c.AdviserVerified(CID),
        c.ResumeGranted(CID),
    ):
        kiosk.consultation.handle(event)  # the shell's side of these is not needed here
    assert kiosk.phase == "in_call"
    return kiosk


@asynccontextmanager
async def running(kiosk: Kiosk) -> AsyncIterator[None]:
    """``kiosk.run()`` for the block, then a polite stop."""
    task = asyncio.create_task(kiosk.run())
    try:
        yield
    finally:
        kiosk.request_stop()
        async with asyncio.timeout(10):
            await task


@pytest.mark.usefixtures("loopback_only_netns")
@pytest.mark.timeout(60)
async def test_new_calls_that_fail_at_once_are_retried_later_and_grace_still_ends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="appliance.runner")
    # Every new call fails while preparing: a TURN address this kiosk cannot parse.
    reconnection = Reconnection(grace_s=3.0)
    reconnection.continuity = Resumption(CID, bytes(32), "four words here too")
    kiosk = reconnecting_kiosk(
        ice_servers=(messages.IceServer(urls=("turn:",)),), reconnection=reconnection
    )
    await kiosk.handle(c.DeadPath("silence"))  # returns: no spin
    assert kiosk.phase == "reconnecting"
    async with running(kiosk):
        async with asyncio.timeout(30):
            await kiosk.wait_state("queueing")
        attempts = [r for r in caplog.records if "new call failed" in r.getMessage()]
        # Retried after pauses, not in one breath; the grace timer ended it, not the cap.
        assert 2 <= len(attempts) < c.MAX_RESUME_ATTEMPTS - 1
        assert kiosk.consultation.state.consultation_id is None


@pytest.mark.timeout(60)
async def test_nothing_to_resume_with_ends_the_session() -> None:
    kiosk = reconnecting_kiosk()  # no continuity secret: the new call cannot prove itself
    async with asyncio.timeout(10):
        await kiosk.handle(c.DeadPath("silence"))
        async with running(kiosk):
            await kiosk.wait_state("queueing")
            assert kiosk.consultation.state.consultation_id is None


def test_only_a_refused_resume_ends_a_reconnecting_session() -> None:
    kiosk = reconnecting_kiosk()
    kiosk.consultation.handle(c.DeadPath("silence"))
    assert kiosk.phase == "reconnecting"
    unrelated = messages.Error(code="rate_limited", message="slow down")
    # The hub still has us (the path died, not the hub connection): no resume is pending.
    for error in (unrelated, messages.Error(code="not_found", message="not in that call")):
        assert consultation_event(error, kiosk.consultation_state) is None
    kiosk.consultation.handle(c.HubLost())
    kiosk.consultation.handle(c.Welcomed())  # SendResume: now awaiting resumed
    assert consultation_event(unrelated, kiosk.consultation_state) is None
    refused = messages.Error(code="not_found", message="no")
    assert consultation_event(refused, kiosk.consultation_state) == c.ResumeRefused()
    assert kiosk.phase == "reconnecting"
