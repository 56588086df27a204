"""What the customer asked for: the UI's intents (re-exported by ``kiosk_ui.viewmodels``).

Plain frozen dataclasses: the UI reports them, ``appliance`` reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "Abort",
    "AcceptConsent",
    "Choice",
    "ChooseLanguage",
    "ClearSignature",
    "CloseDocument",
    "ConfirmSignature",
    "ContinueToSign",
    "DecideRequest",
    "DeclineConsent",
    "DeclineSignature",
    "DismissRequest",
    "DismissSignatureNotice",
    "Done",
    "HangUp",
    "Intent",
    "OpenDocument",
    "PanDocument",
    "PenPointer",
    "SendChat",
    "Start",
    "StillHere",
    "SubmitIntake",
    "TechnicianAct",
    "TechnicianChoice",
    "ToggleCamera",
    "ToggleChat",
    "ToggleLargeText",
    "ToggleMute",
    "TurnPage",
    "ZoomDocument",
]

Choice = Literal["start", "confirm", "retake", "decline"]  # a scan or photo request's buttons

# -- intents -------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """Leave the attract screen."""


@dataclass(frozen=True)
class ChooseLanguage:
    """Switch language (from the language screen or the header, any time)."""

    language: str


@dataclass(frozen=True)
class AcceptConsent:
    """The customer accepts the privacy notice."""


@dataclass(frozen=True)
class DeclineConsent:
    """The customer declines: back to the start, nothing stored, nothing sent."""


@dataclass(frozen=True)
class SubmitIntake:
    """The intake form is complete: queue for an adviser."""

    values: tuple[tuple[str, str], ...] = field(repr=False)


@dataclass(frozen=True)
class Abort:
    """Cancel / close from any screen."""


@dataclass(frozen=True)
class StillHere:
    """The customer touched the screen: reset the inactivity timer."""


@dataclass(frozen=True)
class ToggleLargeText:
    """Switch the large-text mode."""


@dataclass(frozen=True)
class HangUp:
    """End the call."""


@dataclass(frozen=True)
class ToggleMute:
    """Mute or unmute the microphone."""


@dataclass(frozen=True)
class ToggleCamera:
    """Switch the camera off or on."""


@dataclass(frozen=True)
class ToggleChat:
    """Open or close the chat panel."""


@dataclass(frozen=True)
class SendChat:
    """Send a chat line."""

    text: str = field(repr=False)


@dataclass(frozen=True)
class OpenDocument:
    """Open the document that arrived."""


@dataclass(frozen=True)
class CloseDocument:
    """Close the document viewer."""


@dataclass(frozen=True)
class TurnPage:
    """Next (+1) or previous (-1) page."""

    delta: int


@dataclass(frozen=True)
class DecideRequest:
    """The customer's answer to the adviser's scan or photo request ``request_id``."""

    request_id: str
    choice: Choice


@dataclass(frozen=True)
class DismissRequest:
    """Close the notice of a request that failed."""

    request_id: str


@dataclass(frozen=True)
class ClearSignature:
    """Wipe the ink and start again."""


@dataclass(frozen=True)
class ConfirmSignature:
    """Sign with the ink shown."""


@dataclass(frozen=True)
class ContinueToSign:
    """The customer has read the document: on to the signature screen."""


@dataclass(frozen=True)
class DeclineSignature:
    """The customer does not sign: the request ends and nothing is recorded."""


@dataclass(frozen=True)
class PenPointer:
    """The mouse or a finger in the ink area: ``x``, ``y`` in 0..1 of it; ``down``: drawing."""

    x: float
    y: float
    down: bool


@dataclass(frozen=True)
class DismissSignatureNotice:
    """Close the notice of how the signature request ended."""


@dataclass(frozen=True)
class ZoomDocument:
    """Zoom the viewer in (+1), out (-1), or back to the whole page (0)."""

    step: int


@dataclass(frozen=True)
class PanDocument:
    """Move the zoomed page: ``x``, ``y`` (0..1) is the point of the page to show mid view."""

    x: float
    y: float


@dataclass(frozen=True)
class Done:
    """Leave the goodbye screen now."""


TechnicianAct = Literal["confirm_ca", "reject_ca", "start", "selftest", "check_again", "edit"]


@dataclass(frozen=True)
class TechnicianChoice:
    """A button of the technician screen (its form is sent as ``SubmitIntake``)."""

    choice: TechnicianAct


Intent = (
    Start
    | ChooseLanguage
    | AcceptConsent
    | DeclineConsent
    | SubmitIntake
    | Abort
    | StillHere
    | ToggleLargeText
    | HangUp
    | ToggleMute
    | ToggleCamera
    | ToggleChat
    | SendChat
    | OpenDocument
    | CloseDocument
    | TurnPage
    | DecideRequest
    | DismissRequest
    | ClearSignature
    | ConfirmSignature
    | ContinueToSign
    | DeclineSignature
    | PenPointer
    | DismissSignatureNotice
    | ZoomDocument
    | PanDocument
    | Done
    | TechnicianChoice
)
