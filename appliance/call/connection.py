"""One consultation's peer connection, from the kiosk's side (aiortc).

A ``Call`` is used once: aiortc has no ICE restart, so when a call fails or ends the kiosk
closes it and builds a new one. The offer is prepared (candidates gathered, the video
encoder opened) while the kiosk waits in the queue, so it can go out the moment an adviser
accepts. This module holds the offer/answer/candidate half; what the call does with aiortc's
events and the adviser's data-channel frames is ``appliance.call.events``.

Liveness (``appliance.call.liveness``): beats both ways on the data channel; silence, or the
connection going ``failed``/``closed``, is a dead path, reported once through ``on_dead``. A
``bye`` from the adviser is a deliberate end (``on_bye``), never a dead path. The adviser is
checked by ``appliance.call.verification``; a call built with a ``Resumption`` (a later peer
connection of a verified consultation) proves itself with ``resume_proof`` instead of
``sas_reveal``.

``send`` and ``send_chat`` refuse (``CallError``) until the far end is verified: nothing of
the customer's goes to a peer that has not proved itself.
"""

from __future__ import annotations

import contextlib
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

from appliance.call import sas
from appliance.call.device_proof import DeviceSigner
from appliance.call.encoded import PacketSource, add_encoded_video, prepare_source
from appliance.call.events import EXCHANGE_TYPES as EXCHANGE_TYPES
from appliance.call.events import CallError as CallError
from appliance.call.events import CallEvents
from appliance.call.events import ChatListener as ChatListener
from appliance.call.events import DeadListener as DeadListener
from appliance.call.events import ExchangeListener as ExchangeListener
from appliance.call.events import ExchangeMessage as ExchangeMessage
from appliance.call.events import StateListener as StateListener
from appliance.call.events import UnverifiedListener as UnverifiedListener
from appliance.call.events import VerifiedListener as VerifiedListener
from appliance.call.liveness import BEAT_INTERVAL_S as BEAT_INTERVAL_S
from appliance.call.liveness import DEAD_AFTER_S as DEAD_AFTER_S
from appliance.call.liveness import Liveness
from appliance.call.media import MediaProbe
from appliance.call.verification import AdviserVerification
from appliance.call.verification import Resumption as Resumption
from protocol import channel
from protocol.messages import IcePolicy, IceServer

log = logging.getLogger(__name__)


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


