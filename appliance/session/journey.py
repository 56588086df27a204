"""The customer's journey on the touchscreen, as a pure state machine (no I/O, no clock).

``Journey.handle(event, now)`` takes a UI intent (``kiosk_ui.viewmodels``) or an appliance
event (``appliance.session.journey_events``, also named here) with the current monotonic time,
and returns the actions the shell must carry out; ``Journey.view(now)`` is what the screen
shows.

    attract -> language -> consent -> intake -> waiting -> call <-> signature
       ^         |           | decline  |         |         |
       +---------+-----------+----------+         +-> goodbye (wipe verified) -> attract
    reconnecting (hub lost while waiting or in a call); out of service (wipe failed, hub gone)

In the call, the exchange (``appliance.exchange.state``) reaches the screen as
``ExchangeUpdate`` (the adviser's scan/photo request, files on their way, screen share) and
``DocumentReceived``; the customer's answers leave as ``RequestDecision`` actions. A call
whose path dropped stays on the call screen with a "reconnecting" notice (``CallInterrupted``)
until it is connected again or ends.

Every screen but attract, goodbye and out-of-service has an inactivity timeout with a visible
countdown; when it runs out the session ends (and is wiped) exactly as on abort.
"""

from __future__ import annotations

import math
from dataclasses import replace

from appliance.session.journey_call import CHAT_KEEP, call_step, with_chat, with_exchange
from appliance.session.journey_events import (
    Action,
    AdviserAccepted,
    CallConnected,
    CallEnded,
    CallInterrupted,
    CallVerified,
    ChatReceived,
    DocumentReceived,
    EndCall,
    EndSession,
    Event,
    ExchangeUpdate,
    HubReachable,
    HubUnreachable,
    InkChanged,
    LeaveQueue,
    QueueUpdate,
    ReferenceReceived,
    RequestConsultation,
    RequestDecision,
    SendChatLine,
    ServiceRestored,
    SetCamera,
    SetMute,
    SignatureChanged,
    SignatureDecision,
    SignatureDocument,
    SignaturePointer,
    Tick,
    WipeFailed,
    WipeFinished,
)
from appliance.session.journey_signature import (
    SIGNATURE_INTENTS,
    signature_abort,
    signature_step,
    signature_timeout,
)
from appliance.session.journey_state import AT_HUB, IN_CALL, PRE_QUEUE, JourneyState, Timeouts
from kiosk_ui import viewmodels as v
from kiosk_ui.viewmodels import Screen

# The events and actions are part of this module's interface (``j.Tick``...).
__all__ = [
    "CHAT_KEEP",
    "Action",
    "AdviserAccepted",
    "CallConnected",
    "CallEnded",
    "CallInterrupted",
    "CallVerified",
    "ChatReceived",
    "DocumentReceived",
    "EndCall",
    "EndSession",
    "Event",
    "ExchangeUpdate",
    "HubReachable",
    "HubUnreachable",
    "InkChanged",
    "Journey",
    "JourneyState",
    "LeaveQueue",
    "QueueUpdate",
    "ReferenceReceived",
    "RequestConsultation",
    "RequestDecision",
    "SendChatLine",
    "ServiceRestored",
    "SetCamera",
    "SetMute",
    "SignatureChanged",
    "SignatureDecision",
    "SignatureDocument",
    "SignaturePointer",
    "Tick",
    "Timeouts",
    "WipeFailed",
    "WipeFinished",
]


