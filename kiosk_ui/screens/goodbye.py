"""The goodbye screen: the verified wipe (or that it still runs), why a call ended early, and
the conversation reference a customer quotes to the data-protection officer."""

from __future__ import annotations

import pygame

from kiosk_ui import viewmodels as v
from kiosk_ui.strings import human_size
from kiosk_ui.theme import Theme
from kiosk_ui.widgets import Box, LocalState, Widget, fitted_button, paragraphs, say, screen_title


def goodbye_screen(
    view: v.KioskView, local: LocalState, theme: Theme, body: pygame.Rect
) -> list[Widget]:
    """Goodbye: the unverified warning if any, the wipe running or verified, the reference."""
    p = theme.palette
    title, dy = screen_title(view, theme, body, "goodbye.title")
    out: list[Widget] = [title]
    y = body.y + dy + theme.gap * 3
    lh = theme.font(theme.body_px).get_linesize()
    wipe = view.wipe
    if view.unverified:
        # Why the call ended so suddenly, in plain words, before anything else.
        warning = say(view, "goodbye.unverified")
        n = min(len(theme.wrap(warning, theme.body_px, body.w - 2 * theme.gap)), 3)
        box = pygame.Rect(body.x, y, body.w, n * lh + 2 * theme.gap)
        out.append(Box(box, p.warning, theme.gap))
        inner = box.inflate(-2 * theme.gap, -2 * theme.gap)
        out += paragraphs(theme, inner, warning, theme.body_px, p.on_warning, p.warning)
        y = box.bottom + theme.gap
    lines = [say(view, "goodbye.wiping")] if wipe is None else [say(view, "goodbye.wiped")]
    for line in lines:
        rect = pygame.Rect(body.x, y, body.w, lh * 3)
        out += paragraphs(theme, rect, line, theme.body_px, p.text, p.background)
        y += len(theme.wrap(line, theme.body_px, body.w)) * lh + theme.gap
    if wipe is not None:
        details = say(
            view,
            "goodbye.details",
            files=wipe.files,
            size=human_size(wipe.bytes, view.language),
            method=wipe.method,
        )
        rect = pygame.Rect(body.x, y, body.w, theme.font(theme.small_px).get_linesize() * 2)
        out += paragraphs(theme, rect, details, theme.small_px, p.muted_text, p.background)
        y += (
            len(theme.wrap(details, theme.small_px, body.w))
            * theme.font(theme.small_px).get_linesize()
        )
    if view.reference is not None:
        out += _reference(view, theme, pygame.Rect(body.x, y + theme.gap, body.w, body.h))
    if wipe is not None:
        bw = min(body.w, theme.target * 5)
        rect = pygame.Rect(
            body.centerx - bw // 2, body.bottom - theme.button_h - body.h // 8, bw, theme.button_h
        )
        out.append(fitted_button(theme, rect, say(view, "goodbye.done"), v.Done(), "primary"))
    return out


def _reference(view: v.KioskView, theme: Theme, area: pygame.Rect) -> list[Widget]:
    """The reference on a card, and what it is for (the data-protection officer's handle)."""
    p = theme.palette
    small = theme.font(theme.small_px).get_linesize()
    line = say(view, "goodbye.reference", reference=view.reference)
    hint = say(view, "goodbye.reference_hint")
    inner_w = area.w - 2 * theme.gap
    lines = theme.wrap(line, theme.body_px, inner_w)
    hints = theme.wrap(hint, theme.small_px, inner_w)[:3]
    lh = theme.font(theme.body_px).get_linesize()
    card = pygame.Rect(area.x, area.y, area.w, len(lines) * lh + len(hints) * small + 2 * theme.gap)
    inner = card.inflate(-2 * theme.gap, -2 * theme.gap)
    out: list[Widget] = [Box(card, p.surface, theme.gap)]
    out += paragraphs(theme, inner, line, theme.body_px, p.text, p.surface)
    rest = pygame.Rect(inner.x, inner.y + len(lines) * lh, inner.w, len(hints) * small)
    out += paragraphs(theme, rest, hint, theme.small_px, p.muted_text, p.surface)
    return out
