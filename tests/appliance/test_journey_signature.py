"""The journey's signature request: read, consent by the first stroke, sign, seal, and every
way it ends (decline, timeout, failure, cancel) with the call going on; zoom and pan."""

from __future__ import annotations

import pytest

from appliance.session import journey as j
from appliance.session.journey_signature import zoomed
from kiosk_ui import viewmodels as v
from kiosk_ui.viewmodels import Screen

T = j.Timeouts()
VALUES = (("name", "Jürgen Weiß"), ("topic", "Konto"))
PAGES = tuple(v.Picture(2, 3, bytes([i]) * 18) for i in range(3))
BOX = (0.5, 0.7, 0.9, 0.8)


def in_call() -> j.Journey:
    jr = j.Journey(hub_up=True)
    for step in (v.Start(), v.ChooseLanguage("en"), v.AcceptConsent(), v.SubmitIntake(VALUES)):
        jr.handle(step, 0)
    jr.handle(j.AdviserAccepted(), 0)
    jr.handle(j.CallConnected(), 0)
    assert jr.screen is Screen.CALL
    return jr


def changed(state: str, **kw: object) -> j.SignatureChanged:
    return j.SignatureChanged("sig-1", state, title="Vertrag", trustee_name="Notar A", **kw)  # type: ignore[arg-type]


def reading(page: int | None = 1) -> j.Journey:
    jr = in_call()
    jr.handle(changed("reading", page=page, focus=BOX), 1)
    jr.handle(j.SignatureDocument("sig-1", v.DocumentView("Vertrag", PAGES, signing=True)), 1)
    return jr


def signing() -> j.Journey:
    jr = reading()
    jr.handle(v.ContinueToSign(), 2)
    jr.handle(changed("signing", page=1, focus=BOX), 2)
    assert jr.screen is Screen.SIGNATURE
    return jr


def test_reading_opens_the_document_at_the_signature_page_with_its_box() -> None:
    jr = in_call()
    jr.handle(changed("reading", page=1, focus=BOX), 1)
    document = jr.view(1).call.document
    assert document is not None and document.loading and document.signing
    assert jr.screen is Screen.CALL and jr.state.deadline is None  # reading has no timeout
    jr.handle(j.SignatureDocument("sig-1", v.DocumentView("Vertrag", PAGES, signing=True)), 1)
    view = jr.view(1)
    assert view.call.document is not None and view.call.document.page == 1
    assert not view.call.document.loading and view.call.document.pages == PAGES
    assert view.signature.page is PAGES[1] and view.signature.focus == BOX
    # Another request's document is shown to nobody.
    jr.handle(j.SignatureDocument("other", v.DocumentView("x", PAGES[:1])), 1)
    document = jr.view(1).call.document
    assert document is not None and document.pages == PAGES


def test_without_a_page_the_signature_goes_on_the_last_one() -> None:
    jr = reading(page=None)
    document = jr.view(1).call.document
    assert document is not None and document.page == 2
    assert jr.view(1).signature.page is PAGES[2]


def test_read_is_decided_once_then_the_desk_opens_the_signature_screen() -> None:
    jr = reading()
    assert jr.handle(v.ContinueToSign(), 2) == [j.SignatureDecision("read", "sig-1")]
    assert jr.handle(v.ContinueToSign(), 2) == []  # a double tap decides once
    jr.handle(changed("signing"), 3)
    view = jr.view(3)
    assert jr.screen is Screen.SIGNATURE and view.signature.consent
    assert view.signature.trustee_name == "Notar A" and not view.signature.has_ink
    assert jr.state.deadline == 3 + T.signature


def test_the_first_stroke_is_the_consent_and_pointer_feeds_the_desk() -> None:
    jr = signing()
    assert jr.handle(v.PenPointer(0.25, 0.5, True), 3) == [j.SignaturePointer(0.25, 0.5, True)]
    # Outside the ink area (a drag past its edge) stays on the edge.
    assert jr.handle(v.PenPointer(-3.0, 1.5, False), 3) == [j.SignaturePointer(0.0, 1.0, False)]
    assert jr.handle(v.ConfirmSignature(), 3) == []  # no ink yet: nothing to confirm
    jr.handle(j.InkChanged(True), 3)
    assert not jr.view(3).signature.consent and jr.view(3).signature.has_ink
    jr.handle(j.InkChanged(False), 3)
    assert not jr.view(3).signature.consent  # consent text does not come back after a clear


