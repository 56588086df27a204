"""The technician screen: enrol this kiosk at its hub (``appliance.session.technician``).

Entry: the device key's fingerprint, the hub address and the enrolment code typed on a small
keyboard of the characters they are made of, and "Check the hub". Then the hub's CA
fingerprint to compare, progress, the self-test's summary, or why the kiosk cannot enrol.
On a landscape panel the form and its keyboard take the right, what the technician reads the
left; on a portrait panel everything stacks.
"""

from __future__ import annotations

import pygame

from kiosk_ui import viewmodels as v
from kiosk_ui.strings import TECHNICIAN_KEYBOARD_ROWS
from kiosk_ui.theme import Theme
from kiosk_ui.widgets import (
    Box,
    Button,
    Field,
    Focus,
    Key,
    LocalState,
    Style,
    SubmitForm,
    Widget,
    fitted_button,
    fitted_label,
    paragraphs,
    say,
    screen_title,
)

KEY_COLUMNS = 11  # the longest row: ten characters and backspace
PER_LINE = 4  # fingerprint blocks per line (16 blocks of four hex digits)


def technician_screen(
    view: v.KioskView, local: LocalState, theme: Theme, body: pygame.Rect
) -> list[Widget]:
    """The technician screen's current step."""
    t = view.technician
    match t.step:
        case "entry":
            return _entry(view, local, theme, body)
        case "compare":
            return _compare(view, theme, body)
        case "enrolled":
            return _enrolled(view, theme, body)
        case "blocked":
            return _blocked(view, theme, body)
        case _:
            return _busy(view, theme, body)


# -- entry -------------------------------------------------------------------------------


