"""One consultation's peer connection, from the kiosk's side (aiortc).

A ``Call`` is used once: aiortc has no ICE restart, so when a call fails or ends the kiosk
closes it and builds a new one. The offer is prepared (candidates gathered) while the kiosk
waits in the queue, so it can go out the moment an adviser accepts.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Sequence

from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import candidate_from_sdp

from appliance import sas
from appliance.media import MediaProbe
from protocol import channel
from protocol.errors import ProtocolError
from protocol.messages import IcePolicy, IceServer

log = logging.getLogger(__name__)

ChatListener = Callable[[channel.Chat], None]
StateListener = Callable[[str], None]
# Called once per call: the four words (verified), or why the adviser could not be verified.
VerifiedListener = Callable[[str], None]
UnverifiedListener = Callable[[str], None]


class CallError(Exception):
    """The peer connection refused something (bad SDP or candidate, wrong moment)."""


def rtc_configuration(
    ice_servers: Sequence[IceServer], policy: IcePolicy = "all"
) -> RTCConfiguration:
    """The configuration for our peer connections: only the hub's ICE servers.

    Never aiortc's default (a public STUN server): kiosks may sit in networks without Internet
    access, where it stalls gathering, and media must not leak to third parties. With the
    ``relay`` policy only TURN-relayed candidates are gathered, so the kiosk's addresses never
    reach the other side.
    """
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(urls=list(s.urls), username=s.username, credential=s.credential)
            for s in ice_servers
        ],
        iceTransportPolicy=(
            RTCIceTransportPolicy.RELAY if policy == "relay" else RTCIceTransportPolicy.ALL
        ),
    )


# A browser trickles a handful of candidates; anything beyond this is a peer misbehaving, and
# each one would cost aioice connectivity checks.
MAX_REMOTE_CANDIDATES = 64


def new_chat_id() -> str:
    """A sender-chosen chat message id (matches protocol.channel.Chat.id)."""
    return secrets.token_urlsafe(9)


class Call:
    """The kiosk's peer connection for one consultation: camera, microphone, data channel."""

    def __init__(
        self,
        *,
        video: MediaStreamTrack,
        audio: MediaStreamTrack,
        ice_servers: Sequence[IceServer] = (),
        ice_transport_policy: IcePolicy = "all",
        on_chat: ChatListener | None = None,
        on_state: StateListener | None = None,
        on_channel_open: Callable[[], None] | None = None,
        probe: MediaProbe | None = None,
        on_verified: VerifiedListener | None = None,
        on_unverified: UnverifiedListener | None = None,
    ) -> None:
        self._video = video
        self._audio = audio
        self._on_chat = on_chat
        self._on_state = on_state
        self._on_channel_open = on_channel_open
        self._on_verified = on_verified
        self._on_unverified = on_unverified
        self.probe = probe if probe is not None else MediaProbe()
        self._pc = RTCPeerConnection(rtc_configuration(ice_servers, ice_transport_policy))
        self._channel: RTCDataChannel | None = None
        self._offer_sdp: str | None = None
        self._answered = False
        self._early_candidates: list[tuple[str, str | None, int | None]] = []
        self._remote_candidates = 0
        self._closed = False
        # Short authentication string (appliance.sas): our fingerprint (from the offer), the
        # adviser's commitment, the fingerprint our DTLS checks the adviser against (answer).
        self._fingerprint: str | None = None
        self._commitment: str | None = None
        self._answer_fingerprint: str | None = None
        self.verification: sas.Verified | None = None
        self.verification_error: str | None = None  # the VerificationError code, if refused
        self._pc.on("connectionstatechange", self._connection_state_changed)
        self._pc.on("track", self.probe.watch)

    @property
    def connection_state(self) -> str:
        """aiortc's connection state: new, connecting, connected, failed or closed."""
        state: str = self._pc.connectionState
        return state

    @property
    def offer_sdp(self) -> str:
        """The prepared offer, candidates included."""
        if self._offer_sdp is None:
            raise CallError("the offer is not prepared yet: await prepare() first")
        return self._offer_sdp

    @property
    def channel_open(self) -> bool:
        """Whether chat can be sent."""
        return self._channel is not None and self._channel.readyState == "open"

    async def prepare(self) -> None:
        """Add our tracks and the data channel, create the offer and gather candidates."""
        if self._closed:
            raise CallError("the call is closed")
        if self._offer_sdp is not None:
            return
        self._pc.addTrack(self._video)
        self._pc.addTrack(self._audio)
        self._channel = self._pc.createDataChannel(channel.CHANNEL_LABEL, ordered=True)
        self._channel.on("message", self._channel_message)
        self._channel.on("open", self._channel_opened)
        offer = await self._pc.createOffer()
        # Gathering happens here; aiortc puts every candidate into the local description.
        await self._pc.setLocalDescription(offer)
        self._offer_sdp = self._pc.localDescription.sdp
        try:
            self._fingerprint = sas.sdp_fingerprint(self._offer_sdp)
        except sas.VerificationError as exc:
            raise CallError(f"our own offer has no usable fingerprint ({exc.code})") from None
        if "a=candidate:" not in self._offer_sdp:
            log.warning(
                "no ICE candidates gathered: the kiosk has no usable network address "
                "(check the network, or set ice_host_addresses)"
            )

    def hold_commitment(self, commitment: str) -> None:
        """Keep the adviser's ``sas_commit``; its reveal on the data channel must open it."""
        if self._commitment is not None and self._commitment != commitment:
            raise CallError("the call already holds another commitment")
        self._commitment = commitment

    @property
    def fingerprint(self) -> str:
        """Our DTLS fingerprint (``sha-256 XX:...``), as the offer carries it."""
        if self._fingerprint is None:
            raise CallError("the offer is not prepared yet: await prepare() first")
        return self._fingerprint

    async def accept_answer(self, sdp: str) -> None:
        """Apply the adviser's answer, then any candidates that arrived before it."""
        if self._offer_sdp is None or self._closed:
            raise CallError("an answer needs a prepared, open call")
        if self._answered:
            raise CallError("the call already has an answer")
        try:
            # The one fingerprint aiortc's DTLS will accept; the adviser's reveal must match it.
            self._answer_fingerprint = sas.sdp_fingerprint(sdp)
        except sas.VerificationError as exc:
            raise CallError(
                f"the answer is not valid SDP: no single fingerprint ({exc.code})"
            ) from None
        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
        except (ValueError, AssertionError, KeyError, IndexError) as exc:
            raise CallError(f"the answer is not valid SDP ({type(exc).__name__})") from None
        except Exception as exc:  # aiortc's InvalidStateError / InvalidAccessError
            raise CallError(f"the answer was refused ({type(exc).__name__})") from None
        self._answered = True
        early, self._early_candidates = self._early_candidates, []
        for candidate in early:
            await self.add_remote_candidate(*candidate)

    async def add_remote_candidate(
        self, candidate: str, sdp_mid: str | None, sdp_mline_index: int | None
    ) -> None:
        """Add a trickled candidate; an empty ``candidate`` marks the end of candidates."""
        if self._closed:
            return
        if not self._answered:
            if len(self._early_candidates) >= MAX_REMOTE_CANDIDATES:
                raise CallError("too many ICE candidates before the answer")
            self._early_candidates.append((candidate, sdp_mid, sdp_mline_index))
            return
        self._remote_candidates += 1
        if self._remote_candidates > MAX_REMOTE_CANDIDATES:
            raise CallError("too many ICE candidates from the adviser")
        if not candidate:
            await self._pc.addIceCandidate(None)
            return
        text = candidate.removeprefix("a=").removeprefix("candidate:")
        try:
            parsed = candidate_from_sdp(text)
        except (AssertionError, ValueError, IndexError):
            raise CallError("the ICE candidate is malformed") from None
        if sdp_mid is None and sdp_mline_index is None:
            raise CallError("the ICE candidate names neither sdp_mid nor sdp_mline_index")
        parsed.sdpMid = sdp_mid
        parsed.sdpMLineIndex = sdp_mline_index
        try:
            await self._pc.addIceCandidate(parsed)
        except (ValueError, OSError) as exc:
            raise CallError(f"the ICE candidate was refused ({type(exc).__name__})") from None

    def send_chat(self, text: str) -> channel.Chat:
        """Send a chat line to the adviser; raises ``CallError`` until the channel is open."""
        if self._channel is None or self._channel.readyState != "open":
            raise CallError("chat is not connected yet")
        message = channel.Chat(id=new_chat_id(), text=text, ts=int(time.time() * 1000))
        self._channel.send(channel.encode(message))
        return message

    def send(self, message: channel.ChannelMessage) -> None:
        """Send any data-channel message; raises ``CallError`` until the channel is open."""
        if self._channel is None or self._channel.readyState != "open":
            raise CallError("the data channel is not connected yet")
        self._channel.send(channel.encode(message))

    async def close(self) -> None:
        """Stop media and close the peer connection; idempotent."""
        if self._closed:
            return
        self._closed = True
        await self.probe.stop()
        await self._pc.close()
        self._video.stop()
        self._audio.stop()

    # -- aiortc callbacks -------------------------------------------------

    def _connection_state_changed(self) -> None:
        state = self.connection_state
        log.info("peer connection %s", state)
        if self._on_state is not None:
            self._on_state(state)

    def _channel_opened(self) -> None:
        log.info("data channel open")
        if self._channel is not None and self._fingerprint is not None:
            # Our fingerprint already travelled in the offer; revealing it costs nothing.
            self._channel.send(channel.encode(channel.SasReveal(fingerprint=self._fingerprint)))
        if self._on_channel_open is not None:
            self._on_channel_open()

    def _adviser_revealed(self, reveal: channel.SasReveal) -> None:
        if self.verification is not None or self.verification_error is not None:
            self._refuse(sas.VerificationError("a second reveal"))
            return
        try:
            if self._fingerprint is None or self._answer_fingerprint is None:
                raise sas.VerificationError("a reveal before the answer")
            self.verification = sas.verify_adviser(
                committed=self._commitment,
                kiosk_fingerprint=self._fingerprint,
                answer_fingerprint=self._answer_fingerprint,
                revealed_fingerprint=reveal.fingerprint,
                nonce=reveal.nonce,
            )
        except sas.VerificationError as exc:
            self._refuse(exc)
            return
        log.info("adviser verified: fingerprints and commitment match")
        if self._on_verified is not None:
            self._on_verified(self.verification.code)

    def _refuse(self, exc: sas.VerificationError) -> None:
        first = self.verification_error is None
        self.verification = None
        self.verification_error = exc.code
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
        if isinstance(message, channel.SasReveal):
            self._adviser_revealed(message)
            return
        if not isinstance(message, channel.Chat):
            log.warning("dropped a %s message: only chat comes from the adviser", message.TYPE)
            return
        if self._on_chat is not None:
            self._on_chat(message)
