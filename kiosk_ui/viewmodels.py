"""What the UI shows (view models); what the customer asked for (intents, in ``kiosk_ui.intents``).

Plain frozen dataclasses: ``appliance`` builds the view models and reads the intents; the UI
only renders the first and reports the second. Nothing here knows of aiortc or drivers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal, Protocol

# The intents live in kiosk_ui.intents; importers may use either module.
from kiosk_ui.intents import *  # noqa: F403
from kiosk_ui.intents import Choice


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
    TECHNICIAN = "technician"  # enrolment, while the kiosk has no usable identity


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
# The technician screen's form (``appliance.session.technician``).
TECHNICIAN_FIELDS = (
    FieldSpec("hub_url", {"de": "Adresse des Hubs", "en": "Hub address"}, True, 200),
    FieldSpec("code", {"de": "Registrierungscode", "en": "Enrolment code"}, True, 32),
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


ZOOMS = (1.0, 1.5, 2.0, 3.0)  # the viewer's zoom steps; 1.0: the whole page fits


@dataclass(frozen=True)
class DocumentView:
    """A document in the viewer, rendered to pages (none: it could not be shown).

    ``zoom`` is one of ``ZOOMS``; ``centre`` is the point of the page (0..1, from the top
    left) in the middle of the view when zoomed (the painter keeps the page filling the view).
    """

    title: str = field(repr=False)
    pages: tuple[Picture, ...] = ()
    page: int = 0
    unreadable: bool = False  # the bytes did not render; the viewer says so
    zoom: float = 1.0
    centre: tuple[float, float] = (0.5, 0.0)
    loading: bool = False  # still being read and rendered (a signature request's document)
    signing: bool = False  # the document of a signature request: read, then sign or decline


RequestKind = Literal["scan", "photo"]


@dataclass(frozen=True)
class RequestPanel:
    """The adviser's scan or photo request as the customer sees it (from ``ExchangeState``).

    ``state`` is the protocol's request state (``asked``, ``scanning``, ``countdown``,
    ``confirming``, ``sending``, ``failed``...); ``pending`` hides the buttons between a tap
    and the exchange's next snapshot, so a double tap does not decide twice.
    """

    id: str
    kind: RequestKind
    state: str
    progress: int = 0  # percent
    countdown: int | None = None
    previews: tuple[Picture, ...] = ()
    pending: bool = False

    def allows(self, choice: Choice) -> bool:
        """Whether ``choice`` makes sense in this state (the buttons shown offer it)."""
        return not self.pending and self.state in _ALLOWED[choice]


_ALLOWED: dict[str, tuple[str, ...]] = {
    "start": ("asked",),
    "confirm": ("confirming",),
    "retake": ("confirming", "failed"),
    "decline": ("asked", "scanning", "countdown", "confirming"),
}
# Request states that show a panel; declined and cancelled ones simply go away.
REQUEST_SHOWN = ("asked", "scanning", "countdown", "confirming", "sending", "failed")


@dataclass(frozen=True)
class TransferView:
    """A file on its way in (``in``) or out, for the small progress indicator."""

    direction: Literal["in", "out"]
    fraction: float  # 0..1


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
    request: RequestPanel | None = None  # the adviser's scan or photo request, while shown
    transfers: tuple[TransferView, ...] = ()  # files on their way (in or out)
    screen_share: bool = False  # the adviser's shared screen fills the stage
    reconnecting: bool = False  # the call's path dropped and heals: the last picture stays
    # The four words the adviser reads out (docs/verification.md); None until verified.
    verification_code: str | None = None
    signature_notice: SignatureOutcome | None = None  # how the last signature request ended


SignatureState = Literal["reading", "signing", "sealing"]
SignatureMessage = Literal["tablet_gone", "too_long", "no_ink"]
# How a signature request ended, as the call screen's short notice says it.
SignatureOutcome = Literal["done", "declined", "failed", "cancelled"]


@dataclass(frozen=True)
class SignatureView:
    """The adviser's signature request as the customer sees it; the ink arrives through
    ``MediaFeed.ink``.

    ``state``: ``reading`` (the document in the call's viewer, "Continue to sign"),
    ``signing`` (the signature screen), ``sealing`` (confirmed; the kiosk seals and signs);
    None: no request open. ``consent`` shows the consent text: until the first stroke, which
    is the consent. ``page`` is the page the signature goes on, ``focus`` the signature's box
    on it (x0, y0, x1, y1 in 0..1 from the top left), None: the whole page.
    """

    page: Picture | None = None
    title: str = field(default="", repr=False)
    has_ink: bool = False
    id: str = ""
    state: SignatureState | None = None
    trustee_name: str = field(default="", repr=False)
    consent: bool = True
    message: SignatureMessage | None = None
    pending: bool = False  # a decision is on its way to the desk: its buttons wait
    focus: tuple[float, float, float, float] | None = None
    target: int | None = None  # the page (0-based) the signature goes on; None: the last


@dataclass(frozen=True)
class WipeView:
    """The verified wipe the goodbye screen shows (numbers only, no personal data)."""

    verified: bool
    files: int
    bytes: int
    method: str


TechnicianStep = Literal[
    "entry", "checking", "compare", "enrolling", "selftest", "enrolled", "blocked", "starting"
]


@dataclass(frozen=True)
class Notice:
    """A message for the technician: catalogue ``key`` with its ``values``; ``detail`` holds
    the hub's or the system's own (untranslated) words where they help."""

    key: str
    values: tuple[tuple[str, str], ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class SelftestLine:
    """One device's self-test result as the technician screen lists it."""

    device: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class TechnicianView:
    """The technician screen (``appliance.session.technician``): its step and what it shows.

    The code's secret is never part of it: the fields show what the technician typed (the
    UI's local state), later steps only the code's id.
    """

    step: TechnicianStep = "entry"
    key_fingerprint: str | None = None  # the device key's SHA-256, in blocks of four
    ca_fingerprint: str | None = None  # the hub's tenant CA, in blocks of four
    notice: Notice | None = None  # an error, or why the screen shows
    hub_url: str | None = None
    code_id: str | None = None
    preset: bool = False  # hub, code and CA fingerprint came from an enrolment URI
    device_name: str | None = None
    tenant: str | None = None
    selftest: tuple[SelftestLine, ...] = ()


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
    reference: str | None = None  # goodbye: the conversation reference, for a request to the DPO
    session: int = 0  # changes whenever a customer's session ends: drop all local state
    technician: TechnicianView = TechnicianView()  # shown on Screen.TECHNICIAN only


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
    """The pen strokes so far, in 0..1 of the ink area; ``seq`` grows with every change."""

    strokes: tuple[tuple[tuple[float, float], ...], ...] = ()
    seq: int = 0


def fitted_size(src: tuple[int, int], box: tuple[int, int]) -> tuple[int, int]:
    """The largest size of ``src``'s aspect ratio inside ``box`` (integer maths, so that
    fitting a fitted size again gives it back unchanged: the painter then need not scale)."""
    sw, sh = src
    bw, bh = box
    if sw <= 0 or sh <= 0:
        return box
    if sw * bh >= sh * bw:  # the width limits
        return bw, max(1, bw * sh // sw)
    return max(1, bh * sw // sh), bh


class MediaFeed(Protocol):
    """Where the UI pulls live pictures from, once per frame; every call must be cheap."""

    def remote_video(self) -> VideoFrame | None:
        """The adviser's latest video frame."""

    def screen_video(self) -> VideoFrame | None:
        """The adviser's shared screen (latest frame), while they share it."""

    def self_view(self) -> VideoFrame | None:
        """The kiosk camera's latest frame."""

    def ink(self) -> Ink:
        """The signature's strokes so far."""


class SizedMediaFeed(MediaFeed, Protocol):
    """A ``MediaFeed`` that can hand pictures over already scaled: the painter tells it the
    box it shows each live picture in, every frame (cheap when unchanged)."""

    def show_at(self, source: str, box: tuple[int, int]) -> None:
        """``source`` ("remote", "screen" or "self") is shown in a ``box``-sized area."""


class NoMedia:
    """A ``MediaFeed`` with nothing to show."""

    def remote_video(self) -> VideoFrame | None:
        """Nothing."""
        return None

    def screen_video(self) -> VideoFrame | None:
        """Nothing."""
        return None

    def self_view(self) -> VideoFrame | None:
        """Nothing."""
        return None

    def ink(self) -> Ink:
        """No strokes."""
        return Ink()
