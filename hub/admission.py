"""Bound the connections that have not authenticated yet, so nobody can exhaust the hub's.

"Pending" connections are TCP connections that have not sent a complete request yet and
WebSockets that have not said hello. They are counted globally and per source address (the TCP
peer, which a client cannot forge; IPv6 by its /64). A connection over a limit is answered 503
and closed as soon as it is accepted, before aiohttp sees it; a WebSocket upgrade on a
keep-alive connection is answered 503 by the middleware. Connections that sent a request or
said hello are never counted, so authenticated traffic does not wait behind pending ones.

Trusted reverse proxies (``--trusted-proxy``) are exempt from the per-address limit (every
client behind them shares their address) but count towards the global one.

``AdmissionLimiter`` is the pure counter; ``Gate`` wires it into aiohttp (a protocol wrapper
on the listening socket, a middleware, ``said_hello``); ``HubSite`` and ``make_runner`` are what
``kiosk-hub serve`` and the tests start the hub with. Pressure (a limit hit, ``accept()`` failing
for lack of file descriptors) is logged at most once per interval with a count.
"""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import ipaddress
import logging
import resource
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from aiohttp.typedefs import Handler

from hub.access_log import HubAccessLogger, server_logger
from hub.auth import throttle_key
from hub.config import HubConfig
from hub.forwarded import IPNetwork
from hub.log_throttle import ThrottledLog

log = logging.getLogger("hub.admission")

Refusal = Literal["total", "per_address"]
# accept() errors asyncio survives by pausing the listener for a second (selector_events.py)
ACCEPT_PRESSURE = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_REFUSED = b"too many connections waiting; retry\r\n"
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Retry-After: 1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
    % (len(_REFUSED), _REFUSED)
)
_MESSAGES: dict[Refusal, str] = {
    "per_address": "refused connections: one address has too many that sent no request or "
    "hello yet (--max-pending-per-address)",
    "total": "refused connections: too many in all sent no request or hello yet "
    "(--max-pending-connections)",
}


@dataclass(frozen=True)
class Slot:
    """A pending connection's place; ``key`` None when exempt from the per-address limit."""

    key: str | None


