"""What a call does with aiortc's events and the adviser's data-channel frames.

The half of ``appliance.call.connection.Call`` that reacts: connection state, remote tracks,
the channel opening (our reveal or resume proof, the device proof), and every frame the adviser
sends, dispatched to the verification, the liveness watch or the call's listeners. Split from
the offer/answer half so that each stays small; ``Call`` is the only class using it.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

from aiortc import RTCDataChannel, RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

from appliance.call import sas
from appliance.call.device_proof import DeviceSigner
from appliance.call.liveness import Liveness
from appliance.call.media import MediaProbe
from appliance.call.verification import AdviserVerification
from protocol import channel
from protocol.errors import ProtocolError

log = logging.getLogger("appliance.call.connection")  # one logger name for the whole call

ChatListener = Callable[[channel.Chat], None]
StateListener = Callable[[str], None]
# Called once per call: the four words (verified), or why the adviser could not be verified.
VerifiedListener = Callable[[str], None]
UnverifiedListener = Callable[[str], None]
# Called once when the path is dead: the cause (``silence``, ``connection_failed``,
# ``connection_closed``) and how long nothing had arrived, in ms.
DeadListener = Callable[[str, float], None]
ExchangeListener = Callable[["ExchangeMessage"], None]

# What the adviser may send that belongs to appliance.exchange.service, once verified.
ExchangeMessage = (
    channel.FileOffer
    | channel.FileProgress
    | channel.FileCancel
    | channel.FileDone
    | channel.FileError
    | channel.ScanRequest
    | channel.PhotoRequest
    | channel.RequestCancel
    | channel.ScreenShare
    | channel.SignatureRequest
    | channel.SignatureCancel
)
EXCHANGE_TYPES: tuple[type[ExchangeMessage], ...] = (
    channel.FileOffer,
    channel.FileProgress,
    channel.FileCancel,
    channel.FileDone,
    channel.FileError,
    channel.ScanRequest,
    channel.PhotoRequest,
    channel.RequestCancel,
    channel.ScreenShare,
    channel.SignatureRequest,
    channel.SignatureCancel,
)


class CallError(Exception):
    """The peer connection refused something (bad SDP or candidate, wrong moment)."""


class CallEvents:
    """aiortc callbacks and the data channel's dispatch, mixed into ``Call``.

    ``Call.__init__`` sets every attribute declared here.
    """

    _pc: RTCPeerConnection
    _channel: RTCDataChannel | None
    _check: AdviserVerification
    _liveness: Liveness
    _signer: DeviceSigner | None
    _screen_receiver: object | None
    _closed: bool
    _dead: bool
    bye_received: bool
    probe: MediaProbe
    _on_chat: ChatListener | None
    _on_state: StateListener | None
    _on_channel_open: Callable[[], None] | None
    _on_verified: VerifiedListener | None
    _on_unverified: UnverifiedListener | None
    _on_dead: DeadListener | None
    _on_bye: Callable[[], None] | None
    _on_exchange: ExchangeListener | None

    @property
    def connection_state(self) -> str:
        """aiortc's connection state: new, connecting, connected, failed or closed."""
        state: str = self._pc.connectionState
        return state

    @property
    def verification(self) -> sas.Verified | None:
        """The adviser's verification, once its reveal (or proof) checked out."""
        return self._check.verified

    def _send_frame(self, message: channel.ChannelMessage) -> None:
        if self._channel is None or self._channel.readyState != "open":
            raise CallError("the data channel is not connected yet")
        self._channel.send(channel.encode(message))

    def _send_beat(self) -> None:
        self._send_frame(channel.Beat(ts=int(time.time() * 1000)))

    def _track(self, track: MediaStreamTrack) -> None:
        screen = self._screen_receiver
        if screen is not None and getattr(screen, "track", None) is track:
            self.probe.watch_screen(track)
        else:
            self.probe.watch(track)

    def _connection_state_changed(self) -> None:
        state = self.connection_state
        log.info("peer connection %s", state)
        if self._on_state is not None:
            self._on_state(state)
        if state == "connected":
            # From here the far end has dead_after_s to open the channel and say something.
            self._liveness.start()
        if state in ("failed", "closed") and not self._closed:
            self._declare_dead(f"connection_{state}")

    def _declare_dead(self, cause: str) -> None:
        """Report the dead path once; a ``bye`` or our own close is never a dead path."""
        if self._dead or self.bye_received or self._closed:
            return
        self._dead = True
        self._liveness.halt()
        silence_ms = self._liveness.silence_ms()
        log.warning("call path dead (%s, %.0f ms silent)", cause, silence_ms)
        if self._on_dead is not None:
            self._on_dead(cause, silence_ms)

    def _channel_opened(self) -> None:
        log.info("data channel open")
        self._liveness.start()
        with contextlib.suppress(Exception):  # the first beat at once: the watch ran before
            self._send_beat()
        if self._channel is not None:
            try:
                opening = self._check.opening()
            except sas.VerificationError as exc:
                self._refuse(exc)
            else:
                if opening is not None:
                    self._channel.send(channel.encode(opening))
                    self._send_device_proof(opening)
        if self._on_channel_open is not None:
            self._on_channel_open()

    def _send_device_proof(self, opening: channel.SasReveal | channel.ResumeProof) -> None:
        """Right after our reveal or resume proof: which device this is, signed (if enrolled)."""
        if self._signer is None or self._channel is None:
            return
        try:
            proof = self._check.device_proof(self._signer, opening)
        except ValueError as exc:  # challenge.BadChallenge: our own values, so a bug to see
            log.warning("no device proof for this call: %s", exc)
            return
        if proof is not None:
            self._channel.send(channel.encode(proof))

    def _adviser_proved(self, proof: channel.ResumeProof) -> None:
        try:
            verified = self._check.check_proof(proof)
        except sas.VerificationError as exc:
            self._refuse(exc)
            return
        log.info("adviser verified again: resume proof checks out")
        if self._on_verified is not None:
            self._on_verified(verified.code)

    def _adviser_revealed(self, reveal: channel.SasReveal) -> None:
        try:
            verified = self._check.check_reveal(reveal)
        except sas.VerificationError as exc:
            self._refuse(exc)
            return
        log.info("adviser verified: fingerprints and commitment match")
        if self._on_verified is not None:
            self._on_verified(verified.code)

    def _refuse(self, exc: sas.VerificationError) -> None:
        first = self._check.refuse(exc)
        log.warning("the adviser could not be verified (%s)", exc.code)
        if first and self._on_unverified is not None:
            self._on_unverified(exc.code)

    def _channel_message(self, data: str | bytes) -> None:
        try:
            message = channel.decode(data)
        except ProtocolError as exc:
            # The content may be personal data: log only what was wrong with it.
            log.warning("dropped a data-channel frame: %s", exc.code)
            return
        # Any valid frame is life, whatever it says.
        self._liveness.heard()
        match message:
            case channel.Beat():
                return
            case channel.Bye():
                log.info("the adviser ended the call (bye)")
                if not self.bye_received and not self._dead:
                    self.bye_received = True
                    if self._on_bye is not None:
                        self._on_bye()
                return
            case channel.SasReveal():
                self._adviser_revealed(message)
                return
            case channel.ResumeProof():
                self._adviser_proved(message)
                return
            case channel.Chat():
                if self._on_chat is not None:
                    self._on_chat(message)
                return
            case _ if isinstance(message, EXCHANGE_TYPES) and self.verification is not None:
                if self._on_exchange is not None:
                    self._on_exchange(message)
                return
        log.warning("dropped a %s message from the adviser", message.TYPE)
