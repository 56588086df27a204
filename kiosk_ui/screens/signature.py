"""The signature screen: what is recorded (until the first stroke), the pen's ink, and
decline, clear and confirm.

Before the first stroke the consent text says, in the customer's language, what signing
records (the writing's dynamics, biometric data), what for, who alone can open it (the
trustee, named) and that declining records nothing; signing is the consent. After the
first stroke the page the signature goes on takes its place, its box outlined.
"""

from __future__ import annotations

import pygame

from kiosk_ui import viewmodels as v
from kiosk_ui.theme import Theme
from kiosk_ui.widgets import (
    Box,
    LocalState,
    Media,
    Style,
    Widget,
    fitted_button,
    fitted_label,
    paragraphs,
    say,
    screen_title,
)


def signature_screen(
    view: v.KioskView, local: LocalState, theme: Theme, body: pygame.Rect
) -> list[Widget]:
    """The consent text or the page, the ink area, and decline, clear and confirm."""
    del local
    p = theme.palette
    sig = view.signature
    title, dy = screen_title(view, theme, body, "signature.title")
    out: list[Widget] = [title]
    lh = theme.font(theme.small_px).get_linesize()
    line = pygame.Rect(body.x, body.y + dy, body.w, lh)
    if sig.message is not None:
        out.append(Box(line, p.warning))
        message = say(view, f"signature.{sig.message}")
        out.append(fitted_label(theme, line, message, theme.small_px, p.on_warning, p.warning))
    else:
        hint = say(view, "signature.hint")
        out.append(fitted_label(theme, line, hint, theme.small_px, p.muted_text, p.background))
    top = line.bottom + theme.gap
    bottom = body.bottom - theme.button_h - theme.gap
    area = pygame.Rect(body.x, top, body.w, bottom - top)
    if theme.portrait:
        side = pygame.Rect(area.x, area.y, area.w, area.h * 2 // 5)
        ink = pygame.Rect(
            area.x, side.bottom + theme.gap, area.w, area.bottom - side.bottom - theme.gap
        )
    else:
        side = pygame.Rect(area.x, area.y, area.w * 9 // 20, area.h)
        ink = pygame.Rect(
            side.right + theme.gap, area.y, area.right - side.right - theme.gap, area.h
        )
    if sig.consent:
        out += _consent(view, theme, side)
    else:
        out.append(Media(side, "picture", sig.page, focus=sig.focus))
    out.append(Box(ink, p.surface, theme.gap))
    out.append(Media(ink.inflate(-2 * theme.gap, -2 * theme.gap), "ink"))
    out += _buttons(view, theme, body)
    return out


def _consent(view: v.KioskView, theme: Theme, rect: pygame.Rect) -> list[Widget]:
    """What signing records and who can open it; the smallest size that shows all of it."""
    p = theme.palette
    trustee = view.signature.trustee_name or say(view, "signature.trustee_unknown")
    consent = say(view, "signature.consent", trustee=trustee)
    inner = rect.inflate(-2 * theme.gap, -2 * theme.gap)
    px = theme.small_px
    for size in range(theme.small_px, 9, -1):  # shrink until every line fits the panel
        px = size
        lines = len(theme.wrap(consent, px, inner.w))
        if lines * theme.font(px).get_linesize() <= inner.h:
            break
    out: list[Widget] = [Box(rect, p.surface, theme.gap)]
    out += paragraphs(theme, inner, consent, px, p.text, p.surface)
    return out


def _buttons(view: v.KioskView, theme: Theme, body: pygame.Rect) -> list[Widget]:
    sig = view.signature
    bw = (body.w - 2 * theme.gap) // 3
    y = body.bottom - theme.button_h
    row: list[tuple[str, v.Intent, Style]] = [
        (say(view, "signature.decline"), v.DeclineSignature(), "danger"),
        (say(view, "signature.clear"), v.ClearSignature(), "secondary"),
        (say(view, "signature.confirm"), v.ConfirmSignature(), "primary"),
    ]
    out: list[Widget] = []
    for i, (label, action, style) in enumerate(row):
        rect = pygame.Rect(body.x + i * (bw + theme.gap), y, bw, theme.button_h)
        if isinstance(action, v.ConfirmSignature) and (not sig.has_ink or sig.pending):
            # Nothing to confirm yet (or it is on its way): a label, not a target.
            out.append(Box(rect, theme.palette.surface, theme.gap // 2))
            out.append(
                fitted_label(
                    theme,
                    rect,
                    label,
                    theme.body_px,
                    theme.palette.muted_text,
                    theme.palette.surface,
                    "center",
                )
            )
            continue
        out.append(fitted_button(theme, rect, label, action, style))
    return out


def signature_overlay(
    view: v.KioskView, theme: Theme, stage: pygame.Rect, bottom: int
) -> list[Widget]:
    """On the call's stage, its bottom at ``bottom``: "please wait" while the kiosk seals
    and signs, or how the last signature request ended (with OK to close it)."""
    p = theme.palette
    outcome = view.call.signature_notice
    if view.signature.state == "sealing":
        key = "signature.sealing"
    elif outcome is not None:
        key = f"signature.{outcome}"
    else:
        return []
    message = say(view, key)
    bw = theme.target * 2 if outcome is not None and key != "signature.sealing" else 0
    w = stage.w - 2 * theme.gap
    text_w = w - (bw + 3 * theme.gap if bw else 2 * theme.gap)
    px = theme.small_px
    lines = theme.wrap(message, px, text_w)
    lh = theme.font(px).get_linesize()
    h = max(theme.button_h, len(lines) * lh) + 2 * theme.gap
    box = pygame.Rect(stage.x + theme.gap, bottom - h, w, h)
    colour = p.warning if outcome == "failed" and bw else p.surface
    text_colour = p.on_warning if colour == p.warning else p.text
    out: list[Widget] = [Box(box, colour, theme.gap)]
    inner = pygame.Rect(box.x + theme.gap, box.y + theme.gap, text_w, h - 2 * theme.gap)
    out += paragraphs(theme, inner, message, px, text_colour, colour)
    if bw:
        out.append(
            fitted_button(
                theme,
                pygame.Rect(box.right - bw - theme.gap, box.y + theme.gap, bw, theme.button_h),
                say(view, "signature.ok"),
                v.DismissSignatureNotice(),
                "primary",
            )
        )
    return out