class AdmissionLimiter:
    """Counts pending connections; refuses one over ``total`` or ``per_address``."""

    def __init__(self, *, total: int, per_address: int, exempt: tuple[IPNetwork, ...] = ()) -> None:
        if total < 1 or per_address < 1:
            raise ValueError("admission limits must be at least 1")
        self.total = total
        self.per_address = per_address
        self._exempt = exempt
        self._pending = 0
        self._by_key: dict[str, int] = {}

    @property
    def pending(self) -> int:
        """Pending connections in all."""
        return self._pending

    def pending_from(self, address: str) -> int:
        """Pending connections counted against ``address`` (its /64 for IPv6)."""
        return self._by_key.get(throttle_key(address), 0)

    @property
    def tracked_addresses(self) -> int:
        """Addresses (IPv6: /64s) with an entry: only those with a pending connection."""
        return len(self._by_key)

    def enter(self, address: str) -> Slot | Refusal:
        """Take a slot for a new connection from ``address``, or say which limit refuses it."""
        if self._pending >= self.total:
            return "total"
        key = None if self._is_exempt(address) else throttle_key(address)
        if key is not None:
            held = self._by_key.get(key, 0)
            if held >= self.per_address:
                return "per_address"
            self._by_key[key] = held + 1
        self._pending += 1
        return Slot(key)

    def leave(self, slot: Slot) -> None:
        """Give a slot back (once per slot: the caller keeps track)."""
        if self._pending < 1:
            raise ValueError("leave() without a matching enter()")
        self._pending -= 1
        if slot.key is not None:
            held = self._by_key[slot.key] - 1
            if held:
                self._by_key[slot.key] = held
            else:
                del self._by_key[slot.key]  # no entry left behind per address ever seen

    def _is_exempt(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(throttle_key(address))
        except ValueError:
            return False
        return any(ip in network for network in self._exempt)


class Gate:
    """The limiter on a live server: which transport holds which slot, and the pressure log."""

    def __init__(
        self, limiter: AdmissionLimiter, pressure: ThrottledLog, *, first_request_s: float = 10.0
    ) -> None:
        self.limiter = limiter
        self.pressure = pressure
        self.first_request_s = first_request_s
        self._held: dict[asyncio.BaseTransport, Slot] = {}
        # Connections that have not sent a complete request yet, each with its deadline.
        self._deadlines: dict[asyncio.BaseTransport, asyncio.TimerHandle] = {}
        self.refused = 0
        self.accept_failures = 0
        self.expired = 0

    def admit(self, transport: asyncio.BaseTransport) -> bool:
        """Give ``transport`` a pending slot; False (pressure logged) when a limit refuses."""
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        slot = self.limiter.enter(address)
        if isinstance(slot, Slot):
            self._held[transport] = slot
            return True
        self.refused += 1
        self.pressure.hit(slot, _MESSAGES[slot])
        return False

    def await_request(self, transport: asyncio.BaseTransport) -> None:
        """Close ``transport`` unless a complete request arrives within ``first_request_s``."""
        loop = asyncio.get_running_loop()
        self._deadlines[transport] = loop.call_later(self.first_request_s, self._expire, transport)

    def request_seen(self, transport: asyncio.BaseTransport | None) -> None:
        """A complete request arrived on ``transport``: its first-request deadline is off."""
        handle = self._deadlines.pop(transport, None) if transport is not None else None
        if handle is not None:
            handle.cancel()

    def _expire(self, transport: asyncio.BaseTransport) -> None:
        if self._deadlines.pop(transport, None) is None:
            return
        self.expired += 1
        self.pressure.hit(
            "silent",
            f"closed connections that sent no complete request within {self.first_request_s:g} s "
            "(--first-request-timeout)",
        )
        transport.close()  # connection_lost follows and gives the pending slot back

    def holds(self, transport: asyncio.BaseTransport) -> bool:
        """Whether ``transport`` still counts as pending."""
        return transport in self._held

    def release(self, transport: asyncio.BaseTransport | None) -> None:
        """``transport`` sent its request, said hello or closed; no-op if it held no slot."""
        slot = self._held.pop(transport, None) if transport is not None else None
        if slot is not None:
            self.limiter.leave(slot)

    def forget(self, transport: asyncio.BaseTransport | None) -> None:
        """``transport`` closed: no slot, no deadline left behind."""
        self.request_seen(transport)
        self.release(transport)

    def accept_failed(self, exc: OSError) -> None:
        """``accept()`` on our listening socket failed for lack of resources."""
        self.accept_failures += 1
        name = errno.errorcode.get(exc.errno or 0, "unknown")
        self.pressure.hit(
            f"accept_{name}",
            f"accept() failed with {name} (file descriptors or memory exhausted); asyncio "
            "retries each second; raise LimitNOFILE or lower --max-pending-connections",
        )

    def stats(self) -> dict[str, int]:
        """Counts for tests and diagnostics."""
        return {
            "pending": self.limiter.pending,
            "refused": self.refused,
            "accept_failures": self.accept_failures,
            "expired": self.expired,
        }

    def wrap(self, factory: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        """A protocol factory for ``loop.create_server`` that admits before ``factory`` runs."""
        return lambda: _AdmittingProtocol(self, factory)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """A complete request ends pending, except a WebSocket upgrade (pending until hello)."""
        transport = request.transport
        self.request_seen(transport)
        if request.headers.get("Upgrade", "").lower() != "websocket":
            self.release(transport)
            return await handler(request)
        if transport is not None and not self.holds(transport) and not self.admit(transport):
            # an upgrade on a keep-alive connection: pending again until its hello
            refusal = web.Response(
                status=503, body=_REFUSED, content_type="text/plain", headers={"Retry-After": "1"}
            )
            refusal.force_close()
            return refusal
        try:
            return await handler(request)
        finally:
            self.release(transport)  # refused before the upgrade, or closed without hello


GATE: web.AppKey[Gate] = web.AppKey("admission_gate")
SERVER_LOG = web.AppKey("server_log", logging.Logger)


def said_hello(request: web.Request) -> None:
    """The WebSocket of ``request`` authenticated: it no longer counts as pending."""
    gate = request.app.get(GATE)
    if gate is not None:
        gate.release(request.transport)


class _AdmittingProtocol(asyncio.Protocol):
    """Stands in front of aiohttp's protocol: refused connections never reach aiohttp."""

    def __init__(self, gate: Gate, factory: Callable[[], asyncio.Protocol]) -> None:
        self._gate = gate
        self._factory = factory
        self._inner: asyncio.Protocol | None = None
        self._transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self._gate.admit(transport):
            if isinstance(transport, asyncio.WriteTransport):
                transport.write(REFUSAL)
            transport.close()
            return
        self._transport = transport
        self._gate.await_request(transport)
        self._inner = self._factory()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._inner is not None:
            self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._inner is not None else None

    def pause_writing(self) -> None:
        if self._inner is not None:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if self._inner is not None:
            self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._inner is None:
            return
        self._gate.forget(self._transport)
        self._inner.connection_lost(exc)


def install(app: web.Application, config: HubConfig) -> Gate:
    """Put a ``Gate`` and the throttled server log on ``app`` (before it starts)."""
    limiter = AdmissionLimiter(
        total=config.max_pending_connections,
        per_address=config.max_pending_per_address,
        exempt=config.trusted_proxies,
    )
    pressure = ThrottledLog(log, interval_s=config.log_repeat_interval_s)
    malformed = ThrottledLog(
        logging.getLogger("hub.http"), interval_s=config.log_repeat_interval_s, level=logging.INFO
    )
    gate = Gate(limiter, pressure, first_request_s=config.first_request_timeout_s)
    app[GATE] = gate
    app[SERVER_LOG] = server_logger(malformed)
    app.middlewares.append(gate.middleware)

    async def flush(_app: web.Application) -> None:
        pressure.flush()  # counts still waiting for their interval are not lost at shutdown
        malformed.flush()

    app.on_cleanup.append(flush)
    return gate


def make_runner(app: web.Application, **kwargs: Any) -> web.AppRunner:
    """An ``AppRunner`` with the hub's access log and its throttled error log."""
    if SERVER_LOG in app:
        kwargs.setdefault("logger", app[SERVER_LOG])
    return web.AppRunner(app, access_log_class=HubAccessLogger, **kwargs)


class HubSite(web.BaseSite):
    """A TCP site whose connections pass the app's ``Gate`` (else like ``web.TCPSite``).

    While it runs, ``accept()`` failures on its socket are counted into the pressure log
    instead of asyncio logging a traceback for each.
    """

    def __init__(self, runner: web.AppRunner, host: str, port: int, *, backlog: int = 128):
        super().__init__(runner, backlog=backlog)
        self._host = host
        self._port = port
        self._gate = runner.app.get(GATE)
        self._previous: Any = None
        self._listener: asyncio.Server | None = None

    @property
    def name(self) -> str:
        """``http://host:port`` as bound."""
        return f"http://{self._host}:{self.port}"

    @property
    def port(self) -> int:
        """The bound port (the requested one before ``start``)."""
        if self._listener is not None and self._listener.sockets:
            return int(self._listener.sockets[0].getsockname()[1])
        return self._port

    async def start(self) -> None:
        """Listen; refuse pending connections over the limits."""
        await super().start()
        factory = self._runner.server
        if factory is None:
            raise RuntimeError("call runner.setup() before starting a site")
        if self._gate is not None:
            wrapped: Callable[[], asyncio.Protocol] = self._gate.wrap(factory)
        else:
            wrapped = factory
        loop = asyncio.get_running_loop()
        self._listener = await loop.create_server(
            wrapped, self._host, self._port, backlog=self._backlog
        )
        self._server = self._listener  # BaseSite closes it; the runner lists its addresses
        self._previous = loop.get_exception_handler()
        loop.set_exception_handler(self._loop_error)

    async def stop(self) -> None:
        """Stop listening and give the loop's exception handler back."""
        loop = asyncio.get_running_loop()
        if loop.get_exception_handler() == self._loop_error:
            loop.set_exception_handler(self._previous)
        await super().stop()

    def _loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc, sock = context.get("exception"), context.get("socket")
        if (
            self._gate is not None
            and isinstance(exc, OSError)
            and exc.errno in ACCEPT_PRESSURE
            and sock is not None
            and sock.fileno() in self._fds()
        ):
            self._gate.accept_failed(exc)
            return
        if self._previous is not None:
            self._previous(loop, context)
        else:
            loop.default_exception_handler(context)

    def _fds(self) -> set[int]:
        listener = self._listener
        return {s.fileno() for s in listener.sockets} if listener is not None else set()


def fit_file_limit(config: HubConfig) -> HubConfig:
    """Raise the file limit; if pending connections could still use half of it, lower their limit.

    Otherwise a flood of pending connections from many addresses would take every descriptor
    and no kiosk could connect (accept() failing with EMFILE) until they time out.
    """
    files = raise_file_limit()
    if files >= 2 * config.max_pending_connections:
        return config
    lowered = max(1, files // 2)
    log.warning(
        "only %d file descriptors: --max-pending-connections lowered from %d to %d (raise "
        "LimitNOFILE or `ulimit -n`)",
        files,
        config.max_pending_connections,
        lowered,
    )
    return dataclasses.replace(config, max_pending_connections=lowered)


def raise_file_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard one (each connection is a descriptor).

    Only when soft < hard: under systemd ``LimitNOFILE=`` sets both, and the unit's system call
    filter forbids setrlimit. Returns the soft limit in force afterwards.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (OSError, ValueError) as exc:
            log.warning("could not raise the file descriptor limit from %d: %s", soft, exc)
    return soft
