"""An adviser takes the real Kiosk's call through the real hub: accept, commit, answer, trickle.

The console's signalling steps (docs/signalling.md) with an aiortc ``AdviserPeer``
(tests/support/adviser.py) for the media, shared by the tests that run a ``Kiosk`` against a
real hub. ``take_call`` is the bare sequence on a ``SignallingPeer``; ``ConsoleSignalling``
adds what a console tab does besides (heartbeats, keeping the latest resume grant), and
``take_verified_call`` waits until both ends are verified and the customer has greeted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TypeVar

import aiohttp

from appliance.config.kiosk import KioskConfig
from appliance.custody.session import SessionCustody
from appliance.runner.kiosk import Kiosk
from appliance.runner.simulated_customer import GREETING, SimulatedCustomer
from appliance.session.journey import Journey
from appliance.ui.bridge import UiBridge
from drivers.camera.simulated import SimulatedCamera
from drivers.microphone.simulated import SimulatedMicrophone
from protocol import messages
from provisioning.identity import IdentityStore
from tests.support.adviser import AdviserPeer, split_candidates
from tests.support.hub import RunningHub, SignallingPeer, connect_adviser

M = TypeVar("M")
PASSWORD = "correct horse battery staple"  # the adviser "ann" of these tests
# What a console skips while it waits for the message it is after.
SKIPPED = (
    messages.Queue,
    messages.Heartbeat,
    messages.PeerAway,
    messages.PeerBack,
    messages.Resumed,
)


def kiosk_config(hub: RunningHub, token: str | None) -> KioskConfig:
    """A simulated kiosk on 127.0.0.1 that reconnects to ``hub`` quickly."""
    return KioskConfig(
        token=token,
        hub_url=hub.ws_url,
        simulate=True,
        ice_host_addresses=("127.0.0.1",),
        reconnect_min_s=0.05,
        reconnect_max_s=0.3,
    )


@asynccontextmanager
async def running_kiosk(
    config: KioskConfig,
    custody: SessionCustody | None = None,
    *,
    identity: IdentityStore | None = None,
) -> AsyncIterator[Kiosk]:
    """The real Kiosk with simulated devices and the simulated customer, on this loop
    (``identity``: an enrolled kiosk's certificate store instead of a device token)."""
    kiosk = Kiosk(
        config,
        SimulatedCamera(),
        SimulatedMicrophone(),
        custody=custody,
        identity=identity,
    )
    kiosk.add_observer(SimulatedCustomer(kiosk))
    async with kiosk_running(kiosk):
        yield kiosk


def bridged_kiosk(
    config: KioskConfig, custody: SessionCustody, journey: Journey
) -> tuple[Kiosk, UiBridge]:
    """The real Kiosk with simulated devices, queueing only when the customer asks, and the
    UiBridge the touch UI drives it through (intents in, views out)."""
    kiosk = Kiosk(
        config,
        SimulatedCamera(),
        SimulatedMicrophone(),
        custody=custody,
        queue_on_request=True,
    )
    return kiosk, UiBridge(kiosk, journey, custody=custody)


@asynccontextmanager
async def kiosk_running(kiosk: Kiosk) -> AsyncIterator[Kiosk]:
    """The kiosk's main loop on this loop, stopped (and its session wiped) on the way out."""
    task = asyncio.create_task(kiosk.run())
    try:
        yield kiosk
    finally:
        kiosk.request_stop()
        async with asyncio.timeout(10):
            await task


async def from_kiosk(adviser: AdviserPeer, kind: type[M], within: float = 20) -> M:
    """The first data-channel message of ``kind`` the kiosk sent the adviser."""
    async with asyncio.timeout(within):
        while True:
            for message in adviser.other_in:
                if isinstance(message, kind):
                    return message
            await asyncio.sleep(0.02)


async def next_of(peer: SignallingPeer, kind: type[M]) -> M:
    """The next message of ``kind``, skipping queue updates, heartbeats, resume grants."""
    async with asyncio.timeout(10):
        while True:
            message = await peer.receive()
            if isinstance(message, kind):
                return message
            if not isinstance(message, messages.Queue | messages.Heartbeat | messages.ResumeGrant):
                raise AssertionError(f"expected {kind.__name__}, got {message!r}")


async def no_offer_within(peer: SignallingPeer, seconds: float) -> None:
    """Fail if the kiosk's offer arrives within ``seconds`` (other messages are fine)."""
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = await peer.receive()
                assert not isinstance(message, messages.Offer), "offer before the commitment"
    except TimeoutError:
        pass


async def queued_entry(peer: SignallingPeer) -> messages.QueueEntry:
    """Wait until the adviser's queue shows a waiting kiosk."""
    async with asyncio.timeout(10):
        while True:
            queue = await peer.receive()
            if isinstance(queue, messages.Queue) and queue.entries:
                return queue.entries[0]


async def send_answer(
    peer: SignallingPeer, consultation_id: str, sdp: str, *, end_of_candidates: bool = False
) -> None:
    """Send an answer like a browser: without candidates, then each one on its own."""
    answer, candidates = split_candidates(sdp)
    await peer.send(messages.Answer(consultation_id=consultation_id, sdp=answer))
    for c in candidates:
        await peer.send(
            messages.IceCandidate(
                consultation_id=consultation_id,
                candidate=c.candidate,
                sdp_mid=c.sdp_mid,
                sdp_mline_index=c.sdp_mline_index,
            )
        )
    if end_of_candidates:
        done = messages.IceCandidate(
            consultation_id=consultation_id, candidate="", sdp_mline_index=0
        )
        await peer.send(done)


async def answer(
    peer: SignallingPeer,
    adviser: AdviserPeer,
    offer: messages.Offer,
    *,
    end_of_candidates: bool = False,
) -> None:
    """Answer ``offer`` with ``adviser``'s media, candidates trickled one by one."""
    sdp = await adviser.answer(offer.sdp)
    await send_answer(peer, offer.consultation_id, sdp, end_of_candidates=end_of_candidates)


async def take_call(
    http: aiohttp.ClientSession, hub: RunningHub
) -> tuple[SignallingPeer, AdviserPeer, str]:
    """Log in as the adviser, accept, commit, answer the kiosk's offer, trickle candidates."""
    peer = await connect_adviser(http, hub, "ann", PASSWORD)
    entry = await queued_entry(peer)
    assert entry.device == "kiosk-1"
    cid = entry.consultation_id
    await peer.send(messages.Accept(consultation_id=cid))
    accepted = await next_of(peer, messages.Accepted)
    assert accepted.consultation_id == cid
    adviser = AdviserPeer()
    # The kiosk keeps its (pre-gathered) offer until the adviser has committed.
    await no_offer_within(peer, 0.3)
    await peer.send(messages.SasCommit(consultation_id=cid, commitment=adviser.commitment))
    offer = await next_of(peer, messages.Offer)
    # Like a browser, the adviser sends its candidates after the answer, one by one.
    await answer(peer, adviser, offer, end_of_candidates=True)
    return peer, adviser, cid


@dataclass
class ConsoleSignalling:
    """The adviser's signalling side: heartbeats as the console sends them; the latest grant."""

    peer: SignallingPeer
    grant: messages.ResumeGrant | None = None
    heartbeat: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        self.heartbeat = asyncio.create_task(self._beat())

    async def _beat(self) -> None:
        period = self.peer.welcome.heartbeat_s if self.peer.welcome is not None else 2
        with contextlib.suppress(Exception):
            while not self.peer.ws.closed:
                await self.peer.send(messages.Heartbeat(ts=int(time.time() * 1000)))
                await asyncio.sleep(period)

    async def close(self) -> None:
        """Stop the heartbeats and close the WebSocket."""
        if self.heartbeat is not None:
            self.heartbeat.cancel()
        await self.peer.close()

    async def next_of(self, kind: type[M], within: float = 15) -> M:
        """The next message of ``kind``; queue updates, heartbeats, away/back are skipped."""
        async with asyncio.timeout(within):
            while True:
                message = await self.peer.receive(within)
                if isinstance(message, kind):
                    return message
                if isinstance(message, messages.ResumeGrant):
                    self.grant = message
                    continue
                if not isinstance(message, SKIPPED):
                    raise AssertionError(f"expected {kind.__name__}, got {message.TYPE}")


async def accept_first(
    http: aiohttp.ClientSession, hub: RunningHub
) -> tuple[ConsoleSignalling, AdviserPeer, str]:
    """Log in as the adviser, accept the first waiting kiosk, commit and answer its offer."""
    console = ConsoleSignalling(await connect_adviser(http, hub, "ann", PASSWORD))
    async with asyncio.timeout(10):
        while True:
            queue = await console.next_of(messages.Queue)
            if queue.entries:
                break
    cid = queue.entries[0].consultation_id
    await console.peer.send(messages.Accept(consultation_id=cid))
    await console.next_of(messages.Accepted)
    adviser = AdviserPeer()
    await console.peer.send(messages.SasCommit(consultation_id=cid, commitment=adviser.commitment))
    await answer(console.peer, adviser, await console.next_of(messages.Offer))
    return console, adviser, cid


async def take_verified_call(
    http: aiohttp.ClientSession, hub: RunningHub, kiosk: Kiosk
) -> tuple[ConsoleSignalling, AdviserPeer, str, bytes]:
    """Accept, commit, answer; wait until both ends verified and the greeting came.

    Returns the console, the adviser's peer, the consultation id and its continuity secret.
    """
    console, adviser, cid = await accept_first(http, hub)
    async with asyncio.timeout(20):
        await kiosk.wait_state("in_call")
        verified = await adviser.wait_checked(10)
        assert verified is not None, adviser.verification_error
        secret = await adviser.wait_continuity(10)
        await adviser.wait_chat(1)
        assert adviser.chat_in[0].text == GREETING
        await adviser.send_chat("How can I help?", chat_id="adv-1")
        await adviser.wait_chat(2)
    return console, adviser, cid, secret
