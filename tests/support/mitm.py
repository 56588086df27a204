"""A man in the middle of a call, as a hostile hub would put itself (docs/verification.md).

It sits on the kiosk's signalling path (a WebSocket relay in front of the real hub, as a
compromised hub would): it answers the kiosk's offer with its own aiortc peer and offers the
adviser another one of its own, so each side's fingerprint is replaced by one of the attacker's;
it relays media and data-channel messages between its two legs. ``forge``: it also commits to
its own fingerprint towards the kiosk and rewrites both reveals, so the automatic SAS checks
pass and only the words (and the kiosk's device proof, which it cannot forge) give it away.

Used by tests/appliance/test_hostile_hub.py (a Python adviser) and
tests/e2e/test_device_proof_browser.py (the console in Chromium).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from aiohttp import web
from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import candidate_from_sdp
from av.frame import Frame
from av.packet import Packet

from appliance.call import sas
from protocol import channel, messages
from tests.support.adviser import aiortc_fingerprint
from tests.support.loopback_server import serving


class ForwardTrack(MediaStreamTrack):
    """Sends what a track of the other leg receives, once that track exists."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.source: asyncio.Future[MediaStreamTrack] = asyncio.get_running_loop().create_future()

    async def recv(self) -> Frame | Packet[Any]:
        source = await self.source
        return await source.recv()


class ManInTheMiddle:
    """Two aiortc peers of the attacker's, one per leg, and the relay between them."""

    def __init__(self, *, forge: bool) -> None:
        self.forge = forge
        self.relay = MediaRelay()
        # Plays the adviser towards the kiosk, and the kiosk towards the adviser.
        self.to_kiosk = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.to_adviser = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.fp_to_kiosk = aiortc_fingerprint(self.to_kiosk)
        self.fp_to_adviser = aiortc_fingerprint(self.to_adviser)
        self.nonce = sas.new_nonce()  # for the forged commitment towards the kiosk
        self.adviser_nonce: str | None = None  # what the adviser revealed
        self.kiosk_fingerprint: str | None = None  # from the kiosk's offer
        self.from_adviser = {"video": ForwardTrack("video"), "audio": ForwardTrack("audio")}
        self.kiosk_channel: RTCDataChannel | None = None
        self.adviser_channel = self.to_adviser.createDataChannel(channel.CHANNEL_LABEL)
        self._pending: dict[str, list[str]] = {"kiosk": [], "adviser": []}
        self.to_kiosk.on("track", self._kiosk_track)
        self.to_adviser.on("track", self._adviser_track)
        self.to_kiosk.on("datachannel", self._kiosk_datachannel)
        self.adviser_channel.on("message", lambda d: self._relay("kiosk", d))
        self.adviser_channel.on("open", lambda: self._flush("adviser"))

    # -- media ---------------------------------------------------------------------

    def _kiosk_track(self, track: MediaStreamTrack) -> None:
        self.to_adviser.addTrack(self.relay.subscribe(track))

    def _adviser_track(self, track: MediaStreamTrack) -> None:
        forward = self.from_adviser[track.kind]
        if not forward.source.done():
            forward.source.set_result(self.relay.subscribe(track))

    # -- data --------------------------------------------------------------------------

    def _kiosk_datachannel(self, dc: RTCDataChannel) -> None:
        self.kiosk_channel = dc
        dc.on("message", lambda d: self._relay("adviser", d))
        self._flush("kiosk")

    def _relay(self, to: str, data: str | bytes) -> None:
        text = data if isinstance(data, str) else data.decode()
        message = channel.decode(text)
        if isinstance(message, channel.SasReveal):
            if to == "kiosk":
                self.adviser_nonce = message.nonce
            if self.forge and to == "kiosk":
                # The adviser's reveal, replaced by one that opens the forged commitment.
                forged = channel.SasReveal(fingerprint=self.fp_to_kiosk, nonce=self.nonce)
                text = channel.encode(forged)
            elif self.forge:
                # The kiosk's reveal, replaced by the fingerprint the adviser negotiated.
                text = channel.encode(channel.SasReveal(fingerprint=self.fp_to_adviser))
        self._pending[to].append(text)
        self._flush(to)

    def _flush(self, to: str) -> None:
        dc = self.kiosk_channel if to == "kiosk" else self.adviser_channel
        if dc is None or dc.readyState != "open":
            return
        pending, self._pending[to] = self._pending[to], []
        for text in pending:
            dc.send(text)

    # -- signalling ------------------------------------------------------------------

    async def answer_kiosk(self, offer_sdp: str) -> str:
        """Take the kiosk's offer on our first leg; return our answer for the kiosk."""
        self.kiosk_fingerprint = sas.sdp_fingerprint(offer_sdp)
        await self.to_kiosk.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        for track in self.from_adviser.values():
            self.to_kiosk.addTrack(track)
        await self.to_kiosk.setLocalDescription(await self.to_kiosk.createAnswer())
        sdp: str = self.to_kiosk.localDescription.sdp
        return sdp

    async def offer_adviser(self) -> str:
        """Our own offer towards the adviser (the kiosk's media already subscribed)."""
        await self.to_adviser.setLocalDescription(await self.to_adviser.createOffer())
        sdp: str = self.to_adviser.localDescription.sdp
        return sdp

    async def adviser_answered(self, sdp: str) -> None:
        await self.to_adviser.setRemoteDescription(RTCSessionDescription(sdp, "answer"))

    async def adviser_candidate(self, message: messages.IceCandidate) -> None:
        if not message.candidate:
            await self.to_adviser.addIceCandidate(None)
            return
        parsed = candidate_from_sdp(message.candidate.removeprefix("candidate:"))
        parsed.sdpMid, parsed.sdpMLineIndex = message.sdp_mid, message.sdp_mline_index
        await self.to_adviser.addIceCandidate(parsed)

    def commitment_for_kiosk(self, real: messages.SasCommit) -> messages.SasCommit:
        if not self.forge:
            return real
        forged = sas.commitment(self.fp_to_kiosk, self.nonce)
        return messages.SasCommit(consultation_id=real.consultation_id, commitment=forged)

    async def close(self) -> None:
        await self.to_kiosk.close()
        await self.to_adviser.close()


