"""The signature desk as the customer sees it: its tasks become journey events, the
customer's decisions and pointer go back to it.

The desk (``appliance.signing``) hands each change of the open request to the bridge; this
turns it into ``SignatureChanged``, reads the request's PDF from the session vault (on the
loop) and renders its pages in a worker thread (``SignatureDocument``); a document still
rendering when the session ends is shown to nobody. Ink is pulled from the desk: a tick
tells the journey whether there is any (the confirm button waits for it). Logs name no
document and carry no ink.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from appliance.runner.control import KioskControl
from appliance.session.journey import (
    Event,
    InkChanged,
    Journey,
    SignatureChanged,
    SignatureDecision,
    SignatureDocument,
    SignaturePointer,
)
from appliance.ui.document_loader import load_document
from kiosk_ui import viewmodels
from kiosk_ui.viewmodels import Screen

if TYPE_CHECKING:
    from appliance.signing.state import InkSource, SignatureDecisions, SignatureTask

log = logging.getLogger(__name__)


def decisions_of(kiosk: KioskControl) -> SignatureDecisions | None:
    """The desk of the current consultation, if the kiosk has one."""
    return kiosk.signature


def ink_of(kiosk: KioskControl) -> InkSource | None:
    """The live ink of the current consultation's desk, if any."""
    return kiosk.signature_ink


class SignatureDisplay:
    """Between the desk's ``SignatureTask`` snapshots and the journey."""

    def __init__(
        self,
        kiosk: KioskControl,
        journey: Journey,
        *,
        show: Callable[[Event], None],
        loop: Callable[[], asyncio.AbstractEventLoop | None],
    ) -> None:
        self._kiosk = kiosk
        self._journey = journey
        self._show = show  # feeds the journey (on the loop)
        self._loop = loop
        self._loaded: set[str] = set()  # requests whose document was read already
        self._has_ink = False

    def changed(self, task: SignatureTask | None) -> None:
        """Show the desk's new snapshot; a request's document loads once."""
        if task is None:
            open_id = self._journey.state.signature.id
            if self._journey.state.signature.state is not None:
                # The desk closed it without a final state (its consultation ended).
                self._show(SignatureChanged(open_id, "cancelled"))
            return
        self._show(
            SignatureChanged(
                task.id,
                task.state,
                title=task.title,
                trustee_name=task.trustee_name,
                message=task.message,
                page=task.page,
                focus=task.box,
            )
        )
        if task.state == "reading" and task.id not in self._loaded:
            self._loaded.add(task.id)
            self._load(task)

    def tick(self) -> None:
        """Tell the journey whether the desk holds ink (only on the signature screen)."""
        source = ink_of(self._kiosk)
        strokes = source.ink()[0] if source is not None else ()
        has_ink = any(strokes)
        if self._journey.screen is not Screen.SIGNATURE:
            self._has_ink = False
            return
        if has_ink != self._has_ink or has_ink != self._journey.state.signature.has_ink:
            self._has_ink = has_ink
            self._show(InkChanged(has_ink))

    def carry_out(self, action: SignatureDecision | SignaturePointer) -> None:
        """Hand the customer's decision or pointer to the desk (dropped without one)."""
        desk = decisions_of(self._kiosk)
        if desk is None:
            log.info("signature %s dropped: no signature desk", type(action).__name__)
            return
        if isinstance(action, SignaturePointer):
            desk.pointer(action.x, action.y, action.down)
            return
        decide = {
            "read": desk.read,
            "clear": desk.clear,
            "confirm": desk.confirm,
            "decline": desk.decline,
            "timed_out": desk.timed_out,
        }[action.decision]
        decide(action.request_id)

    def forget(self) -> None:
        """The consultation is over: forget which documents were read."""
        self._loaded.clear()
        self._has_ink = False

    def _load(self, task: SignatureTask) -> None:
        session = self._journey.state.session
        load_document(
            self._kiosk,
            self._loop(),
            task.document_ref,
            title=task.title,
            mime="application/pdf",
            signing=True,
            what="document to sign",
            deliver=lambda document: self._rendered(session, task.id, document),
        )

    def _rendered(self, session: int, rid: str, document: viewmodels.DocumentView) -> None:
        if self._journey.state.session == session:  # not for the next customer
            self._show(SignatureDocument(rid, document))
