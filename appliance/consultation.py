"""The kiosk's side of a consultation as a pure state machine (no I/O, no clock).

``Consultation.handle(event)`` returns the actions the shell (``appliance.kiosk``) must carry
out, in order. The shell reports outcomes back as events (``CallPrepared``, ``CallClosed``...).

    disconnected --welcome--> queueing --accepted--> offering --answer--> connecting
         ^                       ^                                          |
         |                       +-------- ending <--ended/failed----- in_call <-connected
         +---- hub lost (from any state; an open call is closed) ----------+

The queueing state owns at most a *prepared* call (candidates gathered, nobody on the other
end); a call bound to a consultation exists only from ``offering`` to ``ending``. In
``offering`` the offer goes out only once the adviser's ``sas_commit`` is held (the kiosk's
fingerprint must not travel before the adviser's is fixed: docs/verification.md).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from protocol.messages import EndReason


class Phase(StrEnum):
    """Where the kiosk stands."""

    DISCONNECTED = "disconnected"  # no hub session (connecting or backing off)
    QUEUEING = "queueing"  # waiting for an adviser; a call may be prepared
    OFFERING = "offering"  # accepted; the offer is (being) sent, waiting for the answer
    CONNECTING = "connecting"  # answer applied; ICE and DTLS under way
    IN_CALL = "in_call"  # media flowing
    ENDING = "ending"  # closing the call before queueing again
    STOPPED = "stopped"  # shut down; terminal


class CallSlot(StrEnum):
    """What the machine believes about the peer connection object."""

    NONE = "none"
    PREPARING = "preparing"
    READY = "ready"  # offer prepared, not yet sent
    ACTIVE = "active"  # offer sent for a consultation


# -- events -----------------------------------------------------------------


@dataclass(frozen=True)
class Welcomed:
    """The hub accepted our hello."""


@dataclass(frozen=True)
class HubLost:
    """The WebSocket to the hub closed or went silent."""


@dataclass(frozen=True)
class QueuePositionChanged:
    """The hub told us our place in the queue."""

    consultation_id: str
    position: int
    waiting: int


@dataclass(frozen=True)
class Accepted:
    """An adviser took us."""

    consultation_id: str
    peer: str


@dataclass(frozen=True)
class CommitmentReceived:
    """The adviser's ``sas_commit``: the offer may go out now."""

    consultation_id: str
    commitment: str


@dataclass(frozen=True)
class AnswerReceived:
    """The adviser's SDP answer."""

    consultation_id: str
    sdp: str


@dataclass(frozen=True)
class CandidateReceived:
    """A trickled ICE candidate from the adviser."""

    consultation_id: str
    candidate: str
    sdp_mid: str | None
    sdp_mline_index: int | None


@dataclass(frozen=True)
class EndedByPeer:
    """The hub says the consultation is over."""

    consultation_id: str
    reason: EndReason


@dataclass(frozen=True)
class CallPrepared:
    """The shell finished preparing the offer."""


@dataclass(frozen=True)
class CallConnected:
    """The peer connection reached ``connected``."""


@dataclass(frozen=True)
class CallFailed:
    """Preparing, negotiating or running the call failed (or timed out)."""


@dataclass(frozen=True)
class CallClosed:
    """The shell finished closing the call."""


@dataclass(frozen=True)
class HangUp:
    """The customer ends the call."""


@dataclass(frozen=True)
class Shutdown:
    """The process is stopping."""


Event = (
    Welcomed
    | HubLost
    | QueuePositionChanged
    | Accepted
    | CommitmentReceived
    | AnswerReceived
    | CandidateReceived
    | EndedByPeer
    | CallPrepared
    | CallConnected
    | CallFailed
    | CallClosed
    | HangUp
    | Shutdown
)

# -- actions ----------------------------------------------------------------


@dataclass(frozen=True)
class SendQueueRequest:
    """Ask the hub for a place in the queue."""


@dataclass(frozen=True)
class SendQueueLeave:
    """Leave the queue."""


@dataclass(frozen=True)
class PrepareCall:
    """Build a new call and prepare its offer; report ``CallPrepared`` or ``CallFailed``."""


@dataclass(frozen=True)
class SendOffer:
    """Send the prepared offer for this consultation; the call keeps the commitment."""

    consultation_id: str
    commitment: str