@asynccontextmanager
async def hostile_hub(hub_ws_url: str, mitm: ManInTheMiddle) -> AsyncIterator[str]:
    """A WebSocket relay for ``/ws/kiosk`` to the hub at ``hub_ws_url`` (ws:// base URL) that
    hands the call to ``mitm``; yields its own URL.

    Upstream it says the Host the kiosk used: the hub is the hostile one, so the kiosk's signed
    hello (bound to the hub's origin, docs/enrolment.md) names this relay's origin.
    """

    async def kiosk_ws(request: web.Request) -> web.WebSocketResponse:
        kiosk = web.WebSocketResponse()
        await kiosk.prepare(request)
        async with (
            aiohttp.ClientSession() as http,
            http.ws_connect(f"{hub_ws_url}/ws/kiosk", headers={"Host": request.host}) as hub,
        ):

            async def upstream() -> None:  # kiosk -> hub
                async for frame in kiosk:
                    message = messages.decode(frame.data)
                    if isinstance(message, messages.Offer):
                        answer = await mitm.answer_kiosk(message.sdp)
                        reply = messages.Answer(consultation_id=message.consultation_id, sdp=answer)
                        await kiosk.send_str(messages.encode(reply))
                        ours = messages.Offer(
                            consultation_id=message.consultation_id, sdp=await mitm.offer_adviser()
                        )
                        await hub.send_str(messages.encode(ours))
                    else:
                        await hub.send_str(frame.data)

            async def downstream() -> None:  # hub -> kiosk
                async for frame in hub:
                    message = messages.decode(frame.data)
                    if isinstance(message, messages.Answer):
                        await mitm.adviser_answered(message.sdp)
                    elif isinstance(message, messages.IceCandidate):
                        await mitm.adviser_candidate(message)
                    elif isinstance(message, messages.SasCommit):
                        forwarded = mitm.commitment_for_kiosk(message)
                        await kiosk.send_str(messages.encode(forwarded))
                    else:
                        await kiosk.send_str(frame.data)

            tasks = [asyncio.create_task(upstream()), asyncio.create_task(downstream())]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return kiosk

    app = web.Application()
    app.router.add_get("/ws/kiosk", kiosk_ws)
    async with serving(app) as port:
        yield f"ws://127.0.0.1:{port}"
