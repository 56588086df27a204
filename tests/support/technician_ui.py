"""A scripted technician: taps the technician screen's drawn buttons (dummy SDL) while its front
runs on the test's loop against a real hub; and that front, built as `kiosk run` builds it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pygame

from appliance.__main__ import assemble
from appliance.commands.selftest import CheckResult
from appliance.config.kiosk import KioskConfig, load_config
from appliance.session.technician import Technician
from appliance.ui.technician import Assemble, TechnicianFront, device_selftest
from kiosk_ui import layout as lay
from kiosk_ui import viewmodels as v
from kiosk_ui.app import KioskUi
from provisioning.est_client import EstClient
from provisioning.identity import IdentityStore
from tests.support.ui_harness import layout_problems


def kiosk_config(tmp_path: Path, identity: Path) -> KioskConfig:
    """A simulated kiosk's configuration as `kiosk run` reads it once enrolled."""
    return load_config(
        None,
        {
            "simulate": True,
            "identity_dir": str(identity),
            "vault.path": str(tmp_path / "vault"),
            "ice_host_addresses": ["127.0.0.1"],
        },
    )


def real_assemble(tmp_path: Path, identity: Path) -> Assemble:
    """`kiosk run`'s own assembly: the real kiosk and journey bridge, read once enrolled."""
    return lambda: assemble(kiosk_config(tmp_path, identity), "headless")


async def quick_selftest() -> list[CheckResult]:
    """A self-test that passes at once (for tests about something else)."""
    return [CheckResult("camera", "simulated", True, "picture OK")]


class TechnicianScreen:
    """One panel showing ``front``'s current view; ``tap`` presses a drawn button's centre."""

    def __init__(self, front: TechnicianFront, size: tuple[int, int] = (800, 480)) -> None:
        self.front = front
        self.ui = KioskUi(size)
        self.surface = pygame.Surface(size)
        self.said: list[str] = []  # the front's status lines (the kiosk's console)

    def draw(self) -> v.KioskView:
        view = self.front.current_view()
        self.ui.show(view, self.surface, self.front)
        assert layout_problems(self.ui) == [], layout_problems(self.ui)
        return view

    @property
    def step(self) -> str | None:
        view = self.draw()
        return view.technician.step if view.screen is v.Screen.TECHNICIAN else None

    async def tap(self, action: lay.Action) -> None:
        self.draw()
        button = self.ui.button_for(action)
        assert button is not None, f"no button for {action} on step {self.step}"
        for intent in self.ui.tap(button.rect.center):
            self.front.report(intent)
        await asyncio.sleep(0)  # report() posts to the loop: let it arrive
        self.draw()

    async def type(self, field: str, typed: str) -> None:
        await self.tap(lay.Focus(field))
        for char in typed:
            await self.tap(lay.Key(char))

    def texts(self) -> str:
        """Every label and button text on screen, joined by spaces (wrapped lines rejoin)."""
        self.draw()
        return " ".join(w.text for w in self.ui.widgets if isinstance(w, lay.Label | lay.Button))

    async def until(self, done: Callable[[], bool], what: str, within: float = 20.0) -> None:
        deadline = time.monotonic() + within
        while not done():
            assert time.monotonic() < deadline, f"timed out waiting for {what} (on {self.step})"
            await asyncio.sleep(0.02)


@asynccontextmanager
async def running_front(
    identity: Path,
    *,
    assemble: Assemble,
    language: str = "en",
    size: tuple[int, int] = (800, 480),
    selftest: Callable[[], Any] = quick_selftest,
    est: Callable[[str], EstClient] = EstClient,
    **machine: Any,
) -> AsyncIterator[TechnicianScreen]:
    """The front on this loop (ticker and process, as `kiosk run` runs them) and its screen."""
    said: list[str] = []
    front = TechnicianFront(
        Technician(default_language=language, **machine),
        IdentityStore(identity),
        assemble=assemble,
        selftest=selftest,
        say=said.append,
        est=est,
    )
    ticker = asyncio.create_task(front.run())
    process = asyncio.create_task(front.process.run())
    screen = TechnicianScreen(front, size)
    screen.said = said
    try:
        await screen.until(
            lambda: (
                front.machine.step != "entry" or front.machine.state.key_fingerprint is not None
            ),
            "the identity check",
        )
        yield screen
    finally:
        front.request_stop()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(20):
                await process
        ticker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await ticker


def simulated_selftest(identity: Path) -> Callable[[], Any]:
    """`kiosk selftest --simulate`'s checks, as the front runs them after enrolment."""
    return device_selftest(KioskConfig(token=None, simulate=True, identity_dir=identity))
