"""What reaches the kiosk's loop, and the hub's messages as events of the consultation machine.

Everything the shell reacts to goes through one queue and is handled one item at a time: hub
events (``HubUp``, ``HubDown``, ``HubMessage``), the current call's callbacks (``FromCall``),
timers, the customer at the screen, and the machine's own events.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from appliance.custody.wipe import WipeTrigger
from appliance.runner.hub_client import HubEvent
from appliance.session import consultation
from protocol import messages

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FromCall:
    """An event raised by one call's callbacks; dropped if that call is no longer current."""

    generation: int
    event: consultation.Event


@dataclass(frozen=True)
class ConnectTimeout:
    """The call of this consultation did not connect in time."""

    consultation_id: str
    generation: int | None = None  # a resumed call's: only that call may time out


@dataclass(frozen=True)
class GraceTimeout:
    """The kiosk's grace period for this consultation ran out (docs/reconnection.md)."""

    consultation_id: str


@dataclass(frozen=True)
class HubFinished:
    """The hub client stopped: on ``close()`` (no error) or for good (``HubRejected``)."""

    error: BaseException | None


@dataclass(frozen=True)
class EndSession:
    """The customer's session ends (the UI's abort, inactivity...): wipe, in a call hang up."""

    trigger: WipeTrigger


@dataclass(frozen=True)
class CustomerQueue:
    """The customer at the screen asks for an adviser (``wants``) or no longer waits."""

    wants: bool


KioskInput = (
    CustomerQueue
    | consultation.Event
    | FromCall
    | ConnectTimeout
    | GraceTimeout
    | HubFinished
    | EndSession
    | HubEvent
)


def consultation_event(
    message: messages.AnyMessage, state: consultation.ConsultationState
) -> consultation.Event | None:
    """The machine's event for a message from the hub in ``state``; None to drop it.

    A ``ResumeGrant`` becomes ``ResumeGranted`` only for the current consultation (the shell
    keeps its token); the hub's ``not_found`` refuses a pending resume only while reconnecting
    without the hub having us back.
    """
    match message:
        case messages.QueuePosition():
            return consultation.QueuePositionChanged(
                message.consultation_id, message.position, message.waiting
            )
        case messages.ConsultationReference():
            return consultation.ReferenceReceived(message.consultation_id, message.reference)
        case messages.Accepted():
            return consultation.Accepted(message.consultation_id, message.peer)
        case messages.SasCommit():
            return consultation.CommitmentReceived(message.consultation_id, message.commitment)
        case messages.Answer():
            return consultation.AnswerReceived(message.consultation_id, message.sdp)
        case messages.IceCandidate():
            return consultation.CandidateReceived(
                message.consultation_id,
                message.candidate,
                message.sdp_mid,
                message.sdp_mline_index,
            )
        case messages.Ended():
            return consultation.EndedByPeer(message.consultation_id, message.reason)
        case messages.ResumeGrant():
            if message.consultation_id != state.consultation_id:
                return None
            return consultation.ResumeGranted(message.consultation_id)
        case messages.Resumed():
            return consultation.ResumeAccepted(message.consultation_id, message.peer_present)
        case messages.PeerAway():
            return consultation.PeerAway(message.consultation_id)
        case messages.PeerBack():
            return consultation.PeerBack(message.consultation_id)
        case messages.Error(code="not_found") if (
            state.phase is consultation.Phase.RECONNECTING and not state.present
        ):
            # The hub's one answer to a resume it refuses (for every reason).
            log.warning("hub refused our resume: %s", message.code)
            return consultation.ResumeRefused()
        case messages.Error():
            log.warning("hub refused a request: %s", message.code)
            return None
        case _:
            return None


def timed_out(
    timeout: ConnectTimeout,
    state: consultation.ConsultationState,
    current_generation: int,
    timeout_s: float,
) -> consultation.Event | None:
    """``CallFailed`` if the call that ``timeout`` timed is still connecting; else None.

    A first call times out while offering or connecting; a resumed call (its generation is
    set) only while it is the current one and the consultation still reconnects, and then the
    machine tries again while the grace period lasts.
    """
    if state.consultation_id != timeout.consultation_id:
        return None
    if timeout.generation is not None:
        if (
            timeout.generation == current_generation
            and state.phase is consultation.Phase.RECONNECTING
        ):
            log.warning("the new call did not connect within %.0f s", timeout_s)
            return consultation.CallFailed()
        return None
    if state.phase in (consultation.Phase.OFFERING, consultation.Phase.CONNECTING):
        log.warning("call did not connect within %.0f s", timeout_s)
        return consultation.CallFailed()
    return None
