"""The hub's queue, pairing, resume and grace rules as a pure state machine (no I/O, no clock).

``Pairing.handle(event)`` applies one event and returns the effects the shell (the
switchboard) must carry out, in order; the events and effects are in ``pairing_events``, the
state and its read-only queries (``Pairing.state``) in ``pairing_state``. The shell owns
sockets, timers, randomness and the database; the core only ever sees opaque connection ids,
device/adviser/tenant ids, consultation ids and token digests.

    kiosk --queue_request--> waiting --accept (one adviser wins)--> call (both present)
                                |                                      |  party's connection goes
                      queue_leave/end/gone                             v
                                |                       away (grace runs) --resume--> present
                                v                                      |
                             (ended)  <---- end / revoked / grace over / gave up --+

Rules kept from the switchboard that had them inline:

- A kiosk is either waiting or in a call, never both; one queue per tenant, first come first
  served. A kiosk out of service is never queued.
- Two advisers racing for one kiosk: the first ``accept`` handled wins; the other gets
  ``error{conflict}`` ("another adviser took it"). Events are handled one at a time, so a
  decision never interleaves with another.
- A party whose connection goes is *away*, not gone: its consultation waits for it for the
  grace period (``StartGrace``; the shell feeds ``GraceExpired`` back). An away adviser is
  still busy and an away kiosk is not free: a party that asks for a new consultation instead
  of resuming (a kiosk's ``queue_request``, an adviser's ``accept``) gives the old one up, and
  it ends at once. A revoked or logged-out party ends its consultation.
- ``end`` is idempotent for the consultation the connection was just in (both sides send one);
  anything else it was never in gets ``error{not_found}``.
- A kiosk is replaced at hello by a newer connection of its device; an adviser resuming from a
  newer connection replaces the one still holding the consultation (both closed with 4001).
- Resume tokens are checked and used up by the database, which is their only home: a restarted
  hub restores live consultations whose tokens it never saw, and a token whose grant could not
  be stored must not work. So a ``resume`` is decided in two steps: the core checks what it
  knows and asks the shell to take the token (``TakeResumeToken``); the answer
  (``ResumeChecked``) is decided against the state *as it is then*, since other events may
  have been handled while the database answered. Every refusal is the same ``RESUME_REFUSED``.
- Once the hub is stopping, a party that goes is not away: nothing is sent, no timer starts,
  and the database keeps the consultation live for the next start.
"""

from __future__ import annotations

from hub.signalling.pairing_events import (
    CLOSE_REPLACED,
    RESUME_REFUSED,
    AcceptRequested,
    Announce,
    CallEnded,
    CancelGrace,
    Close,
    Connected,
    Disconnected,
    Effect,
    EndCause,
    EndRequested,
    Event,
    GraceExpired,
    GrantResumeToken,
    LateEnd,
    LiveRecord,
    PartyAway,
    PartyBack,
    QueueLeft,
    QueueRequested,
    RecordAccepted,
    RecordEnded,
    RecordQueued,
    RelayRequested,
    Restored,
    ResumeChecked,
    ResumeRequested,
    Revoked,
    ServiceChanged,
    StartGrace,
    Stopping,
    TakeResumeToken,
)
from hub.signalling.pairing_state import (
    ROLES,
    Conn,
    LiveCall,
    Outcome,
    PairingState,
    Waiting,
    opposite,
)
from protocol.messages import (
    Accepted,
    Ended,
    EndReason,
    PeerAway,
    PeerBack,
    Resumed,
    Role,
)

_REPLACED = "replaced by a newer connection"


