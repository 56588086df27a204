"""Every screen in both languages at every panel size: text fits, targets are big, AA contrast."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import pygame
import pytest

from kiosk_ui import layout as lay
from kiosk_ui import viewmodels as v
from kiosk_ui.app import KioskUi
from kiosk_ui.colours import WCAG_AA, contrast
from kiosk_ui.samples import SampleFeed, sample_views
from kiosk_ui.screenshots import RESOLUTIONS, render_all
from kiosk_ui.strings import CATALOGUE, CONSENT_TEMPLATE, KEYBOARD_ROWS
from kiosk_ui.viewmodels import LANGUAGES, Branding


def _all_layouts() -> list[tuple[str, str, tuple[int, int], KioskUi]]:
    out = []
    feed = SampleFeed()
    for language in LANGUAGES:
        for size in RESOLUTIONS:
            for name, view in sample_views(language).items():
                ui = KioskUi(size)
                ui.local.values = {"name": "Jürgen Weiß", "topic": "Girokonto"}
                ui.show(view, pygame.Surface(size), feed)
                out.append((name, language, size, ui))
    return out


@pytest.fixture(scope="module")
def layouts() -> list[tuple[str, str, tuple[int, int], KioskUi]]:
    pygame.font.init()
    return _all_layouts()


def test_no_text_wider_than_its_box(
    layouts: list[tuple[str, str, tuple[int, int], KioskUi]],
) -> None:
    problems = []
    for name, language, size, ui in layouts:
        theme = ui.theme(ui.view)
        for w in ui.widgets:
            if isinstance(w, lay.Label) and w.text:
                width, height = theme.font(w.px).size(w.text)
                if width > w.rect.w or w.rect.right > size[0] + 1:
                    problems.append((name, language, size, w.text, width, w.rect.w))
            if isinstance(w, lay.Button) and w.text:
                width, _ = theme.font(w.px or theme.body_px).size(w.text)
                if width > w.rect.w - 4:
                    problems.append((name, language, size, w.text, width, w.rect.w))
    assert problems == []


def test_widgets_stay_on_screen_and_targets_are_9mm(
    layouts: list[tuple[str, str, tuple[int, int], KioskUi]],
) -> None:
    # Every button of every view, keyboard keys included: at least 9 mm both ways at the
    # panel's dpi, on screen, and never under another button (nor under the countdown bar).
    problems = []
    for name, language, size, ui in layouts:
        screen = pygame.Rect((0, 0), size)
        target = ui.theme(ui.view).target
        assert target >= 9 / 25.4 * ui.dpi
        buttons = [w for w in ui.widgets if isinstance(w, lay.Button)]
        for i, w in enumerate(buttons):
            what = w.text or str(w.icon)
            if not screen.contains(w.rect):
                problems.append((name, language, size, "off screen", what, w.rect))
            if min(w.rect.w, w.rect.h) < target:
                problems.append((name, language, size, "small", what, w.rect))
            for other in buttons[i + 1 :]:
                if w.rect.colliderect(other.rect):
                    problems.append((name, language, size, "overlap", what, other.rect))
        if ui.view.countdown is not None:
            bar = lay.countdown_rect(ui.theme(ui.view))
            for w in buttons:
                if w.action != v.StillHere() and w.rect.colliderect(bar):
                    problems.append((name, language, size, "under the countdown", w.text, w.rect))
    assert problems == []


def test_chat_keyboard_keys_are_9mm_on_the_smallest_panel() -> None:
    views = sample_views("de")
    for large in (False, True):
        ui = KioskUi((800, 480))
        view = replace(views["call-chat"], large_text=large)
        ui.show(view, pygame.Surface((800, 480)), SampleFeed())
        keys = [w for w in ui.widgets if isinstance(w, lay.Button) and w.style == "key"]
        assert len(keys) > 40
        mm = min(min(k.rect.w, k.rect.h) for k in keys) / ui.dpi * 25.4
        assert mm >= 9.0, (large, mm)


def test_text_contrast_meets_wcag_aa(
    layouts: list[tuple[str, str, tuple[int, int], KioskUi]],
) -> None:
    for _, _, _, ui in layouts:
        for w in ui.widgets:
            if isinstance(w, lay.Label):
                assert contrast(w.colour, w.background) >= WCAG_AA, w.text


def test_tenant_colours_that_fail_aa_are_corrected() -> None:
    from kiosk_ui.theme import Palette

    p = Palette.from_branding(
        Branding(primary=(255, 230, 0), background=(250, 250, 250), text=(200, 200, 200))
    )
    assert contrast(p.on_primary, p.primary) >= WCAG_AA
    assert contrast(p.text, p.background) >= WCAG_AA


def test_catalogue_complete_and_every_glyph_exists() -> None:
    font = pygame.font.Font(None, 30)
    missing = font.metrics("\uffff")[0]
    keys = set(CATALOGUE["de"])
    assert keys == set(CATALOGUE["en"])
    texts = [*CATALOGUE["de"].values(), *CATALOGUE["en"].values(), *CONSENT_TEMPLATE.values()]
    texts += ["".join(rows) for rows in KEYBOARD_ROWS.values()]
    for text in texts:
        for ch, metric in zip(text, font.metrics(text), strict=True):
            assert ch in "\n" or metric != missing, repr(ch)
    assert {"ä", "ö", "ü", "ß"} <= set("".join(KEYBOARD_ROWS["de"]))


def test_screenshots_every_screen_non_empty_and_distinct(tmp_path: Path) -> None:
    files = render_all(tmp_path, resolutions=((800, 480), (720, 1280)))
    assert len(files) == 2 * 2 * len(sample_views("de"))
    digests: dict[str, Path] = {}
    for path in files:
        image = pygame.image.load(str(path))
        colours = {
            image.get_at((x, y))[:3]
            for x in range(0, image.get_width(), 37)
            for y in range(0, image.get_height(), 37)
        }
        assert len(colours) > 2, path.name
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert digest not in digests, (path.name, digests.get(digest))
        digests[digest] = path


def test_tenant_logo_shows_in_the_header(tmp_path: Path) -> None:
    logo = pygame.Surface((120, 40))
    logo.fill((200, 30, 30))
    path = tmp_path / "logo.png"
    pygame.image.save(logo, str(path))
    view = sample_views("de")["language"]
    branded = replace(view, branding=Branding(name="Nordbank", logo_path=str(path)))
    ui = KioskUi((800, 480))
    surface = pygame.Surface((800, 480))
    ui.show(branded, surface, SampleFeed())
    pictures = [w for w in ui.widgets if isinstance(w, lay.Media) and w.picture is not None]
    assert pictures and pictures[0].rect.bottom <= ui.theme(branded).header_h
    assert tuple(surface.get_at(pictures[0].rect.center))[:3] == (200, 30, 30)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 8)
    ui.show(replace(view, branding=Branding(logo_path=str(broken))), surface, SampleFeed())
    assert not any(isinstance(w, lay.Media) for w in ui.widgets)
