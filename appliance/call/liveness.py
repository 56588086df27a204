"""Liveness of a call's path on its data channel (docs/reconnection.md).

Both ends send ``beat`` every half second; any frame from the far end counts as life
(``heard``), and ``dead_after_s`` of silence is reported once through ``on_silence``. The
watch starts when the connection is ``connected``, so a far end that completes DTLS but never
opens the channel falls silent too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

# Liveness on the data channel (docs/reconnection.md); tests make them shorter.
BEAT_INTERVAL_S = 0.5
DEAD_AFTER_S = 2.5


class Liveness:
    """Beats through ``send_beat`` and watches for silence from the far end; one per call."""

    def __init__(
        self,
        *,
        send_beat: Callable[[], None],
        on_silence: Callable[[], None],
        beat_interval_s: float = BEAT_INTERVAL_S,
        dead_after_s: float = DEAD_AFTER_S,
        clock: Callable[[], float],
    ) -> None:
        self._send_beat = send_beat
        self._on_silence = on_silence
        self._beat_interval_s = beat_interval_s
        self._dead_after_s = dead_after_s
        self._clock = clock
        self._last_rx = clock()
        self._task: asyncio.Task[None] | None = None
        self._stopped = False

    def heard(self) -> None:
        """A valid frame arrived from the far end: it is alive, whatever it said."""
        self._last_rx = self._clock()

    def silence_ms(self) -> float:
        """How long nothing has arrived, in ms."""
        return round((self._clock() - self._last_rx) * 1000, 1)

    def start(self) -> None:
        """Start beating and watching (once; the silence clock restarts on every call)."""
        self._last_rx = self._clock()
        if self._task is None and not self._stopped:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="call-beat")

    def halt(self) -> None:
        """Stop beating and watching at the next tick (the path is already declared dead)."""
        self._stopped = True

    async def stop(self) -> None:
        """Stop at once and wait for the beat task to end; idempotent."""
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        tick = min(self._beat_interval_s, self._dead_after_s / 10)
        next_beat = self._clock()
        while not self._stopped:
            now = self._clock()
            if now - self._last_rx >= self._dead_after_s:
                self._on_silence()
                return
            if now >= next_beat:
                next_beat = now + self._beat_interval_s
                with contextlib.suppress(Exception):  # a dying channel refuses; silence decides
                    self._send_beat()
            await asyncio.sleep(tick)
