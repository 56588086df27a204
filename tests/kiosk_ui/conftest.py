"""The UI tests draw with SDL's dummy drivers (tests/support/sdl.py), set here for every test."""

from __future__ import annotations

import pygame
import pytest


@pytest.fixture(autouse=True)
def drawing(dummy_sdl: None) -> None:
    """Every UI test draws: dummy SDL and pygame's fonts."""
    pygame.font.init()
