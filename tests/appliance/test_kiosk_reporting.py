"""Who hears what the kiosk does: typed observers, waiting for a change, status lines."""

from __future__ import annotations

import asyncio

import av
import pytest

from appliance.exchange.state import ExchangeState
from appliance.runner.reporting import KioskObservers, StatusLines, phase_line
from appliance.session.consultation import Phase


class Watcher:
    """A plain ``KioskObserver``: no exchange, no shared screen."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def changed(self) -> None:
        self.seen.append("changed")

    def video_frame(self, frame: av.VideoFrame) -> None:
        self.seen.append("video")

    def chat_received(self, text: str) -> None:
        self.seen.append("chat")

    def channel_opened(self) -> None:
        self.seen.append("open")


class ScreenWatcher(Watcher):
    """Also shows the adviser's shared screen."""

    def screen_frame(self, frame: av.VideoFrame) -> None:
        self.seen.append("screen")


class ExchangeWatcher(Watcher):
    """Also shows the exchange."""

    def exchange_changed(self, state: ExchangeState | None) -> None:
        self.seen.append("exchange" if state is not None else "exchange closed")


def test_each_observer_hears_what_it_shows() -> None:
    observers = KioskObservers()
    plain, screen, exchange = Watcher(), ScreenWatcher(), ExchangeWatcher()
    for observer in (plain, screen, exchange):
        observers.add(observer)
    frame = av.VideoFrame(16, 16, "yuv420p")
    observers.video_frame(frame)
    observers.screen_frame(frame)
    observers.chat_received("Guten Tag")
    observers.channel_opened()
    observers.exchange_changed(ExchangeState())
    observers.exchange_changed(None)
    assert plain.seen == ["video", "chat", "open", "changed", "changed"]
    assert screen.seen == ["video", "screen", "chat", "open", "changed", "changed"]
    assert exchange.seen == [
        *("video", "chat", "open"),
        *("exchange", "changed", "exchange closed", "changed"),
    ]


@pytest.mark.timeout(10)
async def test_waiting_for_a_change_wakes_on_every_change() -> None:
    observers = KioskObservers()
    ready = False
    waiter = asyncio.create_task(observers.wait_for(lambda: ready))
    await asyncio.sleep(0)
    observers.changed()  # not yet what the waiter wants
    await asyncio.sleep(0)
    assert not waiter.done()
    ready = True
    observers.changed()
    await asyncio.wait_for(waiter, 5)
    await observers.wait_for(lambda: ready)  # already true: returns at once


def test_status_lines_say_what_a_phase_means() -> None:
    lines: list[str] = []
    status = StatusLines(lines.append)
    status.entered(Phase.QUEUEING, out_of_service=False, awaiting_customer=False)
    status.entered(Phase.QUEUEING, out_of_service=False, awaiting_customer=True)
    status.entered(Phase.QUEUEING, out_of_service=True, awaiting_customer=False)  # said why
    status.entered(Phase.ENDING, out_of_service=False, awaiting_customer=False)  # nothing
    status.entered(Phase.IN_CALL, out_of_service=False, awaiting_customer=True)
    assert lines == [
        "kiosk ready: waiting in the queue for an adviser",
        "kiosk ready: waiting for a customer",
        "in call",
    ]
    StatusLines(None).say("nobody listens")  # no error
    assert phase_line(Phase.DISCONNECTED, out_of_service=True, awaiting_customer=True) == (
        "not connected to the hub"
    )
