"""The adviser console in a call fits the screen: nothing a call needs is below the fold.

A real call in Debian's Chromium (the kiosk simulated in this process, as
tests/support/console_scene.py sets it up): a document shown at the kiosk, a scan and a photo
received, a chat line from the customer. Then, at 1280×800 (the project's benchmark size) and
1366×768, every element of the call (the customer's picture, the four words, End call, Mute,
Camera off, the chat, the exchange panel's buttons and the newest arrival) is measured by its
box: inside the window, not hidden under another element, and without any scrolling of the
page. The adviser's own picture must not cover the customer's (the part of the video element
the picture is drawn in). At 1024×768 the page may scroll, but nothing may overlap.

``CONSOLE_SCREENSHOT=path`` also writes the 1280×800 screenshot there (docs/console-call.png).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support.console_scene import (
    Scene,
    call_scene,
    choose_file,
    pdf_bytes,
    received_entry,
    sent_entry,
)

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

# What a call needs, each of which must be fully on screen at the benchmark sizes.
CALL_ELEMENTS = {
    "customer video": "#remote-video",
    "self view": "#local-video",
    "verification words": "#call-code-words",
    "End call": "#btn-end",
    "Mute": "#btn-mute",
    "Camera off": "#btn-camera",
    "chat log": "#chat-log",
    "chat input": "#chat-input",
    "chat Send": "#chat-send",
    "exchange panel": "#exchange",
    "Send file": "#file-label",
    "Show at kiosk": "#file-show-at-kiosk",
    "Request scan": "#btn-request-scan",
    "Request photo": "#btn-request-photo",
    "Share screen": "#btn-share-screen",
    "drop zone": "#file-drop",
    "newest arrival": "#received-list .transfer:first-child",
    "newest request": "#request-list .transfer:first-child",
}

# Regions of the call that must never overlap one another, at any width.
REGIONS = {
    "head": ".call-head",
    "words": "#call-code",
    "stage": ".stage",
    "controls": ".controls",
    "exchange": "#exchange",
    "chat": ".chat",
}
CONTROLS = ["#local-video", "#btn-mute", "#btn-camera", "#btn-end"]

# Boxes (viewport coordinates) of the selectors; whether each one is really seen: its centre
# is that element (not covered by another) and no scrolling box around it cuts it off (a list
# scrolled inside its column); the page's scroll size; and the rectangle the customer's picture
# is drawn in (object-fit: contain).
MEASURE_JS = """
(selectors) => {
  const box = (r) => ({left: r.left, top: r.top, right: r.right, bottom: r.bottom});
  const out = {elements: {}, width: innerWidth, height: innerHeight,
               scrollWidth: document.documentElement.scrollWidth,
               scrollHeight: document.documentElement.scrollHeight};
  const clipped = (el, r) => {
    for (let up = el.parentElement; up !== null && up !== document.body; up = up.parentElement) {
      const style = getComputedStyle(up);
      if (style.overflowX === 'visible' && style.overflowY === 'visible') continue;
      const c = up.getBoundingClientRect();
      if (r.left < c.left - 1 || r.top < c.top - 1 || r.right > c.right + 1
          || r.bottom > c.bottom + 1) return true;
    }
    return false;
  };
  for (const sel of selectors) {
    const el = document.querySelector(sel);
    if (el === null) { out.elements[sel] = null; continue; }
    const r = el.getBoundingClientRect();
    const hit = document.elementFromPoint((r.left + r.right) / 2, (r.top + r.bottom) / 2);
    const onTop = hit !== null && (el === hit || el.contains(hit)) && !clipped(el, r);
    out.elements[sel] = {...box(r), onTop};
  }
  const v = document.getElementById('remote-video');
  const r = v.getBoundingClientRect();
  const s = Math.min(r.width / v.videoWidth, r.height / v.videoHeight);
  const w = v.videoWidth * s, h = v.videoHeight * s;
  const left = r.left + (r.width - w) / 2, top = r.top + (r.height - h) / 2;
  out.picture = {left, top, right: left + w, bottom: top + h};
  return out;
}
"""


def intersects(a: dict[str, float], b: dict[str, float]) -> bool:
    """Whether two boxes share any area (touching edges do not count)."""
    return (
        min(a["right"], b["right"]) - max(a["left"], b["left"]) > 0.5
        and min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > 0.5
    )


def inside(box: dict[str, float], width: float, height: float) -> bool:
    """Whether a box lies wholly within a window of ``width`` × ``height``."""
    return (
        box["left"] >= 0 and box["top"] >= 0 and box["right"] <= width and box["bottom"] <= height
    )


async def measure(scene: Scene, width: int, height: int, selectors: list[str]) -> dict[str, Any]:
    page = scene.page
    await page.set_viewport_size({"width": width, "height": height})
    await page.evaluate("() => window.scrollTo(0, 0)")
    await page.wait_for_function(
        "([w, h]) => innerWidth === w && innerHeight === h", arg=[width, height]
    )
    measured: dict[str, Any] = await page.evaluate(MEASURE_JS, selectors)
    return measured


def no_overlaps(m: dict[str, Any], selectors: list[str]) -> list[str]:
    """Pairs of ``selectors`` whose boxes overlap."""
    found = []
    for i, a in enumerate(selectors):
        for b in selectors[i + 1 :]:
            if intersects(m["elements"][a], m["elements"][b]):
                found.append(f"{a} overlaps {b}")
    return found


def layout_problems(m: dict[str, Any], *, must_fit: bool) -> list[str]:
    """Everything wrong with one measurement, in words (empty: the layout is right)."""
    problems = no_overlaps(m, list(REGIONS.values())) + no_overlaps(m, CONTROLS)
    if intersects(m["elements"]["#local-video"], m["picture"]):
        problems.append(f"the self view covers the customer's picture: {m['picture']}")
    if m["scrollWidth"] > m["width"]:
        problems.append(f"the page scrolls sideways: {m['scrollWidth']} > {m['width']}")
    if not must_fit:
        return problems
    if m["scrollHeight"] > m["height"]:
        problems.append(f"the page scrolls: {m['scrollHeight']} > {m['height']}")
    for what, selector in CALL_ELEMENTS.items():
        got = m["elements"][selector]
        if got is None:
            problems.append(f"{what} ({selector}) is missing")
        elif not inside(got, m["width"], m["height"]):
            problems.append(f"{what} ({selector}) is not fully on screen: {got}")
        elif not got["onTop"]:
            problems.append(f"{what} ({selector}) is covered or cut off: {got}")
    return problems


async def call_with_everything(scene: Scene) -> None:
    """A document shown at the kiosk, a scan and a photo received, the customer's greeting."""
    page = scene.page
    document = pdf_bytes(200_000, seed=7)
    await choose_file(scene, "Vertrag.pdf", "application/pdf", document, show=True)
    await sent_entry(scene, "done")
    await page.click("#btn-request-scan")
    await received_entry(scene, '[data-purpose="scan"]', timeout_s=90)
    await page.click("#btn-request-photo")
    await received_entry(scene, '[data-purpose="photo"]', timeout_s=60)
    await page.wait_for_selector("#received-list img.transfer-preview")
    await page.wait_for_function(
        "() => document.querySelector('#received-list img.transfer-preview').complete"
    )
    await page.wait_for_selector("#chat-log .chat-customer")
    await page.wait_for_function("() => document.getElementById('remote-video').videoWidth > 0")


async def test_the_call_fits_the_screen_without_scrolling(tmp_path: Path) -> None:
    selectors = list(CALL_ELEMENTS.values()) + list(REGIONS.values()) + CONTROLS
    async with call_scene(tmp_path) as scene:
        await call_with_everything(scene)
        report = {}
        for width, height, must_fit in [(1280, 800, True), (1366, 768, True), (1024, 768, False)]:
            m = await measure(scene, width, height, selectors)
            report[f"{width}x{height}"] = layout_problems(m, must_fit=must_fit)
            if (width, height) == (1280, 800):
                shot = tmp_path / "console-call.png"
                await scene.page.screenshot(path=str(shot))
                if target := os.environ.get("CONSOLE_SCREENSHOT"):
                    shutil.copyfile(shot, target)
        wrong = [f"{size}: {problem}" for size, found in report.items() for problem in found]
        assert not wrong, "\n".join(wrong)
