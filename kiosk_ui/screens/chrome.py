"""The bar above every screen but the call: branding, language, large text, abort; or, in its
place, the inactivity warning."""

from __future__ import annotations

import pygame

from kiosk_ui import viewmodels as v
from kiosk_ui.theme import Theme
from kiosk_ui.viewmodels import Screen
from kiosk_ui.widgets import Box, Button, Media, Widget, fitted_button, fitted_label, say


def header_bar(view: v.KioskView, theme: Theme) -> list[Widget]:
    """The branding bar with language, large-text and (where it may) abort buttons."""
    p = theme.palette
    h = theme.header_h
    bar = pygame.Rect(0, 0, theme.width, h)
    out: list[Widget] = [Box(bar, p.primary)]
    pad = max(4, (h - max(theme.target, h * 4 // 5)) // 2)
    size = h - 2 * pad
    x = theme.width - theme.gap
    right: list[Widget] = []
    for lang in reversed(v.LANGUAGES):
        w = max(size, theme.font(theme.body_px).size("DE")[0] + 2 * theme.gap)
        x -= w
        right.append(
            Button(
                pygame.Rect(x, pad, w, size),
                lang.upper(),
                v.ChooseLanguage(lang),
                "quiet",
                theme.body_px,
                selected=lang == view.language,
            )
        )
        x -= theme.gap // 2
    w = max(size, theme.font(theme.body_px).size("A+")[0] + 2 * theme.gap)
    x -= w + theme.gap // 2
    right.append(
        Button(
            pygame.Rect(x, pad, w, size),
            "A+",
            v.ToggleLargeText(),
            "quiet",
            theme.body_px,
            selected=view.large_text,
        )
    )
    if view.screen in _ABORTABLE:
        x -= size + theme.gap
        right.append(Button(pygame.Rect(x, pad, size, size), "", v.Abort(), "quiet", icon="close"))
    name_x = theme.gap
    logo = theme.logo
    if logo is not None and logo.height > 0:
        # The logo keeps its aspect ratio at the header's height, at most a third of the bar.
        lw = min(round(logo.width * (h - 2 * pad) / logo.height), theme.width // 3)
        out.append(Media(pygame.Rect(theme.gap, pad, lw, h - 2 * pad), "picture", logo))
        name_x += lw + theme.gap
    name_rect = pygame.Rect(name_x, 0, x - theme.gap - name_x, h)
    out.append(
        fitted_label(theme, name_rect, view.branding.name, theme.body_px, p.on_primary, p.primary)
    )
    return out + right


_ABORTABLE = {
    Screen.LANGUAGE,
    Screen.CONSENT,
    Screen.INTAKE,
    Screen.SIGNATURE,
    Screen.RECONNECTING,
}


def countdown_rect(theme: Theme) -> pygame.Rect:
    """Where the inactivity warning shows: in place of the header, at the top."""
    return pygame.Rect(0, 0, theme.width, theme.header_h)


def countdown_bar(view: v.KioskView, theme: Theme) -> list[Widget]:
    """The inactivity warning with its "I am still here" button, in place of the header."""
    p = theme.palette
    bar = countdown_rect(theme)
    h = bar.h
    pad = max(4, (h - theme.target) // 2)
    bw = min(
        theme.width // 2 - theme.gap,
        theme.font(theme.body_px).size(say(view, "still_here"))[0] + 4 * theme.gap,
    )
    button = pygame.Rect(bar.right - theme.gap - bw, bar.y + pad, bw, h - 2 * pad)
    message = pygame.Rect(theme.gap, bar.y, button.x - 2 * theme.gap, h)
    return [
        Box(bar, p.warning),
        fitted_label(
            theme,
            message,
            say(view, "countdown", seconds=view.countdown),
            theme.body_px,
            p.on_warning,
            p.warning,
        ),
        fitted_button(theme, button, say(view, "still_here"), v.StillHere(), "primary"),
    ]
