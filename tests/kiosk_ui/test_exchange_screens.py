"""The exchange's screens drawn: every state in both languages, normal and large text, at
every panel size (text fits, 9 mm targets, AA contrast); pixels of overlay and screen share."""

from __future__ import annotations

from dataclasses import replace

import pygame
import pytest

from kiosk_ui import layout as lay
from kiosk_ui import viewmodels as v
from kiosk_ui.app import KioskUi
from kiosk_ui.samples import SampleFeed, sample_views
from kiosk_ui.screenshots import RESOLUTIONS
from kiosk_ui.viewmodels import LANGUAGES
from tests.support.ui_harness import layout_problems


def rgb(surface: pygame.Surface, at: tuple[int, int]) -> tuple[int, int, int]:
    colour = surface.get_at(at)
    return (colour.r, colour.g, colour.b)


EXCHANGE_VIEWS = (
    "call-scan-asked",
    "call-scan-running",
    "call-scan-preview",
    "call-scan-sending",
    "call-scan-failed",
    "call-photo-asked",
    "call-photo-countdown",
    "call-photo-preview",
    "call-screen-share",
    "call-transfers",
    "call-transfer-chat",
    "call-document",
    "call-document-notice",
    "call-document-unreadable",
    "call-reconnecting",
    "call-reconnecting-chat",
)


@pytest.mark.parametrize("size", RESOLUTIONS, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("large", [False, True], ids=["normal", "large"])
def test_exchange_screens_fit_and_are_touchable(size: tuple[int, int], large: bool) -> None:
    problems = []
    feed = SampleFeed()
    for language in LANGUAGES:
        views = sample_views(language)
        for name in EXCHANGE_VIEWS:
            ui = KioskUi(size)
            ui.show(replace(views[name], large_text=large), pygame.Surface(size), feed)
            problems += [(name, language, *p) for p in layout_problems(ui)]
    assert problems == []


def test_every_request_state_offers_the_right_buttons() -> None:
    views = sample_views("de")
    expected: dict[str, set[v.Choice]] = {
        "call-scan-asked": {"start", "decline"},
        "call-scan-running": {"decline"},
        "call-scan-preview": {"confirm", "retake", "decline"},
        "call-scan-sending": set(),
        "call-scan-failed": {"retake"},
        "call-photo-countdown": set(),
        "call-photo-preview": {"confirm", "retake", "decline"},
    }
    for name, choices in expected.items():
        ui = KioskUi((1280, 800))
        ui.show(views[name], pygame.Surface((1280, 800)), SampleFeed())
        shown = {
            w.action.choice
            for w in ui.widgets
            if isinstance(w, lay.Button) and isinstance(w.action, v.DecideRequest)
        }
        assert shown == choices, name
        request = views[name].call.request
        assert request is not None and all(request.allows(c) for c in choices)


def test_reconnecting_notice_lies_over_the_last_picture() -> None:
    feed = SampleFeed()
    size = (1280, 800)
    ui = KioskUi(size)
    surface = pygame.Surface(size)
    ui.show(sample_views("en")["call-reconnecting"], surface, feed)
    notice = next(w for w in ui.widgets if isinstance(w, lay.Label) and "reconnecting" in w.text)
    palette = ui.theme(ui.view).palette
    box = next(
        w
        for w in ui.widgets
        if isinstance(w, lay.Box) and w.colour == palette.warning and w.rect.contains(notice.rect)
    )
    assert rgb(surface, box.rect.move(4, 0).midleft) == palette.warning
    # Beside the notice the adviser's last frame (the colour bars) still shows.
    stage_colours = {rgb(surface, (x, 400)) for x in range(200, 1100, 40)}
    assert len(stage_colours) >= 5


def test_screen_share_draws_the_shared_screen_not_the_face() -> None:
    feed = SampleFeed()
    size = (800, 480)
    ui = KioskUi(size)
    surface = pygame.Surface(size)
    ui.show(sample_views("en")["call-screen-share"], surface, feed)
    assert rgb(surface, (400, 200)) == (255, 255, 255)  # the shared "window"
    assert rgb(surface, (60, 300)) == (200, 205, 212)  # its desktop
    ui.show(sample_views("en")["call"], surface, feed)
    assert rgb(surface, (400, 200)) != (255, 255, 255)  # bars again
