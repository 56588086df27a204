"""What the exchange shows on the call's stage: the adviser's scan or photo request, files on
their way and a pushed document's notice (docs/exchange.md); the viewer is ``viewer``."""

from __future__ import annotations

from collections.abc import Callable

import pygame

from kiosk_ui import viewmodels as v
from kiosk_ui.theme import Theme
from kiosk_ui.widgets import (
    Action,
    Box,
    Media,
    Progress,
    Style,
    Widget,
    fitted_button,
    fitted_label,
    paragraphs,
    say,
)


def request_card(
    view: v.KioskView, theme: Theme, stage: pygame.Rect, req: v.RequestPanel
) -> list[Widget]:
    """The scan or photo request as a card over the stage: ask, progress, preview, decide.

    Asking, progress and failure take a card at the bottom of the stage, as high as its
    content, so the adviser stays in view; the photo's ask (with the camera's picture) and the
    previews take the whole stage.
    """
    p = theme.palette

    def t(what: str, **values: object) -> str:
        return say(view, _REQUEST_TEXT[(req.kind, what)], **values)

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
        fitted_label(
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
        out += paragraphs(theme, area, message, theme.body_px, p.text, p.surface)
        below = area.y + len(lines) * lh + theme.gap
        if req.kind == "photo" and req.state == "asked" and area.bottom - below >= theme.target:
            # Let the customer see what the camera sees before they start.
            out.append(Media(pygame.Rect(area.x, below, area.w, area.bottom - below), "self"))
    elif req.state in ("scanning", "sending"):
        key = "scan.running" if req.state == "scanning" else "request.sending"
        line = say(view, key, percent=req.progress)
        y = area.y + max(0, (area.h - lh - theme.gap - bar_h) // 2)
        out.append(
            fitted_label(
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


def _request_choices(
    view: v.KioskView, req: v.RequestPanel, t: Callable[[str], str]
) -> list[tuple[str, Action, Style]]:
    """The buttons a request offers in its state (what ``RequestPanel.allows``)."""
    rid = req.id
    if req.state == "asked":
        return [
            (say(view, "request.not_now"), v.DecideRequest(rid, "decline"), "secondary"),
            (t("start"), v.DecideRequest(rid, "start"), "primary"),
        ]
    if req.state == "confirming":
        return [
            (say(view, "request.dont_send"), v.DecideRequest(rid, "decline"), "secondary"),
            (t("again"), v.DecideRequest(rid, "retake"), "secondary"),
            (say(view, "request.send"), v.DecideRequest(rid, "confirm"), "primary"),
        ]
    if req.state == "failed":
        return [
            (say(view, "request.ok"), v.DismissRequest(rid), "secondary"),
            (t("again"), v.DecideRequest(rid, "retake"), "primary"),
        ]
    if req.state == "scanning":
        return [(say(view, "cancel"), v.DecideRequest(rid, "decline"), "secondary")]
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
                fitted_button(theme, pygame.Rect(x, y, width, theme.button_h), label, action, style)
            )
            x += width + gap
        return out, y
    y = inner.bottom - n * theme.button_h - (n - 1) * gap
    top = y
    for label, action, style in choices:
        out.append(
            fitted_button(
                theme, pygame.Rect(inner.x, y, inner.w, theme.button_h), label, action, style
            )
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
    caption = (
        say(view, "request.one_page") if count == 1 else say(view, "request.pages", pages=count)
    )
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
            fitted_label(
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
        fitted_label(
            theme, box.inflate(-2 * theme.gap, 0), number, size, p.text, p.surface, "center"
        ),
    ]


def transfer_progress(
    view: v.KioskView, theme: Theme, stage: pygame.Rect, bottom: int
) -> list[Widget]:
    """One line and a bar for the files on their way (the Box comes first: callers stack)."""
    p = theme.palette
    transfers = view.call.transfers
    fraction = sum(t.fraction for t in transfers) / len(transfers)
    percent = round(100 * min(max(fraction, 0.0), 1.0))
    if len(transfers) == 1:
        key = "transfer.in" if transfers[0].direction == "in" else "transfer.out"
        line = say(view, key, percent=percent)
    else:
        line = say(view, "transfer.many", count=len(transfers), percent=percent)
    lh = theme.font(theme.small_px).get_linesize()
    bar_h = max(6, theme.gap)
    w = min(stage.w - 2 * theme.gap, theme.target * 9)
    box = pygame.Rect(stage.x + theme.gap, 0, w, lh + bar_h + 3 * theme.gap)
    box.bottom = bottom
    inner_w = w - 2 * theme.gap
    return [
        Box(box, p.surface, theme.gap),
        fitted_label(
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


def document_notice(
    view: v.KioskView, theme: Theme, stage: pygame.Rect, bottom: int
) -> list[Widget]:
    """The "a document arrived" notice with its open button, its bottom at ``bottom``."""
    p = theme.palette
    message = say(view, "call.document")
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
        fitted_label(
            theme,
            pygame.Rect(box.x + theme.gap, box.y, w - bw - 3 * theme.gap, box.h),
            message,
            theme.body_px,
            p.text,
            p.surface,
        ),
        fitted_button(
            theme,
            pygame.Rect(box.right - bw - theme.gap, box.y + theme.gap, bw, theme.button_h),
            say(view, "call.open"),
            v.OpenDocument(),
            "primary",
        ),
    ]
