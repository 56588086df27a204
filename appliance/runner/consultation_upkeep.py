"""The upkeep of the current consultation: how it begins, breaks, heals and ends at the kiosk.

What belongs to the consultation rather than to one peer connection is kept here: its stats
(``CallRecorder``), its chat history, its continuity (``Reconnection``: secrets, grace and retry
timers), its exchange and its session in the custody. The consultation machine says when
(``CallStarted``, ``ReconnectStarted``, ``Reconnected``, ``RetryLater``, ``CallFinished``); this
does the bookkeeping, and times each call's connecting (``ConnectTimeout``).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from appliance.call.connection import Call
from appliance.custody.wipe import WipeTrigger
from appliance.runner.call_stats import CallRecorder
from appliance.runner.chat_history import ChatHistory
from appliance.runner.consultation_exchange import ConsultationExchange
from appliance.runner.custody_link import CustodyLink
from appliance.runner.inputs import ConnectTimeout, GraceTimeout, KioskInput
from appliance.runner.local_media import LocalMedia
from appliance.runner.reconnection import Reconnection
from appliance.runner.timers import Scheduler, Timer
from appliance.session import consultation

# Why a consultation ended, as the wipe report calls it (kiosk-side causes are marked first).
_TRIGGERS: dict[str, WipeTrigger] = {"failed": "failed", "customer_left": "hangup"}


class HubPace(Protocol):
    """The hub connection's reconnect pace (``HubClient``)."""

    fast_reconnect: bool


class ConsultationUpkeep:
    """The current consultation's belongings and timers, from ``CallStarted`` to the wipe."""

    def __init__(
        self,
        *,
        reconnection: Reconnection,
        exchange: ConsultationExchange,
        custody: CustodyLink,
        media: LocalMedia,
        hub: HubPace,
        post: Callable[[KioskInput], None],
        say: Callable[[str], None],
        scheduler: Scheduler,
        connect_timeout_s: float,
        stats_file: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.recorder = CallRecorder(stats_file=stats_file, clock=clock)
        self.history = ChatHistory()
        self.reconnection = reconnection
        self.exchange = exchange
        self._custody = custody
        self._media = media
        self._hub = hub
        self._post = post
        self._say = say
        self._connect_timer = Timer(scheduler)
        self.connect_timeout_s = connect_timeout_s
        self._consultation_id: str | None = None  # the one begun, for its archive

    def begin(self, consultation_id: str) -> None:
        """An adviser accepted: a session, the stats, and the first call's connect timer."""
        self._custody.open_session(consultation_id)
        self._consultation_id = consultation_id
        self.recorder.start(consultation_id)
        self.time_connecting(consultation_id)

    def time_connecting(self, consultation_id: str, generation: int | None = None) -> None:
        """Post ``ConnectTimeout`` unless the call connects in time (``generation``: a
        resumed call's, which alone may then time out)."""
        timeout = ConnectTimeout(consultation_id, generation)
        self._connect_timer.start(self.connect_timeout_s, functools.partial(self._post, timeout))

    def connected(self) -> None:
        """The call connected: stop timing it, count how long it took the first time."""
        self.recorder.connected()
        self._connect_timer.cancel()

    def interrupted(self, consultation_id: str | None, cause: str) -> None:
        """The consultation lost its call: grace timer, stats, a faster hub, the exchange waits."""
        self._connect_timer.cancel()
        expired = (
            None
            if consultation_id is None
            else functools.partial(self._post, GraceTimeout(consultation_id))
        )
        interruption = self.reconnection.start(cause, expired)
        self.recorder.interrupted(interruption.cause, interruption.detection_ms)
        self.exchange.connection_lost()
        self._hub.fast_reconnect = True  # a short outage must heal within seconds
        self._say(f"connection lost ({cause}): reconnecting the call")

    def healed(self) -> None:
        """A new call proved itself: the grace timer stops, the stats count how long it took."""
        self._connect_timer.cancel()
        self.recorder.healed(self.reconnection.healed())
        self._hub.fast_reconnect = False
        self._say("in call again: reconnected")

    def retry_later(self, consultation_id: str, attempt: int) -> None:
        """Post ``RetryDue`` after the pause for this failed attempt."""
        retry = functools.partial(self._post, consultation.RetryDue(consultation_id))
        self.reconnection.retry_later(attempt, retry)

    async def finish(self, reason: str, call: Call | None) -> None:
        """The consultation is over: its stats line, what the tenant keeps sealed and uploaded,
        its secrets, chat and exchange gone, its session wiped (``call``: the last one, for the
        final media counters)."""
        self._connect_timer.cancel()
        if self.recorder.finish(reason, call) is not None:
            self._say(f"call ended ({reason})")
        consultation_id, self._consultation_id = self._consultation_id, None
        if consultation_id is not None:
            await self.exchange.archive(consultation_id, self.history.lines())
        await self.forget()
        await self.wipe(_TRIGGERS.get(reason, "ended"))

    async def forget(self) -> None:
        """Drop the consultation's secrets, its chat and its exchange."""
        self.reconnection.forget()
        self._hub.fast_reconnect = False
        self.history.clear()
        await self.exchange.close()

    async def wipe(self, trigger: WipeTrigger) -> None:
        """Wipe the session's content; the privacy switches and the self view reset."""
        self._media.reset()
        await self._custody.wipe(trigger)

    async def close(self) -> None:
        """The kiosk stops: no timer left, nothing of the consultation kept."""
        await self.forget()
        await self.exchange.shutdown()
        self._connect_timer.cancel()
