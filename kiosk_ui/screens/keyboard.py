"""The on-screen keyboard (intake form and chat)."""

from __future__ import annotations

import pygame

from kiosk_ui import viewmodels as v
from kiosk_ui.strings import KEYBOARD_ROWS
from kiosk_ui.theme import Theme
from kiosk_ui.widgets import Action, Button, Key, LocalState, Widget, fitted_button, say


def keyboard(
    view: v.KioskView,
    local: LocalState,
    theme: Theme,
    rect: pygame.Rect,
    enter: Action,
    enter_text: str,
) -> list[Widget]:
    """An on-screen keyboard filling ``rect``; its last row ends with ``enter``."""
    rows = KEYBOARD_ROWS[view.language]
    n = len(rows) + 1
    kh = min(theme.target + theme.gap, (rect.h - (n - 1) * (theme.gap // 2)) // n)
    kh = max(kh, theme.target)
    cols = max(len(r) for r in rows)
    kw = (rect.w - (cols - 1) * (theme.gap // 2)) // cols
    out: list[Widget] = []
    y = rect.y
    for row in rows:
        x = rect.x + (rect.w - (len(row) * kw + (len(row) - 1) * (theme.gap // 2))) // 2
        for ch in row:
            shown = ch.upper() if local.shift and ch != "ß" else ch
            out.append(Button(pygame.Rect(x, y, kw, kh), shown, Key(shown), "key", theme.body_px))
            x += kw + theme.gap // 2
        y += kh + theme.gap // 2
    # Bottom row: shift, space, backspace, enter.
    small = kw * 3 // 2
    enter_w = max(kw * 3, theme.font(theme.body_px).size(enter_text)[0] + 2 * theme.gap)
    enter_w = min(enter_w, rect.w // 2)
    space_w = rect.w - 2 * small - enter_w - 3 * (theme.gap // 2)
    x = rect.x
    out.append(
        Button(
            pygame.Rect(x, y, small, kh),
            "",
            Key("shift"),
            "key",
            icon="shift",
            selected=local.shift,
        )
    )
    x += small + theme.gap // 2
    out.append(
        fitted_button(theme, pygame.Rect(x, y, space_w, kh), say(view, "kb.space"), Key(" "), "key")
    )
    x += space_w + theme.gap // 2
    out.append(Button(pygame.Rect(x, y, small, kh), "", Key("back"), "key", icon="back"))
    x += small + theme.gap // 2
    out.append(fitted_button(theme, pygame.Rect(x, y, enter_w, kh), enter_text, enter, "primary"))
    return out


def keyboard_height(theme: Theme, *, spacious: bool = True) -> int:
    """Height of the five-row keyboard: keys a target plus a gap high, or exactly a target."""
    key = theme.target + (theme.gap if spacious else 0)
    return 5 * key + 4 * (theme.gap // 2)