class Call(CallEvents):
    """The kiosk's peer connection for one consultation: camera, microphone, data channel."""

    def __init__(
        self,
        *,
        video: PacketSource | MediaStreamTrack,
        audio: MediaStreamTrack,
        ice_servers: Sequence[IceServer] = (),
        ice_transport_policy: IcePolicy = "all",
        on_chat: ChatListener | None = None,
        on_state: StateListener | None = None,
        on_channel_open: Callable[[], None] | None = None,
        probe: MediaProbe | None = None,
        on_verified: VerifiedListener | None = None,
        on_unverified: UnverifiedListener | None = None,
        on_dead: DeadListener | None = None,
        on_bye: Callable[[], None] | None = None,
        on_exchange: ExchangeListener | None = None,
        resumption: Resumption | None = None,
        device_signer: DeviceSigner | None = None,
        beat_interval_s: float = BEAT_INTERVAL_S,
        dead_after_s: float = DEAD_AFTER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._video = video  # a PacketSource: sent as packets (appliance.call.encoded)
        self._video_track = video if isinstance(video, MediaStreamTrack) else None
        self._audio = audio
        self._on_chat = on_chat
        self._on_state = on_state
        self._on_channel_open = on_channel_open
        self._on_verified = on_verified
        self._on_unverified = on_unverified
        self._on_dead = on_dead
        self._on_bye = on_bye
        self._on_exchange = on_exchange
        self._check = AdviserVerification(resumption)  # fingerprints, commitment, outcome
        self._signer = device_signer  # an enrolled kiosk's device key: it signs the call
        self._liveness = Liveness(
            send_beat=self._send_beat,
            on_silence=lambda: self._declare_dead("silence"),
            beat_interval_s=beat_interval_s,
            dead_after_s=dead_after_s,
            clock=clock,
        )
        self._dead = False
        self.bye_received = False
        self.probe = probe if probe is not None else MediaProbe()
        self._pc = RTCPeerConnection(rtc_configuration(ice_servers, ice_transport_policy))
        self._channel: RTCDataChannel | None = None
        self._offer_sdp: str | None = None
        self._answered = False
        self._early_candidates: list[tuple[str, str | None, int | None]] = []
        self._remote_candidates = 0
        self._closed = False
        self._pc.on("connectionstatechange", self._connection_state_changed)
        self._screen_receiver: object | None = None  # the recvonly transceiver's receiver
        self._pc.on("track", self._track)

    @property
    def resumption(self) -> Resumption | None:
        """What this call proves itself with, if it resumes a verified consultation."""
        return self._check.resumption

    @resumption.setter
    def resumption(self, resumption: Resumption | None) -> None:
        self._check.resumption = resumption

    @property
    def verification_error(self) -> str | None:
        """The ``VerificationError`` code, once the adviser could not be verified."""
        return self._check.error

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
        if isinstance(self._video, MediaStreamTrack):
            self._pc.addTrack(self._video)
        elif self._video_track is None:
            self._video_track = add_encoded_video(self._pc, self._video)
            # While the customer waits, not after the accept: the first frame goes
            # straight into an open encoder (docs/media-path.md, call setup).
            await prepare_source(self._video)
        self._pc.addTrack(self._audio)
        # The adviser's screen (docs/exchange.md): a second video, receive only; the console
        # answers sendonly and swaps a track in with replaceTrack when it shares.
        self._screen_receiver = self._pc.addTransceiver("video", direction="recvonly").receiver
        self._channel = self._pc.createDataChannel(channel.CHANNEL_LABEL, ordered=True)
        self._channel.on("message", self._channel_message)
        self._channel.on("open", self._channel_opened)
        offer = await self._pc.createOffer()
        # Gathering happens here; aiortc puts every candidate into the local description.
        await self._pc.setLocalDescription(offer)
        self._offer_sdp = self._pc.localDescription.sdp
        try:
            self._check.own_fingerprint = sas.sdp_fingerprint(self._offer_sdp)
        except sas.VerificationError as exc:
            raise CallError(f"our own offer has no usable fingerprint ({exc.code})") from None
        if "a=candidate:" not in self._offer_sdp:
            log.warning(
                "no ICE candidates gathered: the kiosk has no usable network address "
                "(check the network, or set ice_host_addresses)"
            )

    def hold_commitment(self, commitment: str, consultation_id: str | None = None) -> None:
        """Keep the adviser's ``sas_commit``; its reveal on the data channel must open it.

        ``consultation_id``: the consultation it belongs to (the device proof signs both).
        """
        held = self._check.commitment
        if held is not None and held != commitment:
            raise CallError("the call already holds another commitment")
        self._check.commitment = commitment
        if consultation_id is not None:
            self._check.consultation_id = consultation_id

    @property
    def fingerprint(self) -> str:
        """Our DTLS fingerprint (``sha-256 XX:...``), as the offer carries it."""
        fingerprint = self._check.own_fingerprint
        if fingerprint is None:
            raise CallError("the offer is not prepared yet: await prepare() first")
        return fingerprint

    async def accept_answer(self, sdp: str) -> None:
        """Apply the adviser's answer, then any candidates that arrived before it."""
        if self._offer_sdp is None or self._closed:
            raise CallError("an answer needs a prepared, open call")
        if self._answered:
            raise CallError("the call already has an answer")
        try:
            # The one fingerprint aiortc's DTLS will accept; the adviser's reveal must match it.
            self._check.answer_fingerprint = sas.sdp_fingerprint(sdp)
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
        """Send a chat line to the adviser; ``CallError`` until the channel is open and the
        adviser verified."""
        if self._channel is None or self._channel.readyState != "open":
            raise CallError("chat is not connected yet")
        self._require_verified()
        message = channel.Chat(id=new_chat_id(), text=text, ts=int(time.time() * 1000))
        self._channel.send(channel.encode(message))
        return message

    def send(self, message: channel.ChannelMessage) -> None:
        """Send any data-channel message; ``CallError`` until the channel is open and the
        adviser verified (``sas_reveal``, ``resume_proof``, ``beat`` and ``bye`` go out by
        themselves)."""
        self._require_verified()
        self._send_frame(message)

    def _require_verified(self) -> None:
        if self.verification is None:
            raise CallError("the adviser is not verified (yet)")

    @property
    def resumed(self) -> bool:
        """Whether this call is a later peer connection of an already verified consultation."""
        return self.resumption is not None

    @property
    def dead(self) -> bool:
        """Whether this call's path was declared dead (``on_dead`` was called)."""
        return self._dead

    async def close(self, *, bye: bool = False) -> None:
        """Stop media and close the peer connection; idempotent.

        ``bye``: a deliberate end, so tell the adviser first (it must not try to reconnect).
        """
        if self._closed:
            return
        if bye and self.channel_open and self._channel is not None:
            with contextlib.suppress(Exception):  # a dying transport may refuse; we close anyway
                self._channel.send(channel.encode(channel.Bye()))
        self._closed = True
        await self._liveness.stop()
        await self.probe.stop()
        await self._pc.close()
        if self._video_track is not None:
            self._video_track.stop()
        if not isinstance(self._video, MediaStreamTrack):
            await self._video.close()
        self._audio.stop()
