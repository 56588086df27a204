"""Loading the recorded pen fixtures of tests/fixtures/pen (for the evdev tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from drivers.tablet.evdev import pen_axes
from drivers.tablet.evdev_parser import EV_ABS, EV_KEY, Event, PenAxes

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "pen"


def intuos_capabilities() -> dict[int, list[Any]]:
    raw = json.loads((FIXTURES / "wacom_intuos_caps.json").read_text())
    return {EV_KEY: raw["EV_KEY"], EV_ABS: [(c, tuple(i)) for c, i in raw["EV_ABS"]]}


def intuos_axes() -> PenAxes:
    return pen_axes(intuos_capabilities())


def stroke_events() -> list[Event]:
    raw = json.loads((FIXTURES / "wacom_stroke.events.json").read_text())
    return [tuple(e) for e in raw["events"]]
