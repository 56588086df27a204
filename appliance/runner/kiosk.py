"""The kiosk runner: the thin shell around the consultation machine of one kiosk process.

All decisions live in ``appliance.session.consultation``; this shell turns hub messages, call
callbacks, timers and the customer's wishes into its events (``appliance.runner.inputs``) and
hands the actions it returns to the side they concern, one input at a time:

- ``HubSignalling``: the hub's messages in, queue/end/resume requests out (``QueueGate``
  decides when the kiosk belongs in the queue);
- ``CallSide``: prepare, offer, answer, candidates, close, on ``CurrentCall``; what the call
  reports comes back through ``CallEvents``;
- ``ConsultationUpkeep``: what the consultation keeps across its calls (stats, chat history,
  ``Reconnection``, ``ConsultationExchange``) and its session in the custody (``CustodyLink``).

``LocalMedia`` holds the devices and the customer's privacy switches, ``KioskObservers`` and
``StatusLines`` tell the screen and the console. Secrets (continuity secret, resume token) and
the chat (personal data) stay in memory, are never logged, and go with the consultation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable

import av

from appliance.call.connection import BEAT_INTERVAL_S, DEAD_AFTER_S, Call, CallError
from appliance.call.device_proof import store_signer
from appliance.config.kiosk import KioskConfig
from appliance.custody.session import SessionCustody
from appliance.custody.vault import SessionVault
from appliance.custody.wipe import WipeTrigger
from appliance.exchange.service import Exchange
from appliance.runner.call_events import CallEvents
from appliance.runner.call_side import CallSide
from appliance.runner.call_stats import CallStats
from appliance.runner.consultation_exchange import ConsultationExchange
from appliance.runner.consultation_upkeep import ConsultationUpkeep
from appliance.runner.current_call import CurrentCall
from appliance.runner.custody_link import CustodyLink
from appliance.runner.device_reports import DeviceReporter
from appliance.runner.hub_client import Backoff, HubClient, HubDown, HubMessage, HubUp
from appliance.runner.inputs import (
    ConnectTimeout,
    CustomerQueue,
    EndSession,
    FromCall,
    GraceTimeout,
    HubFinished,
    KioskInput,
    timed_out,
)
from appliance.runner.local_media import LocalMedia
from appliance.runner.queue_gate import QueueGate
from appliance.runner.reconnection import Reconnection
from appliance.runner.renewal import Renewal
from appliance.runner.reporting import KioskObserver, KioskObservers, StatusLines
from appliance.runner.service_manager import ServiceStatus
from appliance.runner.signalling import HubSignalling
from appliance.runner.timers import LoopScheduler, Scheduler
from appliance.session import consultation
from appliance.signing.service import SignatureDesk
from appliance.signing.setup import SigningSetup
from appliance.signing.state import InkSource
from drivers.camera import Camera
from drivers.microphone import Microphone
from drivers.scanner import DocumentScanner
from drivers.speaker import Speaker
from drivers.tablet import SignatureTablet
from protocol import channel
from protocol.messages import IceServer
from provisioning.identity import IdentityStore

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 30.0


class Kiosk:
    """One kiosk process: queues, takes calls, queues again; reconnects when the hub goes.

    Seams for tests and tools: ``ice_servers`` (until the hub's welcome), ``reconnection``
    (its grace period and continuity), ``scheduler`` and ``clock`` (timers and timings),
    ``connect_timeout_s``, ``beat_interval_s`` and ``dead_after_s``. The simulated customer
    is an observer like any other (``add_observer(SimulatedCustomer(kiosk))``).
    """

    def __init__(
        self,
        config: KioskConfig,
        camera: Camera,
        microphone: Microphone,
        *,
        on_status: Callable[[str], None] | None = None,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
        custody: SessionCustody | None = None,
        queue_on_request: bool = False,
        speaker: Speaker | None = None,
        scanner: DocumentScanner | None = None,
        beat_interval_s: float = BEAT_INTERVAL_S,
        dead_after_s: float = DEAD_AFTER_S,
        ice_servers: tuple[IceServer, ...] = (),
        reconnection: Reconnection | None = None,
        scheduler: Scheduler | None = None,
        identity: IdentityStore | None = None,
        tablet: SignatureTablet | None = None,
        service: ServiceStatus | None = None,
    ) -> None:
        self.config = config
        self._service = service  # READY, STATUS and STOPPING for systemd (Type=notify)
        self._lines = StatusLines(on_status)
        self.consultation = consultation.Consultation()
        self._hub = HubClient(
            config.kiosk_ws_url,
            config.token,
            backoff=Backoff(config.reconnect_min_s, config.reconnect_max_s),
            identity=None if identity is None else identity.load,
        )
        # An enrolled kiosk renews its certificate beside the hub connection.
        self.renewal = None if identity is None else Renewal(identity, say=self._lines.say)
        self._inputs: asyncio.Queue[KioskInput] = asyncio.Queue()
        self._running = False
        scheduler = scheduler if scheduler is not None else LoopScheduler()
        self._observers = KioskObservers()
        self._media = LocalMedia(camera, microphone, speaker, video_codec=config.video_codec)
        self._current = CurrentCall(
            self._media,
            on_remote_video=self._observers.video_frame,
            on_screen_frame=self._observers.screen_frame,
            ice_servers=ice_servers,
            beat_interval_s=beat_interval_s,
            dead_after_s=dead_after_s,
            clock=clock,
            device_signer=store_signer(identity),  # each call signed with the device key
        )
        # Session content and its wipes; no custody only in tests that store nothing.
        self._custody = CustodyLink(
            custody,
            send=self._hub.send,
            say=self._lines.say,
            # self-test and wipe figures for the hub's fleet view (no personal data)
            reporter=DeviceReporter(
                self._hub.send, identity_dir=None if identity is None else identity.directory
            ),
        )
        # With a touch UI the customer decides when to queue (see appliance.ui.bridge).
        self._queue = QueueGate(
            on_request=queue_on_request,
            machine=self.consultation,
            custody=self._custody,
            send=self._hub.send,
            lines=self._lines,
        )
        exchange = ConsultationExchange(
            config,
            custody=custody,
            scanner=scanner,
            send=self._current.send,
            latest_frame=lambda: self._media.latest_local_frame,
            on_change=self._observers.exchange_changed,
            signing=SigningSetup(
                tablet=tablet,
                identity=identity,
                pinned_cert=config.signature.trustee_cert,
                max_seconds=config.signature.max_seconds,
                on_change=self._observers.signature_changed,
            ),
        )
        self._upkeep = ConsultationUpkeep(
            reconnection=reconnection or Reconnection(scheduler=scheduler, clock=clock),
            exchange=exchange,
            custody=self._custody,
            media=self._media,
            hub=self._hub,
            post=self._inputs.put_nowait,
            say=self._lines.say,
            scheduler=scheduler,
            connect_timeout_s=connect_timeout_s,
            stats_file=config.stats_file,
            clock=clock,
        )
        events = CallEvents(
            current=self._current,
            machine=self.consultation,
            post=self._inputs.put_nowait,
            upkeep=self._upkeep,
            observers=self._observers,
            say=self._lines.say,
            scheduler=scheduler,
        )
        self._call_side = CallSide(
            self._current, listener=events, upkeep=self._upkeep, send=self._hub.send
        )
        self._signalling = HubSignalling(
            self._hub,
            machine=self.consultation,
            current=self._current,
            upkeep=self._upkeep,
            custody=self._custody,
            queue=self._queue,
            say=self._lines.say,
        )

    # -- what the kiosk shows ---------------------------------------------------------

    @property
    def phase(self) -> consultation.Phase:
        """Where the kiosk stands (``disconnected``, ``queueing``, ``in_call``...)."""
        return self.consultation.phase

    @property
    def consultation_state(self) -> consultation.ConsultationState:
        """The machine's current state (phase, queue position, consultation id...)."""
        return self.consultation.state

    @property
    def reconnecting(self) -> bool:
        """Whether the consultation is being re-established (the screen says so)."""
        return self.consultation.phase is consultation.Phase.RECONNECTING

    @property
    def stats(self) -> list[CallStats]:
        """Stats of every call of this process, the current one (live) last."""
        return self._upkeep.recorder.all(self._current.call)

    @property
    def call(self) -> Call | None:
        """The current call object (prepared or active), for tests and diagnostics."""
        return self._current.call

    @property
    def exchange(self) -> Exchange | None:
        """The consultation's exchange, once the adviser was verified (else None)."""
        return self._upkeep.exchange.exchange

    @property
    def signature(self) -> SignatureDesk | None:
        """The consultation's signature desk (the customer's decisions), else None."""
        exchange = self._upkeep.exchange.exchange
        return exchange.signatures if exchange is not None else None

    @property
    def signature_ink(self) -> InkSource | None:
        """The live ink of the open signature request (the desk), else None."""
        return self.signature

    @property
    def verification_code(self) -> str | None:
        """The current call's four words once the adviser is verified, else None.

        None while reconnecting too: the words come back only once the resumed call's proof
        checked out, so the screen never vouches for a far end that has not proved itself.
        """
        return None if self.reconnecting else self._upkeep.recorder.verification_code

    @property
    def last_call_unverified(self) -> bool:
        """Whether the latest call ended because the adviser could not be verified."""
        return self._upkeep.recorder.last_unverified

    @property
    def service_problem(self) -> str | None:
        """Why the kiosk cannot serve customers (a wipe failed), once storage was set up."""
        return self._custody.service_problem

    @property
    def vault(self) -> SessionVault:
        """The current session's vault (the only place session content may be written)."""
        return self._custody.vault

    @property
    def latest_local_frame(self) -> av.VideoFrame | None:
        """The camera's latest frame as the call sends it: the self view (the UI thread reads)."""
        return self._media.latest_local_frame

    async def wait_state(self, phase: str) -> None:
        """Wait until the kiosk is in ``phase`` (wrap in ``asyncio.timeout``)."""
        await self.wait_for(lambda: self.phase == phase)

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait until ``predicate()`` holds; it is re-checked on every change of the kiosk."""
        await self._observers.wait_for(predicate)

    def add_observer(self, observer: KioskObserver) -> None:
        """Tell ``observer`` about changes, remote video frames and chat (on the loop)."""
        self._observers.add(observer)

    # -- what the customer does ---------------------------------------------------------

    def set_muted(self, muted: bool) -> None:
        """Mute the microphone: the adviser gets silence until unmuted (the stream stays up)."""
        self._media.muted = muted

    def set_camera_off(self, off: bool) -> None:
        """Turn the camera off: the adviser gets a black picture until it is back on."""
        self._media.camera_off = off

    def send_chat(self, text: str) -> channel.Chat:
        """Send a chat line in the current call; ``CallError`` when there is none.

        Also ``CallError`` while the call's far end is not verified: on a resumed call the
        channel opens before the adviser's resume proof is checked, and until then whoever
        is at the far end must get nothing of the customer's.
        """
        in_call = (consultation.Phase.IN_CALL, consultation.Phase.CONNECTING)
        if self._current.call is None or self.phase not in in_call:
            raise CallError("no consultation in progress")
        message = self._current.require_verified().send_chat(text)
        self._upkeep.history.remember(message, "kiosk")
        self._upkeep.recorder.chat(incoming=False)
        self._observers.changed()
        return message

    def send_intake(self, values: tuple[tuple[str, str], ...]) -> None:
        """Send the customer's intake form to the adviser, end to end over the data channel.

        Never through the hub and never logged; ``CallError`` when no channel is open.
        """
        self._current.send_intake(values)

    def end_session(self, trigger: WipeTrigger) -> None:
        """The UI ends the customer's session (``customer_abort``, ``inactivity``...).

        In a call this hangs up; in every case the session content is wiped before the
        kiosk queues for the next customer.
        """
        self._custody.mark_ending(trigger)
        self._inputs.put_nowait(EndSession(trigger))

    def hang_up(self) -> None:
        """End the current call as the customer."""
        self._inputs.put_nowait(consultation.HangUp())

    def request_consultation(self) -> None:
        """The customer wants an adviser: queue (only needed with ``queue_on_request``)."""
        self._inputs.put_nowait(CustomerQueue(wants=True))

    def leave_queue(self) -> None:
        """The customer no longer waits: leave the hub's queue."""
        self._inputs.put_nowait(CustomerQueue(wants=False))

    def request_stop(self) -> None:
        """Stop politely: end a call with ``end``, leave the queue, close everything."""
        self._mark_ending("shutdown")
        self._inputs.put_nowait(consultation.Shutdown())
        if self._service is not None:
            self._service.stopping()

    # -- the loop ---------------------------------------------------------------------

    async def run(self) -> None:
        """Run until ``request_stop()``; raises ``HubRejected`` if the hub refuses our token."""
        if self._running:
            raise RuntimeError("Kiosk.run() is already running")
        self._running = True
        await self._custody.startup()  # leftovers of a crash go before we queue
        if self._service is not None:  # READY only now; out of service it says why
            self._service.ready(self.service_problem)
        self._observers.changed()
        await self._media.start(self._lines.say)
        hub_task = asyncio.create_task(self._hub.run(self._inputs.put_nowait), name="hub")
        hub_task.add_done_callback(
            lambda t: self._inputs.put_nowait(HubFinished(None if t.cancelled() else t.exception()))
        )
        renewal = None if self.renewal is None else asyncio.create_task(self.renewal.run())
        self._lines.say(f"kiosk starting: connecting to {self.config.kiosk_ws_url}")
        error: BaseException | None = None
        try:
            while self.phase is not consultation.Phase.STOPPED:
                item = await self._inputs.get()
                if isinstance(item, HubFinished):
                    error = item.error
                    await self.handle(consultation.Shutdown())
                    break
                await self._take(item)
        finally:
            if self.phase is not consultation.Phase.STOPPED:  # cancelled: close what we opened
                with contextlib.suppress(Exception):
                    await self.handle(consultation.Shutdown())
            if renewal is not None:
                renewal.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await renewal
            await self._hub.close()
            await self._upkeep.close()
            await self._custody.close()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await hub_task
            await self._call_side.close()  # one whose preparing failed is not the machine's
            await self._media.stop()
            self._running = False
            self._lines.say("kiosk stopped")
        if error is not None:
            raise error

    async def handle(self, event: consultation.Event) -> None:
        """Feed one event to the machine, carry out its actions and their outcomes' first.

        ``run()`` does this for every input (call it only while ``run()`` does not: a test
        driving the kiosk by hand). Outcomes (prepared, closed...) go before the next input,
        so the machine's view of the call never lags behind the shell's.
        """
        pending: deque[consultation.Event] = deque([event])
        while pending:
            before = self.phase
            for action in self.consultation.handle(pending.popleft()):
                outcome = await self._carry_out(action)
                if outcome is not None:
                    pending.append(outcome)
            if self.phase is not before:
                log.info("consultation phase %s -> %s", before, self.phase)
                self._lines.entered(
                    self.phase,
                    out_of_service=not self._custody.ready,
                    awaiting_customer=self._queue.awaiting_customer,
                )
            self._observers.changed()

    async def _take(self, item: KioskInput) -> None:
        if isinstance(item, CustomerQueue):
            if await self._queue.customer(item.wants):
                self._observers.changed()
            return
        if isinstance(item, EndSession) and self.consultation.state.consultation_id is None:
            await self._upkeep.wipe(item.trigger)  # no call to end: just wipe
            return
        event = self._translate(item)
        if event is not None:
            await self.handle(event)

    def _translate(self, item: KioskInput) -> consultation.Event | None:
        match item:
            case HubUp() | HubDown() | HubMessage():
                return self._signalling.translate(item)
            case FromCall(generation=generation, event=event):
                return event if self._current.is_current(generation) else None
            case ConnectTimeout():
                state, generation = self.consultation.state, self._current.generation
                return timed_out(item, state, generation, self._upkeep.connect_timeout_s)
            case GraceTimeout(consultation_id=cid):
                return consultation.GraceExpired(cid)
            case EndSession():
                return consultation.HangUp()  # outside a call, _take() wipes directly
            case HubFinished() | CustomerQueue():
                return None  # run() and _take() handle these before translating
            case _:
                return item

    async def _carry_out(self, action: consultation.Action) -> consultation.Event | None:
        match action:
            case (
                consultation.SendQueueRequest()
                | consultation.SendQueueLeave()
                | consultation.SendEnd()
                | consultation.SendResume()
            ):
                return await self._signalling.carry_out(action)
            case (
                consultation.PrepareCall()
                | consultation.SendOffer()
                | consultation.ApplyAnswer()
                | consultation.AddCandidate()
                | consultation.CloseCall()
            ):
                return await self._call_side.carry_out(action)
            case consultation.ReconnectStarted(consultation_id=cid, cause=cause):
                self._upkeep.interrupted(cid, cause)
            case consultation.Reconnected():
                self._upkeep.healed()
            case consultation.RetryLater(consultation_id=cid, attempt=attempt):
                self._upkeep.retry_later(cid, attempt)
            case consultation.CallStarted() if self._queue.awaiting_customer:
                self._inputs.put_nowait(consultation.HangUp())  # accepted as the customer left
            case consultation.CallStarted(consultation_id=cid):
                self._upkeep.begin(cid)
            case consultation.CallFinished(reason=reason):
                self._queue.consultation_over()  # the next customer asks anew
                await self._upkeep.finish(reason, self._current.call)
        return None

    # -- session content ------------------------------------------------------------------

    def _mark_ending(self, trigger: WipeTrigger) -> None:
        if self.consultation.state.consultation_id is not None:
            self._custody.mark_ending(trigger)