class Journey:
    """The customer's path through the screens; feed it events, carry out its actions."""

    def __init__(
        self,
        *,
        default_language: str = "de",
        fields: tuple[v.FieldSpec, ...] = v.DEFAULT_FIELDS,
        timeouts: Timeouts | None = None,
        minutes_per_customer: float = 8.0,
        hub_up: bool = False,
        now: float | None = None,
    ) -> None:
        self.default_language = default_language
        self.fields = fields
        self.timeouts = timeouts or Timeouts()
        self.minutes_per_customer = minutes_per_customer
        self.state = JourneyState(
            language=default_language,
            hub_up=hub_up,
            # Unknown start time: the first tick starts the hub-unreachable clock.
            hub_down_since=None if hub_up else now,
        )

    @property
    def screen(self) -> Screen:
        """The screen shown now."""
        return self.state.screen

    def countdown(self, now: float) -> int | None:
        """Seconds left when the inactivity warning shows, else None."""
        deadline = self.state.deadline
        if deadline is None or now < deadline - self.timeouts.warning:
            return None
        return max(0, math.ceil(deadline - now))

    def view(self, now: float, base: v.KioskView | None = None) -> v.KioskView:
        """The view model of the current state (``base`` carries branding, texts...)."""
        s = self.state
        position = s.queue_position
        wait = None if position is None else math.ceil(position * self.minutes_per_customer)
        return replace(
            base or v.KioskView(),
            screen=s.screen,
            language=s.language,
            large_text=s.large_text,
            countdown=self.countdown(now),
            fields=self.fields,
            queue_position=position,
            estimated_wait_min=wait,
            call=s.call,
            signature=s.signature,
            wipe=s.wipe,
            problem=s.problem,
            unverified=s.unverified and s.screen is Screen.GOODBYE,
            reference=s.reference if s.screen is Screen.GOODBYE else None,
            session=s.session,
        )

    # -- transitions -------------------------------------------------------------------

    def handle(self, event: Event, now: float) -> list[Action]:
        """Apply ``event`` at monotonic time ``now``; return what the shell must do."""
        s = self.state
        if isinstance(event, _INTENT_TYPES) and s.deadline is not None:
            # Any touch is activity: the countdown starts over.
            self._go(s.screen, now, keep=True)
        actions = self._handle(event, now)
        if isinstance(event, Tick):
            actions += self._tick(now)
        return actions

    def _handle(self, event: Event, now: float) -> list[Action]:
        s = self.state
        match event:
            case v.ChooseLanguage(language=lang) if lang in v.LANGUAGES:
                self.state = replace(self.state, language=lang)
                if s.screen is Screen.LANGUAGE:
                    self._go(Screen.CONSENT, now)
            case v.ToggleLargeText():
                self.state = replace(s, large_text=not s.large_text)
            case v.Start() if s.screen is Screen.ATTRACT:
                self._go(Screen.LANGUAGE, now)
            case v.AcceptConsent() if s.screen is Screen.CONSENT:
                self._go(Screen.INTAKE, now)
            case v.DeclineConsent() if s.screen is Screen.CONSENT:
                self._to_attract()
            case v.SubmitIntake(values=values) if s.screen is Screen.INTAKE:
                if self._complete(values):
                    self.state = replace(s, values=values, queue_position=None)
                    self._go(Screen.WAITING, now)
                    if not s.hub_up:
                        self._reconnecting(Screen.WAITING, now)
                    return [RequestConsultation(values)]
            case v.Abort():
                return self._abort("customer_abort", now)
            case v.HangUp() if s.screen in IN_CALL:
                return self._end_call("hangup", now)
            case v.Done() if s.screen is Screen.GOODBYE and s.wipe is not None:
                self._to_attract()
            case v.StillHere():
                pass  # the reset above is all it does
            case _ if s.screen in IN_CALL:
                return self._in_call(event, now)
            case _:
                return self._appliance(event, now)
        return []

    def _in_call(self, event: Event, now: float) -> list[Action]:
        step = signature_step(self.state, event)
        if step is not None:
            return self._signature(step, now)
        touched = call_step(self.state, event)
        if touched is not None:
            self.state, actions = touched
            return actions
        return self._appliance(event, now)

    def _appliance(self, event: Event, now: float) -> list[Action]:
        s = self.state
        match event:
            case HubReachable():
                self.state = replace(s, hub_up=True, hub_down_since=None)
                if s.screen is Screen.RECONNECTING:
                    if s.resume is Screen.WAITING:
                        self.state = replace(self.state, resume=None)
                        self._go(Screen.WAITING, now)  # the kiosk queues again by itself
                    else:
                        self._session_over(now)  # the call could not survive
                elif s.screen is Screen.OUT_OF_SERVICE and s.problem == _HUB_GONE:
                    self._to_attract()
            case HubUnreachable():
                self.state = replace(s, hub_up=False, hub_down_since=s.hub_down_since or now)
                if s.screen in (Screen.WAITING, *IN_CALL):
                    self._reconnecting(s.screen, now)
            case QueueUpdate(position=position) if s.screen in (
                Screen.WAITING,
                Screen.RECONNECTING,
            ):
                self.state = replace(s, queue_position=max(position, 1))
            case ReferenceReceived(reference=reference) if s.screen in AT_HUB or (
                s.screen is Screen.GOODBYE and s.reference is None
            ):
                # goodbye too: a reference can land just after a customer stopped waiting
                self.state = replace(s, reference=reference)
            case AdviserAccepted() if s.screen in (Screen.WAITING, Screen.RECONNECTING):
                self.state = replace(s, call=v.CallView(), resume=None)
                self._go(Screen.CALL, now)
            case CallConnected() if s.screen in IN_CALL:
                self._call(replace(s.call, connected=True, reconnecting=False))
            case CallInterrupted() if s.screen in IN_CALL:
                self._call(replace(s.call, reconnecting=True))
            case CallEnded(unverified=unverified) if s.screen in (*IN_CALL, Screen.WAITING) or (
                s.screen is Screen.RECONNECTING and s.resume in IN_CALL
            ):
                self._session_over(now)
                self.state = replace(self.state, unverified=unverified)
            case CallVerified(code=code) if s.screen in IN_CALL:
                self._call(replace(s.call, verification_code=code))
            case WipeFinished(wipe=wipe) if s.awaiting_wipe:
                self.state = replace(s, awaiting_wipe=False, wipe=wipe)
                if s.screen is Screen.GOODBYE:
                    self._go(Screen.GOODBYE, now)  # the goodbye timer starts now
            case WipeFailed(problem=problem):
                self._out_of_service(problem)
            case ServiceRestored() if s.screen is Screen.OUT_OF_SERVICE:
                if s.problem != _HUB_GONE:
                    self._to_attract()
            case ChatReceived(text=text) if s.screen in IN_CALL:
                self.state = with_chat(s, v.ChatLine(False, text))
            case DocumentReceived(document=doc) if s.screen in IN_CALL:
                self._call(replace(s.call, document=doc, document_notice=True))
            case ExchangeUpdate() if s.screen in IN_CALL:
                self.state = with_exchange(s, event)
            case _:
                pass
        return []

    def _tick(self, now: float) -> list[Action]:
        s = self.state
        if not s.hub_up and s.hub_down_since is None:
            self.state = s = replace(s, hub_down_since=now)
        if s.hub_down_since is not None and s.screen is not Screen.OUT_OF_SERVICE:
            if now - s.hub_down_since >= self.timeouts.hub_out_of_service:
                actions = self._abort("hub_lost", now) if s.screen is not Screen.ATTRACT else []
                self._out_of_service(_HUB_GONE)
                return actions
        s = self.state
        if s.deadline is None or now < s.deadline:
            return []
        if s.screen is Screen.GOODBYE:
            if s.wipe is None:
                self._out_of_service("the wipe of the last session was not confirmed")
            else:
                self._to_attract()
            return []
        if s.screen is Screen.SIGNATURE:
            return self._signature(signature_timeout(s), now)  # the call goes on
        return self._abort("inactivity", now)

    # -- helpers -----------------------------------------------------------------------

    def _abort(self, trigger: str, now: float) -> list[Action]:
        s = self.state
        if s.screen in PRE_QUEUE:
            self._to_attract()  # nothing was stored or sent; the form dies with the session
            return []
        if s.screen is Screen.WAITING or (
            s.screen is Screen.RECONNECTING and s.resume is Screen.WAITING
        ):
            self._session_over(now)
            return [LeaveQueue(), EndSession(trigger)]
        if s.screen is Screen.SIGNATURE and trigger == "customer_abort":
            return self._signature(signature_abort(s), now)
        if s.screen in IN_CALL:
            return self._end_call("hangup" if trigger == "customer_abort" else trigger, now)
        if s.screen is Screen.RECONNECTING:
            self._session_over(now)
            return [EndSession(trigger)]
        if s.screen is Screen.GOODBYE and s.wipe is not None:
            self._to_attract()
        return []

    def _end_call(self, trigger: str, now: float) -> list[Action]:
        self._session_over(now)
        return [EndCall(trigger)]

    def _session_over(self, now: float) -> None:
        s = self.state
        self.state = replace(
            s,
            values=(),
            call=v.CallView(),
            signature=v.SignatureView(),
            queue_position=None,
            awaiting_wipe=True,
            wipe=None,
            resume=None,
            session=s.session + 1,
            unverified=False,
            dismissed=None,
        )
        self._go(Screen.GOODBYE, now)
        # Goodbye waits for the wipe; it gives up (out of service) if none is reported.
        self.state = replace(self.state, deadline=now + self.timeouts.wipe_confirm)

    def _reconnecting(self, resume: Screen, now: float) -> None:
        del now
        self.state = replace(self.state, screen=Screen.RECONNECTING, resume=resume, deadline=None)

    def _out_of_service(self, problem: str) -> None:
        s = self.state
        self.state = replace(
            s,
            screen=Screen.OUT_OF_SERVICE,
            problem=problem,
            deadline=None,
            values=(),
            call=v.CallView(),
            signature=v.SignatureView(),
            awaiting_wipe=False,
            resume=None,
            session=s.session + 1,
            reference=None,
        )

    def _to_attract(self) -> None:
        s = self.state
        self.state = JourneyState(
            language=self.default_language,
            session=s.session + 1,
            hub_up=s.hub_up,
            hub_down_since=s.hub_down_since,
        )

    def _go(self, screen: Screen, now: float, *, keep: bool = False) -> None:
        timeout = self.timeouts.for_screen(screen)
        if screen is Screen.GOODBYE:
            timeout = self.timeouts.goodbye if self.state.wipe is not None else None
        deadline = None if timeout is None else now + timeout
        if keep and screen is Screen.GOODBYE:
            deadline = self.state.deadline  # touching goodbye does not delay the next customer
        self.state = replace(self.state, screen=screen, deadline=deadline)

    def _signature(
        self, step: tuple[JourneyState, list[Action], Screen | None], now: float
    ) -> list[Action]:
        state, actions, go = step
        self.state = state
        if go is not None:
            self._go(go, now)
        return actions

    def _call(self, call: v.CallView) -> None:
        self.state = replace(self.state, call=call)

    def _complete(self, values: tuple[tuple[str, str], ...]) -> bool:
        given = dict(values)
        for spec in self.fields:
            value = given.get(spec.key, "")
            if len(value) > spec.max_length or (spec.required and not value.strip()):
                return False
        return set(given) <= {spec.key for spec in self.fields}


_HUB_GONE = "the hub has been unreachable for too long"
_INTENT_TYPES = (
    v.Start,
    v.ChooseLanguage,
    v.AcceptConsent,
    v.DeclineConsent,
    v.SubmitIntake,
    v.Abort,
    v.StillHere,
    v.ToggleLargeText,
    v.HangUp,
    v.ToggleMute,
    v.ToggleCamera,
    v.ToggleChat,
    v.SendChat,
    v.OpenDocument,
    v.CloseDocument,
    v.TurnPage,
    v.DecideRequest,
    v.DismissRequest,
    *SIGNATURE_INTENTS,
    v.Done,
)
