"""The two signalling WebSockets (``/ws/kiosk``, ``/ws/adviser``): queue, pairing and relay.

One ``Switchboard`` per application holds every connection, the per-tenant queues and the
calls in progress. State changes happen synchronously between awaits, so two advisers racing
for one kiosk cannot both win. The hub relays SDP and candidates between the two peers of a
consultation without storing them; the consultation log keeps only ids, times and end reasons.

Sending never waits on the receiver: each peer has a bounded queue of outgoing frames drained by
its own writer task, so a peer that does not read delays nobody else (and is dropped when its
queue overflows or a write stalls). Queue announcements are coalesced: a peer that has one
pending gets the state as it is when the writer gets to it, never an older snapshot.

A consultation outlives the connections of its parties (docs/reconnection.md): a party whose
connection closes is "away" for a grace period, and comes back with a single-use resume token
(only its SHA-256 is stored, in SQLite, so a restarted hub restores the live consultations).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import WSCloseCode, WSMsgType, web

from hub.admission import said_hello
from hub.auth import Clock, ConsoleAuth, SessionCookie
from hub.config import HubConfig
from hub.queue import ConsultationQueue, Waiting
from hub.storage import (
    DEFAULT_MAX_FILE_BYTES,
    Adviser,
    Device,
    Storage,
    StorageError,
    Tenant,
    secret_digest,
)
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
    PeerAway,
    PeerBack,
    Queue,
    QueueEntry,
    QueueLeave,
    QueuePosition,
    QueueRequest,
    Resume,
    Resumed,
    ResumeGrant,
    Role,
    SasCommit,
    Status,
    Welcome,
    decode,
    encode,
)

log = logging.getLogger("hub.signalling")

# Close codes (4000-4999 are ours to define; the kiosk and console react to them).
CLOSE_SHUTDOWN = int(WSCloseCode.GOING_AWAY)  # 1001: the hub stops
CLOSE_UNAUTHORIZED = int(WSCloseCode.POLICY_VIOLATION)  # 1008: bad/missing hello, revoked
CLOSE_REPLACED = 4001  # the same device connected again (or the same adviser resumed elsewhere)
CLOSE_SILENT = 4002  # no frame for three heartbeat periods, or not reading what we send
CLOSE_LOGGED_OUT = 4003  # the adviser's session ended (logout, expiry, password change)

# Frames between MAX_FRAME_BYTES and this get error{too_large} and the connection goes on;
# beyond it aiohttp closes with 1009 rather than buffering without bound.
MAX_WS_MESSAGE = 2 * MAX_FRAME_BYTES
SEND_TIMEOUT_S = 5.0  # a peer that does not read for this long is dropped
OUTGOING_MAX = 64  # frames waiting for one peer's writer; beyond that the peer is dropped
# Advisers see at most the first QUEUE_ENTRIES_SENT waiting kiosks (the protocol would allow
# 1000, but 1000 long names do not fit in one 64 KiB frame); fewer if the frame would not fit.
QUEUE_ENTRIES_SENT = 200

RELAYED = (SasCommit, Offer, Answer, IceCandidate)
ROLES: tuple[Role, ...] = ("kiosk", "adviser")
# The one answer to every refused resume, whatever the reason (nothing to learn from it).
RESUME_REFUSED = "no such consultation to resume"


class _Announce:
    """Placeholder in a peer's outgoing queue: send the queue state as it is by then."""


ANNOUNCE = _Announce()


def _outgoing() -> asyncio.Queue[str | _Announce]:
    return asyncio.Queue(OUTGOING_MAX)


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
    token_digest: str | None = None  # the kiosk's device token, hashed (to re-check it)
    checked_at: float = 0.0  # when the device token or session was last found valid
    waiting: str | None = None  # consultation id while the kiosk is queued
    out_of_service: str | None = None  # the kiosk's reason code while it cannot serve
    call: Call | None = None
    # The consultation this connection was in when it ended: both sides send `end` (the console
    # also says `bye` end to end, and the kiosk answers it with its own), so whichever arrives
    # second finds it over; that is the expected race, not an error.
    last_ended: str | None = None
    outgoing: asyncio.Queue[str | _Announce] = field(default_factory=_outgoing)
    announce_pending: bool = False  # an ANNOUNCE is in ``outgoing``
    writer: asyncio.Task[None] | None = None
    dropped: bool = False  # closed by the hub for not reading


