"""The hub's pure pairing core, by example: one test per named rule (no sockets, no clock)."""

from __future__ import annotations

from hub.signalling.pairing import Pairing
from hub.signalling.pairing_events import (
    CLOSE_REPLACED,
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
    LateEnd,
    LiveRecord,
    PartyAway,
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
    Send,
    ServiceChanged,
    StartGrace,
    Stopping,
    TakeResumeToken,
)
from protocol.messages import (
    Accepted,
    AnyMessage,
    Ended,
    Error,
    ErrorCode,
    IceCandidate,
    Offer,
    PeerAway,
    PeerBack,
    Resumed,
)

TENANT = 1
OTHER_TENANT = 2
SDP = "v=0\r\n"


def cid(n: int) -> str:
    """A consultation id as the shell would mint it (well-formed, unique)."""
    return f"consultation-{n:04d}"


def messages(effects: list[Effect], conn: int) -> list[AnyMessage]:
    """What the effects send to one connection, in order."""
    return [e.message for e in effects if isinstance(e, Send) and e.conn == conn]


def error(text: str, code: ErrorCode = "not_found") -> Error:
    return Error(code=code, message=text)


class Hub:
    """A pairing core plus the bookkeeping a test needs to drive it in few words."""

    def __init__(self) -> None:
        self.core = Pairing()
        self.minted = 0

    def __call__(self, event: Event) -> list[Effect]:
        return self.core.handle(event)

    def kiosk(self, conn: int, device: int, tenant: int = TENANT) -> list[Effect]:
        return self(Connected(conn, "kiosk", device, tenant, f"kiosk-{device}"))

    def adviser(self, conn: int, adviser: int, tenant: int = TENANT) -> list[Effect]:
        return self(Connected(conn, "adviser", adviser, tenant, f"adviser-{adviser}"))

    def queue(self, conn: int) -> str:
        self.minted += 1
        consultation = cid(self.minted)
        self(QueueRequested(conn, consultation, now=float(self.minted)))
        return consultation

    def paired(self, kiosk: int = 1, adviser: int = 2, device: int = 10, who: int = 20) -> str:
        """A kiosk and an adviser in a call; returns its consultation id."""
        self.kiosk(kiosk, device)
        self.adviser(adviser, who)
        consultation = self.queue(kiosk)
        self(AcceptRequested(adviser, consultation))
        return consultation


# -- the queue ----------------------------------------------------------------


def test_queue_request_records_it_and_announces_to_the_tenant() -> None:
    hub = Hub()
    assert hub.adviser(5, 50) == [Announce(5)]  # a new console gets the queue at once
    hub.adviser(6, 60, tenant=OTHER_TENANT)
    hub.kiosk(1, 10)
    effects = hub(QueueRequested(1, cid(1), now=12.5))
    assert effects == [RecordQueued(cid(1), 1, 12.5), Announce(1), Announce(5)]
    assert [w.queued_at for w in hub.core.state.queue_of(TENANT)] == [12.5]


def test_the_queue_is_first_come_first_served() -> None:
    hub = Hub()
    for conn in (1, 2, 3):
        hub.kiosk(conn, 10 + conn)
    first, second, third = (hub.queue(conn) for conn in (1, 2, 3))
    queue = hub.core.state.queue_of(TENANT)
    assert [w.consultation_id for w in queue] == [first, second, third]
    assert hub(QueueLeft(1)) == [RecordEnded(first, "customer_left"), Announce(2), Announce(3)]
    position = hub.core.state.position(3)
    assert position is not None and (position.position, position.waiting) == (2, 2)


def test_a_kiosk_cannot_queue_twice_nor_leave_a_queue_it_is_not_in() -> None:
    hub = Hub()
    hub.kiosk(1, 10)
    assert messages(hub(QueueLeft(1)), 1) == [error("not in the queue")]
    hub.queue(1)
    effects = hub(QueueRequested(1, cid(99), now=0.0))
    assert messages(effects, 1) == [error("already queued or in a consultation", "conflict")]


def test_an_out_of_service_kiosk_leaves_the_queue_and_may_not_queue() -> None:
    hub = Hub()
    hub.kiosk(1, 10)
    waiting = hub.queue(1)
    assert hub(ServiceChanged(1, "wipe_failed")) == [RecordEnded(waiting, "customer_left")]
    refused = messages(hub(QueueRequested(1, cid(2), now=0.0)), 1)
    assert refused == [error("out of service: the kiosk must be repaired first", "conflict")]
    hub(ServiceChanged(1, None))
    assert hub.core.state.connection(1) is not None
    hub.queue(1)
    assert hub.core.state.counts()["waiting"] == 1


