"""Screens as lists of widgets: one layout both draws the screen and answers touches.

``layout(view, local, theme)`` is pure: the same widgets are drawn by ``kiosk_ui.draw``, hit
by ``kiosk_ui.app`` and measured by the tests (every text must fit its box).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

import pygame

from kiosk_ui import viewmodels as v
from kiosk_ui.strings import CONSENT_TEMPLATE, KEYBOARD_ROWS, LANGUAGE_NAMES, human_size, text
from kiosk_ui.theme import Theme
from kiosk_ui.viewmodels import Screen

Style = Literal["primary", "secondary", "danger", "key", "quiet", "warning"]


@dataclass(frozen=True)
class Key:
    """A local edit from the on-screen keyboard (``char``, or ``shift``/``back``/``space``)."""

    char: str


@dataclass(frozen=True)
class Focus:
    """Move the keyboard's focus to the intake field ``key``."""

    key: str


@dataclass(frozen=True)
class Scroll:
    """Scroll the consent text by ``lines``."""

    lines: int


@dataclass(frozen=True)
class SubmitForm:
    """Submit the intake form (becomes ``SubmitIntake`` with the local values)."""


@dataclass(frozen=True)
class SubmitChat:
    """Send the chat draft (becomes ``SendChat``)."""


Local = Key | Focus | Scroll | SubmitForm | SubmitChat
Action = v.Intent | Local


@dataclass
class LocalState:
    """What only the UI holds: typing and scrolling. Dropped when ``view.session`` changes."""

    session: int = 0
    values: dict[str, str] = field(default_factory=dict)
    focus: str | None = None
    shift: bool = False
    chat_draft: str = ""
    consent_scroll: int = 0


@dataclass(frozen=True)
class Widget:
    """Something with a place on the screen."""

    rect: pygame.Rect


@dataclass(frozen=True)
class Box(Widget):
    """A filled rectangle (cards, bars)."""

    colour: tuple[int, int, int]
    radius: int = 0


@dataclass(frozen=True)
class Label(Widget):
    """One line of text that must fit ``rect``."""

    text: str
    px: int
    colour: tuple[int, int, int]
    background: tuple[int, int, int]
    align: Literal["left", "center"] = "left"


@dataclass(frozen=True)
class Button(Widget):
    """A touch target; ``action`` is reported when it is tapped."""

    text: str
    action: Action
    style: Style = "secondary"
    px: int = 0  # 0: the theme's body size
    icon: str | None = None  # drawn instead of text: "back", "shift", "up", "down", "close"
    selected: bool = False


@dataclass(frozen=True)
class Field(Widget):
    """An intake text field."""

    label: str
    value: str
    focused: bool
    px: int


@dataclass(frozen=True)
class Media(Widget):
    """A live picture from ``MediaFeed`` (``remote``, ``screen``, ``self``) or a ``picture``."""

    source: Literal["remote", "screen", "self", "picture", "ink"]
    picture: v.Picture | None = None


@dataclass(frozen=True)
class Progress(Widget):
    """A progress bar, 0..1."""

    fraction: float


def layout(view: v.KioskView, local: LocalState, theme: Theme) -> list[Widget]:
    """All widgets of ``view`` on a panel described by ``theme``, back to front."""
    screen_rect = pygame.Rect(0, 0, theme.width, theme.height)
    p = theme.palette
    widgets: list[Widget] = [Box(screen_rect, p.background)]
    body = screen_rect.copy()
    if view.screen is not Screen.CALL:
        # The inactivity warning takes the header's place for its last seconds, so it never
        # covers keys or buttons (language and abort come back with "I am still here").
        widgets += _header(view, theme) if view.countdown is None else _countdown(view, theme)
        body = pygame.Rect(0, theme.header_h, theme.width, theme.height - theme.header_h)
    body = body.inflate(-2 * theme.gap, -2 * theme.gap)
    builder = _SCREENS[view.screen]
    widgets += builder(view, local, theme, body)
    if view.countdown is not None and view.screen is Screen.CALL:
        widgets += _countdown(view, theme)  # the call has no timeout today; just in case
    return widgets


def _t(view: v.KioskView, key: str, **values: object) -> str:
    return text(key, view.language, **values)


def _label(
    theme: Theme,
    rect: pygame.Rect,
    value: str,
    px: int,
    colour: tuple[int, int, int],
    background: tuple[int, int, int],
    align: Literal["left", "center"] = "left",
) -> Label:
    return Label(rect, value, theme.fit(value, px, rect.w), colour, background, align)


