"""What goes into the journey machine besides UI intents (events) and what comes out (actions).

Plain frozen records, no behaviour: ``appliance.session.journey`` decides; the shell
(``appliance.ui.bridge``) reports the appliance's events and carries out the actions.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kiosk_ui import viewmodels as v

# -- appliance events ------------------------------------------------------------------


@dataclass(frozen=True)
class Tick:
    """Time passed (the shell sends one at least every second)."""


@dataclass(frozen=True)
class HubReachable:
    """The hub accepted the kiosk."""


@dataclass(frozen=True)
class HubUnreachable:
    """The hub connection is lost."""


@dataclass(frozen=True)
class QueueUpdate:
    """Our place in the queue."""

    position: int


@dataclass(frozen=True)
class AdviserAccepted:
    """An adviser took the customer; the call is connecting."""


@dataclass(frozen=True)
class CallConnected:
    """Media flows."""


@dataclass(frozen=True)
class CallEnded:
    """The consultation is over (any reason); the kiosk wipes next."""

    unverified: bool = False  # ended because the adviser could not be verified


@dataclass(frozen=True)
class CallVerified:
    """The adviser passed the checks; ``code`` is the four words both ends show."""

    code: str


@dataclass(frozen=True)
class WipeFinished:
    """A wipe verified; what to show on goodbye."""

    wipe: v.WipeView


@dataclass(frozen=True)
class WipeFailed:
    """The wipe could not be verified: the kiosk is out of service."""

    problem: str


@dataclass(frozen=True)
class ServiceRestored:
    """Storage is clean again after being out of service."""


@dataclass(frozen=True)
class ChatReceived:
    """A chat line from the adviser."""

    text: str = field(repr=False)


@dataclass(frozen=True)
class CallInterrupted:
    """The call's path dropped; the kiosk heals it (phase ``reconnecting``)."""


@dataclass(frozen=True)
class DocumentReceived:
    """The adviser pushed a document (already rendered to pages, or marked unreadable)."""

    document: v.DocumentView


@dataclass(frozen=True)
class ExchangeUpdate:
    """A new snapshot of the exchange: the current request, transfers, screen share."""

    request: v.RequestPanel | None
    transfers: tuple[v.TransferView, ...] = ()
    screen_share: bool = False


@dataclass(frozen=True)
class SignatureRequested:
    """The adviser asks for a signature on this page."""

    page: v.Picture | None
    title: str = field(repr=False)


@dataclass(frozen=True)
class InkChanged:
    """The pen drew (or the ink was cleared)."""

    has_ink: bool


Event = (
    v.Intent
    | Tick
    | HubReachable
    | HubUnreachable
    | QueueUpdate
    | AdviserAccepted
    | CallConnected
    | CallEnded
    | CallVerified
    | WipeFinished
    | WipeFailed
    | ServiceRestored
    | CallInterrupted
    | ChatReceived
    | DocumentReceived
    | ExchangeUpdate
    | SignatureRequested
    | InkChanged
)

# -- actions ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestConsultation:
    """Queue for an adviser with the intake form's values."""

    values: tuple[tuple[str, str], ...] = field(repr=False)


@dataclass(frozen=True)
class LeaveQueue:
    """Leave the queue (the customer cancelled or left)."""


@dataclass(frozen=True)
class EndCall:
    """Hang up; the kiosk wipes once the call is closed."""

    trigger: str  # "hangup" or "inactivity"


@dataclass(frozen=True)
class EndSession:
    """End a session that has no call and wipe it."""

    trigger: str  # "customer_abort", "inactivity", "hub_lost"


@dataclass(frozen=True)
class SetMute:
    """Mute (True) or unmute the microphone."""

    muted: bool


@dataclass(frozen=True)
class SetCamera:
    """Camera off (True) or on."""

    off: bool


@dataclass(frozen=True)
class SendChatLine:
    """Send a chat line to the adviser."""

    text: str = field(repr=False)


@dataclass(frozen=True)
class RequestDecision:
    """The customer's answer to a scan or photo request (``CustomerDecisions`` method)."""

    request_id: str
    choice: v.Choice


@dataclass(frozen=True)
class SignatureDecision:
    """Clear the ink, confirm the signature, or decline to sign."""

    decision: str  # "clear", "confirm", "decline"


Action = (
    RequestConsultation
    | LeaveQueue
    | EndCall
    | EndSession
    | SetMute
    | SetCamera
    | SendChatLine
    | RequestDecision
    | SignatureDecision
)
