"""SDL's dummy drivers for tests that draw or open a window (set per test, never globally).

The ``dummy_sdl`` fixture is registered in tests/conftest.py; tests/kiosk_ui uses it for every
test, others ask for it (``pytest.mark.usefixtures("dummy_sdl")``).
"""

from __future__ import annotations

import pytest


@pytest.fixture
def dummy_sdl(monkeypatch: pytest.MonkeyPatch) -> None:
    """No display, no sound card, no pygame greeting: SDL draws into memory."""
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    monkeypatch.setenv("PYGAME_HIDE_SUPPORT_PROMPT", "1")
