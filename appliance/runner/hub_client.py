"""The kiosk's WebSocket to the hub: hello, heartbeats, typed messages, reconnect with backoff.

``HubClient.run`` keeps a session to the hub alive until ``close()``: when the hub is down or
restarts it reconnects after an exponentially growing, jittered delay (so a fleet of kiosks
does not stampede a restarted hub). A refused token is fatal: retrying cannot fix it and would
only hammer the hub, so ``run`` raises ``HubRejected``.

Non-fatal ``error`` frames are passed on for the kiosk to judge (and log); the client logs only
what it acts on itself.

Hello: an enrolled kiosk (``identity`` returns one) waits for the hub's ``challenge`` and signs
it with its device key (docs/enrolment.md); a hub that sends none within ``challenge_wait_s``
is an older one and gets the device token, if there is one. Without an identity the kiosk says
hello with its token at once (a ``challenge`` that arrives meanwhile is skipped).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from protocol import messages
from protocol.codec import MAX_FRAME_BYTES
from protocol.errors import ProtocolError
from protocol.messages import AnyMessage, Challenge, Heartbeat, Hello, Welcome
from provisioning.challenge import BadChallenge, decode_nonce, sign_hello
from provisioning.identity import Identity, IdentityError

log = logging.getLogger(__name__)

CLIENT_NAME = "branch-kiosk/0.1"
# Heartbeats are answered; three silent periods mean the hub (or the path to it) is gone.
SILENT_PERIODS = 3
# While a call is being re-established, retry at least this often: a consultation's grace
# period is short, and a brief outage must heal in seconds (docs/reconnection.md).
FAST_RECONNECT_S = 1.0
# A hub that asks for a certificate sends its challenge at once; an older hub sends nothing.
CHALLENGE_WAIT_S = 2.0


class HubRejected(Exception):
    """The hub refused this kiosk's credentials; a technician must enrol it again."""


@dataclass(frozen=True)
class HubUp:
    """A session with the hub started (after a valid ``welcome``)."""

    welcome: Welcome


@dataclass(frozen=True)
class HubMessage:
    """A message from the hub (heartbeat answers are not passed on)."""

    message: AnyMessage


@dataclass(frozen=True)
class HubDown:
    """The session ended; the client is reconnecting."""

    reason: str


HubEvent = HubUp | HubMessage | HubDown


class Backoff:
    """Exponential reconnect delays with jitter: ``min * 2**n``, capped at ``max``.

    Each delay is drawn from the upper half of the current step, so kiosks that lost the hub
    at the same moment spread out without ever retrying faster than ``min / 2``.
    """

    def __init__(self, minimum: float, maximum: float, rng: random.Random | None = None) -> None:
        if not 0 < minimum <= maximum:
            raise ValueError("backoff needs 0 < minimum <= maximum")
        self.minimum = minimum
        self.maximum = maximum
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 - jitter, not secrets
        self._attempt = 0

    def next_delay(self) -> float:
        """The delay before the next attempt (and count the attempt)."""
        step = min(self.maximum, self.minimum * (1 << min(self._attempt, 32)))
        self._attempt += 1
        return step / 2 + self._rng.random() * step / 2

    def reset(self) -> None:
        """A connection succeeded: start from the minimum again."""
        self._attempt = 0


