"""The intake form: the tenant's fields above the on-screen keyboard."""

from __future__ import annotations

import pygame

from kiosk_ui import viewmodels as v
from kiosk_ui.screens.keyboard import keyboard
from kiosk_ui.theme import Theme
from kiosk_ui.widgets import (
    Button,
    Field,
    Focus,
    LocalState,
    SubmitForm,
    Widget,
    fitted_label,
    say,
    screen_title,
)


def intake_screen(
    view: v.KioskView, local: LocalState, theme: Theme, body: pygame.Rect
) -> list[Widget]:
    """The intake form: a label and field per configured field, the keyboard below."""
    p = theme.palette
    title, dy = screen_title(view, theme, body, "intake.title")
    out: list[Widget] = [title]
    label_h = theme.font(theme.small_px).get_linesize()
    field_h = theme.target
    per_row = 1 if theme.portrait else len(view.fields)
    fw = (body.w - (per_row - 1) * theme.gap) // per_row
    y = body.y + dy
    focus = local.focus or (view.fields[0].key if view.fields else None)
    for i, spec in enumerate(view.fields):
        col = i % per_row
        if i and col == 0:
            y += label_h + field_h + theme.gap
        x = body.x + col * (fw + theme.gap)
        label = spec.label_in(view.language)
        if spec.required:
            label += " *"
        out.append(
            fitted_label(
                theme, pygame.Rect(x, y, fw, label_h), label, theme.small_px, p.text, p.background
            )
        )
        rect = pygame.Rect(x, y + label_h, fw, field_h)
        out.append(
            Field(rect, label, local.values.get(spec.key, ""), focus == spec.key, theme.body_px)
        )
        out.append(Button(rect, "", Focus(spec.key), "quiet", icon="field"))
    y += label_h + field_h + theme.gap * 2
    kb = pygame.Rect(body.x, y, body.w, body.bottom - y)
    out += keyboard(view, local, theme, kb, SubmitForm(), say(view, "intake.submit"))
    return out
