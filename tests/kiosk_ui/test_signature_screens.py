"""The signature request on the real drawn screens and through the real bridge: the document
read from a real session vault (zoom, pan, the signature's page), the consent text naming the
trustee in both languages, mouse and touch on the ink area reaching the desk, the desk's ink
on screen, and every decision reaching ``SignatureDecisions``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pygame
import pytest

from appliance.custody.vault import ArtifactKind, SessionVault
from appliance.session import consultation as c
from appliance.session import journey as j
from appliance.signing.state import CustomerMessage, SignatureTask, Strokes, TaskState
from appliance.ui.bridge import UiBridge
from kiosk_ui import layout as lay
from kiosk_ui import viewmodels as v
from kiosk_ui.app import KioskUi, _translate
from kiosk_ui.sample_contract import sample_contract
from kiosk_ui.screenshots import RESOLUTIONS
from kiosk_ui.viewmodels import Screen
from tests.support.fake_kiosk import FakeKiosk
from tests.support.ui_harness import Harness, layout_problems

VALUES = (("name", "Jürgen Weiß"), ("topic", "Konto"))
SECRET_TITLE = "Darlehen-Jürgen-Weiß.pdf"  # personal: never in a log line
TRUSTEE = "Notariat Dr. Beispiel"
MIB = 1024 * 1024
BOX = (0.55, 0.7, 0.92, 0.85)
PAGES = tuple(v.Picture(60, 80, bytes([200 - 20 * i]) * (60 * 80 * 3)) for i in range(3))


class Desk:
    """A ``SignatureDecisions`` and ``InkSource`` that records what it is told."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.pointer_calls: list[tuple[float, float, bool]] = []
        self.strokes: Strokes = ()
        self.seq = 0

    def read(self, id: str) -> None:
        self.calls.append(("read", id))

    def clear(self, id: str) -> None:
        self.calls.append(("clear", id))

    def confirm(self, id: str) -> None:
        self.calls.append(("confirm", id))

    def decline(self, id: str) -> None:
        self.calls.append(("decline", id))

    def timed_out(self, id: str) -> None:
        self.calls.append(("timed_out", id))

    def pointer(self, x: float, y: float, down: bool) -> None:
        self.pointer_calls.append((x, y, down))

    def ink(self) -> tuple[Strokes, int]:
        return self.strokes, self.seq


def task(state: TaskState, ref: str = "", message: CustomerMessage | None = None) -> SignatureTask:
    return SignatureTask("sig-1", ref, SECRET_TITLE, TRUSTEE, state, message, page=1, box=BOX)


def bridge_in_call(
    vault: SessionVault | None, desk: Desk | None, clock: Callable[[], float] = lambda: 1000.0
) -> tuple[FakeKiosk, UiBridge]:
    kiosk = FakeKiosk(vault)
    kiosk.signature = desk
    kiosk.signature_ink = desk
    kiosk.show_phase(c.Phase.QUEUEING)
    bridge = UiBridge(kiosk, j.Journey(hub_up=True), clock=clock)
    for intent in (v.Start(), v.ChooseLanguage("en"), v.AcceptConsent(), v.SubmitIntake(VALUES)):
        bridge.handle(intent)
    for phase in (c.Phase.OFFERING, c.Phase.IN_CALL):
        kiosk.show_phase(phase)
        bridge.changed()
    assert bridge.current_view().screen is Screen.CALL
    return kiosk, bridge


def harness_reading(language: str = "en", size: tuple[int, int] = (800, 480)) -> Harness:
    h = Harness(size)
    h.to_call()
    h.event(v.ChooseLanguage(language))
    h.event(j.SignatureChanged("sig-1", "reading", "Vertrag", TRUSTEE, page=1, focus=BOX))
    h.event(j.SignatureDocument("sig-1", v.DocumentView("Vertrag", PAGES, signing=True)))
    return h


