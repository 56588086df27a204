"""A document of the session vault, rendered for the viewer without blocking the loop.

Read from the vault on the loop (the vault is the loop's), rendered to pages in a worker
thread; whatever goes wrong, the customer is shown an "unreadable" document rather than
nothing. Used for documents the adviser pushes and for documents to sign. Logs name no
document: only ``what`` (ours) and an error's type.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from appliance.custody.vault import VaultError
from appliance.runner.control import KioskControl
from kiosk_ui import viewmodels
from kiosk_ui.documents import DocumentError, render_document

log = logging.getLogger(__name__)

Deliver = Callable[[viewmodels.DocumentView], None]


def load_document(
    kiosk: KioskControl,
    loop: asyncio.AbstractEventLoop | None,
    ref: str,
    *,
    title: str,
    mime: str,
    signing: bool,
    what: str,
    deliver: Deliver,
) -> None:
    """Read artifact ``ref`` and hand ``deliver`` its pages (or an unreadable marker)."""
    unreadable = viewmodels.DocumentView(title, unreadable=True, signing=signing)
    try:
        vault = kiosk.vault
        artifact = next((a for a in vault.artifacts if a.ref == ref), None)
        if artifact is None:
            raise VaultError("no such artifact in this session's vault")
        data = vault.read_bytes(artifact)
    except (VaultError, RuntimeError) as exc:
        log.warning("%s not readable from the vault (%s)", what, type(exc).__name__)
        deliver(unreadable)
        return

    def render() -> viewmodels.DocumentView:  # a worker thread runs this
        try:
            pages = render_document(data, mime)
        except DocumentError as exc:
            log.warning("%s not shown: %s (%d bytes)", what, exc, len(data))
            return unreadable
        return viewmodels.DocumentView(title, pages, signing=signing)

    if loop is None or loop.is_closed():
        deliver(render())
        return

    def rendered(done: asyncio.Future[viewmodels.DocumentView]) -> None:
        if done.cancelled():
            return
        error = done.exception()
        if error is not None:  # a renderer bug: the customer still learns of the document
            log.error("%s: render crashed (%s)", what, type(error).__name__)
            deliver(unreadable)
            return
        deliver(done.result())

    loop.run_in_executor(None, render).add_done_callback(rendered)
