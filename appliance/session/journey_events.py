"""What goes into the journey machine besides UI intents (events) and what comes out (actions).

Plain frozen records, no behaviour: ``appliance.session.journey`` decides; the shell
(``appliance.ui.bridge``) reports the appliance's events and carries out the actions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

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
class ReferenceReceived:
    """The hub's conversation reference for this session's consultation (goodbye shows it)."""

    reference: str = field(repr=False)  # ties the customer to the conversation: never logged


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


SignatureTaskState = Literal[
    "reading", "signing", "sealing", "done", "failed", "declined", "cancelled"
]


@dataclass(frozen=True)
class SignatureChanged:
    """The adviser's signature request ``id`` changed (the desk's ``SignatureTask``).

    ``reading`` opens its document in the viewer, ``signing`` the signature screen,
    ``sealing`` waits on the call screen; the other states end it with a notice.
    """

    id: str
    state: SignatureTaskState
    title: str = field(default="", repr=False)
    trustee_name: str = field(default="", repr=False)
    message: v.SignatureMessage | None = None
    page: int | None = None  # the page the signature goes on (0-based); None: the last
    focus: tuple[float, float, float, float] | None = None  # its box, 0..1 from the top left


@dataclass(frozen=True)
class SignatureDocument:
    """The document of signature request ``id``, rendered (or marked unreadable)."""

    id: str
    document: v.DocumentView


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
    | ReferenceReceived
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
    | SignatureChanged
    | SignatureDocument
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


SignatureChoice = Literal["read", "clear", "confirm", "decline", "timed_out"]


@dataclass(frozen=True)
class SignatureDecision:
    """The customer read the document, cleared the ink, confirmed or declined to sign, or
    the signature screen timed out (the ``SignatureDecisions`` method of ``request_id``)."""

    decision: SignatureChoice
    request_id: str = ""


@dataclass(frozen=True)
class SignaturePointer:
    """The mouse or a finger in the ink area (0..1 of it) for the simulated tablet."""

    x: float
    y: float
    down: bool


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
    | SignaturePointer
)
