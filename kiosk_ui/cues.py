"""Short audio cues (a call arrives, a message, the countdown, goodbye), synthesised once.

Silent when no audio device can be opened: cues help, they never block the journey.
"""

from __future__ import annotations

import array
import logging
import math
from typing import Protocol

import pygame

log = logging.getLogger(__name__)

RATE = 22050
# name: ((frequency Hz, seconds), ...) played one after the other
TONES: dict[str, tuple[tuple[float, float], ...]] = {
    "call": ((660.0, 0.12), (880.0, 0.18)),
    "message": ((990.0, 0.08),),
    "warning": ((520.0, 0.15),),
    "goodbye": ((880.0, 0.12), (660.0, 0.18)),
}


def tone_samples(parts: tuple[tuple[float, float], ...], rate: int = RATE) -> array.array[int]:
    """Signed 16-bit mono samples of ``parts``, with short fades against clicks."""
    out: array.array[int] = array.array("h")
    for frequency, seconds in parts:
        n = int(rate * seconds)
        fade = max(1, rate // 200)
        for i in range(n):
            envelope = min(1.0, i / fade, (n - i) / fade)
            out.append(int(9000 * envelope * math.sin(2 * math.pi * frequency * i / rate)))
    return out


class CuePlayer(Protocol):
    """Where the UI sends its cues: ``Cues`` on the device, a recorder in tests."""

    def play(self, name: str) -> None:
        """Play cue ``name`` (one of ``TONES``)."""


class Cues:
    """Plays the named cues through pygame's mixer, if one opens."""

    def __init__(self) -> None:
        self._sounds: dict[str, pygame.mixer.Sound] = {}
        try:
            pygame.mixer.init(frequency=RATE, size=-16, channels=1)
        except pygame.error as exc:
            log.info("no audio output for cues: %s", exc)
            return
        for name, parts in TONES.items():
            self._sounds[name] = pygame.mixer.Sound(buffer=tone_samples(parts).tobytes())

    @property
    def available(self) -> bool:
        """Whether cues can be heard."""
        return bool(self._sounds)

    def play(self, name: str) -> None:
        """Play cue ``name`` (no-op without audio)."""
        sound = self._sounds.get(name)
        if sound is not None:
            sound.play()
