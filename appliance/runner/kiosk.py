"""The kiosk runner: wires configuration, drivers, hub client, calls and the state machine.

All decisions live in ``appliance.session.consultation``; this shell turns hub messages and call
callbacks into its events and carries out the actions it returns, one event at a time.

Across reconnections (docs/reconnection.md) the shell keeps what belongs to the consultation,
not to one peer connection: the session and its vault, the ``CallStats``, the continuity
secret, the latest resume token (memory only, never logged), the chat lines of the session
(personal data: memory only, never logged, gone with the wipe) and the exchange.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import aiohttp
import av

from appliance.call import sas
from appliance.call.connection import (
    BEAT_INTERVAL_S,
    DEAD_AFTER_S,
    Call,
    CallError,
    ExchangeMessage,
    Resumption,
)
from appliance.call.media import CameraTrack, MediaProbe, MicrophoneTrack
from appliance.config.kiosk import KioskConfig
from appliance.custody.session import SessionCustody
from appliance.custody.vault import SessionVault
from appliance.custody.wipe import WipeTrigger
from appliance.exchange.service import Exchange, limits_from, scan_settings_from
from appliance.exchange.state import ExchangeState
from appliance.exchange.transfer import RelayClient
from appliance.runner.hub_client import Backoff, HubClient, HubDown, HubEvent, HubMessage, HubUp
from appliance.session import consultation as c
from drivers.camera import Camera
from drivers.errors import DriverError
from drivers.microphone import Microphone
from drivers.scanner import DocumentScanner
from drivers.speaker import Speaker
from protocol import channel, messages
from protocol.messages import IcePolicy, IceServer, ServiceState, Status

log = logging.getLogger(__name__)

# What the simulated customer says; fixed strings, never derived from the adviser's words.
GREETING = "Hello, I would like some advice please."
AUTO_REPLY = "Thank you, that helps."
CONNECT_TIMEOUT_S = 30.0
# After the call connects, the adviser's sas_reveal (or resume_proof) must arrive and check
# out within this: from connected, not from the data channel's opening, so that a far end
# that completes DTLS but never opens the channel cannot keep a call running unverified.
VERIFY_TIMEOUT_S = 10.0
# Pauses before a failed new call of a reconnecting consultation is tried again: the first,
# doubled on every further failure, up to the last.
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 5.0


@dataclass
class CallStats:
    """Numbers about one consultation; no personal data (safe to log and to store)."""

    consultation_id: str
    accepted_at_ms: int | None = None  # wall clock (ms since the epoch), for benchmarks
    first_remote_video_at_ms: int | None = None  # wall clock of the first decoded frame
    accepted_to_connected_ms: float | None = None
    first_remote_video_ms: float | None = None  # from accepted to the first decoded frame
    video_frames_received: int = 0
    audio_frames_received: int = 0
    non_black_seen: bool = False
    remote_video_luma: float | None = None  # mean luma of the latest sampled frame, 0..255
    remote_audio_rms: float = 0.0  # peak over the call, 0..1
    chat_in: int = 0
    chat_out: int = 0
    # Short authentication string (docs/verification.md): not personal data.
    verified: bool = False
    verification_code: str | None = None
    verification_failed: str | None = None  # why the adviser was refused (sas error code)
    end_reason: str | None = None
    # Reconnection (docs/reconnection.md): how often the call was re-established, why each
    # time (``silence``, ``connection_failed``, ``hub_lost``, ``peer_away``...), how long the
    # path had been silent when the kiosk noticed a dead path (ms), and how long each
    # reconnection took from noticing to a connected new call (ms).
    reconnects: int = 0
    reconnect_causes: list[str] = field(default_factory=list)
    detection_ms: list[float] = field(default_factory=list)
    reconnect_ms: list[float] = field(default_factory=list)

    def to_json(self) -> str:
        """One line of the stats file."""
        return json.dumps(asdict(self), separators=(",", ":"))


# How long a dead path of a not yet verified call waits for the hub's `ended` before counting
# as failed (a verified call reconnects instead; a deliberate end comes as `bye`).
PEER_CLOSE_GRACE_S = 1.0
# The grace period until the hub's welcome says otherwise (docs/reconnection.md).
DEFAULT_GRACE_S = 60.0


@dataclass(frozen=True)
class _FromCall:
    """An event raised by one call's callbacks; dropped if that call is no longer current."""

    generation: int
    event: c.Event


@dataclass(frozen=True)
class _ConnectTimeout:
    consultation_id: str
    generation: int | None = None  # a resumed call's: only that call may time out


@dataclass(frozen=True)
class _GraceTimeout:
    consultation_id: str


@dataclass(frozen=True)
class _HubFinished:
    error: BaseException | None


@dataclass(frozen=True)
class _EndSession:
    trigger: WipeTrigger


@dataclass(frozen=True)
class _CustomerQueue:
    wants: bool


class KioskObserver(Protocol):
    """Who watches the kiosk (the UI bridge); called on the event loop, must be quick."""

    def changed(self) -> None:
        """Phase, queue position or stats changed."""

    def video_frame(self, frame: av.VideoFrame) -> None:
        """A decoded frame of the adviser's video."""

    def chat_received(self, text: str) -> None:
        """The adviser wrote ``text`` (personal data: show it, never log it)."""

    def channel_opened(self) -> None:
        """The data channel is open and the adviser verified (the UI sends the intake now).

        Called once per consultation: not again after a reconnection.
        """