@dataclass(eq=False)
class Call:
    """A kiosk and an adviser paired for one live consultation.

    The parties are known by id (device, adviser); ``kiosk`` and ``adviser`` are their current
    connections, None while that party is away (its grace timer is in ``grace``).
    """

    consultation_id: str
    tenant_id: int
    device_id: int
    kiosk_name: str
    adviser_id: int
    adviser_name: str
    kiosk: Peer | None = None
    adviser: Peer | None = None
    grace: dict[Role, asyncio.TimerHandle] = field(default_factory=dict)

    def slot(self, role: Role) -> Peer | None:
        """The connection of that side, None while it is away."""
        return self.kiosk if role == "kiosk" else self.adviser

    def attach(self, role: Role, peer: Peer | None) -> None:
        """Put a connection into (or, with None, take it out of) that side."""
        if role == "kiosk":
            self.kiosk = peer
        else:
            self.adviser = peer

    def other(self, peer: Peer) -> Peer | None:
        """The connection at the other end, None while that side is away."""
        return self.slot(_opposite(peer.role))

    def principal(self, role: Role) -> int:
        """The device id (kiosk) or adviser id of that side."""
        return self.device_id if role == "kiosk" else self.adviser_id

    def name(self, role: Role) -> str:
        """The display name of that side."""
        return self.kiosk_name if role == "kiosk" else self.adviser_name


@dataclass(frozen=True)
class Party:
    """Who a caller is in a live consultation (for the relay's access checks)."""

    role: Role
    tenant_id: int