class HubClient:
    """Keeps the kiosk's signalling session with the hub."""

    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        backoff: Backoff,
        connect_timeout: float = 10.0,
        identity: Callable[[], Identity | None] | None = None,
        challenge_wait_s: float = CHALLENGE_WAIT_S,
    ) -> None:
        self._url = url
        self._token = token
        self._identity = identity if identity is not None else lambda: None
        self._challenge_wait_s = challenge_wait_s
        self._credential = "token"  # what the last hello carried, for the refusal's message
        self._backoff = backoff
        self._connect_timeout = connect_timeout
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._closing = asyncio.Event()
        self._fast = False
        self._retry_now = asyncio.Event()

    @property
    def fast_reconnect(self) -> bool:
        """Whether reconnect delays are capped at ``FAST_RECONNECT_S`` (a call is healing)."""
        return self._fast

    @fast_reconnect.setter
    def fast_reconnect(self, fast: bool) -> None:
        self._fast = fast
        if fast:
            self._retry_now.set()  # a long backoff already under way is cut short

    @property
    def connected(self) -> bool:
        """Whether a session (after ``welcome``) is open."""
        return self._ws is not None and not self._ws.closed

    async def run(self, deliver: Callable[[HubEvent], None]) -> None:
        """Connect and reconnect until ``close()``; raise ``HubRejected`` on a refused token."""
        async with aiohttp.ClientSession() as session:
            while not self._closing.is_set():
                try:
                    await self._session(session, deliver)
                except HubRejected:
                    raise
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                    log.warning("hub unreachable: %s", type(exc).__name__)
                if self._closing.is_set():
                    break
                delay = self._backoff.next_delay()
                if self._fast:
                    delay = min(delay, FAST_RECONNECT_S)
                log.info("reconnecting to the hub in %.1f s", delay)
                await self._pause(delay)

    async def _pause(self, delay: float) -> None:
        """Wait ``delay`` s, less if closing or if a fast reconnect is asked for meanwhile."""
        self._retry_now.clear()
        deadline = asyncio.get_running_loop().time() + delay
        closing = asyncio.ensure_future(self._closing.wait())
        retry = asyncio.ensure_future(self._retry_now.wait())
        try:
            while not self._closing.is_set():
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    return
                if self._retry_now.is_set():
                    self._retry_now.clear()
                    deadline = min(deadline, asyncio.get_running_loop().time() + FAST_RECONNECT_S)
                    retry = asyncio.ensure_future(self._retry_now.wait())
                    continue
                await asyncio.wait(
                    {closing, retry}, timeout=left, return_when=asyncio.FIRST_COMPLETED
                )
        finally:
            closing.cancel()
            retry.cancel()

    async def _session(
        self, session: aiohttp.ClientSession, deliver: Callable[[HubEvent], None]
    ) -> None:
        try:
            # The whole handshake is bounded: a half-open network must not hang the kiosk.
            async with asyncio.timeout(self._connect_timeout):
                ws = await session.ws_connect(
                    self._url,
                    timeout=aiohttp.ClientWSTimeout(ws_close=self._connect_timeout),
                    max_msg_size=MAX_FRAME_BYTES * 2,
                    autoping=True,
                )
        except aiohttp.WSServerHandshakeError as exc:
            # The hub checks tokens in the hello, not at the handshake: a 401/403 here comes
            # from a proxy or firewall in between (maintenance, say), so keep backing off.
            log.warning("the hub's address refused the WebSocket (HTTP %d): retrying", exc.status)
            raise
        try:
            hello = await self._hello(ws)
            if hello is None:
                return
            await ws.send_str(messages.encode(hello))
            welcome = await self._await_welcome(ws)
            if welcome is None:
                return
            self._ws = ws
            self._backoff.reset()
            log.info("connected to the hub as %s", welcome.name)
            deliver(HubUp(welcome))
            heartbeat = asyncio.create_task(self._heartbeat(ws, welcome.heartbeat_s))
            try:
                reason = await self._receive(ws, welcome.heartbeat_s, deliver)
            finally:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat
                self._ws = None
            # Our own close is the normal way out, not a problem worth a warning.
            level = logging.INFO if self._closing.is_set() else logging.WARNING
            log.log(level, "hub session ended: %s", reason)
            deliver(HubDown(reason))
        finally:
            await ws.close()

    async def _hello(self, ws: aiohttp.ClientWebSocketResponse) -> Hello | None:
        """The hello to send: signed when enrolled, else the token; None gives up this try."""
        try:
            identity = self._identity()
        except IdentityError as exc:
            raise HubRejected(str(exc)) from None
        if identity is None:
            self._credential = "token"
            return Hello(role="kiosk", token=self._token, client=CLIENT_NAME)
        try:
            msg = await ws.receive(timeout=self._challenge_wait_s)
        except TimeoutError:
            if self._token is None:
                raise HubRejected(
                    "the hub does not ask for a certificate (an older hub?) and this kiosk "
                    "has no device token: update the hub, or set token_file"
                ) from None
            log.info("the hub sent no challenge (an older hub): saying hello with the token")
            self._credential = "token"
            return Hello(role="kiosk", token=self._token, client=CLIENT_NAME)
        if msg.type is not aiohttp.WSMsgType.TEXT:
            log.warning("the hub closed the connection before its challenge")
            return None
        try:
            first = messages.decode(msg.data)
            if not isinstance(first, Challenge):
                log.warning("the hub's first frame is %s, not a challenge", first.TYPE)
                return None
            nonce = decode_nonce(first.nonce)
        except (ProtocolError, BadChallenge):
            log.warning("the hub's challenge is invalid")
            return None
        signature = sign_hello(identity.key, self._url, identity.tenant, nonce)
        self._credential = "certificate"
        return Hello(
            role="kiosk",
            client=CLIENT_NAME,
            certificate=base64.b64encode(identity.certificate_der()).decode("ascii"),
            signature=base64.b64encode(signature).decode("ascii"),
        )

    async def _await_welcome(self, ws: aiohttp.ClientWebSocketResponse) -> Welcome | None:
        deadline = asyncio.get_running_loop().time() + self._connect_timeout
        while True:
            left = max(0.0, deadline - asyncio.get_running_loop().time())
            msg = await ws.receive(timeout=left)
            if msg.type is not aiohttp.WSMsgType.TEXT:
                log.warning("the hub closed the connection before welcome")
                return None
            try:
                first = messages.decode(msg.data)
            except ProtocolError as exc:
                log.warning("the hub's first frame is invalid: %s", exc.code)
                return None
            if not isinstance(first, Challenge):  # a token hello went out before it came
                break
        if isinstance(first, Welcome):
            return first
        if isinstance(first, messages.Error) and first.code in ("unauthorized", "forbidden"):
            raise HubRejected(self._refusal())
        log.warning("the hub answered hello with %s", first.TYPE)
        return None

    def _refusal(self) -> str:
        if self._credential == "certificate":
            return (
                "the hub refused this kiosk's certificate (revoked, expired, or not this hub's "
                "tenant): enrol the device again with a fresh code (`kiosk enrol`)"
            )
        return (
            "the hub refused this kiosk's token: enrol the device again "
            "(`kiosk-hub device add`) and update the token file"
        )

    async def _receive(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        heartbeat_s: int,
        deliver: Callable[[HubEvent], None],
    ) -> str:
        while True:
            try:
                msg = await ws.receive(timeout=heartbeat_s * SILENT_PERIODS)
            except TimeoutError:
                return "the hub went silent"
            if msg.type is not aiohttp.WSMsgType.TEXT:
                return "connection closed" if not self._closing.is_set() else "kiosk stopping"
            try:
                message = messages.decode(msg.data)
            except ProtocolError as exc:
                log.warning("dropped an invalid frame from the hub: %s", exc.code)
                await self._send_on(
                    ws,
                    messages.Error(code=exc.code, message=str(exc)[:200]),  # type: ignore[arg-type]
                )
                continue
            if isinstance(message, Heartbeat):
                continue
            if isinstance(message, messages.Error):
                if message.fatal:
                    log.warning("the hub reported a fatal error: %s", message.code)
                    if message.code in ("unauthorized", "forbidden"):
                        raise HubRejected(f"the hub revoked this kiosk's {self._credential}")
                    return f"fatal error from the hub ({message.code})"
            deliver(HubMessage(message))

    async def _heartbeat(self, ws: aiohttp.ClientWebSocketResponse, period: int) -> None:
        while not ws.closed:
            await asyncio.sleep(period)
            await self._send_on(ws, Heartbeat(ts=int(time.time() * 1000)))

    async def _send_on(self, ws: aiohttp.ClientWebSocketResponse, message: AnyMessage) -> bool:
        try:
            await ws.send_str(messages.encode(message))
        except (aiohttp.ClientError, ConnectionError, RuntimeError):
            return False
        return True

    async def send(self, message: AnyMessage) -> bool:
        """Send ``message`` if a session is open; ``False`` if it was dropped (no session)."""
        ws = self._ws
        if ws is None or ws.closed:
            log.info("not connected: dropped an outgoing %s", message.TYPE)
            return False
        return await self._send_on(ws, message)

    async def close(self) -> None:
        """End the session and stop reconnecting; ``run`` returns."""
        self._closing.set()
        ws = self._ws
        if ws is not None:
            await ws.close()
