"""The kiosk renews its device certificate at two thirds of its lifetime (EST simplereenroll).

One task beside the hub connection: it sleeps until the renewal is due (at most an hour at a
time, so a clock that was set meanwhile is noticed), renews with the same key, and backs off
when the hub cannot be reached. A hub that refuses (the certificate expired or was revoked)
ends the task: the kiosk needs a fresh enrolment code, and says so. While the local clock is
before the certificate's notBefore (a Pi without a real-time clock, before time sync), the
hub's clock decides whether renewal is due.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable

from appliance.runner.hub_client import Backoff
from provisioning import profile
from provisioning.enrolment import clock_unset, expired, renew, renewal_due
from provisioning.est_client import EstClient, EstError, NeedsFreshCode, Throttled
from provisioning.identity import Identity, IdentityError, IdentityStore

log = logging.getLogger(__name__)

MAX_SLEEP_S = 3600.0
RETRY_MIN_S = 30.0
RETRY_MAX_S = 3600.0
FRESH_CODE = (
    "this kiosk needs a fresh enrolment code: ask the hub's administrator "
    "(`kiosk-hub device enrol NAME`), then `kiosk enrol`"
)


def utc_now() -> dt.datetime:
    """The local wall clock in UTC."""
    return dt.datetime.now(dt.UTC)


class Renewal:
    """Keeps the stored device certificate renewed; ``needs_fresh_code`` once the hub refuses.

    Seams: ``clock`` (wall clock), ``sleep``, ``backoff`` and ``client`` (an EST client for a
    hub URL).
    """

    def __init__(
        self,
        store: IdentityStore,
        *,
        say: Callable[[str], None],
        clock: Callable[[], dt.datetime] = utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        backoff: Backoff | None = None,
        client: Callable[[str], EstClient] = EstClient,
    ) -> None:
        self._store = store
        self._say = say
        self._clock = clock
        self._sleep = sleep
        self._backoff = backoff if backoff is not None else Backoff(RETRY_MIN_S, RETRY_MAX_S)
        self._client = client
        self.needs_fresh_code = False
        self._told_expired = False

    async def run(self) -> None:
        """Renew whenever due, until cancelled or the hub refuses for good."""
        while True:
            try:
                identity = self._store.load()
            except IdentityError as exc:
                log.error("cannot renew the device certificate: %s", exc)
                return
            if identity is None:
                return  # not enrolled (a token kiosk) or decommissioned
            delay = await self._step(identity)
            if delay is None:
                return
            await self._sleep(delay)

    async def _step(self, identity: Identity) -> float | None:
        """One look at the certificate: seconds until the next look, or None to stop."""
        cert = identity.certificate
        async with self._client(identity.hub_url) as client:
            now = self._clock()
            if clock_unset(cert, now):
                hub_now = await client.hub_time()
                if hub_now is None:
                    return self._backoff.next_delay()
                log.info("the local clock is before the certificate's start: using the hub's")
                now = hub_now
            if not renewal_due(cert, now):
                return min((profile.renew_at(cert) - now).total_seconds(), MAX_SLEEP_S)
            if expired(cert, now) and not self._told_expired:
                self._told_expired = True
                log.error("the device certificate expired; asking the hub to renew anyway")
                self._say(f"device certificate expired: {FRESH_CODE}")
            try:
                renewed = await renew(client, self._store)
            except NeedsFreshCode:
                self.needs_fresh_code = True
                log.error("the hub refused to renew the device certificate (expired or revoked)")
                self._say(f"the hub refused to renew the device certificate: {FRESH_CODE}")
                return None
            except (EstError, IdentityError) as exc:
                delay = self._backoff.next_delay()
                if isinstance(exc, Throttled) and exc.retry_after is not None:
                    delay = max(delay, exc.retry_after)
                log.warning(
                    "certificate renewal failed (%s): retrying in %.0f s", type(exc).__name__, delay
                )
                return delay
        self._backoff.reset()
        self._told_expired = False
        until = renewed.certificate.not_valid_after_utc.strftime("%Y-%m-%d %H:%M UTC")
        log.info("renewed the device certificate; valid until %s", until)
        self._say(f"device certificate renewed, valid until {until}")
        return 0.0
