"""The switchboard: the shell around the pure pairing core.

It feeds ``hub.signalling.pairing.Pairing`` what happens (hellos, frames, closes, timers, the
database's answers) and carries out what the core decides, in order: messages into the peers'
outboxes, closes, real grace timers, database writes and the registry of live consultations
the relay asks. State changes are decided synchronously by the core, one event at a time, so
two advisers racing for one kiosk cannot both win; database writes are started as tasks in the
order decided and never hold a decision up. The one decision that needs the database, a resume
token's check, is made in two events: the core re-decides on the answer against its state as
it is then (``hub.signalling.pairing``'s docstring says why the tokens live in the database).

A consultation outlives the connections of its parties (docs/reconnection.md): a party whose
connection closes is "away" for a grace period, and comes back with a single-use resume token.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable

from aiohttp import web

from hub.auth import Clock
from hub.config import HubConfig
from hub.governance.references import new_reference
from hub.signalling.pairing import Pairing
from hub.signalling.pairing_events import (
    CLOSE_LOGGED_OUT,
    CLOSE_SHUTDOWN,
    Announce,
    CallEnded,
    CallStarted,
    CancelGrace,
    Close,
    Connected,
    ConnectionId,
    Disconnected,
    Effect,
    Event,
    GraceExpired,
    GrantResumeToken,
    LateEnd,
    LiveRecord,
    PartyAway,
    PartyBack,
    RecordAccepted,
    RecordEnded,
    RecordQueued,
    Restored,
    ResumeChecked,
    ResumeRequested,
    Revoked,
    Send,
    StartGrace,
    Stopping,
    TakeResumeToken,
)
from hub.signalling.pairing_state import ConsultationQueue
from hub.signalling.peers import Outboxes, Peer, queue_text
from hub.signalling.presence import Presence
from hub.signalling.registry import LiveConsultations
from hub.signalling.relay_tokens import RelayTokens
from hub.signalling.resume import ResumeTokens
from hub.signalling.writes import Writes
from hub.storage import Storage, secret_digest
from protocol.messages import (
    AnyMessage,
    ConsultationReference,
    Ended,
    ErrorCode,
    Role,
    encode,
)

log = logging.getLogger("hub.signalling")

_CAUSES = {
    "gave_up": "a consultation ended: its %s started afresh instead of resuming",
    "grace": "a consultation ended: its %s did not resume in time",
}


class Switchboard:
    """Connections, queues and calls of every tenant: the pairing core, carried out."""

    def __init__(self, config: HubConfig, storage: Storage, clock: Clock) -> None:
        self._config = config
        self._storage = storage
        self._clock = clock
        self._core = Pairing()
        self.registry = LiveConsultations()  # who may use the relay; end listeners
        self.relay_tokens = RelayTokens()  # kiosk connections' relay credentials
        self._writes = Writes()
        self._tokens = ResumeTokens(storage, clock, self._writes)
        # who is online, for commands in other processes (endpoints renew it at each re-check)
        self.presence = Presence(storage.governance, clock, config.heartbeat_s, self._writes)
        self._outboxes = Outboxes(self._announcement, self._not_reading)
        self._peers: dict[ConnectionId, Peer] = {}  # signed in, until its socket loop ends
        self._timers: dict[tuple[str, Role], asyncio.TimerHandle] = {}
        self._ids = itertools.count(1)
        self.sockets: set[web.WebSocketResponse] = set()  # every open socket, signed in or not
        self.new_reference: Callable[[], str] = new_reference  # seam: tests force a collision

    # -- lifecycle ------------------------------------------------------------

    async def restore(self) -> int:
        """After a (re)start: bring back the consultations live in the database.

        Each waits for its parties' ``resume``; whoever does not come back within the grace
        period (counted from now) ends it. Queued, never accepted ones are ended: a new hub's
        queue starts empty and kiosks queue again. Returns how many were restored.
        """
        now = self._clock()
        self._writes.start(self._storage.end_waiting_consultations("peer_gone", now=now))
        live = await self._storage.live_consultations()
        records = tuple(
            LiveRecord(r.id, r.tenant.id, r.device_id, r.device, r.adviser_id, r.adviser)
            for r in live
        )
        self.handle(Restored(records))
        if live:
            log.info("restored %d live consultations; waiting for their parties", len(live))
        return len(live)

    async def session_ended(self, session_digest: str) -> None:
        """Close the console connections of a session that logged out (their calls end)."""
        for peer in self.connections():
            if peer.role == "adviser" and peer.session_digest == session_digest:
                self.handle(Revoked(peer.conn))
                self._outboxes.close_later(peer.ws, CLOSE_LOGGED_OUT, b"logged out")

    async def shutdown(self) -> None:
        """Close every WebSocket with 1001 (going away); live consultations stay in the database."""
        self.handle(Stopping())
        await asyncio.gather(
            *(ws.close(code=CLOSE_SHUTDOWN, message=b"hub shutting down") for ws in self.sockets),
            return_exceptions=True,
        )
        await self._outboxes.closed()
        await self._writes.drain()

    async def drain(self) -> None:
        """Wait for the database writes under way (before the storage closes)."""
        await self._writes.drain()

    # -- what the endpoints report ----------------------------------------------

    def new_connection(self) -> ConnectionId:
        """An id for a connection about to sign in."""
        return next(self._ids)

    def signed_in(self, peer: Peer, welcome: AnyMessage) -> None:
        """A hello succeeded: the peer gets ``welcome`` first, then what the core decides."""
        self._peers[peer.conn] = peer
        self._outboxes.start(peer)
        self._outboxes.send(peer, welcome)
        self.handle(Connected(peer.conn, peer.role, peer.principal, peer.tenant.id, peer.name))
        if peer.adviser is not None:
            self.presence.renew(peer.adviser.id)

    async def left(self, peer: Peer) -> None:
        """The peer's socket loop ended: a party in a call is away now."""
        self.relay_tokens.forget(peer.conn)
        self.handle(Disconnected(peer.conn))
        self._peers.pop(peer.conn, None)
        # an account's other console (a second tab) keeps it online and its lease renewed
        if peer.adviser is not None and not self._console_open(peer.adviser.id):
            self.presence.clear(peer.adviser.id)
        await self._outboxes.stop(peer)

    def _console_open(self, adviser_id: int) -> bool:
        return any(
            p.adviser is not None and p.adviser.id == adviser_id for p in self._peers.values()
        )

    def revoked(self, peer: Peer) -> None:
        """The peer's device token or session is gone: its consultation ends."""
        self.relay_tokens.forget(peer.conn)
        self.handle(Revoked(peer.conn))

    async def resume(self, peer: Peer, consultation_id: str, token: str) -> None:
        """A ``resume``: the core checks, the database takes the token, the core decides."""
        takes = self.handle(ResumeRequested(peer.conn, consultation_id, secret_digest(token)))
        for take in takes:
            valid = await self._tokens.take(
                take.consultation_id, take.role, take.principal, take.token_digest
            )
            self.handle(ResumeChecked(take.conn, take.consultation_id, valid))

    def send(self, peer: Peer, message: AnyMessage) -> None:
        """Queue a message for a peer (never waits)."""
        self._outboxes.send(peer, message)

    def reply_error(self, peer: Peer, code: ErrorCode, text: str) -> None:
        """Queue a non-fatal error for a peer."""
        self._outboxes.error(peer, code, text)

    def out_of_service(self, peer: Peer) -> str | None:
        """A kiosk's reason code while it said it cannot serve."""
        state = self._core.state.connection(peer.conn)
        return None if state is None else state.out_of_service

    # -- carrying out the core's decisions ------------------------------------------

    def handle(self, event: Event) -> list[TakeResumeToken]:
        """Feed the core one event and carry out its effects; return the token checks asked."""
        takes: list[TakeResumeToken] = []
        ended: dict[str, asyncio.Task[bool]] = {}  # consultation id -> its end's write
        for effect in self._core.handle(event):
            if isinstance(effect, TakeResumeToken):
                takes.append(effect)
            else:
                self._carry_out(effect, ended)
        return takes

    def _carry_out(self, effect: Effect, ended: dict[str, asyncio.Task[bool]]) -> None:
        match effect:
            case Send(conn=conn, message=Ended() as message) if message.consultation_id in ended:
                # the database knows of the end before the peer hears of it
                write = ended[message.consultation_id]
                self._outboxes.send_after(self._peers[conn], message, write, only_if_written=False)
            case Send(conn=conn, message=message):
                self._outboxes.send(self._peers[conn], message)
            case Announce(conn=conn):
                self._outboxes.announce(self._peers[conn])
            case Close(conn=conn, code=code, reason=reason):
                self._outboxes.close_later(self._peers[conn].ws, code, reason.encode())
            case GrantResumeToken(conn=conn, consultation_id=cid, role=role, principal=principal):
                grant, write = self._tokens.grant(cid, role, principal)
                self._outboxes.send_after(self._peers[conn], grant, write, only_if_written=True)
            case StartGrace(consultation_id=cid, role=role):
                loop = asyncio.get_running_loop()
                self._timers[(cid, role)] = loop.call_later(
                    self._config.grace_s, self._grace_over, cid, role
                )
            case CancelGrace(consultation_id=cid, role=role):
                timer = self._timers.pop((cid, role), None)
                if timer is not None:
                    timer.cancel()
            case RecordQueued(consultation_id=cid, conn=conn, queued_at=at):
                self._writes.start(self._queued(self._peers[conn], cid, at))
            case RecordAccepted(consultation_id=cid, conn=conn):
                adviser = self._peers[conn].adviser
                assert adviser is not None  # noqa: S101 - advisers always carry their record
                now = self._clock()
                self._writes.start(self._storage.consultation_accepted(cid, adviser, now=now))
            case RecordEnded(consultation_id=cid, reason=reason):
                now = self._clock()
                ended[cid] = self._writes.start(
                    self._storage.consultation_ended(cid, reason, now=now)
                )
            case CallStarted():
                self.registry.started(
                    effect.consultation_id, effect.tenant_id, effect.device_id, effect.adviser_id
                )
            case CallEnded(consultation_id=cid, cause=cause, role=role):
                if cause in _CAUSES:
                    log.info(_CAUSES[cause], role)
                self.registry.ended(cid)
            case PartyAway(role=role):
                log.info("a %s left its consultation; the grace period runs", role)
            case PartyBack(role=role, tenant_id=tenant_id):
                log.info("a %s resumed its consultation (tenant id %d)", role, tenant_id)
            case LateEnd(role=role):
                log.debug("a %s's end came after its consultation had ended", role)
            case _:
                pass

    async def _queued(self, peer: Peer, consultation_id: str, queued_at: float) -> None:
        """Record the queued consultation with a fresh reference; then tell the kiosk it.

        Sent only once stored (a reference the data-protection officer cannot find is worse
        than none), and beside the outbox's order, so a slow database holds up nothing else.
        """
        device = peer.device
        assert device is not None  # noqa: S101 - kiosks always carry their device
        reference = self.new_reference()
        await self._storage.consultation_queued(
            consultation_id, device, now=queued_at, reference=reference
        )
        if self._peers.get(peer.conn) is peer:
            message = ConsultationReference(consultation_id=consultation_id, reference=reference)
            self._outboxes.send(peer, message)

    def _grace_over(self, consultation_id: str, role: Role) -> None:
        self._timers.pop((consultation_id, role), None)
        self.handle(GraceExpired(consultation_id, role))

    def _not_reading(self, peer: Peer) -> None:
        # dropped by its outbox: as if its connection closed (its socket loop ends later)
        self.handle(Disconnected(peer.conn))

    def _announcement(self, peer: Peer) -> str | None:
        """What a pending announcement stands for, now: the queue, or the kiosk's position."""
        if peer.role == "adviser":
            return queue_text(self._core.state.queue_of(peer.tenant.id), self._clock())
        position = self._core.state.position(peer.conn)
        return None if position is None else encode(position)

    # -- queries ------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Counts for tests and health checks (no names)."""
        counts = self._core.state.counts()
        return {"sockets": len(self.sockets), **counts}

    def connections(self) -> list[Peer]:
        """Every signed-in connection, kiosks first (tests reach a connection's socket here)."""
        peers = [self._peers[conn] for conn in self._core.state.open_connections()]
        return [p for p in peers if p.role == "kiosk"] + [p for p in peers if p.role == "adviser"]

    def queue_of(self, tenant_id: int) -> ConsultationQueue:
        """A tenant's queue of waiting kiosks (tests fill it without sockets)."""
        return self._core.state.queue_of(tenant_id)


SWITCHBOARD = web.AppKey("switchboard", Switchboard)