def _entry(view: v.KioskView, local: LocalState, theme: Theme, body: pygame.Rect) -> list[Widget]:
    title, dy = screen_title(view, theme, body, "tech.title")
    out: list[Widget] = [title]
    rest = pygame.Rect(body.x, body.y + dy, body.w, body.h - dy)
    if view.technician.preset:
        return out + _preset(view, theme, rest)
    if theme.portrait:
        form_h = _form_height(theme) + _keys_height(theme) + theme.button_h + 2 * theme.gap
        form = pygame.Rect(rest.x, rest.bottom - form_h, rest.w, form_h)
        info = pygame.Rect(rest.x, rest.y, rest.w, form.y - theme.gap - rest.y)
    else:
        form_w = max(KEY_COLUMNS * theme.target + (KEY_COLUMNS - 1) * (theme.gap // 2), rest.w // 2)
        form = pygame.Rect(rest.right - form_w, rest.y, form_w, rest.h)
        info = pygame.Rect(rest.x, rest.y, rest.w - form_w - 2 * theme.gap, rest.h)
    out += _info(view, theme, info)
    out += _form(view, local, theme, form)
    return out


def _info(view: v.KioskView, theme: Theme, rect: pygame.Rect) -> list[Widget]:
    """The device key's fingerprint, then the notice (an error, or why) or the hint."""
    p = theme.palette
    t = view.technician
    out: list[Widget] = []
    y = _fingerprint(view, theme, rect, "tech.key", t.key_fingerprint, out)
    notice = t.notice
    area = pygame.Rect(rect.x, y + theme.gap, rect.w, rect.bottom - y - theme.gap)
    if notice is not None:
        out += _notice(view, theme, area, notice)
    else:
        out += paragraphs(theme, area, say(view, "tech.hint"), theme.small_px, p.text, p.background)
    return out


def _fingerprint(
    view: v.KioskView,
    theme: Theme,
    rect: pygame.Rect,
    key: str,
    value: str | None,
    out: list[Widget],
    *,
    px: int = 0,
) -> int:
    """A label and a fingerprint in lines of four blocks; the y below them."""
    p = theme.palette
    px = px or theme.small_px
    lh = theme.font(theme.small_px).get_linesize()
    out.append(
        fitted_label(
            theme,
            pygame.Rect(rect.x, rect.y, rect.w, lh),
            say(view, key),
            theme.small_px,
            p.muted_text,
            p.background,
        )
    )
    y = rect.y + lh
    blocks = (value or "…").split(" ")
    line_h = theme.font(px).get_linesize()
    for i in range(0, len(blocks), PER_LINE):
        line = " ".join(blocks[i : i + PER_LINE])
        out.append(
            fitted_label(
                theme, pygame.Rect(rect.x, y, rect.w, line_h), line, px, p.text, p.background
            )
        )
        y += line_h
    return y


def _notice(view: v.KioskView, theme: Theme, rect: pygame.Rect, notice: v.Notice) -> list[Widget]:
    """The notice in a warning card as high as its text (at most ``rect``)."""
    p = theme.palette
    message = say(view, notice.key, **dict(notice.values))
    if notice.detail:
        message += "\n" + notice.detail
    px = theme.small_px
    inner_w = rect.w - 2 * theme.gap
    lines = len(theme.wrap(message, px, inner_w))
    lh = theme.font(px).get_linesize()
    card = pygame.Rect(rect.x, rect.y, rect.w, min(rect.h, lines * lh + 2 * theme.gap))
    out: list[Widget] = [Box(card, p.warning, theme.gap // 2)]
    out += paragraphs(
        theme, card.inflate(-2 * theme.gap, -2 * theme.gap), message, px, p.on_warning, p.warning
    )
    return out


def _form_height(theme: Theme) -> int:
    label_h = theme.font(theme.small_px).get_linesize()
    return 2 * (label_h + theme.target) + theme.gap


def _keys_height(theme: Theme) -> int:
    """Four rows of keys at their tallest (half a target more than the minimum)."""
    return 4 * (theme.target * 3 // 2) + 3 * (theme.gap // 2)


def _form(view: v.KioskView, local: LocalState, theme: Theme, rect: pygame.Rect) -> list[Widget]:
    """Hub address and code fields (side by side on a landscape panel), the keyboard below
    them and "Check the hub" at the bottom."""
    p = theme.palette
    label_h = theme.font(theme.small_px).get_linesize()
    focus = local.focus or view.fields[0].key
    out: list[Widget] = []
    side_by_side = not theme.portrait
    fw = (rect.w - theme.gap) // 2 if side_by_side else rect.w
    y = rect.y
    for i, spec in enumerate(view.fields):
        x = rect.x + (i * (fw + theme.gap) if side_by_side else 0)
        if i and not side_by_side:
            y += label_h + theme.target + theme.gap
        label = spec.label_in(view.language)
        out.append(
            fitted_label(
                theme, pygame.Rect(x, y, fw, label_h), label, theme.small_px, p.text, p.background
            )
        )
        field = pygame.Rect(x, y + label_h, fw, theme.target)
        out.append(
            Field(field, label, local.values.get(spec.key, ""), focus == spec.key, theme.body_px)
        )
        out.append(Button(field, "", Focus(spec.key), "quiet", icon="field"))
    y += label_h + theme.target + theme.gap
    check = pygame.Rect(rect.x, rect.bottom - theme.button_h, rect.w, theme.button_h)
    out += _keyboard(view, theme, pygame.Rect(rect.x, y, rect.w, check.y - theme.gap - y))
    out.append(fitted_button(theme, check, say(view, "tech.check"), SubmitForm(), "primary"))
    return out


def _keyboard(view: v.KioskView, theme: Theme, rect: pygame.Rect) -> list[Widget]:
    """Four rows of what addresses and codes are made of; backspace ends the first row."""
    rows = TECHNICIAN_KEYBOARD_ROWS[view.language]
    half = theme.gap // 2
    kw = (rect.w - (KEY_COLUMNS - 1) * half) // KEY_COLUMNS
    kh = max(theme.target, min(theme.target * 3 // 2, (rect.h - 3 * half) // len(rows)))
    out: list[Widget] = []
    y = rect.y
    for r, row in enumerate(rows):
        keys = len(row) + (1 if r == 0 else 0)
        x = rect.x + (rect.w - (keys * kw + (keys - 1) * half)) // 2
        for ch in row:
            out.append(Button(pygame.Rect(x, y, kw, kh), ch, Key(ch), "key", theme.body_px))
            x += kw + half
        if r == 0:
            out.append(Button(pygame.Rect(x, y, kw, kh), "", Key("back"), "key", icon="back"))
        y += kh + half
    return out


def _preset(view: v.KioskView, theme: Theme, rect: pygame.Rect) -> list[Widget]:
    """Hub and code from an enrolment URI: shown (the code by its id), checked by a tap."""
    p = theme.palette
    t = view.technician
    out: list[Widget] = []
    y = _fingerprint(view, theme, rect, "tech.key", t.key_fingerprint, out) + theme.gap
    lh = theme.font(theme.body_px).get_linesize()
    lines = [
        f"{say(view, 'tech.hub')}: {t.hub_url or ''}",
        f"{say(view, 'tech.code')}: {t.code_id or ''}-…",
        say(view, "tech.preset"),
    ]
    for line in lines:
        out.append(
            fitted_label(
                theme, pygame.Rect(rect.x, y, rect.w, lh), line, theme.body_px, p.text, p.background
            )
        )
        y += lh
    bottom = rect.bottom - theme.button_h
    if t.notice is not None:
        area = pygame.Rect(rect.x, y + theme.gap, rect.w, bottom - y - 2 * theme.gap)
        out += _notice(view, theme, area, t.notice)
    out += _buttons(
        view,
        theme,
        rect,
        [
            ("tech.edit", v.TechnicianChoice("edit"), "secondary"),
            ("tech.check", SubmitForm(), "primary"),
        ],
    )
    return out


# -- the other steps ---------------------------------------------------------------------


def _compare(view: v.KioskView, theme: Theme, body: pygame.Rect) -> list[Widget]:
    p = theme.palette
    t = view.technician
    title, dy = screen_title(view, theme, body, "tech.compare.title")
    out: list[Widget] = [title]
    lead = say(view, "tech.compare.lead")
    lh = theme.font(theme.body_px).get_linesize()
    n = len(theme.wrap(lead, theme.body_px, body.w))
    rect = pygame.Rect(body.x, body.y + dy, body.w, n * lh)
    out += paragraphs(theme, rect, lead, theme.body_px, p.text, p.background)
    area = pygame.Rect(body.x, rect.bottom + theme.gap, body.w, body.h)
    y = _fingerprint(view, theme, area, "tech.ca", t.ca_fingerprint, out, px=theme.title_px)
    if t.hub_url:
        small = theme.font(theme.small_px).get_linesize()
        out.append(
            fitted_label(
                theme,
                pygame.Rect(body.x, y, body.w, small),
                t.hub_url,
                theme.small_px,
                p.muted_text,
                p.background,
            )
        )
    out += _buttons(
        view,
        theme,
        body,
        [
            ("tech.compare.no", v.TechnicianChoice("reject_ca"), "secondary"),
            ("tech.compare.yes", v.TechnicianChoice("confirm_ca"), "primary"),
        ],
    )
    return out


def _busy(view: v.KioskView, theme: Theme, body: pygame.Rect) -> list[Widget]:
    p = theme.palette
    t = view.technician
    title, dy = screen_title(view, theme, body, "tech.title")
    # An enrolled kiosk passes "starting" at every start: no "set up" title for it.
    out: list[Widget] = [] if t.step == "starting" else [title]
    key = {
        "checking": "tech.checking",
        "enrolling": "tech.enrolling",
        "starting": "tech.starting",
    }.get(t.step, "tech.selftest.running")
    lines = [say(view, key)]
    if t.device_name is not None:
        lines.insert(0, say(view, "tech.enrolled", device=t.device_name, tenant=t.tenant or ""))
    y = body.y + dy + theme.gap * 2
    lh = theme.font(theme.body_px).get_linesize()
    for line in lines:
        n = len(theme.wrap(line, theme.body_px, body.w))
        rect = pygame.Rect(body.x, y, body.w, n * lh)
        out += paragraphs(theme, rect, line, theme.body_px, p.text, p.background)
        y = rect.bottom + theme.gap
    return out


def _enrolled(view: v.KioskView, theme: Theme, body: pygame.Rect) -> list[Widget]:
    p = theme.palette
    t = view.technician
    h = theme.font(theme.title_px).get_linesize()
    heading = say(view, "tech.enrolled", device=t.device_name or "", tenant=t.tenant or "")
    out: list[Widget] = [
        fitted_label(
            theme,
            pygame.Rect(body.x, body.y, body.w, h),
            heading,
            theme.title_px,
            p.text,
            p.background,
        )
    ]
    failed = sum(not line.ok for line in t.selftest)
    if not t.selftest:
        summary = say(view, "tech.selftest.none")
    elif failed:
        summary = say(view, "tech.selftest.failed", failed=failed, count=len(t.selftest))
    else:
        summary = say(view, "tech.selftest.passed", count=len(t.selftest))
    y = body.y + h + theme.gap
    lh = theme.font(theme.body_px).get_linesize()
    out.append(
        fitted_label(
            theme, pygame.Rect(body.x, y, body.w, lh), summary, theme.body_px, p.text, p.background
        )
    )
    y += lh + theme.gap
    bottom = body.bottom - theme.button_h - theme.gap
    small = theme.font(theme.small_px).get_linesize()
    for line in t.selftest:
        mark = "OK" if line.ok else "!!"
        row = f"{mark}  {line.device}: {line.detail}"
        if y + small > bottom:
            break
        colour = p.text if line.ok else p.on_warning
        background = p.background if line.ok else p.warning
        rect = pygame.Rect(body.x, y, body.w, small)
        if not line.ok:
            out.append(Box(rect, p.warning))
        out.append(fitted_label(theme, rect, row, theme.small_px, colour, background))
        y += small + theme.gap // 2
    out += _buttons(
        view,
        theme,
        body,
        [
            ("tech.selftest.again", v.TechnicianChoice("selftest"), "secondary"),
            ("tech.start", v.TechnicianChoice("start"), "primary"),
        ],
    )
    return out


def _blocked(view: v.KioskView, theme: Theme, body: pygame.Rect) -> list[Widget]:
    t = view.technician
    title, dy = screen_title(view, theme, body, "tech.blocked.title")
    out: list[Widget] = [title]
    area = pygame.Rect(body.x, body.y + dy, body.w, body.h - dy - theme.button_h - 2 * theme.gap)
    if t.notice is not None:
        out += _notice(view, theme, area, t.notice)
    out += _buttons(
        view, theme, body, [("tech.check_again", v.TechnicianChoice("check_again"), "primary")]
    )
    return out


def _buttons(
    view: v.KioskView,
    theme: Theme,
    body: pygame.Rect,
    buttons: list[tuple[str, v.Intent | SubmitForm, Style]],
) -> list[Widget]:
    """A row of buttons at the bottom of ``body``, the last (primary) on the right."""
    n = len(buttons)
    bw = min((body.w - (n - 1) * theme.gap) // n, theme.target * 7)
    x = body.right - n * bw - (n - 1) * theme.gap
    y = body.bottom - theme.button_h
    out: list[Widget] = []
    for key, action, style in buttons:
        rect = pygame.Rect(x, y, bw, theme.button_h)
        out.append(fitted_button(theme, rect, say(view, key), action, style))
        x += bw + theme.gap
    return out
