"""The call screen: the adviser's video (or what the exchange puts on the stage), the chat,
the verification code, the reconnecting notice and the button bar."""

from __future__ import annotations

from dataclasses import replace

import pygame

from kiosk_ui import viewmodels as v
from kiosk_ui.screens.exchange import document_notice, request_card, transfer_progress
from kiosk_ui.screens.keyboard import keyboard, keyboard_height
from kiosk_ui.screens.signature import signature_overlay
from kiosk_ui.screens.viewer import document_viewer
from kiosk_ui.strings import KEYBOARD_ROWS
from kiosk_ui.theme import Theme
from kiosk_ui.widgets import (
    Action,
    Box,
    Button,
    Field,
    Label,
    LocalState,
    Media,
    Style,
    SubmitChat,
    Widget,
    fitted_button,
    fitted_label,
    paragraphs,
    say,
)


def call_screen(
    view: v.KioskView, local: LocalState, theme: Theme, body: pygame.Rect
) -> list[Widget]:
    """The call: stage (video, request, shared screen or document), chat, button bar."""
    p = theme.palette
    call = view.call
    full = pygame.Rect(0, 0, theme.width, theme.height)
    out: list[Widget] = [Box(full, p.dark)]
    bar_h = theme.button_h + 2 * theme.gap
    bar = pygame.Rect(0, theme.height - bar_h, theme.width, bar_h)
    # A request that needs the customer takes the whole stage; the chat waits behind it.
    request = call.request
    chat_open = call.chat_open and request is None
    chat_w = 0
    # The chat is wide enough for 9 mm keys; on narrow landscape panels, where little video
    # would be left beside it, it covers the stage.
    cols = max(len(row) for row in KEYBOARD_ROWS[view.language])
    needed = cols * theme.target + (cols - 1) * (theme.gap // 2) + 2 * theme.gap
    half = max(theme.width // 2, needed)
    cover = chat_open and not theme.portrait and theme.width - half < theme.width // 3
    if chat_open:
        chat_w = theme.width if theme.portrait or cover else half
    stage = pygame.Rect(0, 0, theme.width - (0 if theme.portrait or cover else chat_w), bar.y)
    if chat_open and theme.portrait:
        stage.h = bar.y // 3
    showing_document = call.document is not None and not call.document_notice
    if request is not None:
        out.append(Media(stage, "remote"))
        out += request_card(view, theme, stage, request)
    elif call.screen_share:
        out += _screen_share(view, theme, stage)
    elif showing_document:
        out += document_viewer(view, theme, stage)
    else:
        out += _video_stage(view, theme, stage)
    overlay_y = stage.bottom - theme.gap
    if call.transfers and not (chat_open and cover):
        box = transfer_progress(view, theme, stage, overlay_y)
        out += box
        overlay_y = box[0].rect.y - theme.gap
    if call.document_notice and request is None and not (chat_open and cover):
        out += document_notice(view, theme, stage, overlay_y)
    elif request is None and not (chat_open and cover):
        out += signature_overlay(view, theme, stage, overlay_y)  # sealing, or how it ended
    if chat_open:
        chat = pygame.Rect(0 if cover else stage.right, 0, chat_w, bar.y)
        if theme.portrait:
            chat = pygame.Rect(0, stage.bottom, theme.width, bar.y - stage.bottom)
        out += _chat(view, local, theme, chat)
        if call.transfers and cover:
            # Over the chat's oldest lines (no buttons there), so the customer sees it go.
            box = transfer_progress(view, theme, chat, 0)
            top = theme.gap - box[0].rect.y
            out += [replace(w, rect=w.rect.move(0, top)) for w in box]
    if call.reconnecting:
        # Over the picture; over the chat's lines where the chat covers the stage (no keys).
        if chat_open and cover:
            out += _reconnecting_overlay(view, theme, pygame.Rect(0, 0, theme.width, bar.y), True)
        else:
            out += _reconnecting_overlay(view, theme, stage, False)
    out.append(Box(bar, p.dark))
    buttons: list[tuple[str, Action, Style, bool]] = [
        (
            say(view, "call.unmute" if call.muted else "call.mute"),
            v.ToggleMute(),
            "secondary",
            call.muted,
        ),
        (
            say(view, "call.camera_on" if call.camera_off else "call.camera_off"),
            v.ToggleCamera(),
            "secondary",
            call.camera_off,
        ),
        (say(view, "call.chat"), v.ToggleChat(), "secondary", chat_open),
        (say(view, "call.end"), v.HangUp(), "danger", False),
    ]
    bw = (theme.width - (len(buttons) + 1) * theme.gap) // len(buttons)
    bw = min(bw, theme.target * 5)
    x = (theme.width - len(buttons) * bw - (len(buttons) - 1) * theme.gap) // 2
    for label, action, style, selected in buttons:
        b = fitted_button(
            theme, pygame.Rect(x, bar.y + theme.gap, bw, theme.button_h), label, action, style
        )
        out.append(Button(b.rect, b.text, b.action, b.style, b.px, selected=selected))
        x += bw + theme.gap
    return out


def _video_stage(view: v.KioskView, theme: Theme, stage: pygame.Rect) -> list[Widget]:
    """The adviser's face, the self view in a corner, the code, "connecting"."""
    p = theme.palette
    call = view.call
    out: list[Widget] = [Media(stage, "remote")]
    sw = max(stage.w // 5, 120)
    sh = sw * 3 // 4
    self_rect = pygame.Rect(stage.right - sw - theme.gap, stage.y + theme.gap, sw, sh)
    if not call.camera_off:
        out.append(Media(self_rect, "self"))
    if call.verification_code is not None:
        width = stage.w - sw - 3 * theme.gap
        out += _code(view, theme, pygame.Rect(stage.x + theme.gap, stage.y + theme.gap, width, 0))
    if not call.connected and not call.reconnecting:
        r = pygame.Rect(stage.x, stage.centery - theme.target // 2, stage.w, theme.target)
        out.append(
            fitted_label(
                theme, r, say(view, "call.connecting"), theme.body_px, p.on_dark, p.dark, "center"
            )
        )
    return out


def _screen_share(view: v.KioskView, theme: Theme, stage: pygame.Rect) -> list[Widget]:
    """The adviser's screen over the whole stage, with a small label saying whose it is."""
    p = theme.palette
    text_ = say(view, "call.screen_share")
    px = theme.small_px
    h = theme.font(px).get_linesize() + theme.gap
    w = min(stage.w - 2 * theme.gap, theme.font(px).size(text_)[0] + 2 * theme.gap)
    box = pygame.Rect(stage.x + theme.gap, stage.y + theme.gap, w, h)
    return [
        Box(stage, p.dark),
        Media(stage, "screen"),
        Box(box, p.dark, theme.gap // 2),
        fitted_label(theme, box.inflate(-2 * theme.gap, 0), text_, px, p.on_dark, p.dark),
    ]


def _reconnecting_overlay(
    view: v.KioskView, theme: Theme, stage: pygame.Rect, top: bool
) -> list[Widget]:
    """The "connection lost, reconnecting" notice over the last picture, mid ``stage``.

    ``top``: at the top instead, where a covering chat shows its lines (and has no keys).
    """
    p = theme.palette
    message = say(view, "call.reconnecting")
    inner_w = min(stage.w - 4 * theme.gap, theme.target * 12)
    lines = min(len(theme.wrap(message, theme.body_px, inner_w)), 3)
    lh = theme.font(theme.body_px).get_linesize()
    box = pygame.Rect(0, 0, inner_w + 2 * theme.gap, lines * lh + 2 * theme.gap)
    box.center = stage.center
    if top:
        box.y = stage.y + theme.gap
    inner = box.inflate(-2 * theme.gap, -2 * theme.gap)
    return [
        Box(box, p.warning, theme.gap),
        *paragraphs(theme, inner, message, theme.body_px, p.on_warning, p.warning, align="center"),
    ]


def _code(view: v.KioskView, theme: Theme, at: pygame.Rect) -> list[Widget]:
    """The verification code in a box at ``at`` (its height is computed here)."""
    p = theme.palette
    code = view.call.verification_code or ""
    small = theme.font(theme.small_px).get_linesize()
    inner_w = at.w - 2 * theme.gap
    code_px = theme.fit(code, theme.title_px, inner_w)
    # Four words too wide even at 70 % (large text beside the chat) go on two lines.
    words = code.split(" ")
    lines = [code]
    if theme.font(code_px).size(code)[0] > inner_w and len(words) > 1:
        half = (len(words) + 1) // 2
        lines = [" ".join(words[:half]), " ".join(words[half:])]
        code_px = min(theme.fit(line, theme.title_px, inner_w) for line in lines)
    big = theme.font(code_px).get_linesize()
    hint = say(view, "call.code_hint")
    hint_lines = min(len(theme.wrap(hint, theme.small_px, inner_w)), 3)
    box = pygame.Rect(
        at.x, at.y, at.w, small + len(lines) * big + hint_lines * small + 2 * theme.gap
    )
    x, y = box.x + theme.gap, box.y + theme.gap
    out: list[Widget] = [
        Box(box, p.surface, theme.gap),
        fitted_label(
            theme,
            pygame.Rect(x, y, inner_w, small),
            say(view, "call.code"),
            theme.small_px,
            p.muted_text,
            p.surface,
        ),
    ]
    for i, line in enumerate(lines):
        rect = pygame.Rect(x, y + small + i * big, inner_w, big)
        out.append(Label(rect, line, code_px, p.text, p.surface))
    hint_rect = pygame.Rect(x, y + small + len(lines) * big, inner_w, hint_lines * small)
    out += paragraphs(theme, hint_rect, hint, theme.small_px, p.text, p.surface)
    return out


def _chat(view: v.KioskView, local: LocalState, theme: Theme, rect: pygame.Rect) -> list[Widget]:
    p = theme.palette
    out: list[Widget] = [Box(rect, p.surface)]
    inner = rect.inflate(-2 * theme.gap, -2 * theme.gap)
    draft_h = theme.target
    # Keys stay at least one touch target high; the message lines get what is left.
    kb_h = max(
        keyboard_height(theme, spacious=False), min(inner.h * 3 // 5, keyboard_height(theme))
    )
    kb_h = min(kb_h, inner.h - draft_h - theme.gap)
    kb = pygame.Rect(inner.x, inner.bottom - kb_h, inner.w, kb_h)
    draft = pygame.Rect(inner.x, kb.y - draft_h - theme.gap, inner.w, draft_h)
    out.append(Field(draft, "chat", local.chat_draft, True, theme.body_px))
    lines_rect = pygame.Rect(inner.x, inner.y, inner.w, draft.y - theme.gap - inner.y)
    lh = theme.font(theme.small_px).get_linesize()
    rendered: list[tuple[bool, str]] = []
    for line in view.call.chat:
        for part in theme.wrap(line.text, theme.small_px, inner.w - 2 * theme.gap):
            rendered.append((line.mine, part))
    visible = max(0, lines_rect.h // lh)
    y = lines_rect.bottom - min(visible, len(rendered)) * lh
    for mine, part in rendered[len(rendered) - visible :] if visible else []:
        colour = p.primary if mine else p.text
        x = inner.x + (2 * theme.gap if mine else 0)
        out.append(
            Label(
                pygame.Rect(x, y, inner.w - 2 * theme.gap, lh),
                part,
                theme.small_px,
                colour,
                p.surface,
            )
        )
        y += lh
    out += keyboard(view, local, theme, kb, SubmitChat(), say(view, "call.send"))
    return out