class KioskExchangeObserver(Protocol):
    """Optional observer methods (looked up with ``getattr``: older observers lack them)."""

    def exchange_changed(self, state: ExchangeState | None) -> None:
        """The exchange's new snapshot; None when the session's exchange closed."""

    def screen_frame(self, frame: av.VideoFrame) -> None:
        """A decoded frame of the adviser's shared screen (the second video)."""


_Input = (
    _CustomerQueue
    | c.Event
    | _FromCall
    | _ConnectTimeout
    | _GraceTimeout
    | _HubFinished
    | _EndSession
    | HubEvent
)

# Why a consultation ended, as the wipe report calls it (kiosk-side causes are marked first).
_TRIGGERS: dict[str, WipeTrigger] = {"failed": "failed", "customer_left": "hangup"}
REPAIR_INTERVAL_S = 2.0


class _ExchangeForward:
    """The exchange's observer: hands its snapshots to the kiosk's observers."""

    def __init__(self, kiosk: Kiosk) -> None:
        self._kiosk = kiosk

    def exchange_changed(self, state: ExchangeState) -> None:
        self._kiosk._exchange_changed(state)  # noqa: SLF001 - the kiosk's own forwarder


class Kiosk:
    """One kiosk process: queues, takes calls, queues again; reconnects when the hub goes."""

    def __init__(
        self,
        config: KioskConfig,
        camera: Camera,
        microphone: Microphone,
        *,
        simulated_customer: bool | None = None,
        on_status: Callable[[str], None] | None = None,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
        custody: SessionCustody | None = None,
        queue_on_request: bool = False,
        speaker: Speaker | None = None,
        scanner: DocumentScanner | None = None,
        beat_interval_s: float = BEAT_INTERVAL_S,
        dead_after_s: float = DEAD_AFTER_S,
    ) -> None:
        self.config = config
        self._camera = camera
        self._microphone = microphone
        self._speaker = speaker
        self._speaker_ok = False
        self._told_hub: ServiceState = "ready"  # the service state the hub last heard
        self._background: set[asyncio.Task[bool]] = set()
        # The customer's privacy switches for the current consultation (reset by the wipe).
        self.muted = False
        self.camera_off = False
        self.latest_local_frame: av.VideoFrame | None = None  # the self view (UI thread reads)
        self._simulated_customer = (
            config.simulate if simulated_customer is None else (simulated_customer)
        )
        self._on_status = on_status
        self._connect_timeout_s = connect_timeout_s
        self._clock = clock
        self.consultation = c.Consultation()
        self._hub = HubClient(
            config.kiosk_ws_url,
            config.token,
            backoff=Backoff(config.reconnect_min_s, config.reconnect_max_s),
        )
        self._inputs: asyncio.Queue[_Input] = asyncio.Queue()
        self._ice_servers: tuple[IceServer, ...] = ()
        self._ice_policy: IcePolicy = "all"
        self._call: Call | None = None
        self._generation = 0
        self._current: CallStats | None = None
        self._accepted_at: float | None = None
        self._finished: list[CallStats] = []
        self._changed = asyncio.Event()
        self._timeout_task: asyncio.Task[None] | None = None
        self._running = False
        # Session content and its wipes; None only in tests that store nothing.
        self._custody = custody
        self._custody_started = False  # startup() ran: out_of_service now means a failure
        self._repair_task: asyncio.Task[None] | None = None
        # With a touch UI the customer decides when to queue (see appliance.ui.bridge).
        self._queue_on_request = queue_on_request
        self._customer_waiting = False
        self._observers: list[KioskObserver] = []
        # Reconnection state of the current consultation (docs/reconnection.md).
        self._beat_interval_s = beat_interval_s
        self._dead_after_s = dead_after_s
        self._grace_s = DEFAULT_GRACE_S
        self._grace_task: asyncio.Task[None] | None = None
        self._resume_token: str | None = None  # secret: memory only, never logged
        self._continuity: Resumption | None = None  # secret inside: memory only
        self._history: list[channel.HistoryChat] = []  # personal data: memory only
        self._reconnect_started_at: float | None = None
        self._pending_detection_ms: float | None = None
        self._scanner = scanner
        self._http: aiohttp.ClientSession | None = None  # the relay's, made on first use
        self._max_file_bytes: int | None = None  # the tenant's, from welcome
        self.exchange: Exchange | None = None  # of this session, once the adviser is verified
        self._exchange_tasks: set[asyncio.Task[None]] = set()
        self._retry_handle: asyncio.TimerHandle | None = None  # a pending RetryDue

    # -- public API ---------------------------------------------------------

    @property
    def phase(self) -> c.Phase:
        """Where the kiosk stands (``disconnected``, ``queueing``, ``in_call``...)."""
        return self.consultation.phase

    @property
    def reconnecting(self) -> bool:
        """Whether the consultation is being re-established (the screen says so)."""
        return self.consultation.phase is c.Phase.RECONNECTING

    @property
    def stats(self) -> list[CallStats]:
        """Stats of every call of this process, the current one (live) last."""
        self._refresh_current()
        return [*self._finished, *([self._current] if self._current else [])]

    @property
    def call(self) -> Call | None:
        """The current call object (prepared or active), for tests and diagnostics."""
        return self._call

    async def wait_state(self, phase: str) -> None:
        """Wait until the kiosk is in ``phase`` (wrap in ``asyncio.timeout``)."""
        await self.wait_for(lambda: self.phase == phase)

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds; it is re-checked on every change of the kiosk."""
        while not predicate():
            changed = self._changed
            await changed.wait()

    def set_muted(self, muted: bool) -> None:
        """Mute the microphone: the adviser gets silence until unmuted (the stream stays up)."""
        self.muted = muted

    def set_camera_off(self, off: bool) -> None:
        """Turn the camera off: the adviser gets a black picture until it is back on."""
        self.camera_off = off

    def _local_frame(self, frame: av.VideoFrame) -> None:
        self.latest_local_frame = frame

    def send_chat(self, text: str) -> channel.Chat:
        """Send a chat line in the current call; ``CallError`` when there is none.

        Also ``CallError`` while the call's far end is not verified: on a resumed call the
        channel opens before the adviser's resume proof is checked, and until then whoever
        is at the far end must get nothing of the customer's.
        """
        if self._call is None or self.phase not in (c.Phase.IN_CALL, c.Phase.CONNECTING):
            raise CallError("no consultation in progress")
        self._require_verified(self._call)
        message = self._call.send_chat(text)
        self._remember_chat(message, "kiosk")
        if self._current is not None:
            self._current.chat_out += 1
        self._notify()
        return message

    def send(self, message: channel.ChannelMessage) -> None:
        """Send a data-channel message in the current call (the exchange uses this).

        ``CallError`` while no call is open (reconnecting, say), or its far end is not verified
        (yet): the caller retries or waits (the exchange offers its files again after a
        resumed call's proof checked out).
        """
        if self._call is None or not self._call.channel_open:
            raise CallError("no open call")
        self._require_verified(self._call)
        self._call.send(message)

    @staticmethod
    def _require_verified(call: Call) -> None:
        if call.verification is None:
            raise CallError("the adviser is not verified (yet)")

    @property
    def service_problem(self) -> str | None:
        """Why the kiosk cannot serve customers (a wipe failed), once storage was set up."""
        if self._custody is None or not self._custody_started:
            return None
        return self._custody.out_of_service

    def send_intake(self, values: tuple[tuple[str, str], ...]) -> None:
        """Send the customer's intake form to the adviser, end to end over the data channel.

        Never through the hub and never logged; ``CallError`` when no channel is open.
        """
        if self._call is None:
            raise CallError("no consultation in progress")
        self._require_verified(self._call)
        fields = tuple(channel.IntakeField(key=k, value=value) for k, value in values)
        self._call.send(channel.Intake(fields=fields))

    @property
    def vault(self) -> SessionVault:
        """The current session's vault (the only place session content may be written)."""
        if self._custody is None:
            raise RuntimeError("this kiosk was built without session custody")
        return self._custody.vault

    def end_session(self, trigger: WipeTrigger) -> None:
        """The UI ends the customer's session (``customer_abort``, ``inactivity``...).

        In a call this hangs up; in every case the session content is wiped before the
        kiosk queues for the next customer.
        """
        if self._custody is not None:
            self._custody.mark_ending(trigger)
        self._inputs.put_nowait(_EndSession(trigger))

    def hang_up(self) -> None:
        """End the current call as the customer."""
        self._inputs.put_nowait(c.HangUp())

    def request_consultation(self) -> None:
        """The customer wants an adviser: queue (only needed with ``queue_on_request``)."""
        self._inputs.put_nowait(_CustomerQueue(wants=True))

    def leave_queue(self) -> None:
        """The customer no longer waits: leave the hub's queue."""
        self._inputs.put_nowait(_CustomerQueue(wants=False))

    def add_observer(self, observer: KioskObserver) -> None:
        """Tell ``observer`` about changes, remote video frames and chat (on the loop)."""
        self._observers.append(observer)

    def request_stop(self) -> None:
        """Stop politely: end a call with ``end``, leave the queue, close everything."""
        self._mark_ending("shutdown")
        self._inputs.put_nowait(c.Shutdown())

    async def run(self) -> None:
        """Run until ``request_stop()``; raises ``HubRejected`` if the hub refuses our token."""
        if self._running:
            raise RuntimeError("Kiosk.run() is already running")
        self._running = True
        if self._custody is not None:
            await self._custody.startup()  # leftovers of a crash go before we queue
            self._custody_started = True
            self._report_custody()
            self._notify()
        await self._camera.start()
        await self._microphone.start()
        await self._start_speaker()
        hub_task = asyncio.create_task(self._hub.run(self._inputs.put_nowait), name="hub")
        hub_task.add_done_callback(
            lambda t: self._inputs.put_nowait(
                _HubFinished(None if t.cancelled() else t.exception())
            )
        )
        self._status(f"kiosk starting: connecting to {self.config.kiosk_ws_url}")
        error: BaseException | None = None
        try:
            while self.phase is not c.Phase.STOPPED:
                item = await self._inputs.get()
                if isinstance(item, _HubFinished):
                    error = item.error
                    await self._dispatch(c.Shutdown())
                    break
                if isinstance(item, _CustomerQueue):
                    await self._customer_queue(item.wants)
                    continue
                if (
                    isinstance(item, _EndSession)
                    and self.consultation.state.consultation_id is None
                ):
                    await self._wipe_session(item.trigger)  # no call to end: just wipe
                    continue
                event = self._translate(item)
                if event is not None:
                    await self._dispatch(event)
        finally:
            if self.phase is not c.Phase.STOPPED:  # cancelled: still close what we opened
                with contextlib.suppress(Exception):
                    await self._dispatch(c.Shutdown())
            await self._hub.close()
            await self._forget_consultation()
            if self._http is not None:
                await self._http.close()
            await self._close_custody()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await hub_task
            self._cancel_timeout()
            await self._camera.stop()
            await self._microphone.stop()
            if self._speaker is not None:
                await self._speaker.stop()
            self._running = False
            self._status("kiosk stopped")
        if error is not None:
            raise error

    async def _start_speaker(self) -> None:
        """Open the speaker; without one the call still runs (the adviser can type)."""
        if self._speaker is None:
            return
        try:
            await self._speaker.start()
        except DriverError as exc:
            log.warning("speaker unavailable, calls run without sound: %s", exc)
            self._status(f"speaker unavailable: {exc}")
            return
        self._speaker_ok = True

    # -- translation of inputs ------------------------------------------------

    def _translate(self, item: _Input) -> c.Event | None:
        match item:
            case HubUp(welcome=welcome):
                self._told_hub = "ready"  # a new connection starts in service at the hub
                if self._custody_started:
                    self._tell_hub_service_state()
                self._ice_servers = welcome.ice_servers
                self._ice_policy = welcome.ice_transport_policy
                self._grace_s = float(welcome.grace_s)
                self._max_file_bytes = welcome.max_file_bytes
                return c.Welcomed()
            case HubDown():
                self._status("hub connection lost: reconnecting")
                state = self.consultation.state
                if not (state.verified and state.resumable):
                    self._mark_ending("hub_lost")  # this consultation will not come back
                return c.HubLost()
            case HubMessage(message=message):
                return self._translate_message(message)
            case _FromCall(generation=generation, event=event):
                return event if generation == self._generation else None
            case _ConnectTimeout(consultation_id=cid, generation=generation) if (
                generation is not None
            ):
                state = self.consultation.state
                if (
                    state.consultation_id == cid
                    and generation == self._generation
                    and state.phase is c.Phase.RECONNECTING
                ):
                    log.warning(
                        "the new call did not connect within %.0f s", self._connect_timeout_s
                    )
                    return c.CallFailed()  # the machine tries again while grace lasts
                return None
            case _GraceTimeout(consultation_id=cid):
                return c.GraceExpired(cid)
            case _ConnectTimeout(consultation_id=cid):
                state = self.consultation.state
                if state.consultation_id == cid and state.phase in (
                    c.Phase.OFFERING,
                    c.Phase.CONNECTING,
                ):
                    log.warning("call did not connect within %.0f s", self._connect_timeout_s)
                    return c.CallFailed()
                return None
            case _HubFinished():
                return None
            case _EndSession():
                return c.HangUp()  # outside a call, run() wipes directly
            case _CustomerQueue():
                return None  # run() handles it before translation
            case _:
                return item

    def _translate_message(self, message: messages.AnyMessage) -> c.Event | None:
        match message:
            case messages.QueuePosition():
                return c.QueuePositionChanged(
                    message.consultation_id, message.position, message.waiting
                )
            case messages.Accepted():
                return c.Accepted(message.consultation_id, message.peer)
            case messages.SasCommit():
                return c.CommitmentReceived(message.consultation_id, message.commitment)
            case messages.Answer():
                return c.AnswerReceived(message.consultation_id, message.sdp)
            case messages.IceCandidate():
                return c.CandidateReceived(
                    message.consultation_id,
                    message.candidate,
                    message.sdp_mid,
                    message.sdp_mline_index,
                )
            case messages.Ended():
                return c.EndedByPeer(message.consultation_id, message.reason)
            case messages.ResumeGrant():
                if message.consultation_id != self.consultation.state.consultation_id:
                    return None
                self._resume_token = message.token  # memory only, never logged
                return c.ResumeGranted(message.consultation_id)
            case messages.Resumed():
                return c.ResumeAccepted(message.consultation_id, message.peer_present)
            case messages.PeerAway():
                return c.PeerAway(message.consultation_id)
            case messages.PeerBack():
                return c.PeerBack(message.consultation_id)
            case messages.Error(code="not_found") if (
                self.phase is c.Phase.RECONNECTING and not self.consultation.state.present
            ):
                # The hub's one answer to a resume it refuses (for every reason).
                log.warning("hub refused our resume: %s", message.code)
                return c.ResumeRefused()
            case messages.Error():
                log.warning("hub refused a request: %s", message.code)
                return None
            case _:
                return None

    # -- the loop -------------------------------------------------------------

    async def _dispatch(self, event: c.Event) -> None:
        # Outcomes of actions (prepared, closed...) are handled before the next input, so
        # the machine's view of the call never lags behind the shell's.
        pending: deque[c.Event] = deque([event])
        while pending:
            before = self.phase
            actions = self.consultation.handle(pending.popleft())
            for action in actions:
                outcome = await self._carry_out(action)
                if outcome is not None:
                    pending.append(outcome)
            if self.phase is not before:
                log.info("consultation phase %s -> %s", before, self.phase)
                self._phase_status(self.phase)
            self._notify()

    async def _carry_out(self, action: c.Action) -> c.Event | None:
        match action:
            case c.SendQueueRequest() if self._queue_on_request and not self._customer_waiting:
                pass  # nobody at the screen asked for an adviser yet
            case c.SendQueueRequest() if not self._may_queue():
                pass  # out of service: not in the queue until the storage is clean
            case c.SendQueueRequest():
                await self._hub.send(messages.QueueRequest())
            case c.SendQueueLeave() if self._queue_on_request and not self._customer_waiting:
                pass  # never queued
            case c.SendQueueLeave():
                await self._hub.send(messages.QueueLeave())
            case c.PrepareCall(resume=resume):
                return await self._prepare_call(resume=resume)
            case c.SendOffer(consultation_id=cid, commitment=commitment):
                if self._call is None:
                    return c.CallFailed()
                if commitment is not None:
                    try:
                        self._call.hold_commitment(commitment)
                    except CallError as exc:
                        log.warning("commitment refused: %s", exc)
                        return c.CallFailed()
                else:
                    self._start_connect_timer(cid, self._generation)
                await self._hub.send(messages.Offer(consultation_id=cid, sdp=self._call.offer_sdp))
            case c.ApplyAnswer(sdp=sdp):
                if self._call is None:
                    return c.CallFailed()
                try:
                    await self._call.accept_answer(sdp)
                except CallError as exc:
                    log.warning("answer refused: %s", exc)
                    return c.CallFailed()
            case c.AddCandidate(candidate=cand, sdp_mid=mid, sdp_mline_index=index):
                if self._call is not None:
                    try:
                        await self._call.add_remote_candidate(cand, mid, index)
                    except CallError as exc:
                        log.warning("remote candidate ignored: %s", exc)
            case c.SendEnd(consultation_id=cid, reason=reason):
                await self._hub.send(messages.End(consultation_id=cid, reason=reason))
            case c.CloseCall(bye=bye):
                await self._close_call(bye=bye)
                return c.CallClosed()
            case c.SendResume(consultation_id=cid):
                token, self._resume_token = self._resume_token, None  # single-use
                if token is None:
                    return c.ResumeRefused()
                await self._hub.send(messages.Resume(consultation_id=cid, token=token))
            case c.ReconnectStarted(cause=cause):
                self._reconnect_started(cause)
            case c.Reconnected():
                self._reconnected()
            case c.RetryLater(consultation_id=cid, attempt=attempt):
                self._retry_later(cid, attempt)
            case c.CallStarted() if self._queue_on_request and not self._customer_waiting:
                self._inputs.put_nowait(c.HangUp())  # accepted just after the customer left
            case c.CallStarted(consultation_id=cid):
                self._open_session(cid)
                self._current = CallStats(
                    consultation_id=cid, accepted_at_ms=int(time.time() * 1000)
                )
                self._accepted_at = self._clock()
                self._start_connect_timer(cid)
            case c.CallFinished(reason=reason):
                self._customer_waiting = False  # the next customer asks anew
                self._finish_stats(reason)
                await self._forget_consultation()
                await self._wipe_session(_TRIGGERS.get(reason, "ended"))
        return None

    async def _prepare_call(self, *, resume: bool = False) -> c.Event:
        await self._close_call()
        self._generation += 1
        generation = self._generation
        if resume and self._continuity is None:
            log.warning("no continuity secret to resume with")
            return c.CannotResume()
        call = Call(
            video=CameraTrack(
                self._camera, blank=lambda: self.camera_off, on_frame=self._local_frame
            ),
            audio=MicrophoneTrack(self._microphone, silence=lambda: self.muted),
            ice_servers=self._ice_servers,
            ice_transport_policy=self._ice_policy,
            on_chat=lambda message: self._chat_received(generation, message),
            on_state=lambda state: self._call_state(generation, state),
            on_channel_open=lambda: self._channel_opened(generation),
            on_verified=lambda code: self._verified(generation, code),
            on_unverified=lambda why: self._unverified(generation, why),
            on_dead=lambda cause, ms: self._dead_path(generation, cause, ms),
            on_bye=lambda: self._bye(generation),
            on_exchange=lambda message: self._exchange_message(generation, message),
            resumption=self._continuity if resume else None,
            beat_interval_s=self._beat_interval_s,
            dead_after_s=self._dead_after_s,
            clock=self._clock,
            probe=MediaProbe(
                clock=self._clock,
                on_video=self._remote_video,
                on_screen=self._screen_frame,
                audio_sink=self._speaker.play if self._speaker_ok and self._speaker else None,
            ),
        )
        self._call = call
        try:
            await call.prepare()
        except Exception:  # aiortc raises a variety; the machine only needs "failed"
            log.exception("could not prepare the call")
            return c.CallFailed()
        return c.CallPrepared()

    async def _close_call(self, *, bye: bool = False) -> None:
        call, self._call = self._call, None
        if call is not None:
            self._refresh_current(call)
            self._generation += 1  # late callbacks of the old call are now stale
            await call.close(bye=bye)

    def _start_connect_timer(self, consultation_id: str, generation: int | None = None) -> None:
        self._cancel_timeout()
        self._timeout_task = asyncio.create_task(self._connect_timer(consultation_id, generation))

    async def _connect_timer(self, consultation_id: str, generation: int | None) -> None:
        await asyncio.sleep(self._connect_timeout_s)
        self._inputs.put_nowait(_ConnectTimeout(consultation_id, generation))

    # -- reconnection (docs/reconnection.md) -------------------------------------

    def _reconnect_started(self, cause: str) -> None:
        self._cancel_timeout()
        self._reconnect_started_at = self._clock()
        stats = self._current
        if stats is not None:
            stats.reconnects += 1
            stats.reconnect_causes.append(cause)
            if self._pending_detection_ms is not None:
                stats.detection_ms.append(self._pending_detection_ms)
        self._pending_detection_ms = None
        if self.exchange is not None:
            self.exchange.connection_lost()
        cid = self.consultation.state.consultation_id
        if (self._grace_task is None or self._grace_task.done()) and cid is not None:
            self._grace_task = asyncio.create_task(self._grace_timer(cid, self._grace_s))
        self._hub.fast_reconnect = True  # a short outage must heal within seconds
        self._status(f"connection lost ({cause}): reconnecting the call")

    def _reconnected(self) -> None:
        self._cancel_timeout()
        self._cancel_grace()
        if self._current is not None and self._reconnect_started_at is not None:
            elapsed = self._clock() - self._reconnect_started_at
            self._current.reconnect_ms.append(round(elapsed * 1000, 1))
        self._reconnect_started_at = None
        self._hub.fast_reconnect = False
        self._status("in call again: reconnected")

    def _retry_later(self, consultation_id: str, attempt: int) -> None:
        """Try a failed new call again after a pause (never at once: see RetryLater)."""
        delay = min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (attempt - 1))
        log.info("new call failed (attempt %d): trying again in %.1f s", attempt, delay)
        if self._retry_handle is not None:
            self._retry_handle.cancel()
        self._retry_handle = asyncio.get_running_loop().call_later(
            delay, self._inputs.put_nowait, c.RetryDue(consultation_id)
        )

    async def _grace_timer(self, consultation_id: str, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._inputs.put_nowait(_GraceTimeout(consultation_id))

    def _cancel_grace(self) -> None:
        if self._grace_task is not None:
            self._grace_task.cancel()
            self._grace_task = None

    async def _forget_consultation(self) -> None:
        """The consultation is over: drop its secrets, its chat and its exchange."""
        self._cancel_grace()
        if self._retry_handle is not None:
            self._retry_handle.cancel()
            self._retry_handle = None
        self._hub.fast_reconnect = False
        self._resume_token = None
        self._continuity = None
        self._history.clear()
        self._reconnect_started_at = None
        self._pending_detection_ms = None
        exchange, self.exchange = self.exchange, None
        if exchange is not None:
            with contextlib.suppress(Exception):
                await exchange.close()
            self._exchange_changed(None)
        tasks, self._exchange_tasks = self._exchange_tasks, set()
        for task in tasks:
            task.cancel()

    def _cancel_timeout(self) -> None:
        if self._timeout_task is not None:
            self._timeout_task.cancel()
            self._timeout_task = None

    # -- call callbacks (synchronous, from aiortc) -----------------------------

    def _call_state(self, generation: int, state: str) -> None:
        if generation != self._generation:
            return  # a call we already closed
        if state == "connected":
            if self._current is not None and self._accepted_at is not None:
                if self._current.accepted_to_connected_ms is None:
                    elapsed = self._clock() - self._accepted_at
                    self._current.accepted_to_connected_ms = round(elapsed * 1000, 1)
            self._cancel_timeout()
            self._inputs.put_nowait(_FromCall(generation, c.MediaConnected()))
            # Nothing of the customer's goes out before the adviser is verified (_verified);
            # and the far end has this long from now to prove itself, channel or not.
            asyncio.get_running_loop().call_later(
                VERIFY_TIMEOUT_S, self._verify_deadline, generation
            )
        # ``failed``/``closed`` arrive as a dead path (Call's on_dead), a deliberate end as bye.

    def _dead_path(self, generation: int, cause: str, silence_ms: float) -> None:
        if generation != self._generation:
            return
        call = self._call
        if call is not None and call.verification is None and self._continuity is None:
            # Not verified: it will not be resumed. The hub's `ended` may be on its way (an
            # adviser who left before the channel opened): let it say why, briefly.
            asyncio.get_running_loop().call_later(
                PEER_CLOSE_GRACE_S, self._dead_if_current, generation, cause
            )
            return
        self._pending_detection_ms = silence_ms
        self._inputs.put_nowait(_FromCall(generation, c.DeadPath(cause)))

    def _dead_if_current(self, generation: int, cause: str) -> None:
        if generation == self._generation:
            self._inputs.put_nowait(_FromCall(generation, c.DeadPath(cause)))

    def _bye(self, generation: int) -> None:
        """The adviser ended the call on purpose: the consultation is over."""
        cid = self.consultation.state.consultation_id
        if generation != self._generation or cid is None:
            return
        self._inputs.put_nowait(_FromCall(generation, c.ByeReceived(cid)))

    def _channel_opened(self, generation: int) -> None:
        if generation != self._generation:
            return
        log.info("data channel open: waiting for the adviser's proof")

    def _verified(self, generation: int, code: str) -> None:
        if generation != self._generation:
            return
        call = self._call
        if call is not None and call.resumed:
            self._reverified(generation)
            return
        cid = self.consultation.state.consultation_id
        if call is not None and cid is not None:
            # Only the two verified ends learn it: it proves every later peer connection.
            secret = sas.new_continuity_secret()
            self._continuity = Resumption(consultation_id=cid, secret=secret, code=code)
            try:
                call.send(channel.Continuity(secret=secret.hex()))
            except CallError as exc:
                log.warning("could not send the continuity secret: %s", exc)
            self._inputs.put_nowait(_FromCall(generation, c.AdviserVerified(cid)))
            self._open_exchange(cid)
        if self._current is not None:
            self._current.verified = True
            self._current.verification_code = code  # four words: not personal data
        self._status("adviser verified: compare the code on both screens")
        self._notify()
        for observer in self._observers:
            observer.channel_opened()
        if self._simulated_customer:
            self._auto_say(GREETING)

    def _unverified(self, generation: int, why: str) -> None:
        if generation != self._generation:
            return
        if self._current is not None:
            self._current.verified = False
            self._current.verification_code = None
            self._current.verification_failed = why
        self._status(f"call ended: the adviser could not be verified ({why})")
        self._inputs.put_nowait(_FromCall(generation, c.VerificationFailed()))

    def _verify_deadline(self, generation: int) -> None:
        if generation != self._generation or self._call is None:
            return
        if self._call.verification is None and self._call.verification_error is None:
            self._unverified(generation, "reveal_timeout")

    @property
    def verification_code(self) -> str | None:
        """The current call's four words once the adviser is verified, else None.

        None while reconnecting too: the words come back only once the resumed call's proof
        checked out, so the screen never vouches for a far end that has not proved itself.
        """
        stats = self._current
        if stats is None or not stats.verified or self.reconnecting:
            return None
        return stats.verification_code

    @property
    def last_call_unverified(self) -> bool:
        """Whether the latest call ended because the adviser could not be verified."""
        done = self._finished[-1] if self._finished else None
        return done is not None and done.verification_failed is not None

    def _chat_received(self, generation: int, message: channel.Chat) -> None:
        if generation != self._generation:
            return
        call = self._call
        if call is None or call.verification is None:
            # Not shown: on a resumed call the channel opens before the proof is checked.
            log.info("dropped a chat line from an adviser not verified (yet)")
            return
        for observer in self._observers:
            observer.chat_received(message.text)  # shown to the customer, never logged
        self._remember_chat(message, "adviser")
        del message  # its text is the adviser's: counted, never logged
        if self._current is not None:
            self._current.chat_in += 1
        self._notify()
        if self._simulated_customer:
            self._auto_say(AUTO_REPLY)

    def _auto_say(self, text: str) -> None:
        if self._call is None:
            return
        try:
            message = self._call.send_chat(text)
        except CallError as exc:
            log.info("simulated customer could not chat: %s", exc)
            return
        self._remember_chat(message, "kiosk")
        if self._current is not None:
            self._current.chat_out += 1
        self._notify()

    def _remember_chat(self, message: channel.Chat, author: str) -> None:
        """Keep a chat line for the history a resumed console gets (memory only)."""
        self._history.append(
            channel.HistoryChat(
                id=message.id,
                text=message.text,
                ts=message.ts,
                author="kiosk" if author == "kiosk" else "adviser",
            )
        )

    def _reverified(self, generation: int) -> None:
        """A resumed call proved itself: send the session so far again (the console merges).

        Only now is the consultation healed (``Reverified``: back to ``in_call``, the grace
        timer stops); until now the call got nothing of the session.
        """
        call = self._call
        cid = self.consultation.state.consultation_id
        if call is None or cid is None:
            return
        self._inputs.put_nowait(_FromCall(generation, c.Reverified(cid)))
        self._status("adviser verified again: the call is resumed")
        sent = 0
        for line in self._history:
            try:
                call.send(line)
            except CallError as exc:
                log.warning("history not sent: %s", exc)
                break
            sent += 1
        log.info("sent %d history lines after the resume", sent)  # a count, never the text
        exchange = self.exchange
        if exchange is not None:
            self._background_task(exchange.resend_offers())
        self._notify()

    # -- the exchange (docs/exchange.md) ------------------------------------------

    def _open_exchange(self, consultation_id: str) -> None:
        """Create the session's exchange once, when the adviser is first verified."""
        if self.exchange is not None:
            return
        try:
            self.exchange = self._make_exchange(consultation_id)
        except Exception:  # without an exchange the call still runs (chat, video)
            log.exception("could not start the exchange")
            self.exchange = None

    def _make_exchange(self, consultation_id: str) -> Exchange | None:
        """The session's exchange; None without session custody (nowhere to keep files)."""
        if self._custody is None or not self._custody.ready:
            return None
        relay = RelayClient(
            self._http_session(),
            hub_url=self.config.kiosk_ws_url,
            token=self.config.token,
            consultation_id=consultation_id,
        )
        settings = self.config.exchange
        tenant_max = self._max_file_bytes
        limits = limits_from(
            settings, tenant_max if tenant_max is not None else settings.max_file_bytes
        )
        return Exchange(
            vault=self._custody.vault,
            send=self.send,
            relay=relay,
            scanner=self._scanner,
            latest_frame=lambda: self.latest_local_frame,
            limits=limits,
            auto_confirm=self._simulated_customer,
            observer=_ExchangeForward(self),
            photo_countdown_s=settings.photo_countdown_s,
            scan_settings=scan_settings_from(settings),
        )

    def _http_session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
        return self._http

    def _background_task(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._exchange_tasks.add(task)
        task.add_done_callback(self._exchange_tasks.discard)

    def _exchange_changed(self, state: ExchangeState | None) -> None:
        for observer in self._observers:
            method = getattr(observer, "exchange_changed", None)
            if method is not None:
                method(state)
        self._notify()

    def _exchange_message(self, generation: int, message: ExchangeMessage) -> None:
        if generation != self._generation:
            return
        exchange = self.exchange
        if exchange is None:
            log.info("dropped a %s message: no exchange", message.TYPE)
            return
        self._background_task(exchange.handle(message))

    def _screen_frame(self, frame: av.VideoFrame) -> None:
        for observer in self._observers:
            method = getattr(observer, "screen_frame", None)
            if method is not None:
                method(frame)

    # -- session content ---------------------------------------------------------

    def _mark_ending(self, trigger: WipeTrigger) -> None:
        if self._custody is not None and self.consultation.state.consultation_id is not None:
            self._custody.mark_ending(trigger)

    def _open_session(self, consultation_id: str) -> None:
        if self._custody is not None and self._custody.ready:
            self._custody.open_session(consultation_id)

    async def _wipe_session(self, trigger: WipeTrigger) -> None:
        self.muted = self.camera_off = False
        self.latest_local_frame = None
        if self._custody is not None:
            await self._custody.end_session(trigger)
            self._report_custody()

    def _may_queue(self) -> bool:
        if self._custody is None or self._custody.ready:
            return True
        if self._repair_task is None or self._repair_task.done():
            self._repair_task = asyncio.create_task(self._repair())
        return False

    async def _repair(self) -> None:
        # Keep trying to get clean storage; queue again only once a wipe verified.
        assert self._custody is not None  # noqa: S101 - only scheduled with custody
        while not self._custody.ready:
            await asyncio.sleep(REPAIR_INTERVAL_S)
            await self._custody.repair()
        self._report_custody()
        if self.phase is c.Phase.QUEUEING and (
            self._customer_waiting or not self._queue_on_request
        ):
            await self._hub.send(messages.QueueRequest())
            self._phase_status(c.Phase.QUEUEING)

    def _report_custody(self) -> None:
        assert self._custody is not None  # noqa: S101 - callers check
        if self._custody.out_of_service is not None:
            self._status(f"OUT OF SERVICE: {self._custody.out_of_service}")
        elif self._custody.reports:
            report = self._custody.reports[-1]
            self._status(f"session storage wiped ({report.trigger}, {report.files} files)")
        self._tell_hub_service_state()

    def _tell_hub_service_state(self) -> None:
        """Report out of service (and the way back) to the hub: codes only, never the cause."""
        out = self._custody is not None and self._custody.out_of_service is not None
        state: ServiceState = "out_of_service" if out else "ready"
        if state == self._told_hub:
            return
        self._told_hub = state
        message = Status(state=state, reason="wipe_failed" if out else None)
        task = asyncio.get_running_loop().create_task(self._hub.send(message))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _close_custody(self) -> None:
        if self._repair_task is not None:
            self._repair_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._repair_task
        if self._custody is not None:
            with contextlib.suppress(Exception):
                await self._custody.close()
                self._report_custody()

    # -- stats and status ----------------------------------------------------

    def _refresh_current(self, call: Call | None = None) -> None:
        call = call if call is not None else self._call
        stats = self._current
        if stats is None or call is None:
            return
        probe = call.probe
        stats.video_frames_received = probe.video_frames
        stats.audio_frames_received = probe.audio_frames
        stats.non_black_seen = probe.non_black_seen
        stats.remote_video_luma = None if probe.last_luma is None else round(probe.last_luma, 1)
        stats.remote_audio_rms = round(probe.peak_audio_rms, 4)
        stats.first_remote_video_at_ms = probe.first_video_wall_ms
        if probe.first_video_at is not None and self._accepted_at is not None:
            stats.first_remote_video_ms = round(
                (probe.first_video_at - self._accepted_at) * 1000, 1
            )

    def _finish_stats(self, reason: str) -> None:
        self._cancel_timeout()
        stats = self._current
        if stats is None:
            return
        self._refresh_current()
        stats.end_reason = reason
        self._finished.append(stats)
        self._current = None
        self._accepted_at = None
        log.info(
            "call ended (%s): %d video frames, %d chat in, %d chat out",
            reason,
            stats.video_frames_received,
            stats.chat_in,
            stats.chat_out,
        )
        self._status(f"call ended ({reason})")
        if self.config.stats_file is not None:
            try:
                with self.config.stats_file.open("a", encoding="utf-8") as f:
                    f.write(stats.to_json() + "\n")
            except OSError as exc:
                log.warning("cannot append to the stats file: %s", exc.strerror)

    def _phase_status(self, phase: c.Phase) -> None:
        lines = {
            c.Phase.QUEUEING: "kiosk ready: waiting in the queue for an adviser",
            c.Phase.OFFERING: "adviser accepted: connecting the call",
            c.Phase.IN_CALL: "in call",
            c.Phase.RECONNECTING: "reconnecting the call: the session stays as it is",
            c.Phase.DISCONNECTED: "not connected to the hub",
        }
        if phase is c.Phase.QUEUEING and self._custody is not None and not self._custody.ready:
            return  # not in the queue while out of service (_report_custody said why)
        if phase is c.Phase.QUEUEING and self._queue_on_request and not self._customer_waiting:
            # With the touch UI the kiosk joins the queue only when a customer asks.
            self._status("kiosk ready: waiting for a customer")
            return
        if phase in lines:
            self._status(lines[phase])

    def _status(self, line: str) -> None:
        if self._on_status is not None:
            self._on_status(line)

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()
        for observer in self._observers:
            observer.changed()

    # -- the customer at the screen (queue_on_request) ------------------------------

    async def _customer_queue(self, wants: bool) -> None:
        if wants == self._customer_waiting:
            return
        self._customer_waiting = wants
        if self.phase is not c.Phase.QUEUEING:
            return  # welcomed later: the gate in _carry_out lets the request through then
        if wants and self._may_queue():
            await self._hub.send(messages.QueueRequest())
        elif not wants:
            await self._hub.send(messages.QueueLeave())
        self._notify()

    def _remote_video(self, frame: av.VideoFrame) -> None:
        for observer in self._observers:
            observer.video_frame(frame)
