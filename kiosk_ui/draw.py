"""Draws a layout onto a surface; live pictures come from a ``MediaFeed``.

No per-pixel Python: video and pages are wrapped with ``pygame.image.frombuffer`` and scaled
by SDL, once per new frame (cached by sequence number), or not at all when a
``SizedMediaFeed`` handed the frame over already fitted to its box; ink is drawn incrementally.
"""

from __future__ import annotations

import pygame

from kiosk_ui import viewmodels as v
from kiosk_ui.theme import Theme
from kiosk_ui.widgets import Box, Button, Field, Label, Media, Progress, Widget


def _fit(src: tuple[int, int], box: pygame.Rect) -> pygame.Rect:
    """The largest rectangle of ``src``'s aspect ratio centred in ``box``."""
    if src[0] <= 0 or src[1] <= 0:
        return box.copy()
    w, h = v.fitted_size(src, box.size)
    return pygame.Rect(box.centerx - w // 2, box.centery - h // 2, w, h)


class _Scaled:
    """The last picture scaled to a box, rebuilt only when the picture or the box changes."""

    def __init__(self) -> None:
        self._key: tuple[object, ...] | None = None
        self._hold: object = None  # keeps the source alive, so its id() is not reused
        self._surface: pygame.Surface | None = None

    def get(
        self,
        key: tuple[object, ...],
        w: int,
        h: int,
        rgb: bytes,
        box: pygame.Rect,
        hold: object = None,
        crop: pygame.Rect | None = None,
    ) -> tuple[pygame.Surface, pygame.Rect]:
        # The key holds the box's size, not its place: the same picture may show twice.
        rect = _fit((w, h) if crop is None else crop.size, box)
        if key != self._key or self._surface is None:
            self._hold = hold
            raw = pygame.image.frombuffer(rgb, (w, h), "RGB")
            if crop is not None:
                raw = raw.subsurface(crop)  # a zoomed page: only this part is scaled
            if raw.get_size() == rect.size:
                self._hold = (hold, rgb)  # handed over already fitted: blitted as it is
                self._surface = raw
            else:
                self._surface = pygame.transform.scale(raw, rect.size)
            self._key = key
        return self._surface, rect


class _InkLayer:
    """The signature strokes on a transparent layer; only new points are drawn per frame."""

    def __init__(self) -> None:
        self._surface: pygame.Surface | None = None
        self._drawn: list[int] = []  # points drawn per stroke
        self._seq = -1

    def get(
        self, ink: v.Ink, size: tuple[int, int], colour: tuple[int, int, int]
    ) -> pygame.Surface:
        surface = self._surface
        if surface is None or surface.get_size() != size or len(ink.strokes) < len(self._drawn):
            surface = pygame.Surface(size, pygame.SRCALPHA)
            self._surface, self._drawn = surface, []
        if ink.seq == self._seq:
            return surface
        w, h = size
        width = max(2, min(w, h) // 120)
        for i, stroke in enumerate(ink.strokes):
            if i >= len(self._drawn):
                self._drawn.append(0)
            start = max(0, self._drawn[i] - 1)
            points = [(x * w, y * h) for x, y in stroke[start:]]
            if len(points) >= 2:
                pygame.draw.lines(surface, colour, False, points, width)
            elif len(points) == 1:
                pygame.draw.circle(surface, colour, points[0], width / 2)
            self._drawn[i] = len(stroke)
        self._seq = ink.seq
        return surface


class Painter:
    """Draws widgets; keeps caches for video, pages and ink between frames."""

    def __init__(self) -> None:
        self._remote = _Scaled()
        self._screen = _Scaled()
        self._self = _Scaled()
        self._pictures: dict[int, _Scaled] = {}
        self._ink = _InkLayer()

    def paint(
        self, surface: pygame.Surface, widgets: list[Widget], theme: Theme, feed: v.MediaFeed
    ) -> None:
        """Draw ``widgets`` back to front onto ``surface``."""
        p = theme.palette
        for widget in widgets:
            match widget:
                case Box(rect=rect, colour=colour, radius=radius):
                    pygame.draw.rect(surface, colour, rect, border_radius=radius)
                case Label():
                    self._text(
                        surface,
                        theme,
                        widget.text,
                        widget.px,
                        widget.colour,
                        widget.rect,
                        widget.align,
                    )
                case Button():
                    self._button(surface, theme, widget)
                case Field(rect=rect, value=value, focused=focused, px=px):
                    pygame.draw.rect(surface, p.surface, rect, border_radius=theme.gap // 2)
                    border = p.primary if focused else p.muted_text
                    pygame.draw.rect(
                        surface, border, rect, 3 if focused else 1, border_radius=theme.gap // 2
                    )
                    inner = rect.inflate(-2 * theme.gap, 0)
                    font = theme.font(px)
                    shown = value
                    while shown and font.size(shown + "|")[0] > inner.w:
                        shown = shown[1:]  # keep the end (where the cursor is) in view
                    self._text(
                        surface, theme, shown + ("|" if focused else ""), px, p.text, inner, "left"
                    )
                case Media():
                    self._media(surface, theme, widget, feed)
                case Progress(rect=rect, fraction=fraction):
                    pygame.draw.rect(surface, p.muted_text, rect, 1)
                    done = rect.copy()
                    done.w = int(rect.w * min(max(fraction, 0.0), 1.0))
                    pygame.draw.rect(surface, p.primary, done)
                case _:
                    pass

    def _text(
        self,
        surface: pygame.Surface,
        theme: Theme,
        value: str,
        px: int,
        colour: tuple[int, int, int],
        rect: pygame.Rect,
        align: str,
    ) -> None:
        if not value:
            return
        image = theme.font(px).render(value, True, colour)
        target = image.get_rect(centery=rect.centery)
        if align == "center":
            target.centerx = rect.centerx
        else:
            target.x = rect.x
        surface.blit(image, target)

    def _button(self, surface: pygame.Surface, theme: Theme, b: Button) -> None:
        p = theme.palette
        fill, ink = {
            "primary": (p.primary, p.on_primary),
            "danger": (p.danger, p.on_danger),
            "warning": (p.warning, p.on_warning),
            "key": (p.surface, p.text),
            "secondary": (p.surface, p.text),
            "quiet": (p.primary, p.on_primary),
        }[b.style]
        if b.icon == "field":
            return  # an invisible target over a text field
        if b.selected and b.style in ("secondary", "key", "quiet"):
            fill, ink = (
                (p.on_primary, p.primary) if b.style == "quiet" else (p.primary, p.on_primary)
            )
        pygame.draw.rect(surface, fill, b.rect, border_radius=theme.gap // 2)
        if b.style in ("secondary", "key"):
            pygame.draw.rect(surface, p.muted_text, b.rect, 1, border_radius=theme.gap // 2)
        if b.icon is not None:
            _icon(surface, b.icon, b.rect, ink)
        else:
            self._text(surface, theme, b.text, b.px or theme.body_px, ink, b.rect, "center")

    def _media(self, surface: pygame.Surface, theme: Theme, m: Media, feed: v.MediaFeed) -> None:
        p = theme.palette
        if m.source == "ink":
            ink = feed.ink()
            surface.blit(self._ink.get(ink, m.rect.size, p.text), m.rect)
            return
        if m.source in ("remote", "screen", "self"):
            source, cache = {
                "remote": (feed.remote_video, self._remote),
                "screen": (feed.screen_video, self._screen),
                "self": (feed.self_view, self._self),
            }[m.source]
            show_at = getattr(feed, "show_at", None)  # a SizedMediaFeed scales for us
            if show_at is not None:
                show_at(m.source, m.rect.size)
            frame = source()
            if frame is None:
                pygame.draw.rect(surface, p.dark, m.rect)
                return
            image, rect = cache.get(
                (frame.seq, frame.width, frame.height, m.rect.size),
                frame.width,
                frame.height,
                frame.rgb,
                m.rect,
            )
            surface.blit(image, rect)
            if m.source == "self":
                pygame.draw.rect(surface, p.on_dark, rect, 2)
            return
        picture = m.picture
        if picture is None:
            pygame.draw.rect(surface, p.surface, m.rect)
            pygame.draw.rect(surface, p.muted_text, m.rect, 1)
            return
        cache = self._pictures.setdefault(id(picture), _Scaled())
        if len(self._pictures) > 16:  # pages of old documents go
            self._pictures = {id(picture): cache}
        crop = _crop(picture, m.crop)
        image, rect = cache.get(
            (id(picture), m.rect.size, m.crop),
            picture.width,
            picture.height,
            picture.rgb,
            m.rect,
            hold=picture,
            crop=crop,
        )
        surface.blit(image, rect)
        pygame.draw.rect(surface, p.muted_text, rect, 1)
        if m.focus is not None:
            _outline(surface, picture, crop, rect, m.focus, p.primary, theme.gap // 3 or 1)


def _crop(picture: v.Picture, crop: tuple[float, float, float, float] | None) -> pygame.Rect | None:
    """The pixels of ``picture`` that ``crop`` (0..1) shows; None: all of it."""
    if crop is None:
        return None
    x0, y0 = int(crop[0] * picture.width), int(crop[1] * picture.height)
    x1, y1 = int(crop[2] * picture.width), int(crop[3] * picture.height)
    rect = pygame.Rect(x0, y0, max(1, x1 - x0), max(1, y1 - y0))
    return rect.clip(pygame.Rect(0, 0, picture.width, picture.height)) or None


def _outline(
    surface: pygame.Surface,
    picture: v.Picture,
    crop: pygame.Rect | None,
    shown: pygame.Rect,
    focus: tuple[float, float, float, float],
    colour: tuple[int, int, int],
    width: int,
) -> None:
    """Outline ``focus`` (0..1 of the picture) where it lies in ``shown``."""
    source = crop or pygame.Rect(0, 0, picture.width, picture.height)
    sx, sy = shown.w / source.w, shown.h / source.h
    box = pygame.Rect(
        shown.x + round((focus[0] * picture.width - source.x) * sx),
        shown.y + round((focus[1] * picture.height - source.y) * sy),
        max(2, round((focus[2] - focus[0]) * picture.width * sx)),
        max(2, round((focus[3] - focus[1]) * picture.height * sy)),
    )
    box = box.clip(shown)
    if box.w and box.h:
        pygame.draw.rect(surface, colour, box, width)


def _icon(
    surface: pygame.Surface, name: str, rect: pygame.Rect, colour: tuple[int, int, int]
) -> None:
    """Simple vector icons (the bundled font has no arrow glyphs)."""
    cx, cy = rect.center
    s = min(rect.w, rect.h) // 4
    width = max(2, s // 4)
    if name == "close":
        pygame.draw.line(surface, colour, (cx - s, cy - s), (cx + s, cy + s), width)
        pygame.draw.line(surface, colour, (cx - s, cy + s), (cx + s, cy - s), width)
    elif name in ("up", "down", "left", "right"):
        d = {"up": (0, -1), "down": (0, 1), "left": (-1, 0), "right": (1, 0)}[name]
        tip = (cx + d[0] * s, cy + d[1] * s)
        base = [
            (cx - d[0] * s + d[1] * s, cy - d[1] * s + d[0] * s),
            (cx - d[0] * s - d[1] * s, cy - d[1] * s - d[0] * s),
        ]
        pygame.draw.polygon(surface, colour, [tip, *base])
    elif name == "shift":
        pygame.draw.polygon(
            surface,
            colour,
            [
                (cx, cy - s),
                (cx + s, cy),
                (cx + s // 2, cy),
                (cx + s // 2, cy + s),
                (cx - s // 2, cy + s),
                (cx - s // 2, cy),
                (cx - s, cy),
            ],
            width,
        )
    elif name == "back":
        points = [
            (cx - s * 3 // 2, cy),
            (cx - s // 2, cy - s),
            (cx + s * 3 // 2, cy - s),
            (cx + s * 3 // 2, cy + s),
            (cx - s // 2, cy + s),
        ]
        pygame.draw.polygon(surface, colour, points, width)
        pygame.draw.line(surface, colour, (cx, cy - s // 2), (cx + s, cy + s // 2), width)
        pygame.draw.line(surface, colour, (cx, cy + s // 2), (cx + s, cy - s // 2), width)
