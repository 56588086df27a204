"""A minimal adviser peer written with aiortc, standing in for the console's browser.

It commits to its DTLS fingerprint first (``sas_commit``, as the console does), answers the
kiosk's offer, sends its own picture (our simulated camera) and a tone, reads back the kiosk's
capture clock from every decoded frame, reveals its fingerprint and nonce on the data channel,
checks the kiosk's reveal, and chats. Like the console it sends ``beat`` every second, keeps
the kiosk's continuity secret, and on a later peer connection of the same consultation
(``resume=``) proves itself with ``resume_proof`` and checks the kiosk's (docs/reconnection.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass

import av
import numpy as np
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription

from appliance.call import sas
from appliance.call.media import CameraTrack, MediaProbe, MicrophoneTrack
from drivers.camera.simulated import BARS_RGB, SimulatedCamera, luma_plane, read_capture_clock
from drivers.microphone.simulated import SimulatedMicrophone
from protocol import channel
from tests.support.aiortc_internals import certificate_fingerprint, silence_transports


@dataclass(frozen=True)
class TrickledCandidate:
    """One ``a=candidate`` line taken out of an SDP, with where it belongs."""

    candidate: str
    sdp_mid: str | None
    sdp_mline_index: int


def split_candidates(sdp: str) -> tuple[str, list[TrickledCandidate]]:
    """Remove the candidate lines from ``sdp``, as a browser that trickles would send it."""
    kept: list[str] = []
    found: list[TrickledCandidate] = []
    index = -1
    mid: str | None = None
    for line in sdp.splitlines():
        if line.startswith("m="):
            index += 1
            mid = None
        elif line.startswith("a=mid:"):
            mid = line.removeprefix("a=mid:")
        if line.startswith("a=candidate:"):
            found.append(TrickledCandidate(line.removeprefix("a="), mid, index))
            continue
        if line.startswith("a=end-of-candidates"):
            continue
        kept.append(line)
    return "\r\n".join(kept) + "\r\n", found


def aiortc_fingerprint(pc: RTCPeerConnection) -> str:
    """The sha-256 fingerprint of an aiortc peer connection's certificate, before any SDP.

    aiortc makes one certificate per connection and has no ``generateCertificate`` option in
    its configuration; a browser passes its own certificate in. Tests read aiortc's.
    """
    return certificate_fingerprint(pc)


def bars_match(frame: av.VideoFrame, tolerance: int = 40) -> bool:
    """Whether the centre of each colour bar has roughly its colour (after a lossy codec)."""
    rgb = frame.to_ndarray(format="rgb24").astype(int)
    height, width = rgb.shape[:2]
    row = (32 + (height * 3 // 4)) // 2
    bar = width // len(BARS_RGB)
    for i, expected in enumerate(BARS_RGB):
        patch = rgb[row - 4 : row + 4, i * bar + bar // 3 : (i + 1) * bar - bar // 3]
        mean = patch.reshape(-1, 3).mean(axis=0)
        if np.abs(mean - np.array(expected)).max() > tolerance:
            return False
    return True


@dataclass(frozen=True)
class AdviserResume:
    """What a resumed adviser peer proves itself with: the consultation's continuity secret."""

    consultation_id: str
    secret: bytes


