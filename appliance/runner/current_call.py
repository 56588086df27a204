"""The consultation's current peer connection: made, replaced, closed; stale callbacks dropped.

A consultation may need several peer connections (docs/reconnection.md), and aiortc may still
call back into one already replaced. Every call made here gets a generation number; its
callbacks reach the ``CallListener`` only while it is the current one, stamped with that
number so that an event queued just before a replacement can be recognised as stale later.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

import av

from appliance.call.connection import (
    BEAT_INTERVAL_S,
    DEAD_AFTER_S,
    Call,
    CallError,
    ExchangeMessage,
    Resumption,
)
from appliance.call.device_proof import SignerSource
from appliance.call.media import MediaProbe
from appliance.runner.local_media import LocalMedia
from protocol import channel
from protocol.messages import IcePolicy, IceServer

log = logging.getLogger(__name__)


class CallListener(Protocol):
    """What the current call reports (aiortc's callbacks, synchronous, on the loop)."""

    def state_changed(self, generation: int, state: str) -> None:
        """aiortc's connection state changed (``connected``...)."""

    def channel_opened(self, generation: int) -> None:
        """The data channel opened (the adviser is not verified by that)."""

    def verified(self, generation: int, code: str) -> None:
        """The adviser's reveal (or a resumed call's proof) checked out."""

    def unverified(self, generation: int, why: str) -> None:
        """The adviser's reveal or proof was wrong (``why``: the sas error code)."""

    def dead_path(self, generation: int, cause: str, silence_ms: float) -> None:
        """The path is dead (beat silence, or the connection failed or closed)."""

    def bye(self, generation: int) -> None:
        """The adviser ended the call on purpose."""

    def chat_received(self, generation: int, message: channel.Chat) -> None:
        """The adviser wrote a line (personal data)."""

    def exchange_message(self, generation: int, message: ExchangeMessage) -> None:
        """A message of the exchange (files, requests, screen share) arrived."""


class CurrentCall:
    """Makes the consultation's calls on the kiosk's devices and keeps the current one."""

    def __init__(
        self,
        media: LocalMedia,
        *,
        on_remote_video: Callable[[av.VideoFrame], None],
        on_screen_frame: Callable[[av.VideoFrame], None],
        ice_servers: tuple[IceServer, ...] = (),
        beat_interval_s: float = BEAT_INTERVAL_S,
        dead_after_s: float = DEAD_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
        device_signer: SignerSource = lambda: None,
    ) -> None:
        self._media = media
        self._device_signer = device_signer  # an enrolled kiosk signs each call (device_proof)
        self._on_remote_video = on_remote_video
        self._on_screen_frame = on_screen_frame
        # Until the hub's welcome says otherwise (every welcome replaces both).
        self.ice_servers = ice_servers
        self.ice_policy: IcePolicy = "all"
        self._beat_interval_s = beat_interval_s
        self._dead_after_s = dead_after_s
        self._clock = clock
        self.call: Call | None = None
        self.generation = 0

    def is_current(self, generation: int) -> bool:
        """Whether ``generation`` is the current call's (events of older ones are stale)."""
        return generation == self.generation

    @property
    def verified(self) -> bool:
        """Whether there is a call and its far end proved itself."""
        return self.call is not None and self.call.verification is not None

    def require_verified(self) -> Call:
        """The current call if its adviser is verified; ``CallError`` otherwise.

        On a resumed call the channel opens before the adviser's proof is checked, and until
        then whoever is at the far end must get nothing of the customer's.
        """
        call = self.call
        if call is None:
            raise CallError("no consultation in progress")
        if call.verification is None:
            raise CallError("the adviser is not verified (yet)")
        return call

    def send(self, message: channel.ChannelMessage) -> None:
        """Send a data-channel message to the verified adviser (the exchange uses this).

        ``CallError`` while no call is open (reconnecting, say), or its far end is not verified
        (yet): the caller retries or waits (the exchange offers its files again after a
        resumed call's proof checked out).
        """
        if self.call is None or not self.call.channel_open:
            raise CallError("no open call")
        self.require_verified().send(message)

    def send_intake(self, values: tuple[tuple[str, str], ...]) -> None:
        """Send the customer's intake form to the verified adviser (never logged)."""
        fields = tuple(channel.IntakeField(key=key, value=value) for key, value in values)
        self.require_verified().send(channel.Intake(fields=fields))

    async def prepare(self, listener: CallListener, resumption: Resumption | None) -> bool:
        """Make a new current call and prepare its offer; False if that failed (logged).

        ``resumption``: a later call of a verified consultation, proved by its secret.
        """
        self.generation += 1
        generation = self.generation

        def current(report: Callable[[], None]) -> None:
            if self.is_current(generation):
                report()

        call = Call(
            video=self._media.video_source(),
            audio=self._media.audio_track(),
            ice_servers=self.ice_servers,
            ice_transport_policy=self.ice_policy,
            on_chat=lambda m: current(lambda: listener.chat_received(generation, m)),
            on_state=lambda s: current(lambda: listener.state_changed(generation, s)),
            on_channel_open=lambda: current(lambda: listener.channel_opened(generation)),
            on_verified=lambda code: current(lambda: listener.verified(generation, code)),
            on_unverified=lambda why: current(lambda: listener.unverified(generation, why)),
            on_dead=lambda cause, ms: current(lambda: listener.dead_path(generation, cause, ms)),
            on_bye=lambda: current(lambda: listener.bye(generation)),
            on_exchange=lambda m: current(lambda: listener.exchange_message(generation, m)),
            resumption=resumption,
            device_signer=self._device_signer(),
            beat_interval_s=self._beat_interval_s,
            dead_after_s=self._dead_after_s,
            clock=self._clock,
            probe=MediaProbe(
                clock=self._clock,
                on_video=self._on_remote_video,
                on_screen=self._on_screen_frame,
                audio_sink=self._media.audio_sink,
            ),
        )
        self.call = call
        try:
            await call.prepare()
        except Exception:  # aiortc raises a variety; the machine only needs "failed"
            log.exception("could not prepare the call")
            return False
        return True

    def hold_commitment(self, commitment: str, consultation_id: str | None = None) -> bool:
        """Keep the adviser's commitment before the offer goes out; False if refused (logged)."""
        if self.call is None:
            return False
        try:
            self.call.hold_commitment(commitment, consultation_id)
        except CallError as exc:
            log.warning("commitment refused: %s", exc)
            return False
        return True

    async def apply_answer(self, sdp: str) -> bool:
        """Give the adviser's answer to the call; False if there is none or it is refused."""
        if self.call is None:
            return False
        try:
            await self.call.accept_answer(sdp)
        except CallError as exc:
            log.warning("answer refused: %s", exc)
            return False
        return True

    async def add_candidate(self, candidate: str, mid: str | None, index: int | None) -> None:
        """Give a trickled candidate of the adviser to the call (a bad one is only logged)."""
        if self.call is None:
            return
        try:
            await self.call.add_remote_candidate(candidate, mid, index)
        except CallError as exc:
            log.warning("remote candidate ignored: %s", exc)

    async def close(self, *, bye: bool = False) -> None:
        """Close the current call (``bye``: tell the adviser it is over); its callbacks stop."""
        call, self.call = self.call, None
        if call is not None:
            self.generation += 1  # late callbacks of the old call are now stale
            await call.close(bye=bye)