# -- accept -------------------------------------------------------------------


def test_accept_tells_the_adviser_first_each_followed_by_its_grant() -> None:
    hub = Hub()
    hub.kiosk(1, 10)
    hub.adviser(2, 20)
    waiting = hub.queue(1)
    effects = hub(AcceptRequested(2, waiting))
    assert effects == [
        CallStarted(waiting, TENANT, 10, 20),
        RecordAccepted(waiting, 2),
        Send(2, Accepted(consultation_id=waiting, peer="kiosk-10")),
        GrantResumeToken(2, waiting, "adviser", 20),
        Send(1, Accepted(consultation_id=waiting, peer="adviser-20")),
        GrantResumeToken(1, waiting, "kiosk", 10),
        Announce(2),  # the queue is empty now
    ]
    assert hub.core.state.counts() == {
        "kiosks": 1, "advisers": 1, "waiting": 0, "calls": 1, "away": 0,
    }  # fmt: skip


def test_two_advisers_racing_for_one_kiosk_exactly_one_wins() -> None:
    hub = Hub()
    hub.kiosk(1, 10)
    hub.adviser(2, 20)
    hub.adviser(3, 30)
    waiting = hub.queue(1)
    won = hub(AcceptRequested(3, waiting))
    lost = hub(AcceptRequested(2, waiting))
    assert Send(3, Accepted(consultation_id=waiting, peer="kiosk-10")) in won
    assert lost == [Send(2, error("another adviser took it", "conflict"))]
    call = hub.core.state.call(waiting)
    assert call is not None and call.adviser_id == 30


def test_accept_of_an_unknown_or_another_tenants_consultation_is_not_found() -> None:
    hub = Hub()
    hub.kiosk(1, 10, tenant=OTHER_TENANT)
    hub.adviser(2, 20)
    theirs = hub.queue(1)
    for consultation in (theirs, cid(99)):
        effects = hub(AcceptRequested(2, consultation))
        assert effects == [Send(2, error("no such waiting consultation"))]
    hub.adviser(3, 30, tenant=OTHER_TENANT)
    hub(AcceptRequested(3, theirs))
    assert hub(AcceptRequested(2, theirs)) == [Send(2, error("no such waiting consultation"))]


def test_an_adviser_in_a_call_cannot_accept_another() -> None:
    hub = Hub()
    hub.paired()
    hub.kiosk(3, 30)
    other = hub.queue(3)
    refused = hub(AcceptRequested(2, other))
    assert refused == [Send(2, error("already in a consultation", "conflict"))]
    hub.adviser(4, 20)  # another tab of the same adviser
    assert hub(AcceptRequested(4, other)) == [
        Send(4, error("already in a consultation", "conflict"))
    ]


# -- relay and end ------------------------------------------------------------------


def test_frames_go_only_to_the_other_party_and_not_while_it_is_away() -> None:
    hub = Hub()
    consultation = hub.paired()
    offer = Offer(consultation_id=consultation, sdp=SDP)
    assert hub(RelayRequested(1, offer)) == [Send(2, offer)]
    stranger = Offer(consultation_id=cid(99), sdp=SDP)
    assert hub(RelayRequested(1, stranger)) == [Send(1, error("not in that consultation"))]
    hub(Disconnected(2))
    candidate = IceCandidate(consultation_id=consultation, candidate="candidate:1")
    assert hub(RelayRequested(1, candidate)) == []


def test_end_tells_the_other_side_and_a_second_end_is_silently_dropped() -> None:
    hub = Hub()
    consultation = hub.paired()
    effects = hub(EndRequested(2, consultation, "hangup"))
    assert effects == [
        RecordEnded(consultation, "hangup"),
        CallEnded(consultation, "hangup", "ended"),
        Send(1, Ended(consultation_id=consultation, reason="hangup")),
    ]
    assert hub(EndRequested(1, consultation, "hangup")) == [LateEnd(1, "kiosk")]
    assert hub(EndRequested(2, consultation, "hangup")) == [LateEnd(2, "adviser")]
    never = hub(EndRequested(1, cid(99), "hangup"))
    assert never == [Send(1, error("not in that consultation"))]


