"""What the kiosk's exchange shows and accepts: the contract between exchange, kiosk and UI.

``appliance.exchange.Exchange`` produces ``ExchangeState`` snapshots (immutable, safe to hand
to the UI thread) and takes the customer's decisions through ``CustomerDecisions``. Names,
pictures and documents in here are personal data: shown on the screen, never logged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from protocol.channel import RequestState

TransferDirection = Literal["in", "out"]
TransferPhase = Literal["sealing", "uploading", "downloading", "done", "failed", "cancelled"]


@dataclass(frozen=True)
class Preview:
    """A picture to show the customer before anything is sent (a scanned page, a photo)."""

    width: int
    height: int
    rgb: bytes = field(repr=False)  # width * height * 3 bytes, row by row


@dataclass(frozen=True)
class Transfer:
    """One file on its way in or out, with progress for the screen."""

    id: str
    direction: TransferDirection
    purpose: Literal["file", "document", "scan", "photo", "signed"]
    name: str = field(repr=False)
    size: int
    done_bytes: int
    phase: TransferPhase
    error: str | None = None  # a FileErrorCode when it failed


@dataclass(frozen=True)
class ReceivedDocument:
    """A document the adviser pushed to be read at the kiosk (verified, in the vault)."""

    id: str
    name: str = field(repr=False)
    mime: str
    ref: str  # the vault artifact's ref (SessionVault.artifacts()) holding its bytes


@dataclass(frozen=True)
class RequestView:
    """Where the adviser's current scan or photo request stands, for the screen."""

    id: str
    kind: Literal["scan", "photo"]
    state: RequestState
    progress: int = 0  # percent, while scanning or sending
    countdown: int | None = None  # seconds left before the photo is taken
    previews: tuple[Preview, ...] = ()  # scanned pages or the photo, while confirming
    code: str | None = None  # why it failed


@dataclass(frozen=True)
class ExchangeState:
    """Everything of the exchange the customer can see, as one snapshot."""

    request: RequestView | None = None
    documents: tuple[ReceivedDocument, ...] = ()
    transfers: tuple[Transfer, ...] = ()
    screen_share: bool = False  # the adviser's screen is to be shown full screen


class CustomerDecisions(Protocol):
    """What the customer can say at the screen about the current request."""

    def start(self, request_id: str) -> None:
        """Start the scan (document placed) or the photo countdown."""

    def confirm(self, request_id: str) -> None:
        """Send what the preview shows."""

    def retake(self, request_id: str) -> None:
        """Scan again / take the photo again."""

    def decline(self, request_id: str) -> None:
        """Do not send anything for this request."""


class ExchangeObserver(Protocol):
    """Told on the event loop whenever ``ExchangeState`` changed; must be quick."""

    def exchange_changed(self, state: ExchangeState) -> None:
        """The new snapshot."""