def _button(
    theme: Theme, rect: pygame.Rect, value: str, action: Action, style: Style = "secondary"
) -> Button:
    px = theme.fit(value, theme.body_px, rect.w - 2 * theme.gap)
    return Button(rect, value, action, style, px)


def _paragraphs(
    theme: Theme,
    rect: pygame.Rect,
    value: str,
    px: int,
    colour: tuple[int, int, int],
    background: tuple[int, int, int],
    *,
    skip: int = 0,
    align: Literal["left", "center"] = "left",
) -> list[Widget]:
    line_h = theme.font(px).get_linesize()
    out: list[Widget] = []
    y = rect.y
    for line in theme.wrap(value, px, rect.w)[skip:]:
        if y + line_h > rect.bottom:
            break
        out.append(
            Label(pygame.Rect(rect.x, y, rect.w, line_h), line, px, colour, background, align)
        )
        y += line_h
    return out


def _header(view: v.KioskView, theme: Theme) -> list[Widget]:
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
    out.append(_label(theme, name_rect, view.branding.name, theme.body_px, p.on_primary, p.primary))
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


def _countdown(view: v.KioskView, theme: Theme) -> list[Widget]:
    p = theme.palette
    bar = countdown_rect(theme)
    h = bar.h
    pad = max(4, (h - theme.target) // 2)
    bw = min(
        theme.width // 2 - theme.gap,
        theme.font(theme.body_px).size(_t(view, "still_here"))[0] + 4 * theme.gap,
    )
    button = pygame.Rect(bar.right - theme.gap - bw, bar.y + pad, bw, h - 2 * pad)
    message = pygame.Rect(theme.gap, bar.y, button.x - 2 * theme.gap, h)
    return [
        Box(bar, p.warning),
        _label(
            theme,
            message,
            _t(view, "countdown", seconds=view.countdown),
            theme.body_px,
            p.on_warning,
            p.warning,
        ),
        _button(theme, button, _t(view, "still_here"), v.StillHere(), "primary"),
    ]


def _title(view: v.KioskView, theme: Theme, body: pygame.Rect, key: str) -> tuple[Widget, int]:
    p = theme.palette
    h = theme.font(theme.title_px).get_linesize()
    rect = pygame.Rect(body.x, body.y, body.w, h)
    return _label(theme, rect, _t(view, key), theme.title_px, p.text, p.background), h + theme.gap


def _attract(view: v.KioskView, local: LocalState, theme: Theme, body: pygame.Rect) -> list[Widget]:
    p = theme.palette
    out: list[Widget] = []
    th = theme.font(theme.title_px * 2).get_linesize()
    y = body.y + body.h // 5
    out.append(
        _label(
            theme,
            pygame.Rect(body.x, y, body.w, th),
            _t(view, "attract.title"),
            round(theme.title_px * 1.5),
            p.text,
            p.background,
            "center",
        )
    )
    y += th + theme.gap
    lead = pygame.Rect(body.x, y, body.w, theme.font(theme.body_px).get_linesize() * 3)
    out += _paragraphs(
        theme,
        lead,
        _t(view, "attract.lead"),
        theme.body_px,
        p.muted_text,
        p.background,
        align="center",
    )
    bw = min(body.w, max(body.w // 2, theme.target * 6))
    bh = round(theme.button_h * 1.4)
    button = pygame.Rect(body.centerx - bw // 2, body.bottom - bh - body.h // 6, bw, bh)
    out.append(_button(theme, button, _t(view, "attract.start"), v.Start(), "primary"))
    return out


def _language(
    view: v.KioskView, local: LocalState, theme: Theme, body: pygame.Rect
) -> list[Widget]:
    title, dy = _title(view, theme, body, "language.title")
    out: list[Widget] = [title]
    bw = min(body.w, theme.target * 7)
    bh = round(theme.button_h * 1.3)
    y = body.y + dy + theme.gap * 2
    for lang in v.LANGUAGES:
        rect = pygame.Rect(body.centerx - bw // 2, y, bw, bh)
        style: Style = "primary" if lang == view.language else "secondary"
        out.append(_button(theme, rect, LANGUAGE_NAMES[lang], v.ChooseLanguage(lang), style))
        y += bh + theme.gap * 2
    return out


def consent_text(view: v.KioskView) -> str:
    """The tenant's privacy notice in the view's language (our template if none)."""
    texts = view.consent_text or CONSENT_TEMPLATE
    return texts.get(view.language) or CONSENT_TEMPLATE[view.language]


def _consent(view: v.KioskView, local: LocalState, theme: Theme, body: pygame.Rect) -> list[Widget]:
    p = theme.palette
    title, dy = _title(view, theme, body, "consent.title")
    out: list[Widget] = [title]
    buttons_h = theme.button_h
    arrows_w = theme.target
    card = pygame.Rect(body.x, body.y + dy, body.w, body.h - dy - buttons_h - theme.gap)
    out.append(Box(card, p.surface, theme.gap))
    inner = card.inflate(-2 * theme.gap, -2 * theme.gap)
    inner.w -= arrows_w + theme.gap
    out += _paragraphs(
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
        _button(
            theme,
            pygame.Rect(body.x, y, bw, buttons_h),
            _t(view, "consent.decline"),
            v.DeclineConsent(),
            "secondary",
        )
    )
    out.append(
        _button(
            theme,
            pygame.Rect(body.right - bw, y, bw, buttons_h),
            _t(view, "consent.accept"),
            v.AcceptConsent(),
            "primary",
        )
    )
    return out


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
        _button(theme, pygame.Rect(x, y, space_w, kh), _t(view, "kb.space"), Key(" "), "key")
    )
    x += space_w + theme.gap // 2
    out.append(Button(pygame.Rect(x, y, small, kh), "", Key("back"), "key", icon="back"))
    x += small + theme.gap // 2
    out.append(_button(theme, pygame.Rect(x, y, enter_w, kh), enter_text, enter, "primary"))
    return out


def keyboard_height(theme: Theme, *, spacious: bool = True) -> int:
    """Height of the five-row keyboard: keys a target plus a gap high, or exactly a target."""
    key = theme.target + (theme.gap if spacious else 0)
    return 5 * key + 4 * (theme.gap // 2)


def _intake(view: v.KioskView, local: LocalState, theme: Theme, body: pygame.Rect) -> list[Widget]:
    p = theme.palette
    title, dy = _title(view, theme, body, "intake.title")
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
            _label(
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
    out += keyboard(view, local, theme, kb, SubmitForm(), _t(view, "intake.submit"))
    return out


def _waiting(view: v.KioskView, local: LocalState, theme: Theme, body: pygame.Rect) -> list[Widget]:
    p = theme.palette
    title, dy = _title(view, theme, body, "waiting.title")
    out: list[Widget] = [title]
    y = body.y + dy + theme.gap * 3
    lh = theme.font(theme.body_px).get_linesize()
    if view.queue_position is None:
        lines = [_t(view, "waiting.unknown")]
    else:
        lines = [
            _t(view, "waiting.position", position=view.queue_position),
            _t(view, "waiting.estimate", minutes=view.estimated_wait_min),
        ]
    for line in lines:
        rect = pygame.Rect(body.x, y, body.w, lh * 2)
        out += _paragraphs(theme, rect, line, theme.body_px, p.text, p.background, align="center")
        y += len(theme.wrap(line, theme.body_px, body.w)) * lh + theme.gap
    bw = min(body.w, theme.target * 5)
    rect = pygame.Rect(
        body.centerx - bw // 2, body.bottom - theme.button_h - body.h // 8, bw, theme.button_h
    )
    out.append(_button(theme, rect, _t(view, "waiting.cancel"), v.Abort(), "secondary"))
    return out


def _call(view: v.KioskView, local: LocalState, theme: Theme, body: pygame.Rect) -> list[Widget]:
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
        out += _request(view, theme, stage, request)
    elif call.screen_share:
        out += _screen_share(view, theme, stage)
    elif showing_document:
        out += _document(view, theme, stage)
    else:
        out += _video_stage(view, theme, stage)
    overlay_y = stage.bottom - theme.gap
    if call.transfers and not (chat_open and cover):
        box = _transfers(view, theme, stage, overlay_y)
        out += box
        overlay_y = box[0].rect.y - theme.gap
    if call.document_notice and request is None and not (chat_open and cover):
        out += _document_notice(view, theme, stage, overlay_y)
    if chat_open:
        chat = pygame.Rect(0 if cover else stage.right, 0, chat_w, bar.y)
        if theme.portrait:
            chat = pygame.Rect(0, stage.bottom, theme.width, bar.y - stage.bottom)
        out += _chat(view, local, theme, chat)
        if call.transfers and cover:
            # Over the chat's oldest lines (no buttons there), so the customer sees it go.
            box = _transfers(view, theme, chat, 0)
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
            _t(view, "call.unmute" if call.muted else "call.mute"),
            v.ToggleMute(),
            "secondary",
            call.muted,
        ),
        (
            _t(view, "call.camera_on" if call.camera_off else "call.camera_off"),
            v.ToggleCamera(),
            "secondary",
            call.camera_off,
        ),
        (_t(view, "call.chat"), v.ToggleChat(), "secondary", chat_open),
        (_t(view, "call.end"), v.HangUp(), "danger", False),
    ]
    bw = (theme.width - (len(buttons) + 1) * theme.gap) // len(buttons)
    bw = min(bw, theme.target * 5)
    x = (theme.width - len(buttons) * bw - (len(buttons) - 1) * theme.gap) // 2
    for label, action, style, selected in buttons:
        b = _button(
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
            _label(
                theme, r, _t(view, "call.connecting"), theme.body_px, p.on_dark, p.dark, "center"
            )
        )
    return out


def _screen_share(view: v.KioskView, theme: Theme, stage: pygame.Rect) -> list[Widget]:
    """The adviser's screen over the whole stage, with a small label saying whose it is."""
    p = theme.palette
    text_ = _t(view, "call.screen_share")
    px = theme.small_px
    h = theme.font(px).get_linesize() + theme.gap
    w = min(stage.w - 2 * theme.gap, theme.font(px).size(text_)[0] + 2 * theme.gap)
    box = pygame.Rect(stage.x + theme.gap, stage.y + theme.gap, w, h)
    return [
        Box(stage, p.dark),
        Media(stage, "screen"),
        Box(box, p.dark, theme.gap // 2),
        _label(theme, box.inflate(-2 * theme.gap, 0), text_, px, p.on_dark, p.dark),
    ]


def _reconnecting_overlay(
    view: v.KioskView, theme: Theme, stage: pygame.Rect, top: bool
) -> list[Widget]:
    """The "connection lost, reconnecting" notice over the last picture, mid ``stage``.

    ``top``: at the top instead, where a covering chat shows its lines (and has no keys).
    """
    p = theme.palette
    message = _t(view, "call.reconnecting")
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
        *_paragraphs(theme, inner, message, theme.body_px, p.on_warning, p.warning, align="center"),
    ]


def _transfers(view: v.KioskView, theme: Theme, stage: pygame.Rect, bottom: int) -> list[Widget]:
    """One line and a bar for the files on their way (the Box comes first: callers stack)."""
    p = theme.palette
    transfers = view.call.transfers
    fraction = sum(t.fraction for t in transfers) / len(transfers)
    percent = round(100 * min(max(fraction, 0.0), 1.0))
    if len(transfers) == 1:
        key = "transfer.in" if transfers[0].direction == "in" else "transfer.out"
        line = _t(view, key, percent=percent)
    else:
        line = _t(view, "transfer.many", count=len(transfers), percent=percent)
    lh = theme.font(theme.small_px).get_linesize()
    bar_h = max(6, theme.gap)
    w = min(stage.w - 2 * theme.gap, theme.target * 9)
    box = pygame.Rect(stage.x + theme.gap, 0, w, lh + bar_h + 3 * theme.gap)
    box.bottom = bottom
    inner_w = w - 2 * theme.gap
    return [
        Box(box, p.surface, theme.gap),
        _label(
            theme,
            pygame.Rect(box.x + theme.gap, box.y + theme.gap, inner_w, lh),
            line,
            theme.small_px,
            p.text,
            p.surface,
        ),
        Progress(
            pygame.Rect(box.x + theme.gap, box.bottom - theme.gap - bar_h, inner_w, bar_h),
            fraction,
        ),
    ]


def _document_notice(
    view: v.KioskView, theme: Theme, stage: pygame.Rect, bottom: int
) -> list[Widget]:
    p = theme.palette
    message = _t(view, "call.document")
    bw = theme.target * 3
    text_w = theme.font(theme.body_px).size(message)[0] + bw + 4 * theme.gap
    w = min(stage.w - 2 * theme.gap, max(theme.target * 8, text_w))
    box = pygame.Rect(
        stage.x + theme.gap,
        bottom - theme.button_h - 2 * theme.gap,
        w,
        theme.button_h + 2 * theme.gap,
    )
    bw = min(w // 2, bw)
    return [
        Box(box, p.surface, theme.gap),
        _label(
            theme,
            pygame.Rect(box.x + theme.gap, box.y, w - bw - 3 * theme.gap, box.h),
            message,
            theme.body_px,
            p.text,
            p.surface,
        ),
        _button(
            theme,
            pygame.Rect(box.right - bw - theme.gap, box.y + theme.gap, bw, theme.button_h),
            _t(view, "call.open"),
            v.OpenDocument(),
            "primary",
        ),
    ]


_REQUEST_TEXT = {
    ("scan", "title"): "scan.title",
    ("scan", "asked"): "scan.asked",
    ("scan", "start"): "scan.start",
    ("scan", "confirm"): "scan.confirm",
    ("scan", "again"): "scan.again",
    ("scan", "failed"): "scan.failed",
    ("photo", "title"): "photo.title",
    ("photo", "asked"): "photo.asked",
    ("photo", "start"): "photo.start",
    ("photo", "confirm"): "photo.confirm",
    ("photo", "again"): "photo.again",
    ("photo", "failed"): "photo.failed",
}


def _request(
    view: v.KioskView, theme: Theme, stage: pygame.Rect, req: v.RequestPanel
) -> list[Widget]:
    """The scan or photo request as a card over the stage: ask, progress, preview, decide.

    Asking, progress and failure take a card at the bottom of the stage, as high as its
    content, so the adviser stays in view; the photo's ask (with the camera's picture) and the
    previews take the whole stage.
    """
    p = theme.palette

    def t(what: str, **values: object) -> str:
        return _t(view, _REQUEST_TEXT[(req.kind, what)], **values)

    if req.state == "countdown":
        return _photo_countdown(view, theme, stage, req)
    choices = [] if req.pending else _request_choices(view, req, t)
    full = stage.inflate(-2 * theme.gap, -2 * theme.gap)
    th = theme.font(theme.title_px).get_linesize()
    lh = theme.font(theme.body_px).get_linesize()
    bar_h = max(8, theme.gap)
    inner_w = full.w - 2 * theme.gap
    message = t("asked") if req.state == "asked" else t("failed")
    if req.state in ("scanning", "sending"):
        content_h = lh + theme.gap + bar_h
    else:
        content_h = len(theme.wrap(message, theme.body_px, inner_w)) * lh
    probe = pygame.Rect(0, 0, inner_w, 10 * theme.height)
    buttons_h = probe.bottom - _choice_row(theme, probe, choices)[1]
    card = full
    if req.state in ("scanning", "sending", "failed") or (
        req.state == "asked" and req.kind == "scan"
    ):
        h = 3 * theme.gap + th + content_h + (buttons_h + theme.gap if choices else 0)
        if h < full.h:
            card = pygame.Rect(full.x, full.bottom - h, full.w, h)
    out: list[Widget] = [Box(card, p.surface, theme.gap)]
    inner = card.inflate(-2 * theme.gap, -2 * theme.gap)
    title_key = "confirm" if req.state == "confirming" else "title"
    out.append(
        _label(
            theme,
            pygame.Rect(inner.x, inner.y, inner.w, th),
            t(title_key),
            theme.title_px,
            p.text,
            p.surface,
        )
    )
    top = inner.y + th + theme.gap
    buttons, buttons_top = _choice_row(theme, inner, choices)
    area = pygame.Rect(inner.x, top, inner.w, buttons_top - theme.gap - top)
    if req.state in ("asked", "failed"):
        lines = theme.wrap(message, theme.body_px, area.w)
        out += _paragraphs(theme, area, message, theme.body_px, p.text, p.surface)
        below = area.y + len(lines) * lh + theme.gap
        if req.kind == "photo" and req.state == "asked" and area.bottom - below >= theme.target:
            # Let the customer see what the camera sees before they start.
            out.append(Media(pygame.Rect(area.x, below, area.w, area.bottom - below), "self"))
    elif req.state in ("scanning", "sending"):
        key = "scan.running" if req.state == "scanning" else "request.sending"
        line = _t(view, key, percent=req.progress)
        y = area.y + max(0, (area.h - lh - theme.gap - bar_h) // 2)
        out.append(
            _label(
                theme,
                pygame.Rect(area.x, y, area.w, lh),
                line,
                theme.body_px,
                p.text,
                p.surface,
                "center",
            )
        )
        out.append(
            Progress(pygame.Rect(area.x, y + lh + theme.gap, area.w, bar_h), req.progress / 100)
        )
    elif req.state == "confirming":
        out += _previews(view, theme, area, req)
    return out + buttons


def _request_choices(
    view: v.KioskView, req: v.RequestPanel, t: Callable[[str], str]
) -> list[tuple[str, Action, Style]]:
    """The buttons a request offers in its state (what ``RequestPanel.allows``)."""
    rid = req.id
    if req.state == "asked":
        return [
            (_t(view, "request.not_now"), v.DecideRequest(rid, "decline"), "secondary"),
            (t("start"), v.DecideRequest(rid, "start"), "primary"),
        ]
    if req.state == "confirming":
        return [
            (_t(view, "request.dont_send"), v.DecideRequest(rid, "decline"), "secondary"),
            (t("again"), v.DecideRequest(rid, "retake"), "secondary"),
            (_t(view, "request.send"), v.DecideRequest(rid, "confirm"), "primary"),
        ]
    if req.state == "failed":
        return [
            (_t(view, "request.ok"), v.DismissRequest(rid), "secondary"),
            (t("again"), v.DecideRequest(rid, "retake"), "primary"),
        ]
    if req.state == "scanning":
        return [(_t(view, "cancel"), v.DecideRequest(rid, "decline"), "secondary")]
    return []


def _choice_row(
    theme: Theme, inner: pygame.Rect, choices: list[tuple[str, Action, Style]]
) -> tuple[list[Widget], int]:
    """Buttons along the bottom of ``inner``: in a row, or stacked where a row is too narrow.

    Returns the buttons and the y where they start.
    """
    if not choices:
        return [], inner.bottom
    n = len(choices)
    gap = theme.gap
    row_w = (inner.w - (n - 1) * gap) // n
    fits = all(
        theme.font(max(12, int(theme.body_px * 0.7))).size(label)[0] <= row_w - 2 * gap
        for label, _, _ in choices
    )
    out: list[Widget] = []
    if fits or n == 1:
        width = min(row_w, theme.target * 6)
        x = inner.right - n * width - (n - 1) * gap
        y = inner.bottom - theme.button_h
        for label, action, style in choices:
            out.append(
                _button(theme, pygame.Rect(x, y, width, theme.button_h), label, action, style)
            )
            x += width + gap
        return out, y
    y = inner.bottom - n * theme.button_h - (n - 1) * gap
    top = y
    for label, action, style in choices:
        out.append(
            _button(theme, pygame.Rect(inner.x, y, inner.w, theme.button_h), label, action, style)
        )
        y += theme.button_h + gap
    return out, top


def _previews(
    view: v.KioskView, theme: Theme, area: pygame.Rect, req: v.RequestPanel
) -> list[Widget]:
    """Up to four scanned pages (or the photo) in the grid that shows them largest."""
    p = theme.palette
    previews = req.previews
    lh = theme.font(theme.small_px).get_linesize() if req.kind == "scan" else 0
    shown = previews[:4]
    count = len(previews)
    caption = _t(view, "request.one_page") if count == 1 else _t(view, "request.pages", pages=count)
    pics = pygame.Rect(area.x, area.y, area.w, max(0, area.h - lh - theme.gap // 2))
    out: list[Widget] = []
    if shown and pics.h > 0:
        aspect = shown[0].width / max(1, shown[0].height)
        cols = max(
            range(1, len(shown) + 1),
            key=lambda c: _cell_scale(pics, c, len(shown), aspect, theme.gap),
        )
        rows = -(-len(shown) // cols)
        w = (pics.w - (cols - 1) * theme.gap) // cols
        h = (pics.h - (rows - 1) * theme.gap) // rows
        for i, picture in enumerate(shown):
            x = pics.x + (i % cols) * (w + theme.gap)
            y = pics.y + (i // cols) * (h + theme.gap)
            out.append(Media(pygame.Rect(x, y, w, h), "picture", picture))
    if req.kind == "scan":  # how many pages will go (more than four show as four)
        out.append(
            _label(
                theme,
                pygame.Rect(area.x, area.bottom - lh, area.w, lh),
                caption,
                theme.small_px,
                p.muted_text,
                p.surface,
                "center",
            )
        )
    return out


def _cell_scale(area: pygame.Rect, cols: int, n: int, aspect: float, gap: int) -> float:
    """How large a picture of ``aspect`` (w/h) shows in a grid of ``cols`` columns."""
    rows = -(-n // cols)
    w = (area.w - (cols - 1) * gap) / cols
    h = (area.h - (rows - 1) * gap) / rows
    return min(w / aspect, h) if w > 0 and h > 0 else 0.0


def _photo_countdown(
    view: v.KioskView, theme: Theme, stage: pygame.Rect, req: v.RequestPanel
) -> list[Widget]:
    """What the camera sees, full stage, with a big 3-2-1 in the middle."""
    p = theme.palette
    number = str(req.countdown if req.countdown is not None else "")
    size = max(theme.title_px, min(stage.h // 2, stage.w // 3))
    big = theme.font(size)
    h = big.get_linesize()
    w = max(big.size(number)[0], h) + 2 * theme.gap
    box = pygame.Rect(0, 0, w, h)
    box.center = stage.center
    return [
        Box(stage, p.dark),
        Media(stage, "self"),
        Box(box, p.surface, theme.gap),
        _label(theme, box.inflate(-2 * theme.gap, 0), number, size, p.text, p.surface, "center"),
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
    hint = _t(view, "call.code_hint")
    hint_lines = min(len(theme.wrap(hint, theme.small_px, inner_w)), 3)
    box = pygame.Rect(
        at.x, at.y, at.w, small + len(lines) * big + hint_lines * small + 2 * theme.gap
    )
    x, y = box.x + theme.gap, box.y + theme.gap
    out: list[Widget] = [
        Box(box, p.surface, theme.gap),
        _label(
            theme,
            pygame.Rect(x, y, inner_w, small),
            _t(view, "call.code"),
            theme.small_px,
            p.muted_text,
            p.surface,
        ),
    ]
    for i, line in enumerate(lines):
        rect = pygame.Rect(x, y + small + i * big, inner_w, big)
        out.append(Label(rect, line, code_px, p.text, p.surface))
    hint_rect = pygame.Rect(x, y + small + len(lines) * big, inner_w, hint_lines * small)
    out += _paragraphs(theme, hint_rect, hint, theme.small_px, p.text, p.surface)
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
    out += keyboard(view, local, theme, kb, SubmitChat(), _t(view, "call.send"))
    return out


def _document(view: v.KioskView, theme: Theme, stage: pygame.Rect) -> list[Widget]:
    p = theme.palette
    doc = view.call.document
    assert doc is not None  # noqa: S101 - caller checks
    out: list[Widget] = [Box(stage, p.background)]
    nav_h = theme.button_h + 2 * theme.gap
    page_rect = pygame.Rect(stage.x, stage.y + theme.gap, stage.w, stage.h - nav_h - theme.gap)
    if doc.unreadable or not doc.pages:
        lines = page_rect.inflate(-2 * theme.gap, 0)
        lines.h = page_rect.h // 2
        lines.y = page_rect.centery - theme.font(theme.body_px).get_linesize()
        message = _t(view, "call.unreadable")
        out += _paragraphs(
            theme, lines, message, theme.body_px, p.text, p.background, align="center"
        )
    else:
        out.append(Media(page_rect, "picture", doc.pages[min(doc.page, len(doc.pages) - 1)]))
    y = stage.bottom - nav_h + theme.gap
    bw = theme.target + theme.gap
    out.append(
        Button(
            pygame.Rect(stage.x + theme.gap, y, bw, theme.button_h),
            "",
            v.TurnPage(-1),
            "secondary",
            icon="left",
        )
    )
    cw = min(theme.target * 4, stage.w // 3)
    out.append(
        _button(
            theme,
            pygame.Rect(stage.right - cw - theme.gap, y, cw, theme.button_h),
            _t(view, "call.close"),
            v.CloseDocument(),
            "secondary",
        )
    )
    out.append(
        Button(
            pygame.Rect(stage.right - cw - bw - 2 * theme.gap, y, bw, theme.button_h),
            "",
            v.TurnPage(1),
            "secondary",
            icon="right",
        )
    )
    lx = stage.x + bw + 2 * theme.gap
    lw = stage.right - cw - bw - 3 * theme.gap - lx
    page_text = _t(view, "call.page", page=doc.page + 1, pages=max(1, len(doc.pages)))
    out.append(
        _label(
            theme,
            pygame.Rect(lx, y, lw, theme.button_h),
            page_text,
            theme.body_px,
            p.text,
            p.background,
            "center",
        )
    )
    return out


def _signature(
    view: v.KioskView, local: LocalState, theme: Theme, body: pygame.Rect
) -> list[Widget]:
    p = theme.palette
    sig = view.signature
    title, dy = _title(view, theme, body, "signature.title")
    out: list[Widget] = [title]
    lh = theme.font(theme.small_px).get_linesize()
    out.append(
        _label(
            theme,
            pygame.Rect(body.x, body.y + dy, body.w, lh),
            _t(view, "signature.hint"),
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
        _button(
            theme,
            pygame.Rect(body.x, y, bw, theme.button_h),
            _t(view, "signature.clear"),
            v.ClearSignature(),
            "secondary",
        )
    )
    out.append(
        _button(
            theme,
            pygame.Rect(body.right - bw, y, bw, theme.button_h),
            _t(view, "signature.confirm"),
            v.ConfirmSignature(),
            "primary",
        )
    )
    return out


def _goodbye(view: v.KioskView, local: LocalState, theme: Theme, body: pygame.Rect) -> list[Widget]:
    p = theme.palette
    title, dy = _title(view, theme, body, "goodbye.title")
    out: list[Widget] = [title]
    y = body.y + dy + theme.gap * 3
    lh = theme.font(theme.body_px).get_linesize()
    wipe = view.wipe
    if view.unverified:
        # Why the call ended so suddenly, in plain words, before anything else.
        warning = _t(view, "goodbye.unverified")
        n = min(len(theme.wrap(warning, theme.body_px, body.w - 2 * theme.gap)), 3)
        box = pygame.Rect(body.x, y, body.w, n * lh + 2 * theme.gap)
        out.append(Box(box, p.warning, theme.gap))
        inner = box.inflate(-2 * theme.gap, -2 * theme.gap)
        out += _paragraphs(theme, inner, warning, theme.body_px, p.on_warning, p.warning)
        y = box.bottom + theme.gap
    lines = [_t(view, "goodbye.wiping")] if wipe is None else [_t(view, "goodbye.wiped")]
    for line in lines:
        rect = pygame.Rect(body.x, y, body.w, lh * 3)
        out += _paragraphs(theme, rect, line, theme.body_px, p.text, p.background)
        y += len(theme.wrap(line, theme.body_px, body.w)) * lh + theme.gap
    if wipe is not None:
        details = _t(
            view,
            "goodbye.details",
            files=wipe.files,
            size=human_size(wipe.bytes, view.language),
            method=wipe.method,
        )
        rect = pygame.Rect(body.x, y, body.w, theme.font(theme.small_px).get_linesize() * 2)
        out += _paragraphs(theme, rect, details, theme.small_px, p.muted_text, p.background)
        bw = min(body.w, theme.target * 5)
        rect = pygame.Rect(
            body.centerx - bw // 2, body.bottom - theme.button_h - body.h // 8, bw, theme.button_h
        )
        out.append(_button(theme, rect, _t(view, "goodbye.done"), v.Done(), "primary"))
    return out


def _notice(view: v.KioskView, theme: Theme, body: pygame.Rect, prefix: str) -> list[Widget]:
    p = theme.palette
    title, dy = _title(view, theme, body, f"{prefix}.title")
    out: list[Widget] = [title]
    rect = pygame.Rect(body.x, body.y + dy + theme.gap * 3, body.w, body.h // 2)
    out += _paragraphs(theme, rect, _t(view, f"{prefix}.lead"), theme.body_px, p.text, p.background)
    return out


def _reconnecting(
    view: v.KioskView, local: LocalState, theme: Theme, body: pygame.Rect
) -> list[Widget]:
    return _notice(view, theme, body, "reconnecting")


def _out_of_service(
    view: v.KioskView, local: LocalState, theme: Theme, body: pygame.Rect
) -> list[Widget]:
    return _notice(view, theme, body, "oos")


_SCREENS = {
    Screen.ATTRACT: _attract,
    Screen.LANGUAGE: _language,
    Screen.CONSENT: _consent,
    Screen.INTAKE: _intake,
    Screen.WAITING: _waiting,
    Screen.CALL: _call,
    Screen.SIGNATURE: _signature,
    Screen.GOODBYE: _goodbye,
    Screen.RECONNECTING: _reconnecting,
    Screen.OUT_OF_SERVICE: _out_of_service,
}


def hit(widgets: list[Widget], pos: tuple[int, int]) -> Button | None:
    """The front-most button under ``pos``."""
    for widget in reversed(widgets):
        if isinstance(widget, Button) and widget.rect.collidepoint(pos):
            return widget
    return None
