"""The exchange as the customer sees it: ``ExchangeState`` snapshots become journey events.

A scan or photo request becomes the request panel (the same ``Preview`` keeps the same picture,
so the painter scales it once), transfers on their way show their progress, and each pushed
document is read from the session vault on the loop and rendered to pages in a worker thread;
a document still rendering when the session ends is shown to nobody. Logs name no document.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from appliance.exchange.state import ExchangeState, Preview, ReceivedDocument, RequestView
from appliance.runner.control import KioskControl
from appliance.session.journey import DocumentReceived, Event, ExchangeUpdate, Journey
from appliance.ui.document_loader import load_document
from kiosk_ui import viewmodels

_MOVING = ("sealing", "uploading", "downloading")  # transfer phases shown as on their way


class ExchangeDisplay:
    """Turns the exchange's snapshots into the journey's ``ExchangeUpdate`` and documents."""

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
        self._loop = loop  # the loop, once the bridge runs (documents render off it)
        self._documents_seen: set[str] = set()
        self._previews: dict[int, tuple[Preview, viewmodels.Picture]] = {}

    def update(self, state: ExchangeState) -> None:
        """Show the exchange's new snapshot; pushed documents not seen before load."""
        request = None if state.request is None else self._request_panel(state.request)
        transfers = tuple(
            viewmodels.TransferView(t.direction, t.done_bytes / t.size if t.size > 0 else 0.0)
            for t in state.transfers
            if t.phase in _MOVING
        )
        self._show(ExchangeUpdate(request, transfers, state.screen_share))
        for document in state.documents:
            if document.id not in self._documents_seen:
                self._documents_seen.add(document.id)
                self._load_document(document)

    def forget(self) -> None:
        """The consultation is over: forget its documents and previews."""
        self._documents_seen.clear()
        self._previews.clear()

    def _request_panel(self, request: RequestView) -> viewmodels.RequestPanel:
        pictures: list[viewmodels.Picture] = []
        kept: dict[int, tuple[Preview, viewmodels.Picture]] = {}
        for preview in request.previews:
            cached = kept.get(id(preview)) or self._previews.get(id(preview))
            if cached is None or cached[0] is not preview:
                cached = (preview, viewmodels.Picture(preview.width, preview.height, preview.rgb))
            kept[id(preview)] = cached
            pictures.append(cached[1])
        self._previews = kept
        return viewmodels.RequestPanel(
            id=request.id,
            kind=request.kind,
            state=request.state,
            progress=request.progress,
            countdown=request.countdown,
            previews=tuple(pictures),
        )

    def _load_document(self, document: ReceivedDocument) -> None:
        """Read a pushed document from the vault (here, on the loop); render it off the loop."""
        session = self._journey.state.session
        load_document(
            self._kiosk,
            self._loop(),
            document.ref,
            title=document.name,
            mime=document.mime,
            signing=False,
            what="pushed document",
            deliver=lambda view: self._received(session, view),
        )

    def _received(self, session: int, document: viewmodels.DocumentView) -> None:
        if self._journey.state.session == session:  # not for the next customer
            self._show(DocumentReceived(document))
