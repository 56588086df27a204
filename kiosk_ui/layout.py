"""Screens as lists of widgets: one layout both draws the screen and answers touches.

``layout(view, local, theme)`` is pure: the same widgets are drawn by ``kiosk_ui.draw``, hit
by ``kiosk_ui.app`` and measured by the tests (every text must fit its box). Each screen is
built in ``kiosk_ui.screens``; the widgets and local actions are ``kiosk_ui.widgets``, named
here too so that one import serves those who lay out and hit screens.
"""

from __future__ import annotations

from collections.abc import Callable

import pygame

from kiosk_ui import viewmodels as v
from kiosk_ui.screens.call import call_screen
from kiosk_ui.screens.chrome import countdown_bar, countdown_rect, header_bar
from kiosk_ui.screens.goodbye import goodbye_screen
from kiosk_ui.screens.intake import intake_screen
from kiosk_ui.screens.notices import out_of_service_screen, reconnecting_screen, waiting_screen
from kiosk_ui.screens.signature import signature_screen
from kiosk_ui.screens.technician import technician_screen
from kiosk_ui.screens.welcome import attract_screen, consent_screen, language_screen
from kiosk_ui.theme import Theme
from kiosk_ui.viewmodels import Screen
from kiosk_ui.widgets import (
    Action,
    Box,
    Button,
    Field,
    Focus,
    Key,
    Label,
    Local,
    LocalState,
    Media,
    PanAt,
    Progress,
    Scroll,
    Style,
    SubmitChat,
    SubmitForm,
    Widget,
    hit,
)

__all__ = [
    "Action",
    "Box",
    "Button",
    "Field",
    "Focus",
    "Key",
    "PanAt",
    "Label",
    "Local",
    "LocalState",
    "Media",
    "Progress",
    "Scroll",
    "Style",
    "SubmitChat",
    "SubmitForm",
    "Widget",
    "countdown_rect",
    "hit",
    "layout",
]

# Builds one screen's widgets inside ``body`` (the panel less the header and margins).
ScreenBuilder = Callable[[v.KioskView, LocalState, Theme, pygame.Rect], list[Widget]]

SCREENS: dict[Screen, ScreenBuilder] = {
    Screen.ATTRACT: attract_screen,
    Screen.LANGUAGE: language_screen,
    Screen.CONSENT: consent_screen,
    Screen.INTAKE: intake_screen,
    Screen.WAITING: waiting_screen,
    Screen.CALL: call_screen,
    Screen.SIGNATURE: signature_screen,
    Screen.GOODBYE: goodbye_screen,
    Screen.RECONNECTING: reconnecting_screen,
    Screen.OUT_OF_SERVICE: out_of_service_screen,
    Screen.TECHNICIAN: technician_screen,
}


def layout(view: v.KioskView, local: LocalState, theme: Theme) -> list[Widget]:
    """All widgets of ``view`` on a panel described by ``theme``, back to front."""
    screen_rect = pygame.Rect(0, 0, theme.width, theme.height)
    p = theme.palette
    widgets: list[Widget] = [Box(screen_rect, p.background)]
    body = screen_rect.copy()
    if view.screen is not Screen.CALL:
        # The inactivity warning takes the header's place for its last seconds, so it never
        # covers keys or buttons (language and abort come back with "I am still here").
        widgets += header_bar(view, theme) if view.countdown is None else countdown_bar(view, theme)
        body = pygame.Rect(0, theme.header_h, theme.width, theme.height - theme.header_h)
    body = body.inflate(-2 * theme.gap, -2 * theme.gap)
    builder = SCREENS[view.screen]
    widgets += builder(view, local, theme, body)
    if view.countdown is not None and view.screen is Screen.CALL:
        widgets += countdown_bar(view, theme)  # the call has no timeout today; just in case
    return widgets