def test_end_of_a_wait_leaves_the_queue_with_that_reason() -> None:
    hub = Hub()
    hub.kiosk(1, 10)
    waiting = hub.queue(1)
    assert hub(EndRequested(1, waiting, "customer_left")) == [RecordEnded(waiting, "customer_left")]


# -- away, grace and resume ---------------------------------------------------------


def test_a_dropped_party_is_away_and_its_grace_runs() -> None:
    hub = Hub()
    consultation = hub.paired()
    assert hub(Disconnected(1)) == [
        StartGrace(consultation, "kiosk"),
        PartyAway(consultation, "kiosk"),
        Send(2, PeerAway(consultation_id=consultation)),
    ]
    assert hub.core.state.counts()["away"] == 1
    assert hub(Disconnected(1)) == []  # the connection is gone already


def test_grace_expiry_ends_the_consultation_only_if_that_side_is_still_away() -> None:
    hub = Hub()
    consultation = hub.paired()
    hub(Disconnected(1))
    hub.kiosk(3, 10)
    hub(ResumeRequested(3, consultation, "digest"))
    back = hub(ResumeChecked(3, consultation, valid=True))
    assert CancelGrace(consultation, "kiosk") in back
    assert hub(GraceExpired(consultation, "kiosk")) == []  # a timer cancelled as it fired
    hub(Disconnected(2))
    assert hub(GraceExpired(consultation, "adviser")) == [
        RecordEnded(consultation, "peer_gone"),
        CallEnded(consultation, "peer_gone", "grace", "adviser"),
        Send(3, Ended(consultation_id=consultation, reason="peer_gone")),
    ]


def test_a_resume_is_taken_then_puts_the_party_back_with_a_new_grant() -> None:
    hub = Hub()
    consultation = hub.paired()
    hub(Disconnected(1))
    hub.kiosk(3, 10)
    assert hub(ResumeRequested(3, consultation, "digest")) == [
        TakeResumeToken(3, consultation, "kiosk", 10, "digest")
    ]
    effects = hub(ResumeChecked(3, consultation, valid=True))
    assert [e for e in effects if isinstance(e, (Send, GrantResumeToken))] == [
        GrantResumeToken(3, consultation, "kiosk", 10),
        Send(3, Resumed(consultation_id=consultation, peer="adviser-20", peer_present=True)),
        Send(2, PeerBack(consultation_id=consultation)),
    ]


def test_every_refused_resume_gets_the_same_answer_and_uses_no_token() -> None:
    hub = Hub()
    consultation = hub.paired()
    hub.kiosk(5, 50)  # another device of the same tenant
    hub.kiosk(6, 60, tenant=OTHER_TENANT)
    hub.adviser(7, 70)
    refused = [Send(c, error(RESUME_REFUSED)) for c in (1, 5, 6, 7)]
    # in the call already; another device; another tenant; another adviser; unknown id
    for conn, expected in zip((1, 5, 6, 7), refused, strict=True):
        assert hub(ResumeRequested(conn, consultation, "digest")) == [expected]
    assert hub(ResumeRequested(5, cid(99), "digest")) == [refused[1]]
    hub(Disconnected(1))
    hub.kiosk(8, 10)
    hub(ResumeRequested(8, consultation, "wrong"))
    assert hub(ResumeChecked(8, consultation, valid=False)) == [Send(8, error(RESUME_REFUSED))]
    hub.queue(5)
    assert hub(ResumeRequested(5, consultation, "d")) == [refused[1]]  # while queued


def test_a_resume_is_decided_against_the_state_when_the_database_answers() -> None:
    hub = Hub()
    consultation = hub.paired()
    hub(Disconnected(1))
    hub.kiosk(3, 10)
    hub(ResumeRequested(3, consultation, "digest"))
    hub(GraceExpired(consultation, "kiosk"))  # while the token was being taken
    assert hub(ResumeChecked(3, consultation, valid=True)) == [Send(3, error(RESUME_REFUSED))]


