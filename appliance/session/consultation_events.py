"""What goes into the consultation machine (events) and what comes out (actions).

Plain frozen records, no behaviour: ``appliance.session.consultation`` decides, the shell
(``appliance.runner.kiosk``) reports outcomes as events and carries out the actions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protocol.messages import EndReason

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
class ReferenceReceived:
    """The hub stored our queued consultation under this reference (for the goodbye screen)."""

    consultation_id: str
    reference: str = field(repr=False)  # ties the customer to the conversation: never logged


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
class MediaConnected:
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


@dataclass(frozen=True)
class AdviserVerified:
    """The adviser passed the checks (first connection): this consultation may be resumed."""

    consultation_id: str


@dataclass(frozen=True)
class Reverified:
    """A resumed call's ``resume_proof`` checked out: the consultation is healed."""

    consultation_id: str


@dataclass(frozen=True)
class CannotResume:
    """The shell has nothing to prove a new call with (no continuity secret): end."""


@dataclass(frozen=True)
class RetryDue:
    """The pause after a failed new call is over (``RetryLater``): try again."""

    consultation_id: str


@dataclass(frozen=True)
class VerificationFailed:
    """The adviser's reveal or resume proof was wrong or missing: end, with the warning."""


@dataclass(frozen=True)
class ResumeGranted:
    """The hub sent a resume token for this consultation (the shell keeps the token)."""

    consultation_id: str


@dataclass(frozen=True)
class DeadPath:
    """The current call's path is dead (beat silence, or the connection failed/closed)."""

    cause: str


@dataclass(frozen=True)
class PeerAway:
    """The hub says the adviser's connection dropped (its grace period runs)."""

    consultation_id: str


@dataclass(frozen=True)
class PeerBack:
    """The hub says the adviser resumed: make a new offer."""

    consultation_id: str


@dataclass(frozen=True)
class ResumeAccepted:
    """The hub put us back into our consultation; ``peer_present``: the adviser is there."""

    consultation_id: str
    peer_present: bool


@dataclass(frozen=True)
class ResumeRefused:
    """The hub answered our ``resume`` with an error: the consultation is gone."""


@dataclass(frozen=True)
class ByeReceived:
    """The adviser ended the call on purpose (``bye`` on the data channel).

    The console also tells the hub; the kiosk says ``end`` too, so that the hub never keeps
    the consultation alive (and the kiosk out of the queue) should the console's be lost.
    """

    consultation_id: str


@dataclass(frozen=True)
class GraceExpired:
    """The kiosk's own grace timer for this consultation ran out."""

    consultation_id: str


Event = (
    Welcomed
    | HubLost
    | QueuePositionChanged
    | ReferenceReceived
    | Accepted
    | CommitmentReceived
    | AnswerReceived
    | CandidateReceived
    | EndedByPeer
    | CallPrepared
    | MediaConnected
    | CallFailed
    | CallClosed
    | HangUp
    | Shutdown
    | AdviserVerified
    | Reverified
    | CannotResume
    | RetryDue
    | VerificationFailed
    | ResumeGranted
    | DeadPath
    | PeerAway
    | PeerBack
    | ResumeAccepted
    | ResumeRefused
    | GraceExpired
    | ByeReceived
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
    """Build a new call and prepare its offer; report ``CallPrepared`` or ``CallFailed``.

    ``resume``: a later call of the current (verified) consultation, which proves itself
    with the continuity secret instead of the commitment.
    """

    resume: bool = False


@dataclass(frozen=True)
class SendOffer:
    """Send the prepared offer for this consultation; the call keeps the commitment.

    ``commitment`` is None for a resumed call (it is not used again).
    """

    consultation_id: str
    commitment: str | None


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
    """Close the call; report ``CallClosed`` when done. ``bye``: tell the adviser it is over."""

    bye: bool = False


@dataclass(frozen=True)
class SendResume:
    """Ask the hub to put us back into this consultation (the shell adds the token)."""

    consultation_id: str


@dataclass(frozen=True)
class ReconnectStarted:
    """Bookkeeping: the consultation lost its call (``cause``); start the grace timer."""

    consultation_id: str
    cause: str


@dataclass(frozen=True)
class Reconnected:
    """Bookkeeping: a new call of the consultation proved itself; stop the grace timer."""

    consultation_id: str


@dataclass(frozen=True)
class RetryLater:
    """Report ``RetryDue`` after a pause that grows with ``attempt`` (1, 2, ...).

    A new call that fails at once (preparing, say) must not be retried in the same breath:
    the shell would never get back to its other inputs, the grace timer among them.
    """

    consultation_id: str
    attempt: int


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
    | SendResume
    | ReconnectStarted
    | Reconnected
    | RetryLater
)