@dataclass(frozen=True)
class ApplyAnswer:
    """Give the answer to the call; report ``CallFailed`` if it is refused."""

    sdp: str


@dataclass(frozen=True)
class AddCandidate:
    """Give a remote candidate to the call."""

    candidate: str
    sdp_mid: str | None
    sdp_mline_index: int | None


@dataclass(frozen=True)
class SendEnd:
    """Tell the hub we end the consultation."""

    consultation_id: str
    reason: EndReason


@dataclass(frozen=True)
class CloseCall:
    """Close the call; report ``CallClosed`` when done."""


@dataclass(frozen=True)
class CallStarted:
    """Bookkeeping: a consultation began (the shell starts its stats and timers)."""

    consultation_id: str
    peer: str


@dataclass(frozen=True)
class CallFinished:
    """Bookkeeping: a consultation is over (the shell records its stats)."""

    consultation_id: str
    reason: EndReason


Action = (
    SendQueueRequest
    | SendQueueLeave
    | PrepareCall
    | SendOffer
    | ApplyAnswer
    | AddCandidate
    | SendEnd
    | CloseCall
    | CallStarted
    | CallFinished
)

_BOUND = (Phase.OFFERING, Phase.CONNECTING, Phase.IN_CALL)


@dataclass(frozen=True)
class ConsultationState:
    """Snapshot of the machine (immutable; ``handle`` replaces it)."""

    phase: Phase = Phase.DISCONNECTED
    call: CallSlot = CallSlot.NONE
    consultation_id: str | None = None  # bound only from offering to in_call
    position: int | None = None
    commitment: str | None = None  # the adviser's sas_commit, once received


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
        actions: list[Action] = []
        if s.phase is Phase.STOPPED:
            return actions
        match event:
            case Shutdown():
                if s.phase in _BOUND and s.consultation_id is not None:
                    actions += [
                        SendEnd(s.consultation_id, "customer_left"),
                        CallFinished(s.consultation_id, "customer_left"),
                    ]
                elif s.phase is Phase.QUEUEING:
                    actions.append(SendQueueLeave())
                if s.call is not CallSlot.NONE:
                    actions.append(CloseCall())
                self.state = ConsultationState(phase=Phase.STOPPED)
            case HubLost():
                if s.phase in _BOUND and s.consultation_id is not None:
                    actions.append(CallFinished(s.consultation_id, "peer_gone"))
                if s.call is not CallSlot.NONE:
                    actions.append(CloseCall())
                self.state = ConsultationState(phase=Phase.DISCONNECTED)
            case Welcomed() if s.phase is Phase.DISCONNECTED:
                actions += [SendQueueRequest(), PrepareCall()]
                self.state = ConsultationState(phase=Phase.QUEUEING, call=CallSlot.PREPARING)
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
                self.state = ConsultationState(
                    phase=Phase.OFFERING, call=call, consultation_id=event.consultation_id
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
                self.state = replace(s, phase=Phase.CONNECTING)
            case CandidateReceived() if (
                s.phase in _BOUND
                and s.call is CallSlot.ACTIVE
                and event.consultation_id == s.consultation_id
            ):
                actions.append(AddCandidate(event.candidate, event.sdp_mid, event.sdp_mline_index))
            case CallConnected() if s.phase is Phase.CONNECTING:
                self.state = replace(s, phase=Phase.IN_CALL)
            case EndedByPeer() if s.phase in _BOUND and event.consultation_id == s.consultation_id:
                actions += [CallFinished(event.consultation_id, event.reason)]
                actions += self._end(s, send_end=None)
            case CallFailed() if s.phase in _BOUND and s.consultation_id is not None:
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
                self.state = ConsultationState(phase=Phase.QUEUEING)
                actions += self._requeue()
            case _:
                pass
        return actions

    def _end(self, s: ConsultationState, *, send_end: EndReason | None) -> list[Action]:
        actions: list[Action] = []
        if send_end is not None and s.consultation_id is not None:
            actions.append(SendEnd(s.consultation_id, send_end))
        actions.append(CloseCall())
        self.state = ConsultationState(phase=Phase.ENDING)
        return actions

    def _requeue(self) -> list[Action]:
        # After a call the kiosk is ready for the next customer, with a fresh call.
        self.state = ConsultationState(phase=Phase.QUEUEING, call=CallSlot.PREPARING)
        return [SendQueueRequest(), PrepareCall()]
