"""The way in: attract, language and the privacy notice (consent)."""

from __future__ import annotations

import pygame

from kiosk_ui import viewmodels as v
from kiosk_ui.strings import CONSENT_TEMPLATE, LANGUAGE_NAMES
from kiosk_ui.theme import Theme
from kiosk_ui.widgets import (
    Box,
    Button,
    LocalState,
    Scroll,
    Style,
    Widget,
    fitted_button,
    fitted_label,
    paragraphs,
    say,
    screen_title,
)


def attract_screen(
    view: v.KioskView, local: LocalState, theme: Theme, body: pygame.Rect
) -> list[Widget]:
    """The idle screen: a title, a line of lead and the start button."""
    p = theme.palette
    out: list[Widget] = []
    th = theme.font(theme.title_px * 2).get_linesize()
    y = body.y + body.h // 5
    out.append(
        fitted_label(
            theme,
            pygame.Rect(body.x, y, body.w, th),
            say(view, "attract.title"),
            round(theme.title_px * 1.5),
            p.text,
            p.background,
            "center",
        )
    )
    y += th + theme.gap
    lead = pygame.Rect(body.x, y, body.w, theme.font(theme.body_px).get_linesize() * 3)
    out += paragraphs(
        theme,
        lead,
        say(view, "attract.lead"),
        theme.body_px,
        p.muted_text,
        p.background,
        align="center",
    )
    bw = min(body.w, max(body.w // 2, theme.target * 6))
    bh = round(theme.button_h * 1.4)
    button = pygame.Rect(body.centerx - bw // 2, body.bottom - bh - body.h // 6, bw, bh)
    out.append(fitted_button(theme, button, say(view, "attract.start"), v.Start(), "primary"))
    return out


def language_screen(
    view: v.KioskView, local: LocalState, theme: Theme, body: pygame.Rect
) -> list[Widget]:
    """One large button per language."""
    title, dy = screen_title(view, theme, body, "language.title")
    out: list[Widget] = [title]
    bw = min(body.w, theme.target * 7)
    bh = round(theme.button_h * 1.3)
    y = body.y + dy + theme.gap * 2
    for lang in v.LANGUAGES:
        rect = pygame.Rect(body.centerx - bw // 2, y, bw, bh)
        style: Style = "primary" if lang == view.language else "secondary"
        out.append(fitted_button(theme, rect, LANGUAGE_NAMES[lang], v.ChooseLanguage(lang), style))
        y += bh + theme.gap * 2
    return out


def consent_text(view: v.KioskView) -> str:
    """The tenant's privacy notice in the view's language (our template if none)."""
    texts = view.consent_text or CONSENT_TEMPLATE
    return texts.get(view.language) or CONSENT_TEMPLATE[view.language]


def consent_screen(
    view: v.KioskView, local: LocalState, theme: Theme, body: pygame.Rect
) -> list[Widget]:
    """The privacy notice (scrolled by ``local``) with decline and accept."""
    p = theme.palette
    title, dy = screen_title(view, theme, body, "consent.title")
    out: list[Widget] = [title]
    buttons_h = theme.button_h
    arrows_w = theme.target
    card = pygame.Rect(body.x, body.y + dy, body.w, body.h - dy - buttons_h - theme.gap)
    out.append(Box(card, p.surface, theme.gap))
    inner = card.inflate(-2 * theme.gap, -2 * theme.gap)
    inner.w -= arrows_w + theme.gap
    out += paragraphs(
        theme,
        inner,
        consent_text(view),
        theme.body_px,
        p.text,
        p.surface,
        skip=local.consent_scroll,
    )
    ax = card.right - theme.gap - arrows_w
    out.append(
        Button(
            pygame.Rect(ax, card.y + theme.gap, arrows_w, theme.target),
            "",
            Scroll(-3),
            "secondary",
            icon="up",
        )
    )
    out.append(
        Button(
            pygame.Rect(ax, card.bottom - theme.gap - theme.target, arrows_w, theme.target),
            "",
            Scroll(3),
            "secondary",
            icon="down",
        )
    )
    bw = (body.w - theme.gap) // 2
    y = body.bottom - buttons_h
    out.append(
        fitted_button(
            theme,
            pygame.Rect(body.x, y, bw, buttons_h),
            say(view, "consent.decline"),
            v.DeclineConsent(),
            "secondary",
        )
    )
    out.append(
        fitted_button(
            theme,
            pygame.Rect(body.right - bw, y, bw, buttons_h),
            say(view, "consent.accept"),
            v.AcceptConsent(),
            "primary",
        )
    )
    return out
