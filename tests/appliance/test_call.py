"""The kiosk's Call against an aiortc adviser peer in the same process (no hub)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from appliance.call.connection import (
    MAX_REMOTE_CANDIDATES,
    Call,
    CallError,
    Resumption,
    rtc_configuration,
)
from appliance.call.media import CameraTrack, MicrophoneTrack
from drivers.camera.simulated import SimulatedCamera
from drivers.microphone.simulated import SimulatedMicrophone
from protocol import channel
from protocol.messages import IceServer
from tests.support.adviser import AdviserPeer, AdviserResume, split_candidates

SECRET = "my account number is 1234"


class KioskSide:
    """A Call with simulated devices and recorders for its callbacks."""

    def __init__(self, *, dead_after_s: float = 3.0, beat_interval_s: float = 1.0) -> None:
        self.camera = SimulatedCamera()
        self.microphone = SimulatedMicrophone()
        self.chat: list[channel.Chat] = []
        self.chat_queue: asyncio.Queue[channel.Chat] = asyncio.Queue()
        self.states: list[str] = []
        self.channel_open = asyncio.Event()
        self.connected = asyncio.Event()
        self.exchange: list[channel.ChannelMessage] = []
        self.dead: list[tuple[str, float]] = []
        self.dead_event = asyncio.Event()
        self.bye = asyncio.Event()
        self.verified = asyncio.Event()
        self.call = Call(
            video=CameraTrack(self.camera),
            audio=MicrophoneTrack(self.microphone),
            on_chat=self._chat,
            on_state=self._state,
            on_channel_open=self.channel_open.set,
            on_exchange=self.exchange.append,
            on_dead=self._dead,
            on_bye=self.bye.set,
            on_verified=lambda _code: self.verified.set(),
            dead_after_s=dead_after_s,
            beat_interval_s=beat_interval_s,
        )

    def _dead(self, cause: str, silence_ms: float) -> None:
        self.dead.append((cause, silence_ms))
        self.dead_event.set()

    def _chat(self, message: channel.Chat) -> None:
        self.chat.append(message)
        self.chat_queue.put_nowait(message)

    def _state(self, state: str) -> None:
        self.states.append(state)
        if state == "connected":
            self.connected.set()

    async def start(self) -> None:
        await self.camera.start()
        await self.microphone.start()
        await self.call.prepare()

    async def close(self) -> None:
        await self.call.close()
        await self.camera.stop()
        await self.microphone.stop()


def test_configuration_never_uses_a_public_stun_server() -> None:
    assert rtc_configuration(()).iceServers == []
    turn = IceServer(urls=("turn:127.0.0.1:3478",), username="u", credential="p")
    servers = rtc_configuration((turn,)).iceServers
    assert servers is not None
    (server,) = servers
    assert server.urls == ["turn:127.0.0.1:3478"] and server.username == "u"


async def test_wrong_order_is_a_call_error() -> None:
    call = Call(video=CameraTrack(SimulatedCamera()), audio=MicrophoneTrack(SimulatedMicrophone()))
    with pytest.raises(CallError, match="prepare"):
        _ = call.offer_sdp
    with pytest.raises(CallError):
        await call.accept_answer("v=0")
    with pytest.raises(CallError, match="not connected"):
        call.send_chat("hi")
    await call.close()
    await call.close()
    with pytest.raises(CallError, match="closed"):
        await call.prepare()


@pytest.mark.usefixtures("loopback_only_netns")
async def test_call_with_trickled_candidates_media_and_chat(
    caplog: pytest.LogCaptureFixture,
) -> None:
    kiosk = KioskSide()
    adviser = AdviserPeer()
    try:
        await kiosk.start()
        assert "a=candidate:" in kiosk.call.offer_sdp
        assert "127.0.0.1" in kiosk.call.offer_sdp
        answer, candidates = split_candidates(await adviser.answer(kiosk.call.offer_sdp))
        assert candidates
        # A candidate before the answer is kept until the answer is applied.
        first = candidates[0]
        await kiosk.call.add_remote_candidate(first.candidate, first.sdp_mid, first.sdp_mline_index)
        await kiosk.call.accept_answer(answer)
        with pytest.raises(CallError, match="already"):
            await kiosk.call.accept_answer(answer)
        for cand in candidates[1:]:
            await kiosk.call.add_remote_candidate(
                cand.candidate, cand.sdp_mid, cand.sdp_mline_index
            )
        await kiosk.call.add_remote_candidate("", None, None)  # end of candidates

        async with asyncio.timeout(10):
            await kiosk.connected.wait()
            await kiosk.call.probe.wait_video(10)
            await kiosk.call.probe.wait_audio(25)
            await adviser.probe.wait_video(10)
            await adviser.probe.wait_audio(25)
            await kiosk.channel_open.wait()
        assert kiosk.call.connection_state == "connected"
        assert kiosk.call.probe.non_black_seen
        assert kiosk.call.probe.peak_audio_rms > 0.05
        assert adviser.probe.peak_audio_rms > 0.05
        assert adviser.captures_are_from_this_call()

        await adviser.send_chat("hello from the adviser")
        async with asyncio.timeout(5):
            await kiosk.chat_queue.get()
        assert kiosk.chat[0].text == "hello from the adviser"
        # The adviser revealed, but this call never held a commitment: refused, not verified,
        # so nothing goes out to it.
        assert kiosk.call.verification is None
        assert kiosk.call.verification_error == "no_commitment"
        with pytest.raises(CallError, match="not verified"):
            kiosk.call.send_chat("hello from the kiosk")
        with pytest.raises(CallError, match="not verified"):
            kiosk.call.send(channel.Chat(id="k1", text="hello", ts=1))
        # The kiosk revealed its own fingerprint, the offer's: the adviser's check passes.
        assert adviser.verification is not None

        # A bad frame is dropped, and its content never reaches the log.
        caplog.set_level(logging.DEBUG, logger="appliance")
        assert adviser.channel is not None
        adviser.channel.send('{"v":1,"type":"chat","text":"' + SECRET + '"}')
        adviser.channel.send(SECRET)
        await adviser.send_chat("still here")
        async with asyncio.timeout(5):
            await kiosk.chat_queue.get()
        assert kiosk.chat[1].text == "still here"
        assert "dropped a data-channel frame" in caplog.text
        assert SECRET not in caplog.text
    finally:
        await kiosk.close()
        await adviser.close()
    assert kiosk.states[-1] == "closed"


@pytest.mark.usefixtures("loopback_only_netns")
async def test_bad_candidates_and_answers_are_call_errors() -> None:
    kiosk = KioskSide()
    try:
        await kiosk.start()
        with pytest.raises(CallError, match="not valid SDP|refused"):
            await kiosk.call.accept_answer("this is not sdp")
        adviser = AdviserPeer()
        try:
            answer = await adviser.answer(kiosk.call.offer_sdp)
            await kiosk.call.accept_answer(answer)
            for bad in (
                "candidate:1 1 udp",
                "garbage",
                "candidate:x 1 udp notanumber 1.2.3.4 9 typ",
            ):
                with pytest.raises(CallError, match="malformed"):
                    await kiosk.call.add_remote_candidate(bad, "0", 0)
            ok = "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host"
            with pytest.raises(CallError, match="neither"):
                await kiosk.call.add_remote_candidate(ok, None, None)
        finally:
            await adviser.close()
    finally:
        await kiosk.close()


async def test_a_flood_of_candidates_is_refused() -> None:
    kiosk = KioskSide()
    try:
        await kiosk.start()
        ok = "candidate:1 1 udp 2130706431 127.0.0.1 9 typ host"
        for _ in range(MAX_REMOTE_CANDIDATES):
            await kiosk.call.add_remote_candidate(ok, "0", 0)  # buffered until the answer
        with pytest.raises(CallError, match="too many"):
            await kiosk.call.add_remote_candidate(ok, "0", 0)
    finally:
        await kiosk.close()


async def connect(kiosk: KioskSide, adviser: AdviserPeer) -> None:
    """Offer, answer (candidates included) and wait for the open data channel."""
    await kiosk.start()
    await kiosk.call.accept_answer(await adviser.answer(kiosk.call.offer_sdp))
    async with asyncio.timeout(10):
        await kiosk.channel_open.wait()


@pytest.mark.usefixtures("loopback_only_netns")
async def test_exchange_messages_wait_for_verification_and_bye_is_no_dead_path() -> None:
    kiosk = KioskSide(dead_after_s=0.6, beat_interval_s=0.2)
    adviser = AdviserPeer(beat_interval_s=0.2)
    try:
        await connect(kiosk, adviser)  # no commitment held: the adviser stays unverified
        adviser.send(channel.ScreenShare(active=True))
        await adviser.send_chat("sync")
        async with asyncio.timeout(5):
            await kiosk.chat_queue.get()
        assert kiosk.exchange == []  # never before the adviser is verified
        # A deliberate end: bye, and the closing connection is not reported as a dead path.
        await adviser.close()
        async with asyncio.timeout(5):
            await kiosk.bye.wait()
        await asyncio.sleep(1.0)  # longer than dead_after_s: a dead path would show by now
        assert kiosk.call.bye_received and kiosk.dead == []
    finally:
        await kiosk.close()
        await adviser.close()


@pytest.mark.usefixtures("loopback_only_netns")
async def test_verified_exchange_messages_pass_and_silence_is_a_dead_path() -> None:
    kiosk = KioskSide(dead_after_s=0.6, beat_interval_s=0.2)
    adviser = AdviserPeer(beat_interval_s=0.2)
    try:
        kiosk.call.hold_commitment(adviser.commitment)
        await connect(kiosk, adviser)
        async with asyncio.timeout(5):
            await kiosk.verified.wait()
        adviser.send(channel.ScreenShare(active=True))
        await adviser.send_chat("sync")
        async with asyncio.timeout(5):
            await kiosk.chat_queue.get()
        assert kiosk.exchange == [channel.ScreenShare(active=True)]
        assert adviser.beats_in > 0  # the kiosk beats too
        adviser.freeze()
        async with asyncio.timeout(10):
            await kiosk.dead_event.wait()
        ((cause, silence_ms),) = kiosk.dead
        assert cause == "silence" and silence_ms >= 600
        assert kiosk.call.dead
    finally:
        await kiosk.close()
        await adviser.close(bye=False)


@pytest.mark.usefixtures("loopback_only_netns")
async def test_a_resumed_call_sends_nothing_before_the_proof_but_beats() -> None:
    # On a resumed call the channel opens before the far end's resume_proof: until it checks
    # out, nothing of the session goes out (chat, files, history), only beats and our proof.
    kiosk = KioskSide(dead_after_s=3.0, beat_interval_s=0.2)
    kiosk.call.resumption = Resumption(consultation_id="consult1", secret=bytes(32), code="x")
    adviser = AdviserPeer(
        beat_interval_s=0.2, resume=AdviserResume("consult1", bytes(32)), prove=False
    )
    try:
        await connect(kiosk, adviser)
        checked = await adviser.wait_checked(10)  # our proof went out
        assert checked is not None
        assert adviser.beats_in > 0  # the first beat goes right before the proof
        assert kiosk.call.verification is None
        with pytest.raises(CallError, match="not verified"):
            kiosk.call.send_chat("my account number")
        with pytest.raises(CallError, match="not verified"):
            kiosk.call.send(channel.HistoryChat(id="h1", text="hello", ts=1, author="kiosk"))
        assert adviser.chat_in == [] and adviser.history == []
        assert kiosk.dead == []  # the far end beats: alive, just not proven
    finally:
        await kiosk.close()
        await adviser.close()
