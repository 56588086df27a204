"""``kiosk screenshots --out DIR``: every screen, both languages, four panel sizes, as PNG."""

from __future__ import annotations

import os
from pathlib import Path

import pygame

from kiosk_ui.app import KioskUi
from kiosk_ui.samples import SampleFeed, sample_views
from kiosk_ui.viewmodels import LANGUAGES

RESOLUTIONS = ((800, 480), (1280, 800), (1920, 1080), (720, 1280))


def render_all(
    out: Path,
    *,
    resolutions: tuple[tuple[int, int], ...] = RESOLUTIONS,
    languages: tuple[str, ...] = LANGUAGES,
    only: tuple[str, ...] | None = None,
) -> list[Path]:
    """Write ``NAME-LANG-WxH.png`` for every sample view; returns the files written."""
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    pygame.font.init()
    out.mkdir(parents=True, exist_ok=True)
    feed = SampleFeed()
    written: list[Path] = []
    for language in languages:
        views = sample_views(language)
        for width, height in resolutions:
            ui = KioskUi((width, height))
            for name, view in views.items():
                if only is not None and name not in only:
                    continue
                surface = pygame.Surface((width, height))
                ui.local.values = {
                    "name": "Jürgen Weiß",
                    "topic": "Girokonto",
                    "hub_url": "https://hub.example.org",  # the technician screen's form
                    "code": "k7qx-3m9p-ht4r-2wnc",
                }
                ui.show(view, surface, feed)
                path = out / f"{name}-{language}-{width}x{height}.png"
                pygame.image.save(surface, str(path))
                written.append(path)
    return written