class AdviserPeer:
    """The answering side of a call, with its own media and a chat log."""

    def __init__(
        self,
        *,
        tone_hz: float = 660.0,
        configuration: RTCConfiguration | None = None,
        resume: AdviserResume | None = None,
        beat_interval_s: float = 1.0,
        share_screen: bool = False,
        prove: bool = True,
    ) -> None:
        self.camera = SimulatedCamera(320, 240, 15)
        self.microphone = SimulatedMicrophone(frequency=tone_hz, amplitude=0.3)
        self.pc = RTCPeerConnection(configuration or RTCConfiguration(iceServers=[]))
        self.probe = MediaProbe(on_video=self._frame)
        self.latencies_ms: list[int] = []
        self.created_ms = int(time.time() * 1000)
        self.bars_seen = False
        self._bar_checks = 0
        self.chat_in: list[channel.Chat] = []
        self.intake: channel.Intake | None = None  # the customer's form, end to end
        self._intake_event = asyncio.Event()
        self._chat_event = asyncio.Event()
        self.channel: RTCDataChannel | None = None
        self._channel_open = asyncio.Event()
        # The short authentication string, adviser side (what hub/web/verification.js does).
        self.fingerprint = aiortc_fingerprint(self.pc)
        self.nonce = sas.new_nonce()
        self.commitment = sas.commitment(self.fingerprint, self.nonce)
        self.offer_fingerprint: str | None = None
        self.verification: sas.Verified | None = None
        self.verification_error: str | None = None
        self._checked = asyncio.Event()
        # Reconnection: the kiosk's secret (from ``continuity``), our resume, history, bye.
        self.resume = resume
        self._prove = prove  # False: a far end that connects and beats but never proves
        self.continuity: bytes | None = None
        self._continuity_event = asyncio.Event()
        self.history: list[channel.HistoryChat] = []
        self._history_event = asyncio.Event()
        self.bye_received = False
        self.beats_in = 0
        self.other_in: list[channel.ChannelMessage] = []
        self._beat_interval_s = beat_interval_s
        self._beat_task: asyncio.Task[None] | None = None
        self._share_screen = share_screen
        self.frozen = False
        self._closed = False
        self.pc.on("track", self.probe.watch)
        self.pc.on("datachannel", self._datachannel)

    def _frame(self, frame: av.VideoFrame) -> None:
        code = read_capture_clock(luma_plane(frame))
        if code is not None:
            now = int(time.time() * 1000) % 2**32
            self.latencies_ms.append((now - code) % 2**32)
        # Colour conversion is the costly part: check a few frames only.
        if not self.bars_seen and self._bar_checks < 30 and self.probe.video_frames % 5 == 0:
            self._bar_checks += 1
            self.bars_seen = bars_match(frame)

    def _datachannel(self, dc: RTCDataChannel) -> None:
        self.channel = dc
        dc.on("message", self._message)
        if dc.readyState == "open":
            self._opened()
        dc.on("open", self._opened)

    def _opened(self) -> None:
        self._channel_open.set()
        assert self.channel is not None
        if self._beat_task is None:
            self._beat_task = asyncio.get_running_loop().create_task(self._beat())
        if self.resume is not None and not self._prove:
            return
        if self.resume is not None:
            assert self.offer_fingerprint is not None
            mac = sas.resume_mac(
                self.resume.secret,
                role="adviser",
                consultation_id=self.resume.consultation_id,
                own_fingerprint=self.fingerprint,
                peer_fingerprint=self.offer_fingerprint,
            )
            self.channel.send(
                channel.encode(channel.ResumeProof(fingerprint=self.fingerprint, mac=mac))
            )
            return
        reveal = channel.SasReveal(fingerprint=self.fingerprint, nonce=self.nonce)
        self.channel.send(channel.encode(reveal))

    async def _beat(self) -> None:
        while not self.frozen:
            channel_ = self.channel
            if channel_ is not None and channel_.readyState == "open":
                with contextlib.suppress(Exception):
                    channel_.send(channel.encode(channel.Beat(ts=int(time.time() * 1000))))
            await asyncio.sleep(self._beat_interval_s)

    def freeze(self) -> None:
        """The media path dies: nothing more leaves or arrives (ICE checks still answer).

        Stands in for a network that stops carrying the call's packets while signalling stays
        up; the kiosk must notice by the silence of ``beat``, not by ICE.
        """
        self.frozen = True
        silence_transports(self.pc)

    def _kiosk_proved(self, proof: channel.ResumeProof) -> None:
        try:
            if self.resume is None:
                raise sas.NoContinuity("a resume proof on a first connection")
            if self.offer_fingerprint is None:
                raise sas.VerificationError("a proof before the offer")
            sas.verify_resume_proof(
                self.resume.secret,
                role="kiosk",
                consultation_id=self.resume.consultation_id,
                revealed_fingerprint=proof.fingerprint,
                negotiated_fingerprint=self.offer_fingerprint,
                own_fingerprint=self.fingerprint,
                mac=proof.mac,
            )
            self.verification = sas.Verified("", proof.fingerprint, self.fingerprint)
        except sas.VerificationError as exc:
            self.verification_error = exc.code
        self._checked.set()

    async def wait_continuity(self, within: float) -> bytes:
        """The kiosk's continuity secret (sent once, right after we were verified)."""
        async with asyncio.timeout(within):
            await self._continuity_event.wait()
        assert self.continuity is not None
        return self.continuity

    async def wait_history(self, count: int, within: float) -> list[channel.HistoryChat]:
        """Wait until ``count`` history lines arrived (after a resume)."""
        async with asyncio.timeout(within):
            while len(self.history) < count:
                self._history_event.clear()
                await self._history_event.wait()
        return self.history

    def _kiosk_revealed(self, reveal: channel.SasReveal) -> None:
        try:
            if self.offer_fingerprint is None:
                raise sas.VerificationError("a reveal before the offer")
            self.verification = sas.verify_kiosk(
                offer_fingerprint=self.offer_fingerprint,
                revealed_fingerprint=reveal.fingerprint,
                adviser_fingerprint=self.fingerprint,
                nonce=self.nonce,
            )
        except sas.VerificationError as exc:
            self.verification_error = exc.code
        self._checked.set()

    async def wait_checked(self, within: float) -> sas.Verified | None:
        """The kiosk's reveal checked: the code when it passed, None when refused."""
        async with asyncio.timeout(within):
            await self._checked.wait()
        return self.verification

    def _message(self, data: str | bytes) -> None:
        if self.frozen:
            return
        message = channel.decode(data)
        if isinstance(message, channel.SasReveal):
            self._kiosk_revealed(message)
            return
        if isinstance(message, channel.ResumeProof):
            self._kiosk_proved(message)
            return
        if isinstance(message, channel.Beat):
            self.beats_in += 1
            return
        if isinstance(message, channel.Continuity):
            self.continuity = bytes.fromhex(message.secret)
            self._continuity_event.set()
            return
        if isinstance(message, channel.HistoryChat):
            self.history.append(message)
            self._history_event.set()
            return
        if isinstance(message, channel.Bye):
            self.bye_received = True
            return
        if isinstance(message, channel.Intake):
            self.intake = message
            self._intake_event.set()
            return
        if not isinstance(message, channel.Chat):
            self.other_in.append(message)
            return
        self.chat_in.append(message)
        self._chat_event.set()

    async def wait_intake(self, within: float) -> list[tuple[str, str]]:
        """The intake form the kiosk sent when the channel opened, as (key, value) pairs."""
        async with asyncio.timeout(within):
            await self._intake_event.wait()
        assert self.intake is not None
        return [(f.key, f.value) for f in self.intake.fields]

    async def answer(self, offer_sdp: str) -> str:
        """Apply the offer, add our media and return the answer (candidates included)."""
        await self.camera.start()
        await self.microphone.start()
        self.offer_fingerprint = sas.sdp_fingerprint(offer_sdp)
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        self.pc.addTrack(CameraTrack(self.camera))
        self.pc.addTrack(MicrophoneTrack(self.microphone))
        if self._share_screen:
            # The kiosk's second, receive-only video: our "screen" (the same bars).
            self.pc.addTrack(CameraTrack(self.camera))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        sdp: str = self.pc.localDescription.sdp
        return sdp

    def captures_are_from_this_call(self) -> bool:
        """Every capture clock read back names a moment between this peer's start and now.

        A behavioural check of the clock stamp (a wrong or stale code lands outside), not a
        speed figure: latency is measured by ``bench call``.
        """
        span = int(time.time() * 1000) - self.created_ms
        return bool(self.latencies_ms) and all(0 <= ms <= span for ms in self.latencies_ms)

    async def wait_chat(self, count: int) -> None:
        """Wait until ``count`` chat messages arrived."""
        while len(self.chat_in) < count:
            self._chat_event.clear()
            await self._chat_event.wait()

    async def send_chat(self, text: str, chat_id: str = "adv1") -> None:
        """Send a chat line once the channel is open."""
        await self._channel_open.wait()
        assert self.channel is not None
        self.channel.send(channel.encode(channel.Chat(id=chat_id, text=text, ts=0)))

    def send(self, message: channel.ChannelMessage) -> None:
        """Send any data-channel message (the channel must be open)."""
        assert self.channel is not None
        self.channel.send(channel.encode(message))

    async def close(self, *, bye: bool = True) -> None:
        """Close everything; ``bye`` first, as the console does when the adviser hangs up."""
        if self._closed:
            return
        self._closed = True
        if bye and not self.frozen and self.channel is not None:
            if self.channel.readyState == "open":
                self.channel.send(channel.encode(channel.Bye()))
                await asyncio.sleep(0.05)  # let it leave before DTLS closes
        self.frozen = True
        if self._beat_task is not None:
            self._beat_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._beat_task
        await self.probe.stop()
        await self.pc.close()
        await self.camera.stop()
        await self.microphone.stop()