class Pairing:
    """Queues, pairings and live consultations of every tenant; feed it events."""

    def __init__(self) -> None:
        self.state = PairingState()

    # -- the one entry point ------------------------------------------------

    def handle(self, event: Event) -> list[Effect]:
        """Apply ``event``; return what the shell must do, in order."""
        out = Outcome()
        match event:
            case Connected():
                self._connected(out, event)
            case Restored():
                self._restored(out, event.consultations)
            case GraceExpired():
                self._grace_expired(out, event.consultation_id, event.role)
            case Stopping():
                self._stop(out)
            case _:
                conn = self.state.conns.get(event.conn)
                if conn is not None:  # a connection the core closed says nothing any more
                    self._from(out, conn, event)
        for tenant_id in out.tenants:
            out.effects.extend(self.state.announcements(tenant_id))
        return out.effects

    def _from(self, out: Outcome, conn: Conn, event: Event) -> None:
        match event:
            case Disconnected():
                self._leave(out, conn, "peer_gone", away=True)
            case Revoked():
                self._leave(out, conn, "peer_gone", away=False)
            case QueueRequested() if conn.role == "kiosk":
                self._queue_request(out, conn, event.consultation_id, event.now)
            case QueueLeft() if conn.role == "kiosk":
                if conn.waiting is None:
                    out.error(conn, "not_found", "not in the queue")
                else:
                    self._unqueue(out, conn, "customer_left")
            case ServiceChanged() if conn.role == "kiosk":
                conn.out_of_service = event.out_of_service
                if event.out_of_service is not None and conn.waiting is not None:
                    self._unqueue(out, conn, "customer_left")
            case AcceptRequested() if conn.role == "adviser":
                self._accept(out, conn, event.consultation_id)
            case RelayRequested():
                self._relay(out, conn, event)
            case EndRequested():
                self._end(out, conn, event.consultation_id, event.reason)
            case ResumeRequested():
                if self._may_resume(conn, event.consultation_id):
                    cid, digest = event.consultation_id, event.token_digest
                    take = TakeResumeToken(conn.conn, cid, conn.role, conn.principal, digest)
                    out.effects.append(take)
                else:
                    out.error(conn, "not_found", RESUME_REFUSED)
            case ResumeChecked():
                if event.valid and self._may_resume(conn, event.consultation_id):
                    self._resume(out, conn, self.state.calls[event.consultation_id])
                else:
                    out.error(conn, "not_found", RESUME_REFUSED)
            case _:
                pass  # the shell lets each role send only its own messages

    # -- connections ----------------------------------------------------------

    def _connected(self, out: Outcome, event: Connected) -> None:
        if event.conn in self.state.conns:
            return
        conn = Conn(event.conn, event.role, event.principal, event.tenant_id, event.name)
        self.state.conns[conn.conn] = conn
        if conn.role == "kiosk":
            old = self.state.kiosks.get(conn.principal)
            self.state.kiosks[conn.principal] = conn
            if old is not None:
                # The device reconnected (network change, restart): the newest connection wins.
                self._leave(out, old, "peer_gone", away=True)
                out.effects.append(Close(old.conn, CLOSE_REPLACED, _REPLACED))
        else:
            out.effects.append(Announce(conn.conn))

    def _leave(self, out: Outcome, conn: Conn, reason: EndReason, *, away: bool) -> None:
        """Take a connection out of the queue, its call and the registries.

        ``away``: its consultation waits for it to resume (a dropped or replaced connection);
        otherwise (revoked, logged out) the consultation ends.
        """
        self._unqueue(out, conn, reason)
        if away:
            self._step_away(out, conn)
        elif conn.call is not None:
            self._finish(out, conn.call, reason, cause="ended", by=conn)
        if conn.role == "kiosk" and self.state.kiosks.get(conn.principal) is conn:
            del self.state.kiosks[conn.principal]
        del self.state.conns[conn.conn]

    # -- the queue ------------------------------------------------------------

    def _queue_request(self, out: Outcome, kiosk: Conn, consultation_id: str, now: float) -> None:
        if kiosk.out_of_service is not None:
            out.error(kiosk, "conflict", "out of service: the kiosk must be repaired first")
            return
        away = self.state.device_calls.get(kiosk.principal)
        if (
            kiosk.waiting is not None
            or kiosk.call is not None
            or (away is not None and away.kiosk is not None)
        ):
            out.error(kiosk, "conflict", "already queued or in a consultation")
            return
        queue = self.state.queue(kiosk.tenant_id)
        if consultation_id in queue or consultation_id in self.state.calls:
            # the shell mints 128-bit ids: a collision is a bug, and must not corrupt the state
            out.error(kiosk, "internal", "the hub failed to handle that frame")
            return
        if away is not None:
            # Away from a live consultation and asking for a new one instead of resuming: the
            # kiosk gave that one up (its own grace ran out first, its resume was refused, it
            # restarted). Waiting for the hub's grace would only keep the customer out.
            self._finish(out, away, "peer_gone", cause="gave_up", role="kiosk")
        queue.add(Waiting(consultation_id, kiosk.name, now))
        self.state.waiting[consultation_id] = kiosk
        kiosk.waiting = consultation_id
        out.effects.append(RecordQueued(consultation_id, kiosk.conn, now))
        out.tenants[kiosk.tenant_id] = None

    def _unqueue(self, out: Outcome, kiosk: Conn, reason: EndReason) -> None:
        consultation_id = kiosk.waiting
        if consultation_id is None:
            return
        kiosk.waiting = None
        self.state.queue(kiosk.tenant_id).remove(consultation_id)
        self.state.waiting.pop(consultation_id, None)
        out.effects.append(RecordEnded(consultation_id, reason))
        out.tenants[kiosk.tenant_id] = None

    def _announcements(self, tenant_id: int) -> list[Effect]:
        """Every waiting kiosk of the tenant (its position) and every adviser (the queue)."""
        effects: list[Effect] = []
        for entry in self.state.queue(tenant_id).snapshot():
            kiosk = self.state.waiting.get(entry.consultation_id)
            if kiosk is not None:
                effects.append(Announce(kiosk.conn))
        for conn in self.state.conns.values():
            if conn.role == "adviser" and conn.tenant_id == tenant_id:
                effects.append(Announce(conn.conn))
        return effects

    # -- pairing --------------------------------------------------------------

    def _accept(self, out: Outcome, adviser: Conn, consultation_id: str) -> None:
        away = self.state.adviser_calls.get(adviser.principal)
        if adviser.call is not None or (away is not None and away.adviser is not None):
            # also while another tab of this adviser holds a consultation
            out.error(adviser, "conflict", "already in a consultation")
            return
        kiosk = self.state.waiting.get(consultation_id)
        if kiosk is None or kiosk.tenant_id != adviser.tenant_id:
            taken = self.state.calls.get(consultation_id)
            if taken is not None and taken.tenant_id == adviser.tenant_id:
                out.error(adviser, "conflict", "another adviser took it")
            else:
                out.error(adviser, "not_found", "no such waiting consultation")
            return
        if away is not None:
            # Away from a live consultation (a reloaded tab without its token, another tab)
            # and taking a new customer instead of resuming: that one is given up.
            self._finish(out, away, "peer_gone", cause="gave_up", role="adviser")
        self.state.queue(kiosk.tenant_id).remove(consultation_id)
        del self.state.waiting[consultation_id]
        kiosk.waiting = None
        call = LiveCall(
            consultation_id=consultation_id,
            tenant_id=kiosk.tenant_id,
            device_id=kiosk.principal,
            kiosk_name=kiosk.name,
            adviser_id=adviser.principal,
            adviser_name=adviser.name,
            kiosk=kiosk,
            adviser=adviser,
        )
        kiosk.call = adviser.call = call
        out.effects.append(self.state.register(call))
        out.effects.append(RecordAccepted(consultation_id, adviser.conn))
        # The adviser first: the kiosk answers with its (pre-gathered) offer at once, which
        # must not reach the adviser before the adviser's own accepted.
        for conn, other in ((adviser, kiosk), (kiosk, adviser)):
            out.send(conn, Accepted(consultation_id=consultation_id, peer=other.name))
            out.effects.append(self._grant(call, conn))
        out.tenants[kiosk.tenant_id] = None

    def _restored(self, out: Outcome, records: tuple[LiveRecord, ...]) -> None:
        for record in records:
            if record.consultation_id in self.state.calls:
                continue
            call = LiveCall(
                consultation_id=record.consultation_id,
                tenant_id=record.tenant_id,
                device_id=record.device_id,
                kiosk_name=record.kiosk_name,
                adviser_id=record.adviser_id,
                adviser_name=record.adviser_name,
            )
            out.effects.append(self.state.register(call))
            for role in ROLES:
                self._start_grace(out, call, role)

    def _relay(self, out: Outcome, conn: Conn, event: RelayRequested) -> None:
        call = conn.call
        if call is None or call.consultation_id != event.message.consultation_id:
            out.error(conn, "not_found", "not in that consultation")
            return
        other = call.slot(opposite(conn.role))
        if other is not None:  # while the other side is away its candidates are moot
            out.send(other, event.message)

    # -- endings --------------------------------------------------------------

    def _end(self, out: Outcome, conn: Conn, consultation_id: str, reason: EndReason) -> None:
        if conn.call is not None and conn.call.consultation_id == consultation_id:
            self._finish(out, conn.call, reason, cause="ended", by=conn)
        elif conn.waiting is not None and conn.waiting == consultation_id:
            self._unqueue(out, conn, reason)
        elif conn.last_ended == consultation_id:
            out.effects.append(LateEnd(conn.conn, conn.role))
        else:
            out.error(conn, "not_found", "not in that consultation")

    def _finish(
        self,
        out: Outcome,
        call: LiveCall,
        reason: EndReason,
        *,
        cause: EndCause,
        by: Conn | None = None,
        role: Role | None = None,
    ) -> None:
        """End a live consultation: ``ended`` to every present party but ``by``; tokens die."""
        for side in ROLES:
            if side in call.grace:
                out.effects.append(CancelGrace(call.consultation_id, side))
        call.grace.clear()
        self.state.unregister(call)
        present = [c for c in (call.kiosk, call.adviser) if c is not None]
        for conn in present:
            conn.call = None
            conn.last_ended = call.consultation_id
        call.kiosk = call.adviser = None
        out.effects.append(RecordEnded(call.consultation_id, reason))
        out.effects.append(CallEnded(call.consultation_id, reason, cause, role))
        ended = Ended(consultation_id=call.consultation_id, reason=reason)
        for conn in present:
            if conn is not by:
                out.send(conn, ended)

    # -- away, grace and resume ------------------------------------------------

    def _step_away(self, out: Outcome, conn: Conn) -> None:
        """A party's connection is gone: the other side hears ``peer_away``; grace runs."""
        call = conn.call
        if call is None:
            return
        conn.call = None
        if call.slot(conn.role) is conn:
            call.attach(conn.role, None)
        if self.state.stopping:
            return  # the hub stops: the database keeps it live for the next start
        self._start_grace(out, call, conn.role)
        out.effects.append(PartyAway(call.consultation_id, conn.role))
        other = call.slot(opposite(conn.role))
        if other is not None:
            out.send(other, PeerAway(consultation_id=call.consultation_id))

    def _start_grace(self, out: Outcome, call: LiveCall, role: Role) -> None:
        if role not in call.grace:
            call.grace.add(role)
            out.effects.append(StartGrace(call.consultation_id, role))

    def _grace_expired(self, out: Outcome, consultation_id: str, role: Role) -> None:
        """A grace timer fired: if that side is still away, the consultation ends."""
        call = self.state.calls.get(consultation_id)
        if call is None or role not in call.grace:
            return  # a timer the core no longer runs (cancelled as it fired)
        call.grace.discard(role)
        if call.slot(role) is not None:
            return
        self._finish(out, call, "peer_gone", cause="grace", role=role)

    def _may_resume(self, conn: Conn, consultation_id: str) -> bool:
        call = self.state.calls.get(consultation_id)
        return (
            call is not None
            and conn.call is None
            and conn.waiting is None
            and call.tenant_id == conn.tenant_id
            and call.principal(conn.role) == conn.principal
        )

    def _resume(self, out: Outcome, conn: Conn, call: LiveCall) -> None:
        """Put a returning party back into its consultation (its token was just used up)."""
        old = call.slot(conn.role)
        if old is not None:
            # The same adviser (kiosks are replaced at hello) resumed from a newer connection:
            # the newer one wins, as for a kiosk. The old one stays open until it closes.
            old.call = None
            out.effects.append(Close(old.conn, CLOSE_REPLACED, _REPLACED))
        if conn.role in call.grace:
            call.grace.discard(conn.role)
            out.effects.append(CancelGrace(call.consultation_id, conn.role))
        call.attach(conn.role, conn)
        conn.call = call
        other = call.slot(opposite(conn.role))
        out.effects.append(self._grant(call, conn))
        peer = call.name(opposite(conn.role))
        present = other is not None
        resumed = Resumed(consultation_id=call.consultation_id, peer=peer, peer_present=present)
        out.send(conn, resumed)
        if other is not None:
            out.send(other, PeerBack(consultation_id=call.consultation_id))
        out.effects.append(PartyBack(call.consultation_id, conn.role, call.tenant_id))

    def _grant(self, call: LiveCall, conn: Conn) -> GrantResumeToken:
        return GrantResumeToken(conn.conn, call.consultation_id, conn.role, conn.principal)

    def _stop(self, out: Outcome) -> None:
        self.state.stopping = True
        for call in self.state.calls.values():
            for role in ROLES:
                if role in call.grace:
                    out.effects.append(CancelGrace(call.consultation_id, role))
            call.grace.clear()
