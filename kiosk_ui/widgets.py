"""What a screen is made of: widgets, the UI's local actions, and the builders every screen uses.

A widget is a frozen record with a place (``rect``); ``kiosk_ui.draw`` paints them, ``hit`` finds
the button under a finger, and the tests measure them. The builders fit text to its box.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pygame

from kiosk_ui import viewmodels as v
from kiosk_ui.strings import text
from kiosk_ui.theme import Theme

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


@dataclass(frozen=True)
class PanAt:
    """A tap on a zoomed page (showing ``crop``, 0..1 of it): pan to the point tapped."""

    crop: tuple[float, float, float, float]

    def at(self, rect: pygame.Rect, pos: tuple[int, int]) -> v.PanDocument:
        """The ``PanDocument`` for a tap at ``pos`` on the page shown in ``rect``."""
        fx = min(max((pos[0] - rect.x) / max(rect.w, 1), 0.0), 1.0)
        fy = min(max((pos[1] - rect.y) / max(rect.h, 1), 0.0), 1.0)
        x0, y0, x1, y1 = self.crop
        return v.PanDocument(x0 + fx * (x1 - x0), y0 + fy * (y1 - y0))


Local = Key | Focus | Scroll | SubmitForm | SubmitChat | PanAt


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
    # The part of ``picture`` shown (x0, y0, x1, y1 in 0..1 from the top left; a zoom) and
    # a box on it to outline (where the signature goes), in the same units.
    crop: tuple[float, float, float, float] | None = None
    focus: tuple[float, float, float, float] | None = None


@dataclass(frozen=True)
class Progress(Widget):
    """A progress bar, 0..1."""

    fraction: float


def hit(widgets: list[Widget], pos: tuple[int, int]) -> Button | None:
    """The front-most button under ``pos``."""
    for widget in reversed(widgets):
        if isinstance(widget, Button) and widget.rect.collidepoint(pos):
            return widget
    return None


def say(view: v.KioskView, key: str, **values: object) -> str:
    """The UI text ``key`` in the view's language, with ``values`` filled in."""
    return text(key, view.language, **values)


def fitted_label(
    theme: Theme,
    rect: pygame.Rect,
    value: str,
    px: int,
    colour: tuple[int, int, int],
    background: tuple[int, int, int],
    align: Literal["left", "center"] = "left",
) -> Label:
    """One line of ``value``, its size reduced (from ``px``) until it fits ``rect``."""
    return Label(rect, value, theme.fit(value, px, rect.w), colour, background, align)


def fitted_button(
    theme: Theme, rect: pygame.Rect, value: str, action: Action, style: Style = "secondary"
) -> Button:
    """A button whose text is reduced (from the body size) until it fits."""
    px = theme.fit(value, theme.body_px, rect.w - 2 * theme.gap)
    return Button(rect, value, action, style, px)


def paragraphs(
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
    """``value`` wrapped to ``rect``'s width, one label per line, as many lines as fit.

    ``skip``: lines scrolled away at the top.
    """
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


def screen_title(
    view: v.KioskView, theme: Theme, body: pygame.Rect, key: str
) -> tuple[Widget, int]:
    """The screen's title at the top of ``body``, and how far down the content starts."""
    p = theme.palette
    h = theme.font(theme.title_px).get_linesize()
    rect = pygame.Rect(body.x, body.y, body.w, h)
    return fitted_label(
        theme, rect, say(view, key), theme.title_px, p.text, p.background
    ), h + theme.gap
