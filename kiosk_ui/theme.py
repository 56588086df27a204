"""Sizes, fonts and colours for one panel: touch targets in millimetres, text contrast per WCAG.

The font is pygame's bundled FreeSans Bold, so text metrics are the same on every machine
(the layout tests measure with it); it covers German umlauts and ß.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pygame

from kiosk_ui.colours import BLACK, WHITE, darken_to_aa, readable_on, relative_luminance
from kiosk_ui.viewmodels import RGB, Branding, Picture

TOUCH_TARGET_MM = 9.0


@dataclass(frozen=True)
class Palette:
    """The colours actually used, all text pairs meeting WCAG AA."""

    background: RGB
    text: RGB
    muted_text: RGB
    surface: RGB  # cards, fields, keys
    primary: RGB
    on_primary: RGB
    danger: RGB
    on_danger: RGB
    warning: RGB
    on_warning: RGB
    dark: RGB  # behind video
    on_dark: RGB

    @staticmethod
    def from_branding(branding: Branding) -> Palette:
        """Derive a palette from the tenant's colours, correcting pairs that miss AA."""
        background = branding.background
        text = readable_on(background, branding.text)
        on_primary = readable_on(branding.primary, WHITE)
        primary = darken_to_aa(branding.primary, on_primary)
        surface = WHITE if relative_luminance(background) > 0.5 else (40, 44, 52)
        return Palette(
            background=background,
            text=text,
            muted_text=readable_on(background, (84, 90, 100)),
            surface=surface,
            primary=primary,
            on_primary=on_primary,
            danger=(176, 0, 32),
            on_danger=WHITE,
            warning=(255, 214, 102),
            on_warning=BLACK,
            dark=(16, 18, 22),
            on_dark=WHITE,
        )


def load_logo(path: str | None) -> Picture | None:
    """The tenant's PNG logo as RGB (None without one, or when it cannot be decoded)."""
    if path is None:
        return None
    try:
        image = pygame.image.load(path)
    except (pygame.error, OSError, ValueError):
        return None  # the configuration checked the file; a broken logo just is not shown
    return Picture(image.get_width(), image.get_height(), pygame.image.tobytes(image, "RGB"))


class Theme:
    """Metrics and fonts for a panel of ``size`` pixels at ``dpi``."""

    def __init__(
        self, size: tuple[int, int], branding: Branding, *, dpi: float = 140.0, large: bool
    ) -> None:
        self.size = size
        self.width, self.height = size
        self.portrait = self.height > self.width
        self.palette = Palette.from_branding(branding)
        self.logo = load_logo(branding.logo_path)
        unit = min(self.width, self.height)
        scale = 1.3 if large else 1.0
        self.target = math.ceil(TOUCH_TARGET_MM / 25.4 * dpi)  # minimum touch target, px
        self.body_px = round(min(max(unit / 24, 17), 40) * scale)
        self.title_px = round(self.body_px * 1.6)
        self.small_px = max(14, round(self.body_px * 0.8))
        self.button_h = max(self.target, round(self.body_px * 2.4))
        self.gap = max(8, unit // 60)
        self.header_h = max(self.target + 8, round(self.body_px * 2.6))
        self._fonts: dict[int, pygame.font.Font] = {}

    def font(self, px: int) -> pygame.font.Font:
        """The UI font at ``px`` pixels (cached)."""
        if px not in self._fonts:
            self._fonts[px] = pygame.font.Font(None, px)
        return self._fonts[px]

    def fit(self, text: str, px: int, width: int) -> int:
        """The largest size from ``px`` down to 70 % of it that fits ``text`` into ``width``."""
        low = max(12, int(px * 0.7))
        for size in range(px, low - 1, -1):
            if self.font(size).size(text)[0] <= width:
                return size
        return low

    def wrap(self, text: str, px: int, width: int) -> list[str]:
        """``text`` broken into lines no wider than ``width`` (paragraphs kept)."""
        font = self.font(px)
        lines: list[str] = []
        for paragraph in text.split("\n"):
            line = ""
            for word in paragraph.split(" "):
                candidate = f"{line} {word}" if line else word
                if font.size(candidate)[0] <= width or not line:
                    line = candidate
                else:
                    lines.append(line)
                    line = word
            lines.append(line)
        return lines
