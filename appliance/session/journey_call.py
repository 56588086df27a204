"""The journey's part for the call screen itself (pure: no I/O, no clock).

The customer's touches in a call (mute, camera, chat, the document viewer, the answer to the
adviser's scan or photo request) and what the exchange and the chat bring to the call's view
(``ExchangeUpdate``, chat lines). The signature request has its own part
(``appliance.session.journey_signature``).
"""

from __future__ import annotations

from dataclasses import replace

from appliance.session.journey_events import (
    Action,
    Event,
    ExchangeUpdate,
    RequestDecision,
    SendChatLine,
    SetCamera,
    SetMute,
)
from appliance.session.journey_state import JourneyState
from kiosk_ui import viewmodels as v

CHAT_KEEP = 50  # lines kept for the panel; older ones scroll away

# The new state and the actions for the shell.
CallStep = tuple[JourneyState, list[Action]]


def call_step(s: JourneyState, event: Event) -> CallStep | None:
    """Apply a customer's touch on the call screen; None when ``event`` is not one."""
    call = s.call
    match event:
        case v.ToggleMute():
            return _with_call(s, replace(call, muted=not call.muted)), [SetMute(not call.muted)]
        case v.ToggleCamera():
            state = _with_call(s, replace(call, camera_off=not call.camera_off))
            return state, [SetCamera(not call.camera_off)]
        case v.ToggleChat():
            return _with_call(s, replace(call, chat_open=not call.chat_open)), []
        case v.SendChat(text=text) if text.strip():
            return with_chat(s, v.ChatLine(True, text.strip())), [SendChatLine(text.strip())]
        case v.OpenDocument() if call.document is not None:
            return _with_call(s, replace(call, document_notice=False)), []
        case v.CloseDocument():
            return _with_call(s, replace(call, document=None, document_notice=False)), []
        case v.TurnPage(delta=delta) if call.document is not None:
            doc = call.document
            page = min(max(doc.page + delta, 0), max(len(doc.pages) - 1, 0))
            return _with_call(s, replace(call, document=replace(doc, page=page))), []
        case v.DecideRequest(request_id=rid, choice=choice) if (
            call.request is not None and call.request.id == rid and call.request.allows(choice)
        ):
            # Buttons go until the exchange's next snapshot: a double tap decides once.
            state = _with_call(s, replace(call, request=replace(call.request, pending=True)))
            return state, [RequestDecision(rid, choice)]
        case v.DismissRequest(request_id=rid) if (
            call.request is not None and call.request.id == rid
        ):
            return _with_call(replace(s, dismissed=rid), replace(call, request=None)), []
    return None


def with_chat(s: JourneyState, line: v.ChatLine) -> JourneyState:
    """The call's chat panel with ``line`` added (the last ``CHAT_KEEP`` lines)."""
    call = s.call
    return _with_call(s, replace(call, chat=(*call.chat, line)[-CHAT_KEEP:]))


def with_exchange(s: JourneyState, update: ExchangeUpdate) -> JourneyState:
    """The call's view after the exchange's new snapshot (request, transfers, screen share)."""
    call = s.call
    request = update.request
    if request is not None and (
        request.state not in v.REQUEST_SHOWN
        or (request.state == "failed" and request.id == s.dismissed)
    ):
        request = None  # declined, cancelled, or a failure already acknowledged
    before = call.request
    if (
        request is not None
        and before is not None
        and before.pending
        and (before.id, before.state) == (request.id, request.state)
        and _same_pictures(before.previews, request.previews)
    ):
        request = replace(request, pending=True)  # still waiting for the decision to land
    return _with_call(
        s,
        replace(
            call,
            request=request,
            transfers=update.transfers,
            screen_share=update.screen_share,
        ),
    )


def _with_call(s: JourneyState, call: v.CallView) -> JourneyState:
    return replace(s, call=call)


def _same_pictures(a: tuple[v.Picture, ...], b: tuple[v.Picture, ...]) -> bool:
    """The very same pictures (a retaken photo is new even if it looks the same)."""
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))
