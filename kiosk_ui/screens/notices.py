"""Screens that only tell: waiting in the queue, reconnecting to the hub, out of service."""

from __future__ import annotations

import pygame

from kiosk_ui import viewmodels as v
from kiosk_ui.theme import Theme
from kiosk_ui.widgets import LocalState, Widget, fitted_button, paragraphs, say, screen_title


def waiting_screen(
    view: v.KioskView, local: LocalState, theme: Theme, body: pygame.Rect
) -> list[Widget]:
    """Waiting: the place in the queue and the estimated wait, or that it is unknown."""
    p = theme.palette
    title, dy = screen_title(view, theme, body, "waiting.title")
    out: list[Widget] = [title]
    y = body.y + dy + theme.gap * 3
    lh = theme.font(theme.body_px).get_linesize()
    if view.queue_position is None:
        lines = [say(view, "waiting.unknown")]
    else:
        lines = [
            say(view, "waiting.position", position=view.queue_position),
            say(view, "waiting.estimate", minutes=view.estimated_wait_min),
        ]
    for line in lines:
        rect = pygame.Rect(body.x, y, body.w, lh * 2)
        out += paragraphs(theme, rect, line, theme.body_px, p.text, p.background, align="center")
        y += len(theme.wrap(line, theme.body_px, body.w)) * lh + theme.gap
    bw = min(body.w, theme.target * 5)
    rect = pygame.Rect(
        body.centerx - bw // 2, body.bottom - theme.button_h - body.h // 8, bw, theme.button_h
    )
    out.append(fitted_button(theme, rect, say(view, "waiting.cancel"), v.Abort(), "secondary"))
    return out


def _notice(view: v.KioskView, theme: Theme, body: pygame.Rect, prefix: str) -> list[Widget]:
    p = theme.palette
    title, dy = screen_title(view, theme, body, f"{prefix}.title")
    out: list[Widget] = [title]
    rect = pygame.Rect(body.x, body.y + dy + theme.gap * 3, body.w, body.h // 2)
    out += paragraphs(theme, rect, say(view, f"{prefix}.lead"), theme.body_px, p.text, p.background)
    return out


def reconnecting_screen(
    view: v.KioskView, local: LocalState, theme: Theme, body: pygame.Rect
) -> list[Widget]:
    """Reconnecting: the hub is gone for now."""
    return _notice(view, theme, body, "reconnecting")


def out_of_service_screen(
    view: v.KioskView, local: LocalState, theme: Theme, body: pygame.Rect
) -> list[Widget]:
    """Out of service: the kiosk cannot take customers; small, below, the cause for the
    technician (a failed wipe, a broken configuration, a missing camera at boot)."""
    out = _notice(view, theme, body, "oos")
    if view.problem:
        p = theme.palette
        rect = pygame.Rect(body.x, body.bottom - body.h // 4, body.w, body.h // 4)
        out += paragraphs(theme, rect, view.problem, theme.small_px, p.muted_text, p.background)
    return out