def test_clear_confirm_and_sealing() -> None:
    jr = signing()
    jr.handle(j.InkChanged(True), 3)
    assert jr.handle(v.ClearSignature(), 3) == [j.SignatureDecision("clear", "sig-1")]
    assert not jr.view(3).signature.has_ink
    jr.handle(j.InkChanged(True), 4)
    assert jr.handle(v.ConfirmSignature(), 4) == [j.SignatureDecision("confirm", "sig-1")]
    assert jr.handle(v.ConfirmSignature(), 4) == []  # once
    assert jr.view(4).signature.pending
    jr.handle(changed("sealing"), 5)
    view = jr.view(5)
    assert jr.screen is Screen.CALL and view.signature.state == "sealing"
    assert view.call.document is None and view.countdown is None
    jr.handle(changed("done"), 6)
    view = jr.view(6)
    assert view.call.signature_notice == "done" and view.signature.state is None
    jr.handle(v.DismissSignatureNotice(), 7)
    assert jr.view(7).call.signature_notice is None


@pytest.mark.parametrize("message", ["tablet_gone", "too_long", "no_ink"])
def test_the_desks_messages_show_and_unblock_confirm(message: str) -> None:
    jr = signing()
    jr.handle(j.InkChanged(True), 3)
    jr.handle(v.ConfirmSignature(), 3)
    jr.handle(changed("signing", message=message), 4)
    view = jr.view(4)
    assert jr.screen is Screen.SIGNATURE and view.signature.message == message
    assert not view.signature.pending  # the customer can sign again
    jr.handle(v.ClearSignature(), 5)
    assert jr.view(5).signature.message is None


@pytest.mark.parametrize("where", ["reading", "signing"])
def test_decline_ends_the_request_not_the_call(where: str) -> None:
    jr = reading() if where == "reading" else signing()
    assert jr.handle(v.DeclineSignature(), 3) == [j.SignatureDecision("decline", "sig-1")]
    view = jr.view(3)
    assert jr.screen is Screen.CALL and view.call.document is None
    assert view.signature.state is None
    jr.handle(changed("declined"), 4)
    assert jr.view(4).call.signature_notice == "declined" and jr.screen is Screen.CALL


def test_timeout_on_the_signature_screen_is_reported_and_the_call_goes_on() -> None:
    jr = signing()
    assert jr.handle(j.Tick(), 2 + T.signature) == [j.SignatureDecision("timed_out", "sig-1")]
    assert jr.screen is Screen.CALL and jr.view(2 + T.signature).signature.state is None


@pytest.mark.parametrize("end", ["failed", "cancelled"])
def test_the_adviser_cancelling_or_a_failure_leaves_the_signature_screen(end: str) -> None:
    jr = signing()
    jr.handle(changed(end), 3)
    view = jr.view(3)
    assert jr.screen is Screen.CALL and view.call.signature_notice == end
    assert view.signature == v.SignatureView() and jr.state.deadline is None


def test_a_pushed_document_stays_open_when_the_request_ends() -> None:
    jr = in_call()
    jr.handle(j.DocumentReceived(v.DocumentView("other", PAGES)), 1)
    jr.handle(v.OpenDocument(), 1)
    jr.handle(changed("cancelled"), 2)
    assert jr.view(2).call.document is not None


def test_the_session_ending_forgets_the_request() -> None:
    jr = signing()
    jr.handle(j.CallEnded(), 3)
    assert jr.screen is Screen.GOODBYE and jr.view(3).signature == v.SignatureView()


def test_signature_intents_outside_a_request_do_nothing() -> None:
    jr = in_call()
    for intent in (
        v.ContinueToSign(),
        v.DeclineSignature(),
        v.ConfirmSignature(),
        v.PenPointer(0.5, 0.5, True),
    ):
        assert jr.handle(intent, 1) == []
    assert jr.screen is Screen.CALL


def test_zoom_steps_and_pan_only_when_zoomed() -> None:
    jr = reading()
    jr.handle(v.PanDocument(0.9, 0.9), 2)
    document = jr.view(2).call.document
    assert document is not None and document.centre == (0.5, 0.0)  # whole page: no pan
    for expected in (1.5, 2.0, 3.0, 3.0):
        jr.handle(v.ZoomDocument(1), 2)
        document = jr.view(2).call.document
        assert document is not None and document.zoom == expected
    jr.handle(v.PanDocument(0.9, 1.7), 2)
    document = jr.view(2).call.document
    assert document is not None and document.centre == (0.9, 1.0)
    jr.handle(v.ZoomDocument(-1), 2)
    document = jr.view(2).call.document
    assert document is not None and document.zoom == 2.0 and document.centre == (0.9, 1.0)
    jr.handle(v.ZoomDocument(0), 2)
    document = jr.view(2).call.document
    assert document is not None and document.zoom == 1.0 and document.centre == (0.5, 0.0)


def test_zoom_from_the_whole_page_starts_at_its_middle() -> None:
    document = zoomed(v.DocumentView("x", PAGES), 1)
    assert document.zoom == 1.5 and document.centre == (0.5, 0.5)
    assert zoomed(document, -1).zoom == 1.0
    assert zoomed(zoomed(document, -1), -1).zoom == 1.0
