"""The signature screen: the page beside (or above) the pen's ink."""

from __future__ import annotations

import pygame

from kiosk_ui import viewmodels as v
from kiosk_ui.theme import Theme
from kiosk_ui.widgets import (
    Box,
    LocalState,
    Media,
    Widget,
    fitted_button,
    fitted_label,
    say,
    screen_title,
)


def signature_screen(
    view: v.KioskView, local: LocalState, theme: Theme, body: pygame.Rect
) -> list[Widget]:
    """The page to sign and the ink area, with clear and confirm."""
    p = theme.palette
    sig = view.signature
    title, dy = screen_title(view, theme, body, "signature.title")
    out: list[Widget] = [title]
    lh = theme.font(theme.small_px).get_linesize()
    out.append(
        fitted_label(
            theme,
            pygame.Rect(body.x, body.y + dy, body.w, lh),
            say(view, "signature.hint"),
            theme.small_px,
            p.muted_text,
            p.background,
        )
    )
    top = body.y + dy + lh + theme.gap
    bottom = body.bottom - theme.button_h - theme.gap
    area = pygame.Rect(body.x, top, body.w, bottom - top)
    if theme.portrait:
        page = pygame.Rect(area.x, area.y, area.w, area.h * 3 // 5)
        ink = pygame.Rect(
            area.x, page.bottom + theme.gap, area.w, area.bottom - page.bottom - theme.gap
        )
    else:
        page = pygame.Rect(area.x, area.y, area.w * 11 // 20, area.h)
        ink = pygame.Rect(
            page.right + theme.gap, area.y, area.right - page.right - theme.gap, area.h
        )
    out.append(Media(page, "picture", sig.page))
    out.append(Box(ink, p.surface, theme.gap))
    out.append(Media(ink.inflate(-2 * theme.gap, -2 * theme.gap), "ink"))
    bw = (body.w - theme.gap) // 2
    y = body.bottom - theme.button_h
    out.append(
        fitted_button(
            theme,
            pygame.Rect(body.x, y, bw, theme.button_h),
            say(view, "signature.clear"),
            v.ClearSignature(),
            "secondary",
        )
    )
    out.append(
        fitted_button(
            theme,
            pygame.Rect(body.right - bw, y, bw, theme.button_h),
            say(view, "signature.confirm"),
            v.ConfirmSignature(),
            "primary",
        )
    )
    return out
