"""What the signature desk shows the customer, and what the customer decides.

The desk (``appliance.signing.service``) publishes a :class:`SignatureTask` snapshot to a
:class:`SignatureObserver` (the journey) on every change; the UI bridge calls the
:class:`SignatureDecisions` methods on the event loop. Live ink is pulled by the UI thread
through :class:`InkSource` (thread-safe, cheap: called once per frame).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

TaskState = Literal["reading", "signing", "sealing", "done", "failed", "declined", "cancelled"]
CustomerMessage = Literal["tablet_gone", "too_long", "no_ink"]

# Pen strokes in 0..1 of the ink area (x right, y down), one tuple of points per stroke.
Strokes = tuple[tuple[tuple[float, float], ...], ...]


@dataclass(frozen=True)
class SignatureTask:
    """A snapshot of the open signature request, for the screen.

    ``document_ref`` is the vault ref of the PDF the customer reads; ``title`` its file name;
    ``trustee_name`` who alone can open the sealed writing dynamics (named in the consent text).
    ``message`` is a notice for the customer on the signature screen, or None. ``page``
    (0-based) and ``box`` (x0, y0, x1, y1 in 0..1 of that page, origin top-left) say where
    the signature goes, once known (None: not known yet, show the last page).
    """

    id: str
    document_ref: str
    title: str
    trustee_name: str
    state: TaskState
    message: CustomerMessage | None = None
    page: int | None = None
    box: tuple[float, float, float, float] | None = None


class SignatureDecisions(Protocol):
    """What the customer decides; the UI bridge calls these on the event loop."""

    def read(self, id: str) -> None:
        """The customer has read the document: go to the signature screen."""
        ...

    def clear(self, id: str) -> None:
        """Clear the ink (and any notice); the customer signs again."""
        ...

    def confirm(self, id: str) -> None:
        """The customer confirms the ink as their signature."""
        ...

    def decline(self, id: str) -> None:
        """The customer declines: nothing captured is kept."""
        ...

    def timed_out(self, id: str) -> None:
        """The screen's timeout ran out: the request fails with "timeout" (nothing kept)."""
        ...

    def pointer(self, x: float, y: float, down: bool) -> None:
        """The pointer (mouse, touch) in 0..1 of the ink area; feeds a ``PointerTablet``."""
        ...


class SignatureObserver(Protocol):
    """Told about every change of the open request (None: no request open any more)."""

    def signature_changed(self, task: SignatureTask | None) -> None:
        """Show ``task`` (a new state or notice) or leave the signature screens when None."""
        ...


class InkSource(Protocol):
    """The live ink, pulled by the UI thread once per frame."""

    def ink(self) -> tuple[Strokes, int]:
        """The strokes so far and a sequence number that grows with every change."""
        ...
