"""The two signalling WebSockets (``/ws/kiosk``, ``/ws/adviser``): the aiohttp side.

Each connection's loop reads frames, signs the connection in with its first (``hub.signalling
.hello``), re-checks its credentials as it goes, and turns every later frame into an event for
the switchboard (which role may send what is decided here). The hub relays SDP and candidates
between the two peers of a consultation without storing them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
from collections.abc import Awaitable, Callable

from aiohttp import WSMsgType, web

from hub.access_log import ACCESS_TENANT
from hub.admission import said_hello
from hub.auth import Clock, ConsoleAuth
from hub.config import HubConfig
from hub.pki.authorities import Authorities
from hub.signalling.device_reports import DeviceReports
from hub.signalling.hello import Greeter, refuse
from hub.signalling.ids import new_consultation_id
from hub.signalling.pairing_events import (
    CLOSE_LOGGED_OUT,
    CLOSE_SILENT,
    CLOSE_UNAUTHORIZED,
    AcceptRequested,
    EndRequested,
    QueueLeft,
    QueueRequested,
    RelayRequested,
    ServiceChanged,
)
from hub.signalling.peers import SEND_TIMEOUT_S, Peer, send_error
from hub.signalling.switchboard import Switchboard
from hub.storage import Storage, StorageError
from protocol.codec import MAX_FRAME_BYTES
from protocol.errors import MalformedFrame, ProtocolError
from protocol.messages import (
    Accept,
    Answer,
    AnyMessage,
    Challenge,
    DeviceReport,
    End,
    Error,
    ErrorCode,
    Heartbeat,
    Hello,
    IceCandidate,
    Offer,
    QueueLeave,
    QueueRequest,
    Resume,
    SasCommit,
    Status,
    decode,
    encode,
)
from provisioning.challenge import encode_nonce, new_nonce

log = logging.getLogger("hub.signalling")

# Frames between MAX_FRAME_BYTES and this get error{too_large} and the connection goes on;
# beyond it aiohttp closes with 1009 rather than buffering without bound.
MAX_WS_MESSAGE = 2 * MAX_FRAME_BYTES

HelloHandler = Callable[[web.WebSocketResponse, Hello], Awaitable[Peer | None]]


class Endpoints:
    """The WebSocket handlers; every signed-in frame goes to the switchboard as an event."""

    def __init__(
        self,
        config: HubConfig,
        storage: Storage,
        clock: Clock,
        auth: ConsoleAuth,
        switchboard: Switchboard,
        authorities: Authorities,
    ) -> None:
        self._config = config
        self._storage = storage
        self._clock = clock
        self._auth = auth
        self._switchboard = switchboard
        self._greeter = Greeter(config, storage, clock, switchboard, authorities)
        self.reports = DeviceReports(storage, clock, switchboard)

    async def kiosk(self, request: web.Request) -> web.StreamResponse:
        """``GET /ws/kiosk``: a ``challenge`` first; the hello signs it (or has a token)."""
        ws = await self._open(request)
        nonce = new_nonce()
        with contextlib.suppress(ConnectionError):  # gone already: the loop sees the close
            await ws.send_str(encode(Challenge(nonce=encode_nonce(nonce))))

        async def hello(ws: web.WebSocketResponse, msg: Hello) -> Peer | None:
            return await self._greeter.kiosk(ws, msg, nonce, lambda: self._origin(request))

        await self._serve(request, ws, hello)
        return ws

    def _origin(self, request: web.Request) -> str:
        """The hub's origin as the kiosk should have signed it (``--public-url`` or Host)."""
        if self._config.public_url is not None:
            return self._config.public_url
        secure = self._auth.secure_request(request)  # X-Forwarded-Proto from trusted proxies
        return f"{'https' if secure else 'http'}://{request.host}"

    async def adviser(self, request: web.Request) -> web.StreamResponse:
        """``GET /ws/adviser``: needs a session cookie and our own Origin before upgrading."""
        if not self._same_origin(request):
            raise web.HTTPForbidden(text="cross-origin WebSocket refused")
        current = await self._auth.current_session(request)
        if current is None:
            raise web.HTTPUnauthorized(text="log in first")
        if current.session.adviser.role != "adviser":
            # administrators and DPOs never take calls: they see no customer (issue 16)
            raise web.HTTPForbidden(text="only advisers take calls")
        ws = await self._open(request)

        async def hello(ws: web.WebSocketResponse, msg: Hello) -> Peer | None:
            return await self._greeter.adviser(ws, msg, current)

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
        self, request: web.Request, ws: web.WebSocketResponse, hello: HelloHandler
    ) -> None:
        self._switchboard.sockets.add(ws)
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
                        await refuse(ws, "unauthorized", "no hello in time")
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
                    request[ACCESS_TENANT] = peer.tenant.id  # the access line's tenant
                elif problem is not None:
                    self._switchboard.reply_error(peer, _code(problem.code), str(problem))
                elif message is not None:
                    if not await self._still_allowed(peer, now=isinstance(message, Heartbeat)):
                        break
                    await self._dispatch_safely(peer, message)
        finally:
            self._switchboard.sockets.discard(ws)
            if peer is not None:
                await self._switchboard.left(peer)

    async def _still_allowed(self, peer: Peer, *, now: bool) -> bool:
        """Re-check a live peer's device token or session; close it when it is gone.

        Runs on every heartbeat and, for other frames, at most once per heartbeat period.
        """
        when = self._clock()
        if not now and when < peer.checked_at + self._config.heartbeat_s:
            return True
        try:
            if peer.device is not None and peer.cert_serial is not None:
                ok = await self._storage.certificate_valid(peer.cert_serial, now=when)
            elif peer.device is not None and peer.token_digest is not None:
                ok = await self._storage.device_token_valid(peer.device.id, peer.token_digest)
            elif peer.session_digest is not None:
                ok = await self._storage.session_live(peer.session_digest, now=when)
            else:
                ok = False
        except StorageError:
            log.exception("could not re-check a %s's credentials", peer.role)
            return True  # a database hiccup must not drop live calls
        if ok:
            peer.checked_at = when
            if peer.adviser is not None:
                self._switchboard.presence.renew(peer.adviser.id)  # `adviser list` sees it
            return True
        self._switchboard.revoked(peer)  # it cannot resume: the call ends
        if peer.device is not None:
            log.info("closing the connection of a revoked device (id %d)", peer.device.id)
            what = "device token" if peer.cert_serial is None else "device certificate"
            gone = "revoked" if peer.cert_serial is None else "revoked or expired"
            await send_error(peer.ws, "unauthorized", f"{what} {gone}", fatal=True)
            await peer.ws.close(code=CLOSE_UNAUTHORIZED, message=b"revoked")
        else:
            await send_error(peer.ws, "unauthorized", "session ended", fatal=True)
            await peer.ws.close(code=CLOSE_LOGGED_OUT, message=b"session ended")
        return False

    async def _authenticate(
        self,
        ws: web.WebSocketResponse,
        message: AnyMessage | None,
        problem: ProtocolError | None,
        hello: HelloHandler,
    ) -> Peer | None:
        if problem is not None:
            await refuse(ws, _code(problem.code), str(problem))
            return None
        if not isinstance(message, Hello):
            await refuse(ws, "unauthorized", "send hello first")
            return None
        return await hello(ws, message)

    # -- messages ---------------------------------------------------------

    async def _dispatch_safely(self, peer: Peer, message: AnyMessage) -> None:
        try:
            await self._dispatch(peer, message)
        except Exception:  # a bug must not take the connection (or the hub) down
            log.exception("internal error handling a %s frame", type(message).TYPE)
            self._switchboard.reply_error(peer, "internal", "the hub failed to handle that frame")

    async def _dispatch(self, peer: Peer, message: AnyMessage) -> None:
        board = self._switchboard
        match message:
            case Heartbeat():
                board.send(peer, Heartbeat(ts=max(0, int(self._clock() * 1000))))
            case QueueRequest() if peer.role == "kiosk":
                now = self._clock()  # one time for the id's stamp and the queue's record
                consultation_id = new_consultation_id(int(now * 1000))
                board.handle(QueueRequested(peer.conn, consultation_id, now))
            case QueueLeave() if peer.role == "kiosk":
                board.handle(QueueLeft(peer.conn))
            case Accept() if peer.role == "adviser":
                board.handle(AcceptRequested(peer.conn, message.consultation_id))
            # the adviser's commitment and its answer go adviser -> kiosk, offers kiosk ->
            # adviser, candidates both ways (docs/verification.md: who commits first)
            case SasCommit() | Answer() if peer.role == "adviser":
                board.handle(RelayRequested(peer.conn, message))
            case Offer() if peer.role == "kiosk":
                board.handle(RelayRequested(peer.conn, message))
            case IceCandidate():
                board.handle(RelayRequested(peer.conn, message))
            case DeviceReport() if peer.role == "kiosk":
                self.reports.received(peer, message)  # stored beside, never in the way
            case Status() if peer.role == "kiosk":
                self._service_status(peer, message)
            case Error():
                # a client's complaint about something we sent: nothing to answer (that could
                # ping-pong); the content stays out of the log
                log.debug("ignored an error frame from a %s", peer.role)
            case End():
                board.handle(EndRequested(peer.conn, message.consultation_id, message.reason))
            case Resume():
                await board.resume(peer, message.consultation_id, message.token)
            case Hello():
                board.reply_error(peer, "protocol_error", "already authenticated")
            case _:
                board.reply_error(
                    peer, "forbidden", f"a {peer.role} may not send {type(message).TYPE}"
                )

    def _service_status(self, kiosk: Peer, status: Status) -> None:
        """A kiosk whose wipe failed must not be given a customer: log it, keep it unqueued."""
        assert kiosk.device is not None  # noqa: S101 - kiosks always carry their device
        if status.state == "out_of_service":
            reason = status.reason or "unknown"
            log.warning(
                "kiosk out of service (device id %d, tenant id %d): %s",
                kiosk.device.id,
                kiosk.tenant.id,
                reason,
            )
            self._switchboard.handle(ServiceChanged(kiosk.conn, reason))
        else:
            if self._switchboard.out_of_service(kiosk) is not None:
                log.info("kiosk back in service (device id %d)", kiosk.device.id)
            self._switchboard.handle(ServiceChanged(kiosk.conn, None))


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


ENDPOINTS = web.AppKey("signalling_endpoints", Endpoints)
