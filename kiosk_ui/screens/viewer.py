"""The document viewer on the call's stage: one page at a time, page turns, zoom and pan.

A pushed document closes with "Close"; a signature request's document (``signing``) is
read first: "Continue to sign" or "Do not sign", its signature box outlined on its page.
Zoomed, a tap on the page brings that point to the middle of the view.
"""

from __future__ import annotations

import pygame

from kiosk_ui import viewmodels as v
from kiosk_ui.theme import Theme
from kiosk_ui.widgets import (
    Box,
    Button,
    Media,
    PanAt,
    Widget,
    fitted_button,
    fitted_label,
    paragraphs,
    say,
)


def view_crop(document: v.DocumentView) -> tuple[float, float, float, float] | None:
    """The part of the page shown at the document's zoom (0..1); None: the whole page."""
    if document.zoom <= 1.0:
        return None
    half = 0.5 / document.zoom
    cx = min(max(document.centre[0], half), 1.0 - half)
    cy = min(max(document.centre[1], half), 1.0 - half)
    return (cx - half, cy - half, cx + half, cy + half)


def document_viewer(view: v.KioskView, theme: Theme, stage: pygame.Rect) -> list[Widget]:
    """The opened document over ``stage``: one page, page turns, zoom, close or sign."""
    p = theme.palette
    doc = view.call.document
    assert doc is not None  # noqa: S101 - caller checks
    out: list[Widget] = [Box(stage, p.background)]
    nav_h = theme.button_h + 2 * theme.gap
    top = stage.y + theme.gap
    if doc.signing:
        out += _sign_bar(view, theme, stage)
        top += nav_h
    page_rect = pygame.Rect(stage.x, top, stage.w, stage.bottom - nav_h - top)
    if doc.loading or doc.unreadable or not doc.pages:
        lines = page_rect.inflate(-2 * theme.gap, 0)
        lines.h = page_rect.h // 2
        lines.y = page_rect.centery - theme.font(theme.body_px).get_linesize()
        message = say(view, "signature.loading" if doc.loading else "call.unreadable")
        out += paragraphs(
            theme, lines, message, theme.body_px, p.text, p.background, align="center"
        )
    else:
        page = min(doc.page, len(doc.pages) - 1)
        sig = view.signature
        focus = sig.focus if doc.signing and page == _target(doc, sig.target) else None
        crop = view_crop(doc)
        out.append(Media(page_rect, "picture", doc.pages[page], crop=crop, focus=focus))
        if crop is not None:
            # An invisible target over the page: a tap there pans (not a visible button).
            out.append(Button(page_rect, "", PanAt(crop), "secondary", icon="field"))
    out += _nav(view, theme, stage, doc)
    return out


def _sign_bar(view: v.KioskView, theme: Theme, stage: pygame.Rect) -> list[Widget]:
    """ "Read, then sign on page n" with "Do not sign" and "Continue to sign"."""
    p = theme.palette
    sig = view.signature
    doc = view.call.document
    assert doc is not None  # noqa: S101 - caller checks
    y = stage.y + theme.gap
    bw = min(theme.target * 6, (stage.w - 4 * theme.gap) // 3)
    page = _target(doc, sig.target) + 1
    hint = say(view, "signature.reading", page=page)
    lw = stage.w - 2 * bw - 4 * theme.gap
    px = theme.small_px
    while px > 10 and len(theme.wrap(hint, px, lw)) * theme.font(px).get_linesize() > (
        theme.button_h
    ):
        px -= 1  # the hint wraps, smaller until it fits beside the buttons
    hint_rect = pygame.Rect(stage.x + theme.gap, y, lw, theme.button_h)
    out: list[Widget] = [
        *paragraphs(theme, hint_rect, hint, px, p.text, p.background),
        fitted_button(
            theme,
            pygame.Rect(stage.right - 2 * bw - 2 * theme.gap, y, bw, theme.button_h),
            say(view, "signature.decline"),
            v.DeclineSignature(),
            "danger",
        ),
    ]
    if not sig.pending and sig.state == "reading":
        out.append(
            fitted_button(
                theme,
                pygame.Rect(stage.right - bw - theme.gap, y, bw, theme.button_h),
                say(view, "signature.read"),
                v.ContinueToSign(),
                "primary",
            )
        )
    return out


def _nav(view: v.KioskView, theme: Theme, stage: pygame.Rect, doc: v.DocumentView) -> list[Widget]:
    """Page turns, the page number, zoom out and in, and close (not for a document to sign)."""
    p = theme.palette
    nav_h = theme.button_h + 2 * theme.gap
    y = stage.bottom - nav_h + theme.gap
    bw = theme.target + theme.gap
    out: list[Widget] = []
    x = stage.x + theme.gap
    for text, action in (
        ("", v.TurnPage(-1)),
        ("", v.TurnPage(1)),
        ("−", v.ZoomDocument(-1)),
        ("+", v.ZoomDocument(1)),
    ):
        icon = None if text else ("left" if action == v.TurnPage(-1) else "right")
        rect = pygame.Rect(x, y, bw, theme.button_h)
        out.append(Button(rect, text, action, "secondary", theme.title_px, icon=icon))
        x += bw + theme.gap
    right = stage.right - theme.gap
    if not doc.signing:
        cw = min(theme.target * 4, stage.w // 3)
        out.append(
            fitted_button(
                theme,
                pygame.Rect(right - cw, y, cw, theme.button_h),
                say(view, "call.close"),
                v.CloseDocument(),
                "secondary",
            )
        )
        right -= cw + theme.gap
    page_text = say(view, "call.page", page=doc.page + 1, pages=max(1, len(doc.pages)))
    out.append(
        fitted_label(
            theme,
            pygame.Rect(x, y, max(1, right - x), theme.button_h),
            page_text,
            theme.body_px,
            p.text,
            p.background,
            "center",
        )
    )
    return out


def _target(document: v.DocumentView, page: int | None) -> int:
    last = max(len(document.pages) - 1, 0)
    return last if page is None else min(max(page, 0), last)
