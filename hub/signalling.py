"""The two signalling WebSockets (``/ws/kiosk``, ``/ws/adviser``): queue, pairing and relay.

One ``Switchboard`` per application holds every connection, the per-tenant queues and the
calls in progress. State changes happen synchronously between awaits, so two advisers racing
for one kiosk cannot both win. The hub relays SDP and candidates between the two peers of a
consultation without storing them; the consultation log keeps only ids, times and end reasons.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, WSMsgType, web

from hub.auth import Clock, ConsoleAuth, SessionCookie
from hub.config import HubConfig
from hub.queue import ConsultationQueue, Waiting
from hub.storage import Adviser, Device, Storage, StorageError, Tenant
from hub.turn import mint as mint_turn_credential
from protocol.codec import MAX_FRAME_BYTES
from protocol.errors import MalformedFrame, ProtocolError
from protocol.messages import (
    Accept,
    Accepted,
    Answer,
    AnyMessage,
    End,
    Ended,
    EndReason,
    Error,
    ErrorCode,
    Heartbeat,
    Hello,
    IceCandidate,
    Offer,
    Queue,
    QueueEntry,
    QueueLeave,
    QueuePosition,
    QueueRequest,
    Role,
    Welcome,
    decode,
    encode,
)

log = logging.getLogger("hub.signalling")

# Close codes (4000-4999 are ours to define; the kiosk and console react to them).
CLOSE_SHUTDOWN = int(WSCloseCode.GOING_AWAY)  # 1001: the hub stops
CLOSE_UNAUTHORIZED = int(WSCloseCode.POLICY_VIOLATION)  # 1008: bad or missing hello
CLOSE_REPLACED = 4001  # the same device connected again
CLOSE_SILENT = 4002  # no frame for three heartbeat periods
CLOSE_LOGGED_OUT = 4003  # the adviser's session ended

# Frames between MAX_FRAME_BYTES and this get error{too_large} and the connection goes on;
# beyond it aiohttp closes with 1009 rather than buffering without bound.
MAX_WS_MESSAGE = 2 * MAX_FRAME_BYTES
SEND_TIMEOUT_S = 5.0  # a peer that does not read for this long is dropped
QUEUE_ENTRIES_MAX = 1000  # protocol limit of queue.entries

RELAYED = (Offer, Answer, IceCandidate)


@dataclass(eq=False)
class Peer:
    """One authenticated connection: a kiosk or an adviser console."""

    ws: web.WebSocketResponse
    role: Role
    name: str
    tenant: Tenant
    device: Device | None = None
    adviser: Adviser | None = None
    session_digest: str | None = None
    waiting: str | None = None  # consultation id while the kiosk is queued
    call: Call | None = None


@dataclass(eq=False)
class Call:
    """A kiosk and an adviser paired for one consultation."""

    consultation_id: str
    kiosk: Peer
    adviser: Peer

    def other(self, peer: Peer) -> Peer:
        """The peer at the other end."""
        return self.adviser if peer is self.kiosk else self.kiosk


@dataclass
class _Outbox:
    """Messages decided while the state changed, sent once it is consistent again."""

    messages: list[tuple[Peer, AnyMessage]] = field(default_factory=list)
    tenants: set[int] = field(default_factory=set)


class Switchboard:
    """Connections, queues and calls of every tenant."""

    def __init__(
        self, config: HubConfig, storage: Storage, clock: Clock, auth: ConsoleAuth
    ) -> None:
        self._config = config
        self._storage = storage
        self._clock = clock
        self._auth = auth
        self._queues: dict[int, ConsultationQueue] = {}
        self._waiting: dict[str, Peer] = {}
        self._calls: dict[str, Call] = {}
        self._kiosks: dict[int, Peer] = {}  # device id -> its current connection
        self._advisers: set[Peer] = set()
        self._sockets: set[web.WebSocketResponse] = set()
        self._closing: set[asyncio.Task[bool]] = set()
        auth.logout_listeners.append(self.session_ended)

    # -- endpoints --------------------------------------------------------

    async def kiosk_endpoint(self, request: web.Request) -> web.StreamResponse:
        """``GET /ws/kiosk``: authenticated by the device token in the first frame."""
        ws = await self._open(request)
        await self._serve(ws, self._kiosk_hello)
        return ws

    async def adviser_endpoint(self, request: web.Request) -> web.StreamResponse:
        """``GET /ws/adviser``: needs a session cookie and our own Origin before upgrading."""
        if not self._same_origin(request):
            raise web.HTTPForbidden(text="cross-origin WebSocket refused")
        current = self._auth.current_session(request)
        if current is None:
            raise web.HTTPUnauthorized(text="log in first")
        ws = await self._open(request)

        async def hello(ws: web.WebSocketResponse, msg: Hello) -> Peer | None:
            return await self._adviser_hello(ws, msg, current)

        await self._serve(ws, hello)
        return ws

    def _same_origin(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if not origin:
            return False
        secure = request.secure
        if self._config.trust_proxy:
            proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
            secure = secure or proto == "https"
        expected = f"{'https' if secure else 'http'}://{request.host}"
        return hmac.compare_digest(origin.lower().encode(), expected.lower().encode())

    async def _open(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_WS_MESSAGE, timeout=SEND_TIMEOUT_S)
        await ws.prepare(request)
        return ws

    # -- connection loop --------------------------------------------------

    async def _serve(
        self,
        ws: web.WebSocketResponse,
        hello: Callable[[web.WebSocketResponse, Hello], Awaitable[Peer | None]],
    ) -> None:
        self._sockets.add(ws)
        peer: Peer | None = None
        silence_s = 3 * self._config.heartbeat_s
        try:
            while not ws.closed:
                try:
                    frame = await ws.receive(timeout=silence_s)
                except TimeoutError:
                    await ws.close(code=CLOSE_SILENT, message=b"no heartbeat")
                    break
                if frame.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                    break
                if frame.type is WSMsgType.ERROR:
                    break
                message: AnyMessage | None = None
                problem: ProtocolError | None = None
                if frame.type is WSMsgType.TEXT:
                    try:
                        message = decode(frame.data)
                    except ProtocolError as exc:
                        problem = exc
                else:
                    problem = MalformedFrame("binary frames are not part of the protocol")
                if peer is None:
                    peer = await self._authenticate(ws, message, problem, hello)
                    if peer is None:
                        break
                elif problem is not None:
                    await self._send_error(ws, _code(problem.code), str(problem))
                elif message is not None:
                    await self._dispatch_safely(peer, message)
        finally:
            self._sockets.discard(ws)
            if peer is not None:
                await self._leave(peer, "peer_gone")

    async def _authenticate(
        self,
        ws: web.WebSocketResponse,
        message: AnyMessage | None,
        problem: ProtocolError | None,
        hello: Callable[[web.WebSocketResponse, Hello], Awaitable[Peer | None]],
    ) -> Peer | None:
        if problem is not None:
            await self._refuse(ws, _code(problem.code), str(problem))
            return None
        if not isinstance(message, Hello):
            await self._refuse(ws, "unauthorized", "send hello first")
            return None
        return await hello(ws, message)

    async def _refuse(self, ws: web.WebSocketResponse, code: ErrorCode, text: str) -> None:
        await self._send_error(ws, code, text, fatal=True)
        await ws.close(code=CLOSE_UNAUTHORIZED, message=b"unauthorized")

    async def _kiosk_hello(self, ws: web.WebSocketResponse, msg: Hello) -> Peer | None:
        device = None
        if msg.role == "kiosk" and msg.token:
            device = self._storage.device_for_token(msg.token)
        if device is None:
            await self._refuse(ws, "unauthorized", "unknown or revoked device token")
            return None
        old = self._kiosks.get(device.id)
        if old is not None:
            # The device reconnected (network change, restart): the newest connection wins.
            await self._leave(old, "peer_gone")
            self._close_later(old.ws, CLOSE_REPLACED, b"replaced by a newer connection")
        peer = Peer(ws=ws, role="kiosk", name=device.name, tenant=device.tenant, device=device)
        self._kiosks[device.id] = peer
        await self._send(peer, self._welcome(peer))
        log.info("kiosk connected (device id %d, tenant id %d)", device.id, device.tenant.id)
        return peer

    async def _adviser_hello(
        self, ws: web.WebSocketResponse, msg: Hello, cookie: SessionCookie
    ) -> Peer | None:
        session = self._storage.session(cookie.session_id, now=self._clock())
        csrf_ok = (
            session is not None
            and msg.csrf is not None
            and hmac.compare_digest(session.csrf.encode(), msg.csrf.encode())
        )
        if msg.role != "adviser" or session is None or not csrf_ok:
            await self._refuse(ws, "unauthorized", "missing or wrong CSRF token, or logged out")
            return None
        adviser = session.adviser
        peer = Peer(
            ws=ws,
            role="adviser",
            name=adviser.name,
            tenant=adviser.tenant,
            adviser=adviser,
            session_digest=cookie.digest,
        )
        self._advisers.add(peer)
        await self._send(peer, self._welcome(peer))
        await self._send(peer, self._queue_message(adviser.tenant.id))
        log.info("adviser connected (adviser id %d, tenant id %d)", adviser.id, adviser.tenant.id)
        return peer

    def _welcome(self, peer: Peer) -> Welcome:
        servers = self._config.ice_servers
        turn = self._config.turn
        if turn is not None:
            servers = (*servers, mint_turn_credential(turn, now=self._clock()))
        return Welcome(
            role=peer.role,
            name=peer.name,
            tenant=peer.tenant.name,
            heartbeat_s=self._config.heartbeat_s,
            ice_servers=servers,
            ice_transport_policy="all" if turn is None else turn.policy,
        )

    # -- messages ---------------------------------------------------------

    async def _dispatch_safely(self, peer: Peer, message: AnyMessage) -> None:
        try:
            await self._dispatch(peer, message)
        except Exception:  # a bug must not take the connection (or the hub) down
            log.exception("internal error handling a %s frame", type(message).TYPE)
            await self._send_error(peer.ws, "internal", "the hub failed to handle that frame")

    async def _dispatch(self, peer: Peer, message: AnyMessage) -> None:
        match message:
            case Heartbeat():
                await self._send(peer, Heartbeat(ts=max(0, int(self._clock() * 1000))))
            case QueueRequest() if peer.role == "kiosk":
                await self._queue_request(peer)
            case QueueLeave() if peer.role == "kiosk":
                if peer.waiting is None:
                    await self._send_error(peer.ws, "not_found", "not in the queue")
                else:
                    await self._flush(self._unqueue(peer, "customer_left"))
            case Accept() if peer.role == "adviser":
                await self._accept(peer, message.consultation_id)
            case Offer() | Answer() | IceCandidate():
                await self._relay(peer, message)
            case End():
                await self._end(peer, message.consultation_id, message.reason)
            case Hello():
                await self._send_error(peer.ws, "protocol_error", "already authenticated")
            case _:
                await self._send_error(
                    peer.ws, "forbidden", f"a {peer.role} may not send {type(message).TYPE}"
                )

    async def _queue_request(self, kiosk: Peer) -> None:
        if kiosk.waiting is not None or kiosk.call is not None:
            await self._send_error(kiosk.ws, "conflict", "already queued or in a consultation")
            return
        assert kiosk.device is not None  # noqa: S101 - kiosks always carry their device
        consultation_id = secrets.token_urlsafe(16)
        now = self._clock()
        self._queue(kiosk.tenant.id).add(Waiting(consultation_id, kiosk.name, now))
        self._waiting[consultation_id] = kiosk
        kiosk.waiting = consultation_id
        self._record(self._storage.consultation_queued, consultation_id, kiosk.device, now=now)
        await self._flush(_Outbox(tenants={kiosk.tenant.id}))

    async def _accept(self, adviser: Peer, consultation_id: str) -> None:
        if adviser.call is not None:
            await self._send_error(adviser.ws, "conflict", "already in a consultation")
            return
        kiosk = self._waiting.get(consultation_id)
        if kiosk is None or kiosk.tenant.id != adviser.tenant.id:
            taken = self._calls.get(consultation_id)
            if taken is not None and taken.kiosk.tenant.id == adviser.tenant.id:
                await self._send_error(adviser.ws, "conflict", "another adviser took it")
            else:
                await self._send_error(adviser.ws, "not_found", "no such waiting consultation")
            return
        assert adviser.adviser is not None  # noqa: S101 - advisers always carry their record
        self._queue(kiosk.tenant.id).remove(consultation_id)
        del self._waiting[consultation_id]
        kiosk.waiting = None
        call = Call(consultation_id, kiosk, adviser)
        kiosk.call = adviser.call = call
        self._calls[consultation_id] = call
        self._record(
            self._storage.consultation_accepted,
            consultation_id,
            adviser.adviser,
            now=self._clock(),
        )
        outbox = _Outbox(tenants={kiosk.tenant.id})
        outbox.messages.append(
            (kiosk, Accepted(consultation_id=consultation_id, peer=adviser.name))
        )
        outbox.messages.append(
            (adviser, Accepted(consultation_id=consultation_id, peer=kiosk.name))
        )
        await self._flush(outbox)

    async def _relay(self, peer: Peer, message: Offer | Answer | IceCandidate) -> None:
        call = peer.call
        if call is None or call.consultation_id != message.consultation_id:
            await self._send_error(peer.ws, "not_found", "not in that consultation")
            return
        await self._send(call.other(peer), message)

    async def _end(self, peer: Peer, consultation_id: str, reason: EndReason) -> None:
        if peer.call is not None and peer.call.consultation_id == consultation_id:
            await self._flush(self._hang_up(peer, reason))
        elif peer.waiting is not None and peer.waiting == consultation_id:
            await self._flush(self._unqueue(peer, reason))
        else:
            await self._send_error(peer.ws, "not_found", "not in that consultation")

    # -- state changes (synchronous) ---------------------------------------

    def _queue(self, tenant_id: int) -> ConsultationQueue:
        return self._queues.setdefault(tenant_id, ConsultationQueue())

    def _unqueue(self, kiosk: Peer, reason: EndReason) -> _Outbox:
        consultation_id = kiosk.waiting
        if consultation_id is None:
            return _Outbox()
        kiosk.waiting = None
        self._queue(kiosk.tenant.id).remove(consultation_id)
        self._waiting.pop(consultation_id, None)
        self._record(self._storage.consultation_ended, consultation_id, reason, now=self._clock())
        return _Outbox(tenants={kiosk.tenant.id})

    def _hang_up(self, peer: Peer, reason: EndReason) -> _Outbox:
        call = peer.call
        if call is None:
            return _Outbox()
        call.kiosk.call = call.adviser.call = None
        self._calls.pop(call.consultation_id, None)
        self._record(
            self._storage.consultation_ended, call.consultation_id, reason, now=self._clock()
        )
        ended = Ended(consultation_id=call.consultation_id, reason=reason)
        return _Outbox(messages=[(call.other(peer), ended)])

    async def _leave(self, peer: Peer, reason: EndReason) -> None:
        """Take a peer out of the queue, its call and the registries (idempotent)."""
        outbox = self._unqueue(peer, reason)
        hung_up = self._hang_up(peer, reason)
        outbox.messages.extend(hung_up.messages)
        if peer.device is not None and self._kiosks.get(peer.device.id) is peer:
            del self._kiosks[peer.device.id]
        self._advisers.discard(peer)
        await self._flush(outbox)

    def _record(self, write: Callable[..., None], *args: object, now: float) -> None:
        # The consultation log is bookkeeping: a database hiccup must not break a live call.
        try:
            write(*args, now=now)
        except (sqlite3.Error, StorageError):
            log.exception("could not record a consultation event")

    # -- sending ----------------------------------------------------------

    def _queue_message(self, tenant_id: int) -> Queue:
        now = self._clock()
        entries = tuple(
            QueueEntry(
                consultation_id=w.consultation_id,
                device=w.device,
                position=position,
                waiting_s=min(10_000_000, max(0, int(now - w.queued_at))),
            )
            for position, w in enumerate(self._queue(tenant_id).snapshot(), start=1)
            if position <= QUEUE_ENTRIES_MAX
        )
        return Queue(entries=entries)

    async def _flush(self, outbox: _Outbox) -> None:
        for peer, message in outbox.messages:
            await self._send(peer, message)
        for tenant_id in outbox.tenants:
            await self._announce(tenant_id)

    async def _announce(self, tenant_id: int) -> None:
        """Send every waiting kiosk its position and every adviser the queue of a tenant."""
        snapshot = self._queue(tenant_id).snapshot()
        for position, entry in enumerate(snapshot, start=1):
            kiosk = self._waiting.get(entry.consultation_id)
            if kiosk is not None:
                update = QueuePosition(
                    consultation_id=entry.consultation_id,
                    position=position,
                    waiting=len(snapshot),
                )
                await self._send(kiosk, update)
        queue = self._queue_message(tenant_id)
        for adviser in list(self._advisers):
            if adviser.tenant.id == tenant_id:
                await self._send(adviser, queue)

    async def _send(self, peer: Peer, message: AnyMessage) -> None:
        await self._send_text(peer.ws, encode(message))

    async def _send_error(
        self, ws: web.WebSocketResponse, code: ErrorCode, text: str, *, fatal: bool = False
    ) -> None:
        await self._send_text(ws, encode(Error(code=code, message=text[:500], fatal=fatal)))

    async def _send_text(self, ws: web.WebSocketResponse, text: str) -> None:
        if ws.closed:
            return
        try:
            await asyncio.wait_for(ws.send_str(text), SEND_TIMEOUT_S)
        except TimeoutError:
            self._close_later(ws, CLOSE_SILENT, b"not reading")
        except ConnectionError:
            pass  # the peer is gone; its own loop cleans up

    def _close_later(self, ws: web.WebSocketResponse, code: int, reason: bytes) -> None:
        # Closing waits for the peer's close frame; do not make the current peer wait for it.
        task = asyncio.get_running_loop().create_task(ws.close(code=code, message=reason))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    # -- lifecycle --------------------------------------------------------

    async def session_ended(self, session_digest: str) -> None:
        """Close the console connections of a session that logged out."""
        for adviser in list(self._advisers):
            if adviser.session_digest == session_digest:
                await self._leave(adviser, "peer_gone")
                self._close_later(adviser.ws, CLOSE_LOGGED_OUT, b"logged out")

    async def shutdown(self) -> None:
        """Close every WebSocket with 1001 (going away)."""
        sockets = list(self._sockets)
        await asyncio.gather(
            *(ws.close(code=CLOSE_SHUTDOWN, message=b"hub shutting down") for ws in sockets),
            return_exceptions=True,
        )
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    def stats(self) -> dict[str, int]:
        """Counts for tests and health checks (no names)."""
        return {
            "sockets": len(self._sockets),
            "kiosks": len(self._kiosks),
            "advisers": len(self._advisers),
            "waiting": len(self._waiting),
            "calls": len(self._calls),
        }


def _code(code: str) -> ErrorCode:
    # ProtocolError codes are a subset of ErrorCode; anything else is reported generically.
    known: dict[str, ErrorCode] = {
        "malformed": "malformed",
        "too_large": "too_large",
        "unsupported_version": "unsupported_version",
        "unknown_type": "unknown_type",
        "unknown_field": "unknown_field",
        "missing_field": "missing_field",
        "wrong_type": "wrong_type",
        "invalid_value": "invalid_value",
    }
    return known.get(code, "protocol_error")


SWITCHBOARD = web.AppKey("switchboard", Switchboard)
