"""The journey's part for an adviser's signature request (pure: no I/O, no clock).

The desk (``appliance.signing``) publishes each change of the request as ``SignatureChanged``;
its document arrives rendered as ``SignatureDocument``. The customer reads it in the call's
viewer ("reading"), signs on the signature screen ("signing": the consent text shows until
the first stroke, which is the consent), waits while the kiosk seals and signs ("sealing"),
and the call screen says how it ended (done, declined, failed, cancelled). Every decision
leaves as a ``SignatureDecision`` action for the desk; declining or a timeout never ends the
call.
"""

from __future__ import annotations

from dataclasses import replace

from appliance.session.journey_events import (
    Action,
    Event,
    InkChanged,
    SignatureChanged,
    SignatureDecision,
    SignatureDocument,
    SignaturePointer,
)
from appliance.session.journey_state import JourneyState
from kiosk_ui import viewmodels as v
from kiosk_ui.viewmodels import Screen

# The new state, the actions for the shell, and the screen to go to (None: stay).
Step = tuple[JourneyState, list[Action], Screen | None]

_FINAL = ("done", "declined", "failed", "cancelled")
SIGNATURE_INTENTS = (
    v.ContinueToSign,
    v.DeclineSignature,
    v.ClearSignature,
    v.ConfirmSignature,
    v.PenPointer,
    v.DismissSignatureNotice,
    v.ZoomDocument,
    v.PanDocument,
)


def signature_step(s: JourneyState, event: Event) -> Step | None:
    """Apply a signature event or intent in a call; None when ``event`` is not one."""
    sig = s.signature
    match event:
        case SignatureChanged():
            return _changed(s, event)
        case SignatureDocument(id=rid, document=document) if rid == sig.id:
            return _document(s, document), [], None
        case InkChanged(has_ink=ink) if s.screen is Screen.SIGNATURE:
            # The first stroke is the consent: its text gives way to the page.
            consent = sig.consent and not ink
            return replace(s, signature=replace(sig, has_ink=ink, consent=consent)), [], None
        case v.ContinueToSign() if sig.state == "reading" and not sig.pending:
            state = replace(s, signature=replace(sig, pending=True))
            return state, [SignatureDecision("read", sig.id)], None
        case v.ClearSignature() if s.screen is Screen.SIGNATURE:
            state = replace(s, signature=replace(sig, has_ink=False, message=None))
            return state, [SignatureDecision("clear", sig.id)], None
        case v.ConfirmSignature() if (
            s.screen is Screen.SIGNATURE and sig.has_ink and not sig.pending
        ):
            state = replace(s, signature=replace(sig, pending=True))
            return state, [SignatureDecision("confirm", sig.id)], None
        case v.DeclineSignature() if sig.state in ("reading", "signing"):
            return _leave(s, "decline")
        case v.PenPointer(x=x, y=y, down=down) if (
            s.screen is Screen.SIGNATURE and sig.state == "signing"
        ):
            return s, [SignaturePointer(_unit(x), _unit(y), down)], None
        case v.DismissSignatureNotice():
            return replace(s, call=replace(s.call, signature_notice=None)), [], None
        case v.ZoomDocument(step=step) if s.call.document is not None:
            return _call_document(s, zoomed(s.call.document, step)), [], None
        case v.PanDocument(x=x, y=y) if s.call.document is not None:
            document = s.call.document
            if document.zoom <= 1.0:
                return s, [], None
            return _call_document(s, replace(document, centre=(_unit(x), _unit(y)))), [], None
    return None


def signature_timeout(s: JourneyState) -> Step:
    """The signature screen's timeout ran out: the request fails, the call goes on."""
    return _leave(s, "timed_out")


def signature_abort(s: JourneyState) -> Step:
    """Abort (Escape) on the signature screen declines the signature, not the call."""
    return _leave(s, "decline")


def zoomed(document: v.DocumentView, step: int) -> v.DocumentView:
    """``document`` one zoom step in (+1) or out (-1), or back to the whole page (0)."""
    if step == 0:
        return replace(document, zoom=1.0, centre=(0.5, 0.0))
    steps = v.ZOOMS
    here = min(range(len(steps)), key=lambda i: abs(steps[i] - document.zoom))
    index = min(max(here + (1 if step > 0 else -1), 0), len(steps) - 1)
    centre = document.centre if index > 0 else (0.5, 0.0)
    if index > 0 and document.zoom <= 1.0:
        centre = (0.5, 0.5)  # zooming in from the whole page starts at its middle
    return replace(document, zoom=steps[index], centre=centre)


def _changed(s: JourneyState, event: SignatureChanged) -> Step:
    sig, call = s.signature, s.call
    if event.state in _FINAL:
        notice: v.SignatureOutcome = event.state  # type: ignore[assignment]
        call = replace(_without_document(call), signature_notice=notice)
        back = Screen.CALL if s.screen is Screen.SIGNATURE else None
        return replace(s, signature=v.SignatureView(), call=call), [], back
    fresh = sig.id != event.id
    base = v.SignatureView() if fresh else sig
    page = base.page
    if call.document is not None and call.document.signing and call.document.pages:
        page = _page_picture(call.document, event.page)
    new = replace(
        base,
        id=event.id,
        state=event.state,  # type: ignore[arg-type]
        title=event.title,
        trustee_name=event.trustee_name,
        message=event.message,
        focus=event.focus,
        target=event.page,
        page=page,
        pending=False,
    )
    go: Screen | None = None
    if event.state == "reading":
        if call.document is None or not call.document.signing:
            document = v.DocumentView(event.title, loading=True, signing=True)
            call = replace(call, document=document, document_notice=False)
        call = replace(call, signature_notice=None)
        go = Screen.CALL if s.screen is Screen.SIGNATURE else None
    elif event.state == "signing":
        go = Screen.SIGNATURE if s.screen is Screen.CALL else None
    else:  # sealing: a please-wait on the call screen
        call = _without_document(call)
        go = Screen.CALL if s.screen is Screen.SIGNATURE else None
    return replace(s, signature=new, call=call), [], go


def _document(s: JourneyState, document: v.DocumentView) -> JourneyState:
    sig = s.signature
    target = _target(document, sig.target)
    shown = replace(document, page=target, signing=True, loading=False)
    page = _page_picture(shown, sig.target) if shown.pages else None
    state = replace(s, signature=replace(sig, page=page))
    if sig.state == "reading":
        state = replace(state, call=replace(s.call, document=shown, document_notice=False))
    return state


def _leave(s: JourneyState, decision: str) -> Step:
    rid = s.signature.id
    call = _without_document(s.call)
    state = replace(s, signature=v.SignatureView(), call=call)
    go = Screen.CALL if s.screen is Screen.SIGNATURE else None
    return state, [SignatureDecision(decision, rid)], go  # type: ignore[arg-type]


def _without_document(call: v.CallView) -> v.CallView:
    """The call without the signature request's document in its viewer."""
    if call.document is not None and call.document.signing:
        return replace(call, document=None, document_notice=False)
    return call


def _call_document(s: JourneyState, document: v.DocumentView) -> JourneyState:
    return replace(s, call=replace(s.call, document=document))


def _target(document: v.DocumentView, page: int | None) -> int:
    last = max(len(document.pages) - 1, 0)
    return last if page is None else min(max(page, 0), last)


def _page_picture(document: v.DocumentView, page: int | None) -> v.Picture | None:
    return document.pages[_target(document, page)] if document.pages else None


def _unit(value: float) -> float:
    return min(max(value, 0.0), 1.0) if value == value else 0.0  # NaN: the edge