def test_an_away_adviser_is_still_busy_and_accepting_elsewhere_gives_the_call_up() -> None:
    hub = Hub()
    consultation = hub.paired()
    hub(Disconnected(2))
    hub.kiosk(3, 30)
    other = hub.queue(3)
    hub.adviser(4, 20)  # a reloaded tab without its token
    assert hub(AcceptRequested(4, cid(99))) == [Send(4, error("no such waiting consultation"))]
    assert hub.core.state.call(consultation) is not None  # a failed accept gives nothing up
    effects = hub(AcceptRequested(4, other))
    assert effects[:4] == [
        CancelGrace(consultation, "adviser"),
        RecordEnded(consultation, "peer_gone"),
        CallEnded(consultation, "peer_gone", "gave_up", "adviser"),
        Send(1, Ended(consultation_id=consultation, reason="peer_gone")),
    ]
    assert Send(4, Accepted(consultation_id=other, peer="kiosk-30")) in effects


def test_an_away_kiosk_is_not_free_until_it_queues_afresh() -> None:
    hub = Hub()
    consultation = hub.paired()
    hub(Disconnected(1))
    hub.kiosk(3, 10)  # the same device, back without resuming
    effects = hub(QueueRequested(3, cid(50), now=0.0))
    assert CallEnded(consultation, "peer_gone", "gave_up", "kiosk") in effects
    assert Send(2, Ended(consultation_id=consultation, reason="peer_gone")) in effects
    assert hub.core.state.live() == ()
    assert hub.core.state.connection(3) is not None
    # while a connection of the kiosk is in its call, a queue request is a conflict
    hub.paired(kiosk=11, adviser=12, device=110, who=120)
    refused = hub(QueueRequested(11, cid(51), now=0.0))
    assert refused == [Send(11, error("already queued or in a consultation", "conflict"))]


def test_a_kiosk_is_replaced_at_hello_by_a_newer_connection_of_its_device() -> None:
    hub = Hub()
    consultation = hub.paired()
    effects = hub.kiosk(3, 10)
    assert effects == [
        StartGrace(consultation, "kiosk"),
        PartyAway(consultation, "kiosk"),
        Send(2, PeerAway(consultation_id=consultation)),
        Close(1, CLOSE_REPLACED, "replaced by a newer connection"),
    ]
    assert hub.core.state.open_connections() == (2, 3)
    assert hub(EndRequested(1, consultation, "hangup")) == []  # the old one says nothing now


def test_an_adviser_resuming_from_a_newer_connection_replaces_the_old_one() -> None:
    hub = Hub()
    consultation = hub.paired()
    hub.adviser(3, 20)
    hub(ResumeRequested(3, consultation, "digest"))
    effects = hub(ResumeChecked(3, consultation, valid=True))
    assert effects[0] == Close(2, CLOSE_REPLACED, "replaced by a newer connection")
    assert Send(1, PeerBack(consultation_id=consultation)) in effects
    call = hub.core.state.call(consultation)
    assert call is not None and call.adviser == 3
    assert [e for e in hub(Disconnected(2)) if not isinstance(e, Announce)] == []


def test_a_revoked_party_ends_its_call_at_once() -> None:
    hub = Hub()
    consultation = hub.paired()
    assert hub(Revoked(1)) == [
        RecordEnded(consultation, "peer_gone"),
        CallEnded(consultation, "peer_gone", "ended"),
        Send(2, Ended(consultation_id=consultation, reason="peer_gone")),
    ]
    assert hub.core.state.open_connections() == (2,)


# -- restart and stop ------------------------------------------------------------------


def test_restored_consultations_wait_for_both_parties() -> None:
    hub = Hub()
    record = LiveRecord(cid(1), TENANT, 10, "kiosk-10", 20, "adviser-20")
    assert hub(Restored((record,))) == [
        CallStarted(cid(1), TENANT, 10, 20),
        StartGrace(cid(1), "kiosk"),
        StartGrace(cid(1), "adviser"),
    ]
    hub.kiosk(1, 10)
    hub(ResumeRequested(1, cid(1), "digest"))
    effects = hub(ResumeChecked(1, cid(1), valid=True))
    resumed = Resumed(consultation_id=cid(1), peer="adviser-20", peer_present=False)
    assert Send(1, resumed) in effects


def test_a_stopping_hub_keeps_live_consultations_and_starts_no_grace() -> None:
    hub = Hub()
    consultation = hub.paired()
    hub(Disconnected(1))
    assert hub(Stopping()) == [CancelGrace(consultation, "kiosk")]
    assert hub(Disconnected(2)) == []
    assert hub.core.state.live() == (consultation,)
    assert hub.core.state.counts()["away"] == 0
