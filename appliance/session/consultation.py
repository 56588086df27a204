"""The kiosk's side of a consultation as a pure state machine (no I/O, no clock).

``Consultation.handle(event)`` returns the actions the shell (``appliance.runner.kiosk``) must carry
out, in order. The shell reports outcomes back as events (``CallPrepared``, ``CallClosed``...).
The events and actions are in ``appliance.session.consultation_events`` and named here too.

    disconnected --welcome--> queueing --accepted--> offering --answer--> connecting
         ^                       ^                                          |
         |                       +-------- ending <--ended/failed----- in_call <-connected
         +---- hub lost (from any state; an open call is closed) ----------+

The queueing state owns at most a *prepared* call (candidates gathered, nobody on the other
end); a call bound to a consultation exists only from ``offering`` to ``ending``. In
``offering`` the offer goes out only once the adviser's ``sas_commit`` is held (the kiosk's
fingerprint must not travel before the adviser's is fixed: docs/verification.md).

Reconnection (docs/reconnection.md): a *verified* consultation whose path dies (``DeadPath``),
whose hub connection drops while a resume token is held (``HubLost``), or whose adviser drops
(``PeerAway``) goes to ``reconnecting``: the call is closed, the grace timer starts, and a new
call is offered, without a commitment, as soon as the hub has us back (``ResumeAccepted``, or
at once if the hub never went) and the adviser is there (``peer_present``/``PeerBack``).
Only the new call's checked ``resume_proof`` (``Reverified``) brings it back to ``in_call``:
a far end that connects but never proves itself gets nothing of the session, and the grace
timer keeps running. A new call that fails is retried after a pause (``RetryLater``, then
``RetryDue``), never at once, and at most ``MAX_RESUME_ATTEMPTS`` times in a row; grace
expiry, ``ended`` or a refused resume end it (``peer_gone``). An unverified consultation is
never resumed.

    in_call --dead path / hub lost / peer away--> reconnecting --proof checked--> in_call
                                                      |--grace / ended / refused--> ending
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from appliance.session.consultation_events import (
    Accepted,
    Action,
    AddCandidate,
    AdviserVerified,
    AnswerReceived,
    ApplyAnswer,
    ByeReceived,
    CallClosed,
    CallFailed,
    CallFinished,
    CallPrepared,
    CallStarted,
    CandidateReceived,
    CannotResume,
    CloseCall,
    CommitmentReceived,
    DeadPath,
    EndedByPeer,
    Event,
    GraceExpired,
    HangUp,
    HubLost,
    MediaConnected,
    PeerAway,
    PeerBack,
    PrepareCall,
    QueuePositionChanged,
    Reconnected,
    ReconnectStarted,
    ReferenceReceived,
    ResumeAccepted,
    ResumeGranted,
    ResumeRefused,
    RetryDue,
    RetryLater,
    Reverified,
    SendEnd,
    SendOffer,
    SendQueueLeave,
    SendQueueRequest,
    SendResume,
    Shutdown,
    VerificationFailed,
    Welcomed,
)
from protocol.messages import EndReason

# The events and actions are part of this module's interface (``c.Welcomed``...).
__all__ = [
    "MAX_RESUME_ATTEMPTS",
    "Accepted",
    "Action",
    "AddCandidate",
    "AdviserVerified",
    "AnswerReceived",
    "ApplyAnswer",
    "ByeReceived",
    "CallClosed",
    "CallFailed",
    "CallFinished",
    "CallPrepared",
    "CallSlot",
    "CallStarted",
    "CandidateReceived",
    "CannotResume",
    "CloseCall",
    "CommitmentReceived",
    "Consultation",
    "ConsultationState",
    "DeadPath",
    "EndedByPeer",
    "Event",
    "GraceExpired",
    "HangUp",
    "HubLost",
    "MediaConnected",
    "PeerAway",
    "PeerBack",
    "Phase",
    "PrepareCall",
    "QueuePositionChanged",
    "ReconnectStarted",
    "Reconnected",
    "ReferenceReceived",
    "ResumeAccepted",
    "ResumeGranted",
    "ResumeRefused",
    "RetryDue",
    "RetryLater",
    "Reverified",
    "SendEnd",
    "SendOffer",
    "SendQueueLeave",
    "SendQueueRequest",
    "SendResume",
    "Shutdown",
    "VerificationFailed",
    "Welcomed",
]


class Phase(StrEnum):
    """Where the kiosk stands."""

    DISCONNECTED = "disconnected"  # no hub session (connecting or backing off)
    QUEUEING = "queueing"  # waiting for an adviser; a call may be prepared
    OFFERING = "offering"  # accepted; the offer is (being) sent, waiting for the answer
    CONNECTING = "connecting"  # answer applied; ICE and DTLS under way
    IN_CALL = "in_call"  # media flowing
    RECONNECTING = "reconnecting"  # a verified consultation heals with a new call
    ENDING = "ending"  # closing the call before queueing again
    STOPPED = "stopped"  # shut down; terminal


class CallSlot(StrEnum):
    """What the machine believes about the peer connection object."""

    NONE = "none"
    PREPARING = "preparing"
    READY = "ready"  # offer prepared, not yet sent
    ACTIVE = "active"  # offer sent for a consultation


# Failed new calls in a row, in one reconnection, before the consultation is given up.
MAX_RESUME_ATTEMPTS = 10

_BOUND = (Phase.OFFERING, Phase.CONNECTING, Phase.IN_CALL)
# Phases with a consultation (a call, or one being re-established).
_LIVE = (*_BOUND, Phase.RECONNECTING)


@dataclass(frozen=True)
class ConsultationState:
    """Snapshot of the machine (immutable; ``handle`` replaces it)."""

    phase: Phase = Phase.DISCONNECTED
    call: CallSlot = CallSlot.NONE
    consultation_id: str | None = None  # bound only from offering to in_call
    position: int | None = None
    commitment: str | None = None  # the adviser's sas_commit, once received
    hub_up: bool = False  # a hub session (after welcome) is open
    verified: bool = False  # the adviser of this consultation was verified once
    resumable: bool = False  # the hub granted us a resume token for it
    # While reconnecting: the hub has us back in the consultation on this connection, and
    # the adviser is there to take an offer; an answer was applied to the current call.
    present: bool = True
    peer_present: bool = True
    answered: bool = False
    failures: int = 0  # new calls that failed in a row while reconnecting
    # The conversation reference the hub stored for the queued or bound consultation (the
    # goodbye screen shows it), and that consultation's id: a late one never lands elsewhere.
    reference: str | None = field(default=None, repr=False)
    reference_of: str | None = None


class Consultation:
    """The kiosk's consultation life cycle; feed it events, carry out its actions."""

    def __init__(self) -> None:
        self.state = ConsultationState()

    @property
    def phase(self) -> Phase:
        """The current phase."""
        return self.state.phase

    def handle(self, event: Event) -> list[Action]:
        """Apply ``event``; return what to do. Events that do not fit the phase are ignored."""
        s = self.state
        if s.phase is Phase.STOPPED:
            return []
        if isinstance(event, ReferenceReceived):
            # While queueing the kiosk has one queued consultation (its id is not tracked);
            # later only the bound consultation's reference counts.
            if s.phase is Phase.QUEUEING or event.consultation_id == s.consultation_id:
                self.state = replace(
                    s, reference=event.reference, reference_of=event.consultation_id
                )
            return []
        if s.phase is Phase.RECONNECTING:
            return self._reconnecting(s, event)
        actions: list[Action] = []
        match event:
            case Shutdown():
                actions += self._shutdown(s)
            case HubLost() if (
                s.phase in _BOUND and s.consultation_id is not None and s.verified and s.resumable
            ):
                actions += self._start_reconnect(s, "hub_lost", hub_up=False, peer_present=True)
            case HubLost():
                if s.phase in _BOUND and s.consultation_id is not None:
                    actions.append(CallFinished(s.consultation_id, "peer_gone"))
                if s.call is not CallSlot.NONE:
                    actions.append(CloseCall())
                self.state = ConsultationState(phase=Phase.DISCONNECTED)
            case Welcomed() if s.phase is Phase.DISCONNECTED:
                actions += [SendQueueRequest(), PrepareCall()]
                self.state = ConsultationState(
                    phase=Phase.QUEUEING, call=CallSlot.PREPARING, hub_up=True
                )
            case QueuePositionChanged() if s.phase is Phase.QUEUEING:
                self.state = replace(s, position=event.position)
            case CallPrepared() if s.call is CallSlot.PREPARING:
                if (
                    s.phase is Phase.OFFERING
                    and s.consultation_id is not None
                    and s.commitment is not None
                ):
                    actions.append(SendOffer(s.consultation_id, s.commitment))
                    self.state = replace(s, call=CallSlot.ACTIVE)
                else:
                    self.state = replace(s, call=CallSlot.READY)
            case Accepted() if s.phase is Phase.QUEUEING:
                actions.append(CallStarted(event.consultation_id, event.peer))
                call = s.call
                if call is CallSlot.NONE:
                    actions.append(PrepareCall())
                    call = CallSlot.PREPARING
                # The offer waits for the adviser's commitment (CommitmentReceived).
                ours = s.reference_of == event.consultation_id
                self.state = ConsultationState(
                    phase=Phase.OFFERING,
                    call=call,
                    consultation_id=event.consultation_id,
                    hub_up=s.hub_up,
                    reference=s.reference if ours else None,
                    reference_of=s.reference_of if ours else None,
                )
            case CommitmentReceived() if (
                s.phase is Phase.OFFERING
                and s.commitment is None
                and event.consultation_id == s.consultation_id
            ):
                self.state = replace(s, commitment=event.commitment)
                if s.call is CallSlot.READY:
                    actions.append(SendOffer(event.consultation_id, event.commitment))
                    self.state = replace(self.state, call=CallSlot.ACTIVE)
            case AnswerReceived() if (
                s.phase is Phase.OFFERING
                and s.call is CallSlot.ACTIVE
                and event.consultation_id == s.consultation_id
            ):
                actions.append(ApplyAnswer(event.sdp))
                self.state = replace(s, phase=Phase.CONNECTING, answered=True)
            case CandidateReceived() if (
                s.phase in _BOUND
                and s.call is CallSlot.ACTIVE
                and event.consultation_id == s.consultation_id
            ):
                actions.append(AddCandidate(event.candidate, event.sdp_mid, event.sdp_mline_index))
            case MediaConnected() if s.phase is Phase.CONNECTING:
                self.state = replace(s, phase=Phase.IN_CALL)
            case AdviserVerified() if (
                s.phase in _BOUND and event.consultation_id == s.consultation_id
            ):
                self.state = replace(s, verified=True)
            case ResumeGranted() if (
                s.phase in _BOUND and event.consultation_id == s.consultation_id
            ):
                self.state = replace(s, resumable=True)
            case DeadPath() | PeerAway() if (
                s.phase in _BOUND and s.consultation_id is not None and s.verified
            ):
                if isinstance(event, PeerAway) and event.consultation_id != s.consultation_id:
                    return actions
                cause = event.cause if isinstance(event, DeadPath) else "peer_away"
                actions += self._start_reconnect(
                    s, cause, hub_up=s.hub_up, peer_present=not isinstance(event, PeerAway)
                )
            case PeerAway() if s.phase in _BOUND and event.consultation_id == s.consultation_id:
                # Not verified: never resumed, it ends as if the adviser had gone.
                actions += [CallFinished(event.consultation_id, "peer_gone")]
                actions += self._end(s, send_end="peer_gone")
            case EndedByPeer() if s.phase in _BOUND and event.consultation_id == s.consultation_id:
                actions += [CallFinished(event.consultation_id, event.reason)]
                actions += self._end(s, send_end=None)
            case ByeReceived() if s.phase in _BOUND and event.consultation_id == s.consultation_id:
                actions += [CallFinished(event.consultation_id, "hangup")]
                actions += self._end(s, send_end="hangup")
            case CallFailed() | DeadPath() | VerificationFailed() if (
                s.phase in _BOUND and s.consultation_id is not None
            ):
                actions += [CallFinished(s.consultation_id, "failed")]
                actions += self._end(s, send_end="failed")
            case CallFailed() if s.phase is Phase.QUEUEING and s.call is not CallSlot.NONE:
                # A failed preparation: drop it; the next accept prepares a fresh call.
                actions.append(CloseCall())
                self.state = replace(s, call=CallSlot.NONE)
            case HangUp() if s.phase in _BOUND and s.consultation_id is not None:
                actions += [CallFinished(s.consultation_id, "customer_left")]
                actions += self._end(s, send_end="customer_left")
            case CallClosed() if s.phase is Phase.ENDING:
                self.state = ConsultationState(phase=Phase.QUEUEING, hub_up=s.hub_up)
                actions += self._requeue()
            case _:
                pass
        return actions

    # -- reconnecting -------------------------------------------------------------

    def _start_reconnect(
        self, s: ConsultationState, cause: str, *, hub_up: bool, peer_present: bool
    ) -> list[Action]:
        assert s.consultation_id is not None  # noqa: S101 - callers check
        actions: list[Action] = [ReconnectStarted(s.consultation_id, cause)]
        if s.call is not CallSlot.NONE:
            actions.append(CloseCall())
        self.state = replace(
            s,
            phase=Phase.RECONNECTING,
            call=CallSlot.NONE,
            commitment=None,
            hub_up=hub_up,
            present=hub_up,  # the hub never lost us if the connection is still up
            peer_present=peer_present,
            answered=False,
            failures=0,
        )
        return actions + self._offer_if_possible()

    def _offer_if_possible(self) -> list[Action]:
        """Prepare or send the new offer once the hub has us and the adviser is there."""
        s = self.state
        if not (s.hub_up and s.present and s.peer_present) or s.consultation_id is None:
            return []
        if s.call is CallSlot.NONE:
            self.state = replace(s, call=CallSlot.PREPARING, answered=False)
            return [PrepareCall(resume=True)]
        if s.call is CallSlot.READY:
            self.state = replace(s, call=CallSlot.ACTIVE)
            return [SendOffer(s.consultation_id, None)]
        return []

    def _drop_call(self) -> list[Action]:
        s = self.state
        if s.call is CallSlot.NONE:
            return []
        self.state = replace(s, call=CallSlot.NONE, answered=False)
        return [CloseCall()]

    def _reconnecting(self, s: ConsultationState, event: Event) -> list[Action]:
        cid = s.consultation_id
        assert cid is not None  # noqa: S101 - reconnecting always has a consultation
        actions: list[Action] = []
        match event:
            case Shutdown():
                actions += self._shutdown(s)
            case HubLost():
                actions += self._drop_call()
                self.state = replace(self.state, hub_up=False, present=False)
            case Welcomed() if s.resumable:
                self.state = replace(s, hub_up=True, present=False)
                actions.append(SendResume(cid))
            case Welcomed():
                # No token to come back with: the consultation is lost.
                self.state = replace(s, hub_up=True)
                actions += [CallFinished(cid, "peer_gone")]
                actions += self._end(self.state, send_end=None)
            case ResumeGranted() if event.consultation_id == cid:
                self.state = replace(s, resumable=True)
            case ResumeAccepted() if event.consultation_id == cid and s.hub_up:
                self.state = replace(s, present=True, peer_present=event.peer_present)
                actions += self._offer_if_possible()
            case ResumeRefused() if not s.present:
                actions += [CallFinished(cid, "peer_gone")]
                actions += self._end(s, send_end=None)
            case PeerAway() if event.consultation_id == cid:
                actions += self._drop_call()
                self.state = replace(self.state, peer_present=False)
            case PeerBack() if event.consultation_id == cid:
                # The adviser's new connection waits for a fresh offer: drop any earlier one.
                actions += self._drop_call()
                self.state = replace(self.state, peer_present=True)
                actions += self._offer_if_possible()
            case CallPrepared() if s.call is CallSlot.PREPARING:
                self.state = replace(s, call=CallSlot.READY)
                actions += self._offer_if_possible()
            case AnswerReceived() if (
                s.call is CallSlot.ACTIVE and not s.answered and event.consultation_id == cid
            ):
                self.state = replace(s, answered=True)
                actions.append(ApplyAnswer(event.sdp))
            case CandidateReceived() if s.call is CallSlot.ACTIVE and event.consultation_id == cid:
                actions.append(AddCandidate(event.candidate, event.sdp_mid, event.sdp_mline_index))
            case Reverified() if (
                event.consultation_id == cid and s.call is CallSlot.ACTIVE and s.answered
            ):
                # Connected is not enough: only the checked proof heals the consultation.
                self.state = replace(s, phase=Phase.IN_CALL, failures=0)
                actions.append(Reconnected(cid))
            case DeadPath() | CallFailed() if s.call is not CallSlot.NONE:
                # The new call did not make it (or died too): try again, after a pause, while
                # grace lasts.
                failures = s.failures + 1
                if failures >= MAX_RESUME_ATTEMPTS:
                    actions += [CallFinished(cid, "peer_gone")]
                    actions += self._end(s, send_end="peer_gone")
                else:
                    actions += self._drop_call()
                    self.state = replace(self.state, failures=failures)
                    actions.append(RetryLater(cid, failures))
            case RetryDue() if event.consultation_id == cid:
                actions += self._offer_if_possible()
            case CannotResume():
                actions += [CallFinished(cid, "failed")]
                actions += self._end(s, send_end="failed")
            case VerificationFailed():
                actions += [CallFinished(cid, "failed")]
                actions += self._end(s, send_end="failed")
            case GraceExpired() if event.consultation_id == cid:
                actions += [CallFinished(cid, "peer_gone")]
                actions += self._end(s, send_end="peer_gone")
            case EndedByPeer() if event.consultation_id == cid:
                actions += [CallFinished(cid, event.reason)]
                actions += self._end(s, send_end=None)
            case ByeReceived() if event.consultation_id == cid:
                actions += [CallFinished(cid, "hangup")]
                actions += self._end(s, send_end="hangup")
            case HangUp():
                actions += [CallFinished(cid, "customer_left")]
                actions += self._end(s, send_end="customer_left")
            case _:
                pass
        return actions

    # -- endings -----------------------------------------------------------------

    def _shutdown(self, s: ConsultationState) -> list[Action]:
        actions: list[Action] = []
        if s.phase in _LIVE and s.consultation_id is not None:
            if s.hub_up:
                actions.append(SendEnd(s.consultation_id, "customer_left"))
            actions.append(CallFinished(s.consultation_id, "customer_left"))
        elif s.phase is Phase.QUEUEING:
            actions.append(SendQueueLeave())
        if s.call is not CallSlot.NONE:
            actions.append(CloseCall(bye=s.phase in _LIVE))
        self.state = ConsultationState(phase=Phase.STOPPED)
        return actions

    def _end(self, s: ConsultationState, *, send_end: EndReason | None) -> list[Action]:
        actions: list[Action] = []
        if send_end is not None and s.consultation_id is not None and s.hub_up:
            actions.append(SendEnd(s.consultation_id, send_end))
        if s.hub_up:
            actions.append(CloseCall(bye=True))
            self.state = ConsultationState(phase=Phase.ENDING, hub_up=True)
        else:
            # Nobody to queue with: close and wait for the hub (Welcomed requeues).
            if s.call is not CallSlot.NONE:
                actions.append(CloseCall(bye=True))
            self.state = ConsultationState(phase=Phase.DISCONNECTED)
        return actions

    def _requeue(self) -> list[Action]:
        # After a call the kiosk is ready for the next customer, with a fresh call.
        self.state = ConsultationState(phase=Phase.QUEUEING, call=CallSlot.PREPARING, hub_up=True)
        return [SendQueueRequest(), PrepareCall()]
