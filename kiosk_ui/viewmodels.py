"""What the UI shows (view models) and what the customer asked for (intents).

Plain frozen dataclasses: ``appliance`` builds the view models and reads the intents; the UI
only renders the first and reports the second. Nothing here knows of aiortc or drivers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


class Screen(StrEnum):
    """Every screen of the customer's journey."""

    ATTRACT = "attract"
    LANGUAGE = "language"
    CONSENT = "consent"
    INTAKE = "intake"
    WAITING = "waiting"
    CALL = "call"
    SIGNATURE = "signature"
    GOODBYE = "goodbye"
    RECONNECTING = "reconnecting"
    OUT_OF_SERVICE = "out_of_service"


LANGUAGES = ("de", "en")
RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Branding:
    """The tenant's look: name, colours and an optional logo (PNG path)."""

    name: str = "Musterbank"
    primary: RGB = (0, 84, 159)
    background: RGB = (247, 248, 250)
    text: RGB = (25, 28, 33)
    logo_path: str | None = None


@dataclass(frozen=True)
class FieldSpec:
    """One intake field as the tenant configured it; labels per language."""

    key: str
    label: dict[str, str] = field(hash=False, compare=False, default_factory=dict)
    required: bool = True
    max_length: int = 40

    def label_in(self, language: str) -> str:
        """The label in ``language`` (falling back to any language given)."""
        return self.label.get(language) or next(iter(self.label.values()), self.key)


DEFAULT_FIELDS = (
    FieldSpec("name", {"de": "Ihr Name", "en": "Your name"}, True, 40),
    FieldSpec("topic", {"de": "Ihr Anliegen", "en": "Your topic"}, False, 60),
)


@dataclass(frozen=True)
class Picture:
    """An RGB image handed over whole (document pages, photo previews)."""

    width: int
    height: int
    rgb: bytes = field(repr=False)


@dataclass(frozen=True)
class ChatLine:
    """One chat message; ``mine`` is the customer's own."""

    mine: bool
    text: str = field(repr=False)


@dataclass(frozen=True)
class DocumentView:
    """A document the adviser sent, rendered to pages."""

    title: str = field(repr=False)
    pages: tuple[Picture, ...] = ()
    page: int = 0


@dataclass(frozen=True)
class PhotoView:
    """Photo capture: a countdown, then a preview to keep or retake."""

    countdown: int | None = None  # seconds before the shot; None once taken
    preview: Picture | None = None


@dataclass(frozen=True)
class CallView:
    """Everything of the call screen except the video itself (see ``MediaFeed``)."""

    connected: bool = False
    muted: bool = False
    camera_off: bool = False
    chat_open: bool = False
    chat: tuple[ChatLine, ...] = ()
    document_notice: bool = False  # a document arrived and is not opened yet
    document: DocumentView | None = None  # opened in the viewer
    scan_progress: float | None = None  # 0..1 while a scan runs
    photo: PhotoView | None = None
    screen_share: bool = False  # the adviser shares a screen (shown instead of the face)
    # The four words the adviser reads out (docs/verification.md); None until verified.
    verification_code: str | None = None


@dataclass(frozen=True)
class SignatureView:
    """The page to sign; the ink itself arrives through ``MediaFeed.ink``."""

    page: Picture | None = None
    title: str = field(default="", repr=False)
    has_ink: bool = False


@dataclass(frozen=True)
class WipeView:
    """The verified wipe the goodbye screen shows (numbers only, no personal data)."""

    verified: bool
    files: int
    bytes: int
    method: str


@dataclass(frozen=True)
class KioskView:
    """The whole screen at one moment."""

    screen: Screen = Screen.ATTRACT
    language: str = "de"
    large_text: bool = False
    branding: Branding = Branding()
    countdown: int | None = None  # seconds left before the inactivity timeout, when warning
    fields: tuple[FieldSpec, ...] = DEFAULT_FIELDS
    consent_text: dict[str, str] | None = field(default=None, hash=False, compare=False)
    queue_position: int | None = None
    estimated_wait_min: int | None = None
    call: CallView = CallView()
    signature: SignatureView = SignatureView()
    wipe: WipeView | None = None  # None on goodbye while the wipe still runs
    problem: str | None = None  # out of service: the cause, for the technician
    unverified: bool = False  # goodbye: the call was ended because it could not be verified
    session: int = 0  # changes whenever a customer's session ends: drop all local state


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
class RetakePhoto:
    """Take the photo again."""


@dataclass(frozen=True)
class KeepPhoto:
    """Send the photo."""


@dataclass(frozen=True)
class ClearSignature:
    """Wipe the ink and start again."""


@dataclass(frozen=True)
class ConfirmSignature:
    """Sign with the ink shown."""


@dataclass(frozen=True)
class Done:
    """Leave the goodbye screen now."""


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
    | RetakePhoto
    | KeepPhoto
    | ClearSignature
    | ConfirmSignature
    | Done
)


# -- live media ----------------------------------------------------------------------


@dataclass(frozen=True)
class VideoFrame:
    """One RGB frame (``width * height * 3`` bytes); ``seq`` grows with every new frame."""

    width: int
    height: int
    rgb: bytes = field(repr=False)
    seq: int = 0


@dataclass(frozen=True)
class Ink:
    """The pen strokes so far, in 0..1 page coordinates; ``seq`` grows with every sample."""

    strokes: tuple[tuple[tuple[float, float], ...], ...] = ()
    seq: int = 0


class MediaFeed(Protocol):
    """Where the UI pulls live pictures from, once per frame; every call must be cheap."""

    def remote_video(self) -> VideoFrame | None:
        """The adviser's latest video frame (or shared screen)."""

    def self_view(self) -> VideoFrame | None:
        """The kiosk camera's latest frame."""

    def ink(self) -> Ink:
        """The signature's strokes so far."""


class NoMedia:
    """A ``MediaFeed`` with nothing to show."""

    def remote_video(self) -> VideoFrame | None:
        """Nothing."""
        return None

    def self_view(self) -> VideoFrame | None:
        """Nothing."""
        return None

    def ink(self) -> Ink:
        """No strokes."""
        return Ink()
