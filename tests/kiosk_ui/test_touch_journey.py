"""Scripted journeys through the real UI (dummy SDL): taps on drawn buttons drive the journey."""

from __future__ import annotations

import pygame

from appliance.session import journey as j
from kiosk_ui import layout as lay
from kiosk_ui import viewmodels as v
from kiosk_ui.viewmodels import Screen
from tests.support.ui_harness import Harness


def where(h: Harness) -> Screen:
    return h.journey.screen


def type_text(h: Harness, text: str) -> None:
    for ch in text:
        if ch.isupper():
            h.tap(lay.Key("shift"))
        h.tap(lay.Key(ch))


def test_whole_journey_by_touch_with_umlauts() -> None:
    h = Harness()
    h.tap(v.Start())
    h.tap(v.ChooseLanguage("de"))
    assert where(h) is Screen.CONSENT
    h.tap(lay.Scroll(3))
    h.tap(v.AcceptConsent())
    type_text(h, "Jürgen Weiß")
    h.tap(lay.Focus("topic"))
    type_text(h, "konto")
    h.tap(lay.Key("back"))
    h.tap(lay.SubmitForm())
    assert h.actions == [j.RequestConsultation((("name", "Jürgen Weiß"), ("topic", "kont")))]
    assert where(h) is Screen.WAITING
    h.event(j.AdviserAccepted())
    h.event(j.CallConnected())
    h.tap(v.ToggleChat())
    type_text(h, "hallo")
    h.tap(lay.SubmitChat())
    assert h.actions[-1] == j.SendChatLine("hallo")
    h.tap(v.HangUp())
    assert where(h) is Screen.GOODBYE
    h.event(j.WipeFinished(v.WipeView(True, 2, 10, "crypto-erase")))
    h.tap(v.Done())
    assert where(h) is Screen.ATTRACT
    assert h.ui.local.values == {}  # the customer's typing went with the session


def test_decline_and_abort_from_header_by_touch() -> None:
    h = Harness((720, 1280))
    h.tap(v.Start())
    h.tap(v.ChooseLanguage("en"))
    h.tap(v.DeclineConsent())
    assert where(h) is Screen.ATTRACT and h.actions == []
    steps: list[list[lay.Action]] = [[v.Start()], [v.Start(), v.ChooseLanguage("de")]]
    for screen_steps in steps:
        for step in screen_steps:
            h.tap(step)
        h.tap(v.Abort())
        assert where(h) is Screen.ATTRACT
    assert h.actions == []


def test_countdown_button_keeps_the_session() -> None:
    h = Harness((1280, 800))
    h.tap(v.Start())
    h.now = j.Timeouts().language - 3
    h.event(j.Tick())
    assert h.journey.view(h.now).countdown == 3
    h.tap(v.StillHere())
    assert h.journey.view(h.now).countdown is None and where(h) is Screen.LANGUAGE


def test_finger_events_and_touch_synthesised_mouse() -> None:
    from kiosk_ui.app import _translate

    h = Harness((800, 480))
    button = h.ui.button_for(v.Start())
    assert button is not None
    x, y = button.rect.center
    down = pygame.event.Event(pygame.FINGERDOWN, x=x / 800, y=y / 480, finger_id=0, touch_id=0)
    up = pygame.event.Event(pygame.FINGERUP, x=x / 800, y=y / 480, finger_id=0, touch_id=0)
    synthetic = pygame.event.Event(pygame.MOUSEBUTTONUP, pos=(x, y), button=1, touch=True)
    assert _translate(h.ui, down, (800, 480)) == []
    assert _translate(h.ui, synthetic, (800, 480)) == []
    assert _translate(h.ui, up, (800, 480)) == [v.StillHere(), v.Start()]