def test_the_whole_request_through_the_bridge_and_a_real_vault(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    vault = SessionVault(tmp_path, max_file_bytes=8 * MIB, max_session_bytes=16 * MIB)
    pdf = vault.store(ArtifactKind.FILE_RECEIVED, SECRET_TITLE, sample_contract(pages=3))
    desk = Desk()
    kiosk, bridge = bridge_in_call(vault, desk)
    bridge.signature_changed(task("reading", pdf.ref))
    view = bridge.current_view()
    document = view.call.document
    assert document is not None and document.signing and len(document.pages) == 3
    assert document.page == 1 and view.signature.page is document.pages[1]
    assert view.signature.focus == BOX
    bridge.handle(v.ContinueToSign())
    assert desk.calls == [("read", "sig-1")]
    bridge.signature_changed(task("signing", pdf.ref))
    assert bridge.current_view().screen is Screen.SIGNATURE
    bridge.handle(v.PenPointer(0.2, 0.4, True))
    bridge.handle(v.PenPointer(0.3, 0.5, False))
    assert desk.pointer_calls == [(0.2, 0.4, True), (0.3, 0.5, False)]
    bridge.handle(v.ConfirmSignature())
    assert ("confirm", "sig-1") not in desk.calls  # no ink yet
    desk.strokes, desk.seq = (((0.2, 0.4), (0.3, 0.5)),), 2
    bridge.handle(j.Tick())  # the desk's ink: the screen gets it, confirm is possible
    assert bridge.ink() == v.Ink((((0.2, 0.4), (0.3, 0.5)),), 2)
    assert bridge.current_view().signature.has_ink
    assert not bridge.current_view().signature.consent
    bridge.handle(v.ClearSignature())
    desk.strokes, desk.seq = (), 3  # the desk cleared it
    bridge.handle(j.Tick())
    bridge.handle(v.ConfirmSignature())
    assert desk.calls[-1] == ("clear", "sig-1")  # cleared: nothing to confirm
    desk.strokes, desk.seq = (((0.5, 0.5), (0.6, 0.4)),), 4
    bridge.handle(j.Tick())
    bridge.handle(v.ConfirmSignature())
    assert desk.calls[-2:] == [("clear", "sig-1"), ("confirm", "sig-1")]
    bridge.signature_changed(task("sealing", pdf.ref))
    assert bridge.current_view().screen is Screen.CALL
    bridge.signature_changed(task("done", pdf.ref))
    bridge.signature_changed(None)
    view = bridge.current_view()
    assert view.call.signature_notice == "done" and view.signature.state is None
    assert SECRET_TITLE not in caplog.text and "Jürgen" not in caplog.text
    assert not any(call.startswith("end") for call in kiosk.calls)  # the call went on


def test_a_timeout_reaches_the_desk_as_timed_out_and_the_call_goes_on() -> None:
    desk = Desk()
    now = [1000.0]
    kiosk, bridge = bridge_in_call(None, desk, clock=lambda: now[0])
    bridge.signature_changed(task("signing"))
    assert bridge.current_view().screen is Screen.SIGNATURE
    now[0] += 10_000  # long past the screen's timeout
    bridge.handle(j.Tick())
    assert desk.calls == [("timed_out", "sig-1")]
    assert bridge.current_view().screen is Screen.CALL
    assert not any(call.startswith("end") for call in kiosk.calls)


@pytest.mark.parametrize("damage", ["unknown ref", "not a pdf", "no custody"])
def test_an_unreadable_document_says_so_and_can_be_declined(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    vault = SessionVault(tmp_path, max_file_bytes=MIB, max_session_bytes=MIB)
    artifact = vault.store(ArtifactKind.FILE_RECEIVED, SECRET_TITLE, b"not a pdf at all")
    ref = "0" * 32 if damage == "unknown ref" else artifact.ref
    desk = Desk()
    _, bridge = bridge_in_call(None if damage == "no custody" else vault, desk)
    bridge.signature_changed(task("reading", ref))
    document = bridge.current_view().call.document
    assert document is not None and document.unreadable and document.signing
    bridge.handle(v.DeclineSignature())
    assert desk.calls == [("decline", "sig-1")]
    assert bridge.current_view().call.document is None
    assert SECRET_TITLE not in caplog.text


def test_without_a_desk_decisions_are_dropped_and_there_is_no_ink() -> None:
    _, bridge = bridge_in_call(None, None)
    bridge.signature_changed(task("signing"))
    bridge.handle(v.PenPointer(0.5, 0.5, True))
    bridge.handle(v.DeclineSignature())
    assert bridge.ink() == v.Ink() and bridge.current_view().screen is Screen.CALL


def test_closed_without_a_final_state_is_cancelled() -> None:
    desk = Desk()
    _, bridge = bridge_in_call(None, desk)
    bridge.signature_changed(task("signing"))
    bridge.signature_changed(None)
    view = bridge.current_view()
    assert view.screen is Screen.CALL and view.call.signature_notice == "cancelled"


def test_reading_screen_buttons_zoom_pan_and_continue() -> None:
    h = harness_reading()
    assert h.shows(v.ContinueToSign()) and h.shows(v.DeclineSignature())
    assert not h.shows(v.CloseDocument())  # the document to sign is not just closed
    media = [w for w in h.ui.widgets if isinstance(w, lay.Media) and w.source == "picture"]
    assert media[0].focus == BOX and media[0].crop is None
    h.tap(v.ZoomDocument(1))
    h.tap(v.ZoomDocument(1))
    document = h.journey.state.call.document
    assert document is not None and document.zoom == 2.0
    pan = next(
        w for w in h.ui.widgets if isinstance(w, lay.Button) and isinstance(w.action, lay.PanAt)
    )
    for intent in h.ui.tap((pan.rect.right - 1, pan.rect.bottom - 1)):
        h.actions += h.journey.handle(intent, h.now)
    document = h.journey.state.call.document
    assert document is not None and document.centre[0] > 0.7 and document.centre[1] > 0.7
    h.tap(v.ContinueToSign())
    assert h.actions == [j.SignatureDecision("read", "sig-1")]
    assert not h.shows(v.ContinueToSign())  # waits for the desk


@pytest.mark.parametrize("language", ["de", "en"])
def test_consent_names_the_trustee_and_every_signature_screen_lays_out(language: str) -> None:
    for size in RESOLUTIONS:
        h = harness_reading(language, size)
        assert layout_problems(h.ui) == []
        h.event(j.SignatureChanged("sig-1", "signing", "Vertrag", TRUSTEE, page=1, focus=BOX))
        text = " ".join(h.texts())
        assert TRUSTEE.split()[-1] in text  # the trustee, named
        assert ("biometri" in text) and (
            ("ablehnen" in text) if language == "de" else ("decline" in text)
        )
        assert layout_problems(h.ui) == []
        assert not h.shows(v.ConfirmSignature())  # no ink: nothing to confirm yet
        h.event(j.InkChanged(True))
        assert TRUSTEE.split()[-1] not in " ".join(h.texts())  # the page takes its place
        assert h.shows(v.ConfirmSignature()) and layout_problems(h.ui) == []
        messages: tuple[v.SignatureMessage, ...] = ("tablet_gone", "too_long", "no_ink")
        for message in messages:
            h.event(j.SignatureChanged("sig-1", "signing", "Vertrag", TRUSTEE, message=message))
            assert layout_problems(h.ui) == []
        h.event(j.SignatureChanged("sig-1", "sealing"))
        assert layout_problems(h.ui) == [] and h.journey.screen is Screen.CALL
        h.event(j.SignatureChanged("sig-1", "failed"))
        assert h.shows(v.DismissSignatureNotice()) and layout_problems(h.ui) == []


def _event(kind: int, **attrs: object) -> pygame.event.Event:
    return pygame.event.Event(kind, attrs)


def test_mouse_and_touch_on_the_ink_area_become_pointer_intents() -> None:
    h = harness_reading()
    h.tap(v.ContinueToSign())
    h.event(j.SignatureChanged("sig-1", "signing", "Vertrag", TRUSTEE))
    ui: KioskUi = h.ui
    area = ui.ink_area()
    assert area is not None
    size = ui.size
    left, mid = (area.x + 1, area.centery), area.center
    outside = (area.x - 5, area.y - 5)
    intents = _translate(ui, _event(pygame.MOUSEBUTTONDOWN, button=1, pos=left), size)
    intents += _translate(ui, _event(pygame.MOUSEMOTION, pos=mid, buttons=(1, 0, 0)), size)
    intents += _translate(ui, _event(pygame.MOUSEMOTION, pos=outside, buttons=(1, 0, 0)), size)
    intents += _translate(ui, _event(pygame.MOUSEBUTTONUP, button=1, pos=outside), size)
    pens = [i for i in intents if isinstance(i, v.PenPointer)]
    assert [p.down for p in pens] == [True, True, True, False]
    assert pens[0].x < 0.01 and abs(pens[1].x - 0.5) < 0.01 and abs(pens[1].y - 0.5) < 0.01
    assert (pens[2].x, pens[2].y) == (0.0, 0.0)  # dragged out: held at the edge
    # A motion without a press draws nothing; a press outside the area neither.
    assert _translate(ui, _event(pygame.MOUSEMOTION, pos=mid, buttons=(0, 0, 0)), size) == []
    down = _translate(ui, _event(pygame.MOUSEBUTTONDOWN, button=1, pos=outside), size)
    assert not any(isinstance(i, v.PenPointer) for i in down)
    # A finger: SDL reports 0..1 of the window.
    fx, fy = mid[0] / size[0], mid[1] / size[1]
    touch = _translate(ui, _event(pygame.FINGERDOWN, x=fx, y=fy, finger_id=0, touch_id=0), size)
    touch += _translate(ui, _event(pygame.FINGERMOTION, x=fx, y=fy, finger_id=0, touch_id=0), size)
    touch += _translate(ui, _event(pygame.FINGERUP, x=fx, y=fy, finger_id=0, touch_id=0), size)
    assert [i.down for i in touch if isinstance(i, v.PenPointer)] == [True, True, False]
    for intent in intents:
        h.actions += h.journey.handle(intent, h.now)
    assert [a for a in h.actions if isinstance(a, j.SignaturePointer)][0].down


def test_the_ink_area_takes_no_pointer_on_other_screens() -> None:
    h = harness_reading()
    assert h.ui.ink_area() is None
    assert h.ui.pointer((400, 300), "down") == []