ConsultationEndListener = Callable[[str], None]


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
        # live consultations by party: an away adviser is still busy, an away kiosk not free
        self._device_calls: dict[int, Call] = {}
        self._adviser_calls: dict[int, Call] = {}
        self._stopping = False
        # told the id of every consultation that ends (the relay drops its blobs)
        self.end_listeners: list[ConsultationEndListener] = []
        self._kiosks: dict[int, Peer] = {}  # device id -> its current connection
        self._advisers: set[Peer] = set()
        self._sockets: set[web.WebSocketResponse] = set()
        self._closing: set[asyncio.Task[bool]] = set()
        auth.logout_listeners.append(self.session_ended)

    def restore(self) -> int:
        """After a (re)start: bring back the consultations live in the database.

        Each waits for its parties' ``resume``; whoever does not come back within the grace
        period (counted from now) ends it. Queued, never accepted ones are ended: a new hub's
        queue starts empty and kiosks queue again. Returns how many were restored.
        """
        now = self._clock()
        self._record(self._storage.end_waiting_consultations, "peer_gone", now=now)
        live = self._storage.live_consultations()
        for record in live:
            call = Call(
                consultation_id=record.id,
                tenant_id=record.tenant.id,
                device_id=record.device_id,
                kiosk_name=record.device,
                adviser_id=record.adviser_id,
                adviser_name=record.adviser,
            )
            self._register(call)
            for role in ROLES:
                self._start_grace(call, role)
        if live:
            log.info("restored %d live consultations; waiting for their parties", len(live))
        return len(live)

    # -- endpoints --------------------------------------------------------

    async def kiosk_endpoint(self, request: web.Request) -> web.StreamResponse:
        """``GET /ws/kiosk``: authenticated by the device token in the first frame."""
        ws = await self._open(request)
        await self._serve(request, ws, self._kiosk_hello)
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

        await self._serve(request, ws, hello)
        return ws

    def _same_origin(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if not origin:
            return False
        # X-Forwarded-Proto counts only from a trusted proxy; the Host header is passed through.
        secure = self._auth.secure_request(request)
        expected = f"{'https' if secure else 'http'}://{request.host}"
        return hmac.compare_digest(origin.lower().encode(), expected.lower().encode())

    async def _open(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_WS_MESSAGE, timeout=SEND_TIMEOUT_S)
        await ws.prepare(request)
        return ws

    # -- connection loop --------------------------------------------------

    async def _serve(
        self,
        request: web.Request,
        ws: web.WebSocketResponse,
        hello: Callable[[web.WebSocketResponse, Hello], Awaitable[Peer | None]],
    ) -> None:
        self._sockets.add(ws)
        peer: Peer | None = None
        silence_s = 3 * self._config.heartbeat_s
        hello_by = asyncio.get_running_loop().time() + self._config.hello_timeout_s
        try:
            while not ws.closed:
                try:
                    if peer is None:
                        # a deadline, not a per-read timeout: pings must not keep it open
                        async with asyncio.timeout_at(hello_by):
                            frame = await ws.receive()
                    else:
                        frame = await ws.receive(timeout=silence_s)
                except TimeoutError:
                    if peer is None:
                        await self._refuse(ws, "unauthorized", "no hello in time")
                    else:
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
                    said_hello(request)  # no longer counts as pending (hub/admission.py)
                elif problem is not None:
                    self._reply_error(peer, _code(problem.code), str(problem))
                elif message is not None:
                    if not await self._still_allowed(peer, now=isinstance(message, Heartbeat)):
                        break
                    await self._dispatch_safely(peer, message)
        finally:
            self._sockets.discard(ws)
            if peer is not None:
                self._leave(peer, "peer_gone")
                await self._stop_writer(peer)

    async def _still_allowed(self, peer: Peer, *, now: bool) -> bool:
        """Re-check a live peer's device token or session; close it when it is gone.

        Runs on every heartbeat and, for other frames, at most once per heartbeat period.
        """
        when = self._clock()
        if not now and when < peer.checked_at + self._config.heartbeat_s:
            return True
        try:
            if peer.device is not None and peer.token_digest is not None:
                ok = self._storage.device_token_valid(peer.device.id, peer.token_digest)
            elif peer.session_digest is not None:
                ok = self._storage.session_live(peer.session_digest, now=when)
            else:
                ok = False
        except sqlite3.Error:
            log.exception("could not re-check a %s's credentials", peer.role)
            return True  # a database hiccup must not drop live calls
        if ok:
            peer.checked_at = when
            return True
        self._leave(peer, "peer_gone", away=False)  # it cannot resume: the call ends
        if peer.device is not None:
            log.info("closing the connection of a revoked device (id %d)", peer.device.id)
            await self._send_error(peer.ws, "unauthorized", "device token revoked", fatal=True)
            await peer.ws.close(code=CLOSE_UNAUTHORIZED, message=b"revoked")
        else:
            await self._send_error(peer.ws, "unauthorized", "session ended", fatal=True)
            await peer.ws.close(code=CLOSE_LOGGED_OUT, message=b"session ended")
        return False

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
        peer = Peer(
            ws=ws,
            role="kiosk",
            name=device.name,
            tenant=device.tenant,
            device=device,
            token_digest=secret_digest(msg.token or ""),
            checked_at=self._clock(),
        )
        # Register before any await, so that two hellos of one device cannot both win.
        old = self._kiosks.get(device.id)
        self._kiosks[device.id] = peer
        if old is not None:
            # The device reconnected (network change, restart): the newest connection wins.
            self._leave(old, "peer_gone")
            self._close_later(old.ws, CLOSE_REPLACED, b"replaced by a newer connection")
        self._start_writer(peer)
        self._send(peer, self._welcome(peer))
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
            checked_at=self._clock(),
        )
        self._advisers.add(peer)
        self._start_writer(peer)
        self._send(peer, self._welcome(peer))
        self._post_announce(peer)
        log.info("adviser connected (adviser id %d, tenant id %d)", adviser.id, adviser.tenant.id)
        return peer

    def _welcome(self, peer: Peer) -> Welcome:
        servers = self._config.ice_servers
        turn = self._config.turn
        if turn is not None:
            servers = (*servers, mint_turn_credential(turn, now=self._clock()))
        try:
            max_file_bytes = self._storage.max_file_bytes(peer.tenant.id)
        except (sqlite3.Error, StorageError):
            log.exception("could not read a tenant's file size limit; using the default")
            max_file_bytes = DEFAULT_MAX_FILE_BYTES
        return Welcome(
            role=peer.role,
            name=peer.name,
            tenant=peer.tenant.name,
            heartbeat_s=self._config.heartbeat_s,
            ice_servers=servers,
            ice_transport_policy="all" if turn is None else turn.policy,
            max_file_bytes=max_file_bytes,
            grace_s=self._config.grace_s,
        )

    # -- messages ---------------------------------------------------------

    async def _dispatch_safely(self, peer: Peer, message: AnyMessage) -> None:
        try:
            await self._dispatch(peer, message)
        except Exception:  # a bug must not take the connection (or the hub) down
            log.exception("internal error handling a %s frame", type(message).TYPE)
            self._reply_error(peer, "internal", "the hub failed to handle that frame")

    async def _dispatch(self, peer: Peer, message: AnyMessage) -> None:
        match message:
            case Heartbeat():
                self._send(peer, Heartbeat(ts=max(0, int(self._clock() * 1000))))
            case QueueRequest() if peer.role == "kiosk":
                await self._queue_request(peer)
            case QueueLeave() if peer.role == "kiosk":
                if peer.waiting is None:
                    self._reply_error(peer, "not_found", "not in the queue")
                else:
                    self._flush(self._unqueue(peer, "customer_left"))
            case Accept() if peer.role == "adviser":
                await self._accept(peer, message.consultation_id)
            # the adviser's commitment and its answer go adviser -> kiosk, offers kiosk ->
            # adviser, candidates both ways (docs/verification.md: who commits first)
            case SasCommit() if peer.role == "adviser":
                await self._relay(peer, message)
            case Offer() if peer.role == "kiosk":
                await self._relay(peer, message)
            case Answer() if peer.role == "adviser":
                await self._relay(peer, message)
            case IceCandidate():
                await self._relay(peer, message)
            case Status() if peer.role == "kiosk":
                self._service_status(peer, message)
            case Error():
                # a client's complaint about something we sent: nothing to answer (that could
                # ping-pong); the content stays out of the log
                log.debug("ignored an error frame from a %s", peer.role)
            case End():
                await self._end(peer, message.consultation_id, message.reason)
            case Resume():
                self._resume(peer, message)
            case Hello():
                self._reply_error(peer, "protocol_error", "already authenticated")
            case _:
                self._reply_error(
                    peer, "forbidden", f"a {peer.role} may not send {type(message).TYPE}"
                )

    def _service_status(self, kiosk: Peer, status: Status) -> None:
        """A kiosk whose wipe failed must not be given a customer: log it, keep it unqueued."""
        assert kiosk.device is not None  # noqa: S101 - kiosks always carry their device
        if status.state == "out_of_service":
            kiosk.out_of_service = status.reason or "unknown"
            log.warning(
                "kiosk out of service (device id %d, tenant id %d): %s",
                kiosk.device.id,
                kiosk.tenant.id,
                kiosk.out_of_service,
            )
            if kiosk.waiting is not None:
                self._flush(self._unqueue(kiosk, "customer_left"))
        else:
            if kiosk.out_of_service is not None:
                log.info("kiosk back in service (device id %d)", kiosk.device.id)
            kiosk.out_of_service = None

    async def _queue_request(self, kiosk: Peer) -> None:
        if kiosk.out_of_service is not None:
            self._reply_error(kiosk, "conflict", "out of service: the kiosk must be repaired first")
            return
        assert kiosk.device is not None  # noqa: S101 - kiosks always carry their device
        away = self._device_calls.get(kiosk.device.id)
        if (
            kiosk.waiting is not None
            or kiosk.call is not None
            or (away is not None and away.kiosk is not None)
        ):
            self._reply_error(kiosk, "conflict", "already queued or in a consultation")
            return
        if away is not None:
            # Away from a live consultation and asking for a new one instead of resuming: the
            # kiosk gave that one up (its own grace ran out first, its resume was refused, it
            # restarted). Waiting for the hub's grace would only keep the customer out.
            self._give_up(away, "kiosk")
        consultation_id = secrets.token_urlsafe(16)
        now = self._clock()
        self._queue(kiosk.tenant.id).add(Waiting(consultation_id, kiosk.name, now))
        self._waiting[consultation_id] = kiosk
        kiosk.waiting = consultation_id
        self._record(self._storage.consultation_queued, consultation_id, kiosk.device, now=now)
        self._flush(_Outbox(tenants={kiosk.tenant.id}))

    async def _accept(self, adviser: Peer, consultation_id: str) -> None:
        assert adviser.adviser is not None  # noqa: S101 - advisers always carry their record
        away = self._adviser_calls.get(adviser.adviser.id)
        if adviser.call is not None or (away is not None and away.adviser is not None):
            # also while another tab of this adviser holds a consultation
            self._reply_error(adviser, "conflict", "already in a consultation")
            return
        kiosk = self._waiting.get(consultation_id)
        if kiosk is None or kiosk.tenant.id != adviser.tenant.id:
            taken = self._calls.get(consultation_id)
            if taken is not None and taken.tenant_id == adviser.tenant.id:
                self._reply_error(adviser, "conflict", "another adviser took it")
            else:
                self._reply_error(adviser, "not_found", "no such waiting consultation")
            return
        assert kiosk.device is not None  # noqa: S101 - kiosks always carry their device
        if away is not None:
            # Away from a live consultation (a reloaded tab without its token, another tab)
            # and taking a new customer instead of resuming: that one is given up.
            self._give_up(away, "adviser")
        self._queue(kiosk.tenant.id).remove(consultation_id)
        del self._waiting[consultation_id]
        kiosk.waiting = None
        call = Call(
            consultation_id=consultation_id,
            tenant_id=kiosk.tenant.id,
            device_id=kiosk.device.id,
            kiosk_name=kiosk.name,
            adviser_id=adviser.adviser.id,
            adviser_name=adviser.name,
            kiosk=kiosk,
            adviser=adviser,
        )
        kiosk.call = adviser.call = call
        self._register(call)
        self._record(
            self._storage.consultation_accepted,
            consultation_id,
            adviser.adviser,
            now=self._clock(),
        )
        outbox = _Outbox(tenants={kiosk.tenant.id})
        # The adviser first: the kiosk answers with its (pre-gathered) offer at once, which
        # must not reach the adviser before the adviser's own accepted.
        for peer, other in ((adviser, kiosk), (kiosk, adviser)):
            outbox.messages.append(
                (peer, Accepted(consultation_id=consultation_id, peer=other.name))
            )
            grant = self._grant(call, peer)
            if grant is not None:
                outbox.messages.append((peer, grant))
        self._flush(outbox)

    def _resume(self, peer: Peer, message: Resume) -> None:
        """Put a returning party back into its consultation, or refuse (always the same way)."""
        call = self._calls.get(message.consultation_id)
        principal = _principal(peer)
        if (
            call is None
            or peer.call is not None
            or peer.waiting is not None
            or call.tenant_id != peer.tenant.id
            or call.principal(peer.role) != principal
            or not self._take_token(call, peer.role, principal, message.token)
        ):
            self._reply_error(peer, "not_found", RESUME_REFUSED)
            return
        old = call.slot(peer.role)
        if old is not None:
            # The same adviser (kiosks are replaced at hello) resumed from a newer connection:
            # the newer one wins, as for a kiosk.
            old.call = None
            self._close_later(old.ws, CLOSE_REPLACED, b"replaced by a newer connection")
        timer = call.grace.pop(peer.role, None)
        if timer is not None:
            timer.cancel()
        call.attach(peer.role, peer)
        peer.call = call
        other = call.other(peer)
        outbox = _Outbox()
        grant = self._grant(call, peer)
        if grant is not None:
            outbox.messages.append((peer, grant))
        resumed = Resumed(
            consultation_id=call.consultation_id,
            peer=call.name(_opposite(peer.role)),
            peer_present=other is not None,
        )
        outbox.messages.append((peer, resumed))
        if other is not None:
            outbox.messages.append((other, PeerBack(consultation_id=call.consultation_id)))
        log.info("a %s resumed its consultation (tenant id %d)", peer.role, call.tenant_id)
        self._flush(outbox)

    def _grant(self, call: Call, peer: Peer) -> ResumeGrant | None:
        """A fresh resume token for one side; only its hash is stored (it replaces the last)."""
        token = secrets.token_urlsafe(32)
        try:
            self._storage.grant_resume_token(
                call.consultation_id,
                peer.role,
                _principal(peer),
                secret_digest(token),
                now=self._clock(),
            )
        except (sqlite3.Error, StorageError):
            log.exception("could not store a resume token; this %s cannot resume", peer.role)
            return None
        return ResumeGrant(consultation_id=call.consultation_id, token=token)

    def _take_token(self, call: Call, role: Role, principal: int, token: str) -> bool:
        try:
            return self._storage.take_resume_token(
                call.consultation_id, role, principal, secret_digest(token)
            )
        except (sqlite3.Error, StorageError):
            log.exception("could not check a resume token")
            return False

    async def _relay(self, peer: Peer, message: SasCommit | Offer | Answer | IceCandidate) -> None:
        call = peer.call
        if call is None or call.consultation_id != message.consultation_id:
            self._reply_error(peer, "not_found", "not in that consultation")
            return
        other = call.other(peer)
        if other is not None:  # while the other side is away its candidates are moot
            self._send(other, message)

    async def _end(self, peer: Peer, consultation_id: str, reason: EndReason) -> None:
        if peer.call is not None and peer.call.consultation_id == consultation_id:
            self._flush(self._hang_up(peer, reason))
        elif peer.waiting is not None and peer.waiting == consultation_id:
            self._flush(self._unqueue(peer, reason))
        elif peer.last_ended == consultation_id:
            log.debug("a %s's end came after its consultation had ended", peer.role)
        else:
            self._reply_error(peer, "not_found", "not in that consultation")

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

    def _register(self, call: Call) -> None:
        self._calls[call.consultation_id] = call
        self._device_calls[call.device_id] = call
        self._adviser_calls[call.adviser_id] = call

    def _hang_up(self, peer: Peer, reason: EndReason) -> _Outbox:
        call = peer.call
        if call is None:
            return _Outbox()
        return self._finish(call, reason, by=peer)

    def _finish(self, call: Call, reason: EndReason, *, by: Peer | None = None) -> _Outbox:
        """End a live consultation: ``ended`` to every present party but ``by``; tokens die."""
        for timer in call.grace.values():
            timer.cancel()
        call.grace.clear()
        if self._calls.get(call.consultation_id) is call:
            del self._calls[call.consultation_id]
        if self._device_calls.get(call.device_id) is call:
            del self._device_calls[call.device_id]
        if self._adviser_calls.get(call.adviser_id) is call:
            del self._adviser_calls[call.adviser_id]
        present = [p for p in (call.kiosk, call.adviser) if p is not None]
        for p in present:
            p.call = None
            p.last_ended = call.consultation_id
        call.kiosk = call.adviser = None
        self._record(
            self._storage.consultation_ended, call.consultation_id, reason, now=self._clock()
        )
        for listener in self.end_listeners:
            try:
                listener(call.consultation_id)
            except Exception:  # a listener's bug must not keep the call alive
                log.exception("a consultation end listener failed")
        ended = Ended(consultation_id=call.consultation_id, reason=reason)
        return _Outbox(messages=[(p, ended) for p in present if p is not by])

    def _give_up(self, call: Call, role: Role) -> None:
        """That side, away, started afresh instead of resuming: the consultation ends now."""
        log.info("a consultation ended: its %s started afresh instead of resuming", role)
        self._flush(self._finish(call, "peer_gone"))

    def _step_away(self, peer: Peer) -> _Outbox:
        """A party's connection is gone: the other side hears ``peer_away``; grace runs."""
        call = peer.call
        if call is None:
            return _Outbox()
        peer.call = None
        if call.slot(peer.role) is peer:
            call.attach(peer.role, None)
        if self._stopping:
            return _Outbox()  # the hub stops: the database keeps it live for the next start
        self._start_grace(call, peer.role)
        other = call.other(peer)
        log.info("a %s left its consultation; the grace period runs", peer.role)
        if other is None:
            return _Outbox()
        return _Outbox(messages=[(other, PeerAway(consultation_id=call.consultation_id))])

    def _start_grace(self, call: Call, role: Role) -> None:
        if role in call.grace:
            return
        call.grace[role] = asyncio.get_running_loop().call_later(
            self._config.grace_s, self._grace_over, call, role
        )

    def _grace_over(self, call: Call, role: Role) -> None:
        """A grace timer fired: if that side is still away, the consultation ends."""
        call.grace.pop(role, None)
        if self._calls.get(call.consultation_id) is not call or call.slot(role) is not None:
            return
        log.info("a consultation ended: its %s did not resume in time", role)
        self._flush(self._finish(call, "peer_gone"))

    def _leave(self, peer: Peer, reason: EndReason, *, away: bool = True) -> None:
        """Take a peer out of the queue, its call and the registries (idempotent).

        ``away``: its consultation waits for it to resume (a dropped or replaced connection);
        otherwise (revoked, logged out) the consultation ends.
        """
        outbox = self._unqueue(peer, reason)
        left = self._step_away(peer) if away else self._hang_up(peer, reason)
        outbox.messages.extend(left.messages)
        if peer.device is not None and self._kiosks.get(peer.device.id) is peer:
            del self._kiosks[peer.device.id]
        self._advisers.discard(peer)
        self._flush(outbox)

    def _record(self, write: Callable[..., object], *args: object, now: float) -> None:
        # The consultation log is bookkeeping: a database hiccup must not break a live call.
        try:
            write(*args, now=now)
        except (sqlite3.Error, StorageError):
            log.exception("could not record a consultation event")

    # -- sending ----------------------------------------------------------

    def _queue_text(self, tenant_id: int) -> str:
        """The encoded ``queue`` message of a tenant, cut short to fit in one frame."""
        now = self._clock()
        entries: list[QueueEntry] = []
        size = len(encode(Queue(entries=())).encode("utf-8"))
        snapshot = self._queue(tenant_id).snapshot()[:QUEUE_ENTRIES_SENT]
        for position, w in enumerate(snapshot, start=1):
            entry = QueueEntry(
                consultation_id=w.consultation_id,
                device=w.device,
                position=position,
                waiting_s=min(10_000_000, max(0, int(now - w.queued_at))),
            )
            size += 1 + len(_entry_json(entry).encode("utf-8"))  # with the separating comma
            if size > MAX_FRAME_BYTES:
                break
            entries.append(entry)
        while True:
            try:
                return encode(Queue(entries=tuple(entries)))
            except ProtocolError:  # cannot happen with the estimate above; never fail a send
                log.warning("queue message of %d entries did not encode", len(entries))
                if not entries:
                    raise
                entries = entries[: len(entries) // 2]

    def _flush(self, outbox: _Outbox) -> None:
        for peer, message in outbox.messages:
            self._send(peer, message)
        for tenant_id in outbox.tenants:
            self._announce(tenant_id)

    def _announce(self, tenant_id: int) -> None:
        """Tell every waiting kiosk its position and every adviser the queue of a tenant."""
        for entry in self._queue(tenant_id).snapshot():
            kiosk = self._waiting.get(entry.consultation_id)
            if kiosk is not None:
                self._post_announce(kiosk)
        for adviser in list(self._advisers):
            if adviser.tenant.id == tenant_id:
                self._post_announce(adviser)

    def _announcement(self, peer: Peer) -> str | None:
        """What an ANNOUNCE stands for, computed now: the queue, or the kiosk's position."""
        if peer.role == "adviser":
            return self._queue_text(peer.tenant.id)
        if peer.waiting is None:
            return None  # no longer waiting: nothing to announce
        queue = self._queue(peer.tenant.id)
        position = queue.position(peer.waiting)
        if position is None:
            return None
        update = QueuePosition(consultation_id=peer.waiting, position=position, waiting=len(queue))
        return encode(update)

    def _send(self, peer: Peer, message: AnyMessage) -> None:
        """Queue one message for a peer (never waits)."""
        self._post(peer, encode(message))

    def _reply_error(self, peer: Peer, code: ErrorCode, text: str) -> None:
        self._send(peer, Error(code=code, message=text[:500]))

    def _post_announce(self, peer: Peer) -> None:
        if not peer.announce_pending:
            peer.announce_pending = True
            self._post(peer, ANNOUNCE)

    def _post(self, peer: Peer, item: str | _Announce) -> None:
        if peer.dropped:
            return
        try:
            peer.outgoing.put_nowait(item)
        except asyncio.QueueFull:
            self._drop(peer, "its outgoing queue overflowed")

    def _drop(self, peer: Peer, why: str) -> None:
        """Close a peer that does not read what it is sent."""
        if peer.dropped:
            return
        peer.dropped = True
        log.info("closing a %s connection: %s", peer.role, why)
        self._leave(peer, "peer_gone")
        self._close_later(peer.ws, CLOSE_SILENT, b"not reading")

    def _start_writer(self, peer: Peer) -> None:
        peer.writer = asyncio.get_running_loop().create_task(self._write(peer))

    async def _stop_writer(self, peer: Peer) -> None:
        writer = peer.writer
        if writer is not None and not writer.done():
            writer.cancel()
            await asyncio.wait({writer})

    async def _write(self, peer: Peer) -> None:
        """The peer's writer: send its outgoing frames in order, one at a time."""
        try:
            await self._write_until_closed(peer)
        except Exception:  # a bug must not go unnoticed, nor take the hub down
            log.exception("the writer of a %s connection failed", peer.role)
            self._drop(peer, "its writer failed")

    async def _write_until_closed(self, peer: Peer) -> None:
        while not peer.dropped:
            item = await peer.outgoing.get()
            if isinstance(item, _Announce):
                peer.announce_pending = False
                try:
                    text = self._announcement(peer)
                except Exception:  # a bug must not stop the writer
                    log.exception("could not build a queue announcement")
                    continue
                if text is None:
                    continue
            else:
                text = item
            if peer.ws.closed:
                return
            try:
                # asyncio.timeout, not wait_for: in 3.11 wait_for can swallow the cancellation
                # that _stop_writer relies on
                async with asyncio.timeout(SEND_TIMEOUT_S):
                    await peer.ws.send_str(text)
            except TimeoutError:
                self._drop(peer, f"a send took longer than {SEND_TIMEOUT_S:g} s")
                return
            except ConnectionError:
                return  # the peer is gone; its own loop cleans up

    async def _send_error(
        self, ws: web.WebSocketResponse, code: ErrorCode, text: str, *, fatal: bool = False
    ) -> None:
        """Send an error at once, bypassing any writer (before hello, or just before closing)."""
        if ws.closed:
            return
        frame = encode(Error(code=code, message=text[:500], fatal=fatal))
        try:
            await asyncio.wait_for(ws.send_str(frame), SEND_TIMEOUT_S)
        except (TimeoutError, ConnectionError):
            pass  # closing anyway

    def _close_later(self, ws: web.WebSocketResponse, code: int, reason: bytes) -> None:
        # Closing waits for the peer's close frame; do not make the current peer wait for it.
        # A peer that does not even take the close frame is cut off after SEND_TIMEOUT_S.
        task = asyncio.get_running_loop().create_task(
            asyncio.wait_for(ws.close(code=code, message=reason), SEND_TIMEOUT_S)
        )
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        task.add_done_callback(_retrieve)

    # -- lifecycle --------------------------------------------------------

    async def session_ended(self, session_digest: str) -> None:
        """Close the console connections of a session that logged out."""
        for adviser in list(self._advisers):
            if adviser.session_digest == session_digest:
                self._leave(adviser, "peer_gone", away=False)
                self._close_later(adviser.ws, CLOSE_LOGGED_OUT, b"logged out")

    async def shutdown(self) -> None:
        """Close every WebSocket with 1001 (going away); live consultations stay in SQLite."""
        self._stopping = True
        for call in self._calls.values():
            for timer in call.grace.values():
                timer.cancel()
            call.grace.clear()
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
            "away": sum(len(call.grace) for call in self._calls.values()),
        }

    def connections(self) -> list[Peer]:
        """Every signed-in connection, kiosks first (tests reach a connection's socket here)."""
        return [*self._kiosks.values(), *self._advisers]

    def queue_of(self, tenant_id: int) -> ConsultationQueue:
        """A tenant's queue of waiting kiosks (tests fill it without sockets)."""
        return self._queue(tenant_id)

    def party(
        self, consultation_id: str, *, device_id: int | None = None, adviser_id: int | None = None
    ) -> Party | None:
        """The caller's side in that live consultation (present or away), or None."""
        call = self._calls.get(consultation_id)
        if call is None:
            return None
        if device_id is not None and call.device_id == device_id:
            return Party("kiosk", call.tenant_id)
        if adviser_id is not None and call.adviser_id == adviser_id:
            return Party("adviser", call.tenant_id)
        return None


def _retrieve(task: asyncio.Task[bool]) -> None:
    # a close that timed out or failed has nothing left to do; keep asyncio from complaining
    if not task.cancelled():
        task.exception()


def _opposite(role: Role) -> Role:
    return "adviser" if role == "kiosk" else "kiosk"


def _principal(peer: Peer) -> int:
    """The id a resume token is bound to: the device (kiosk) or the adviser."""
    if peer.device is not None:
        return peer.device.id
    if peer.adviser is not None:
        return peer.adviser.id
    raise ValueError("a peer without a device or an adviser")  # cannot happen after hello


def _entry_json(entry: QueueEntry) -> str:
    # the same compact form as protocol.codec.encode, for the frame size estimate
    return json.dumps(
        {
            "consultation_id": entry.consultation_id,
            "device": entry.device,
            "position": entry.position,
            "waiting_s": entry.waiting_s,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


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
