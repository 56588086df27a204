"""The hub's pairing core under generated event sequences (hypothesis, stateful).

A model shell drives ``hub.signalling.pairing.Pairing`` as the switchboard does: it opens and
drops connections, runs the grace timers the core starts, keeps the resume tokens the core has
it grant (as the database does: one per side, used up when taken, gone when the consultation
ends) and answers ``TakeResumeToken`` later, possibly after other events. After every step it
checks the invariants the hub's clients rely on.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from hub.signalling.pairing import Pairing
from hub.signalling.pairing_events import (
    RESUME_REFUSED,
    AcceptRequested,
    Announce,
    CallEnded,
    CallStarted,
    CancelGrace,
    Close,
    Connected,
    Disconnected,
    Effect,
    EndRequested,
    Event,
    GraceExpired,
    GrantResumeToken,
    LiveRecord,
    QueueLeft,
    QueueRequested,
    RecordEnded,
    RecordQueued,
    RelayRequested,
    Restored,
    ResumeChecked,
    ResumeRequested,
    Revoked,
    Send,
    ServiceChanged,
    StartGrace,
    Stopping,
    TakeResumeToken,
)
from protocol.messages import Accepted, Ended, EndReason, Error, IceCandidate, Resumed, Role

# Devices and advisers of two tenants: few enough that parties meet often.
DEVICES = {10: 1, 11: 1, 12: 1, 13: 2}
ADVISERS = {20: 1, 21: 1, 22: 2}
MAX_SOCKETS = 8  # enough for every party and a spare connection or two
STOP_AFTER = 30  # events before the hub may stop (a stopped hub has few rules left)
REASONS: tuple[EndReason, ...] = ("hangup", "customer_left", "failed")
pick = st.integers(min_value=0, max_value=10_000)


@dataclass(frozen=True)
class Token:
    """A granted resume token as the database holds it (its digest stands for it)."""

    consultation_id: str
    role: Role
    principal: int
    digest: str


class PairingMachine(RuleBasedStateMachine):
    """The core, a model shell around it, and the invariants."""

    def __init__(self) -> None:
        super().__init__()
        self.core = Pairing()
        self.next_conn = 0
        self.next_id = 0
        self.sockets: dict[int, tuple[Role, int]] = {}  # conn -> (role, principal), until gone
        self.timers: set[tuple[str, Role]] = set()
        self.stale_timers: list[tuple[str, Role]] = []
        self.tokens: dict[tuple[str, Role], Token] = {}  # the database's one token per side
        self.granted: list[Token] = []  # every token ever granted (used, stale, others')
        self.pending: list[TakeResumeToken] = []  # token checks the database has not answered
        self.used: set[str] = set()  # digests a party resumed with
        self.arrivals: dict[int, list[str]] = {1: [], 2: []}  # tenant -> queued ids, in order
        self.started: set[str] = set()  # consultations that became live (accepted, restored)
        self.queued: set[str] = set()
        self.recorded_ended: Counter[str] = Counter()
        self.call_ended: Counter[str] = Counter()
        self.accepted_sent: Counter[tuple[str, int]] = Counter()
        self.stopped = False
        self.steps = 0

    # -- the model shell -------------------------------------------------------------

    def handle(self, event: Event) -> list[Effect]:
        """Feed one event, check what comes out, and carry it out as the shell would."""
        before = {cid: self.core.state.call(cid) for cid in self.core.state.live()}
        members = {
            conn: state.call
            for conn in self.core.state.open_connections()
            if (state := self.core.state.connection(conn)) is not None
        }
        effects = self.core.handle(event)
        self.steps += 1
        open_now = set(self.core.state.open_connections())
        for effect in effects:
            match effect:
                case Send() | Announce() | GrantResumeToken() | TakeResumeToken():
                    # nothing is addressed to a connection that is not open
                    assert effect.conn in open_now, effect
                case Close():
                    assert effect.conn in self.sockets, effect
            match effect:
                case Send(conn=conn, message=Ended() as ended):
                    # ``ended`` only to a present party of that very consultation
                    assert members.get(conn) == ended.consultation_id, effect
                case Send(conn=conn, message=Accepted() as accepted):
                    self.accepted_sent[(accepted.consultation_id, conn)] += 1
                case Send(conn=conn, message=Resumed()):
                    # a party is put back only on a token the database just used up for it
                    assert isinstance(event, ResumeChecked) and event.valid, event
                    assert event.conn == conn
                case StartGrace():
                    assert not self.stopped, "a stopping hub starts no grace period"
                    assert (effect.consultation_id, effect.role) not in self.timers, effect
                    self.timers.add((effect.consultation_id, effect.role))
                case CancelGrace():
                    key = (effect.consultation_id, effect.role)
                    assert key in self.timers, effect
                    self.timers.discard(key)
                    self.stale_timers.append(key)
                case GrantResumeToken():
                    self.next_id += 1
                    token = Token(
                        effect.consultation_id, effect.role, effect.principal, f"d{self.next_id}"
                    )
                    self.tokens[(effect.consultation_id, effect.role)] = token
                    self.granted.append(token)
                case TakeResumeToken():
                    self.pending.append(effect)
                case RecordQueued():
                    self.queued.add(effect.consultation_id)
                    tenant = self.tenant_of(effect.conn)
                    self.arrivals[tenant].append(effect.consultation_id)
                case RecordEnded():
                    self.recorded_ended[effect.consultation_id] += 1
                    for role in ("kiosk", "adviser"):
                        self.tokens.pop((effect.consultation_id, role), None)  # tokens die
                case CallStarted():
                    self.started.add(effect.consultation_id)
                case CallEnded():
                    self.call_ended[effect.consultation_id] += 1
                    old = before[effect.consultation_id]
                    assert old is not None
                    if effect.cause == "grace":
                        # grace ends a consultation only if that side is still away
                        assert effect.role is not None
                        assert (old.kiosk if effect.role == "kiosk" else old.adviser) is None
                case _:
                    pass
        return effects

    def tenant_of(self, conn: int) -> int:
        role, principal = self.sockets[conn]
        return DEVICES[principal] if role == "kiosk" else ADVISERS[principal]

    def connect(self, role: Role, principal: int) -> int:
        self.next_conn += 1
        conn = self.next_conn
        self.sockets[conn] = (role, principal)
        tenant = DEVICES[principal] if role == "kiosk" else ADVISERS[principal]
        self.handle(Connected(conn, role, principal, tenant, f"{role}-{principal}"))
        return conn

    def open_of(self, role: Role) -> list[int]:
        return [
            c
            for c in self.core.state.open_connections()
            if (s := self.core.state.connection(c)) is not None and s.role == role
        ]

    def kiosk_of(self, device: int) -> int | None:
        for conn in self.open_of("kiosk"):
            state = self.core.state.connection(conn)
            if state is not None and state.principal == device:
                return conn
        return None

    def known_ids(self) -> list[str]:
        return sorted(self.queued | self.started) or ["consultation-none"]

    # -- rules -------------------------------------------------------------------

    @initialize(restored=st.lists(st.tuples(st.sampled_from(sorted(DEVICES)), pick), max_size=2))
    def restart(self, restored: list[tuple[int, int]]) -> None:
        """Maybe a restarted hub with live consultations from its database."""
        records: list[LiveRecord] = []
        busy: set[int] = set()
        for device, n in restored:
            tenant = DEVICES[device]
            advisers = [a for a, t in ADVISERS.items() if t == tenant and a not in busy]
            if device in busy or not advisers:
                continue
            adviser = advisers[n % len(advisers)]
            busy |= {device, adviser}
            cid = f"restored-{device}"
            records.append(LiveRecord(cid, tenant, device, f"kiosk-{device}", adviser, "a"))
        self.handle(Restored(tuple(records)))

    @precondition(lambda self: len(self.sockets) < MAX_SOCKETS)
    @rule(device=st.sampled_from(sorted(DEVICES)))
    def kiosk_says_hello(self, device: int) -> None:
        self.connect("kiosk", device)

    @precondition(lambda self: len(self.sockets) < MAX_SOCKETS)
    @rule(adviser=st.sampled_from(sorted(ADVISERS)))
    def adviser_says_hello(self, adviser: int) -> None:
        self.connect("adviser", adviser)

    @precondition(lambda self: self.sockets)
    @rule(n=pick, revoked=st.sampled_from([False, False, False, True]))
    def connection_goes(self, n: int, revoked: bool) -> None:
        conn = sorted(self.sockets)[n % len(self.sockets)]
        del self.sockets[conn]
        self.handle(Revoked(conn) if revoked else Disconnected(conn))
        self.handle(Disconnected(conn))  # the socket loop ends after either: idempotent

    @precondition(lambda self: self.open_of("kiosk"))
    @rule(n=pick)
    def kiosk_queues(self, n: int) -> None:
        kiosks = self.open_of("kiosk")
        self.next_id += 1
        self.handle(QueueRequested(kiosks[n % len(kiosks)], f"c-{self.next_id}", float(n)))

    @precondition(lambda self: self.open_of("kiosk"))
    @rule(n=pick, ready=st.sampled_from([True, True, False]), leave=st.booleans())
    def kiosk_leaves_or_reports(self, n: int, ready: bool, leave: bool) -> None:
        kiosk = self.open_of("kiosk")[n % len(self.open_of("kiosk"))]
        self.handle(QueueLeft(kiosk) if leave else ServiceChanged(kiosk, None if ready else "x"))

    @precondition(lambda self: len(self.sockets) < MAX_SOCKETS - 1)
    @rule(device=st.sampled_from(sorted(DEVICES)), n=pick)
    def a_kiosk_queues_and_an_adviser_takes_it(self, device: int, n: int) -> None:
        """The common path, in one step (so generated sequences reach calls often)."""
        tenant = DEVICES[device]
        kiosk = self.kiosk_of(device) or self.connect("kiosk", device)
        advisers = [c for c in self.open_of("adviser") if self.tenant_of(c) == tenant]
        if not advisers:
            choices = [a for a, t in ADVISERS.items() if t == tenant]
            advisers = [self.connect("adviser", choices[n % len(choices)])]
        self.next_id += 1
        self.handle(QueueRequested(kiosk, f"c-{self.next_id}", 0.0))
        state = self.core.state.connection(kiosk)
        if state is not None and state.waiting is not None:
            self.handle(AcceptRequested(advisers[n % len(advisers)], state.waiting))

    @precondition(lambda self: self.open_of("adviser"))
    @rule(n=pick, m=pick, waiting=st.booleans())
    def adviser_accepts(self, n: int, m: int, waiting: bool) -> None:
        adviser = self.open_of("adviser")[n % len(self.open_of("adviser"))]
        queue = self.core.state.queue_of(self.tenant_of(adviser)).snapshot()
        ids = [w.consultation_id for w in queue] if waiting and queue else self.known_ids()
        self.handle(AcceptRequested(adviser, ids[m % len(ids)]))

    @precondition(lambda self: len(self.open_of("adviser")) >= 2)
    @rule(n=pick, m=pick)
    def two_advisers_race_for_the_first_kiosk(self, n: int, m: int) -> None:
        first = self.core.state.queue_of(1).snapshot()
        if not first:
            return
        cid = first[0].consultation_id
        advisers = [c for c in self.open_of("adviser") if self.tenant_of(c) == 1]
        if len(advisers) < 2:
            return
        a, b = advisers[n % len(advisers)], advisers[m % len(advisers)]
        if a == b:
            return
        outcomes = [self.handle(AcceptRequested(conn, cid)) for conn in (a, b)]
        won = [
            conn
            for conn, effects in zip((a, b), outcomes, strict=True)
            if any(isinstance(e, Send) and isinstance(e.message, Accepted) for e in effects)
        ]
        assert len(won) <= 1
        if won:  # the other one gets the same answer as a late accept always did
            loser, effects = (b, outcomes[1]) if won == [a] else (a, outcomes[0])
            assert [e for e in effects if isinstance(e, Send)] == [
                Send(loser, Error(code="conflict", message="another adviser took it"))
            ] or any(  # or it was busy with a consultation of its own
                isinstance(e, Send)
                and e.message == Error(code="conflict", message="already in a consultation")
                for e in effects
            )

    @precondition(lambda self: self.core.state.open_connections())
    @rule(n=pick, m=pick, reason=st.sampled_from(REASONS), relay=st.booleans(), own=st.booleans())
    def party_ends_or_relays(
        self, n: int, m: int, reason: EndReason, relay: bool, own: bool
    ) -> None:
        conns = self.core.state.open_connections()
        conn = conns[n % len(conns)]
        state = self.core.state.connection(conn)
        assert state is not None
        mine = [c for c in (state.call, state.waiting, state.last_ended) if c is not None]
        ids = mine if own and mine else self.known_ids()
        cid = ids[m % len(ids)]
        if relay:
            self.handle(RelayRequested(conn, IceCandidate(consultation_id=cid, candidate="c")))
        else:
            self.handle(EndRequested(conn, cid, reason))

    @precondition(lambda self: self.core.state.open_connections() and self.granted)
    @rule(n=pick, m=pick, wrong=st.booleans())
    def party_resumes(self, n: int, m: int, wrong: bool) -> None:
        conns = self.core.state.open_connections()
        token = self.granted[m % len(self.granted)]
        digest = "never-granted" if wrong else token.digest
        self.handle(ResumeRequested(conns[n % len(conns)], token.consultation_id, digest))

    @precondition(lambda self: self.granted and len(self.sockets) < MAX_SOCKETS)
    @rule(n=pick, wrong=st.sampled_from([False, False, True]), live=st.booleans())
    def party_comes_back_on_a_new_connection(self, n: int, wrong: bool, live: bool) -> None:
        tokens = list(self.tokens.values()) if live and self.tokens else self.granted
        token = tokens[n % len(tokens)]
        conn = self.connect(token.role, token.principal)
        digest = "never-granted" if wrong else token.digest
        self.handle(ResumeRequested(conn, token.consultation_id, digest))

    @precondition(lambda self: self.pending)
    @rule(n=pick)
    def database_answers_a_token_check(self, n: int) -> None:
        take = self.pending.pop(n % len(self.pending))
        held = self.tokens.get((take.consultation_id, take.role))
        valid = held == Token(take.consultation_id, take.role, take.principal, take.token_digest)
        if valid:
            del self.tokens[(take.consultation_id, take.role)]  # single use
        effects = self.handle(ResumeChecked(take.conn, take.consultation_id, valid))
        if any(isinstance(e, Send) and isinstance(e.message, Resumed) for e in effects):
            assert take.token_digest not in self.used, "a resume token worked twice"
            self.used.add(take.token_digest)
        if not valid and self.core.state.connection(take.conn) is not None:
            assert effects == [Send(take.conn, Error(code="not_found", message=RESUME_REFUSED))]

    @precondition(lambda self: self.timers or self.stale_timers)
    @rule(n=pick, stale=st.booleans())
    def a_grace_timer_fires(self, n: int, stale: bool) -> None:
        if stale and self.stale_timers:
            cid, role = self.stale_timers[n % len(self.stale_timers)]
            if (cid, role) not in self.timers:
                assert self.handle(GraceExpired(cid, role)) == []  # cancelled as it fired
                return
        if self.timers:
            cid, role = sorted(self.timers)[n % len(self.timers)]
            self.timers.discard((cid, role))
            self.handle(GraceExpired(cid, role))

    @precondition(lambda self: not self.stopped and self.steps >= STOP_AFTER)
    @rule()
    def hub_stops(self) -> None:
        self.stopped = True
        self.handle(Stopping())
        assert self.timers == set()

    # -- invariants -------------------------------------------------------------------

    @invariant()
    def a_kiosk_is_never_both_queued_and_in_a_call(self) -> None:
        for conn in self.core.state.open_connections():
            state = self.core.state.connection(conn)
            assert state is not None
            assert state.waiting is None or state.call is None
            if state.waiting is not None:
                assert state.role == "kiosk"
                assert state.waiting in self.core.state.queue_of(state.tenant_id)
            if state.call is not None:
                call = self.core.state.call(state.call)
                assert call is not None
                assert (call.kiosk if state.role == "kiosk" else call.adviser) == conn

    @invariant()
    def a_party_is_in_at_most_one_live_consultation(self) -> None:
        calls = [self.core.state.call(cid) for cid in self.core.state.live()]
        assert all(c is not None for c in calls)
        devices = Counter(c.device_id for c in calls if c is not None)
        advisers = Counter(c.adviser_id for c in calls if c is not None)
        assert max(devices.values(), default=0) <= 1
        assert max(advisers.values(), default=0) <= 1

    @invariant()
    def grace_runs_exactly_for_the_away_sides(self) -> None:
        running = set()
        for cid in self.core.state.live():
            call = self.core.state.call(cid)
            assert call is not None
            for role in ("kiosk", "adviser"):
                away = (call.kiosk if role == "kiosk" else call.adviser) is None
                if role in call.grace:
                    assert away
                    running.add((cid, role))
                elif not self.stopped:
                    assert not away
        assert running == self.timers

    @invariant()
    def the_queue_keeps_arrival_order(self) -> None:
        for tenant, arrivals in self.arrivals.items():
            queue = [w.consultation_id for w in self.core.state.queue_of(tenant)]
            still = set(queue)
            assert queue == [cid for cid in arrivals if cid in still]

    @invariant()
    def every_consultation_ends_at_most_once_and_is_recorded_once(self) -> None:
        live = set(self.core.state.live())
        waiting = {w.consultation_id for t in (1, 2) for w in self.core.state.queue_of(t)}
        for cid in self.queued | self.started:
            ended = self.recorded_ended[cid]
            assert ended == (0 if cid in live or cid in waiting else 1), cid
            assert self.call_ended[cid] == (1 if ended and cid in self.started else 0), cid

    @invariant()
    def a_consultation_is_accepted_at_most_once_per_connection(self) -> None:
        assert max(self.accepted_sent.values(), default=0) <= 1


PairingMachine.TestCase.settings = settings(stateful_step_count=50)
test_pairing_keeps_its_invariants = PairingMachine.TestCase
