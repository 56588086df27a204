"""The kiosk's consultation state machine: the happy path, each ending, and random sequences."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance import consultation as c
from appliance.consultation import Consultation, Phase

CID = "consult-0001"
OTHER = "consult-0002"
COMMIT = "c0" * 32
COMMITTED = c.CommitmentReceived(CID, COMMIT)


def phase(machine: Consultation) -> Phase:
    """The machine's phase (a call, so mypy does not keep an earlier narrowing)."""
    return machine.phase


def run(machine: Consultation, *events: c.Event) -> list[c.Action]:
    """Feed events, replying to actions like the shell does (prepared, closed)."""
    out: list[c.Action] = []
    for event in events:
        pending = [event]
        while pending:
            actions = machine.handle(pending.pop(0))
            out += actions
            for action in actions:
                if isinstance(action, c.PrepareCall):
                    pending.append(c.CallPrepared())
                elif isinstance(action, c.CloseCall):
                    pending.append(c.CallClosed())
    return out


def test_happy_path() -> None:
    m = Consultation()
    assert phase(m) is Phase.DISCONNECTED
    assert m.handle(c.Welcomed()) == [c.SendQueueRequest(), c.PrepareCall()]
    assert phase(m) is Phase.QUEUEING
    assert m.handle(c.CallPrepared()) == []
    assert m.handle(c.QueuePositionChanged(CID, 2, 3)) == []
    assert m.state.position == 2
    assert m.handle(c.Accepted(CID, "Ann")) == [c.CallStarted(CID, "Ann")]
    assert phase(m) is Phase.OFFERING
    # The offer (with the kiosk's fingerprint) waits for the adviser's commitment.
    assert m.handle(c.AnswerReceived(CID, "v=0")) == []
    assert m.handle(c.CommitmentReceived(OTHER, COMMIT)) == []
    assert m.handle(COMMITTED) == [c.SendOffer(CID, COMMIT)]
    assert m.handle(c.CommitmentReceived(CID, "d1" * 32)) == []  # only the first counts
    assert m.state.commitment == COMMIT
    assert m.handle(c.AnswerReceived(CID, "v=0")) == [c.ApplyAnswer("v=0")]
    assert phase(m) is Phase.CONNECTING
    assert m.handle(c.CandidateReceived(CID, "cand", "0", 0)) == [c.AddCandidate("cand", "0", 0)]
    assert m.handle(c.CallConnected()) == []
    assert phase(m) is Phase.IN_CALL
    assert m.handle(c.EndedByPeer(CID, "hangup")) == [c.CallFinished(CID, "hangup"), c.CloseCall()]
    assert phase(m) is Phase.ENDING
    assert m.handle(c.CallClosed()) == [c.SendQueueRequest(), c.PrepareCall()]
    assert phase(m) is Phase.QUEUEING
    assert m.state.consultation_id is None


def test_accept_before_the_offer_is_ready_sends_it_when_prepared() -> None:
    m = Consultation()
    m.handle(c.Welcomed())
    assert m.handle(c.Accepted(CID, "Ann")) == [c.CallStarted(CID, "Ann")]
    assert m.handle(c.CallPrepared()) == []
    assert m.handle(COMMITTED) == [c.SendOffer(CID, COMMIT)]
    assert phase(m) is Phase.OFFERING


def test_commitment_before_the_offer_is_ready_sends_it_when_prepared() -> None:
    m = Consultation()
    m.handle(c.Welcomed())
    assert m.handle(c.Accepted(CID, "Ann")) == [c.CallStarted(CID, "Ann")]
    assert m.handle(COMMITTED) == []
    assert m.handle(c.CallPrepared()) == [c.SendOffer(CID, COMMIT)]


def test_no_commitment_then_failure_ends_the_call_unoffered() -> None:
    m = Consultation()
    run(m, c.Welcomed(), c.Accepted(CID, "Ann"))
    actions = run(m, c.CallFailed())
    assert c.SendEnd(CID, "failed") in actions
    assert not any(isinstance(a, c.SendOffer) for a in actions)


def test_failed_preparation_is_retried_on_accept() -> None:
    m = Consultation()
    m.handle(c.Welcomed())
    assert m.handle(c.CallFailed()) == [c.CloseCall()]
    assert m.handle(c.CallClosed()) == []  # still queueing, no call
    assert phase(m) is Phase.QUEUEING
    assert m.handle(c.Accepted(CID, "Ann")) == [c.CallStarted(CID, "Ann"), c.PrepareCall()]
    assert m.handle(COMMITTED) == []
    assert m.handle(c.CallPrepared()) == [c.SendOffer(CID, COMMIT)]


def test_call_failure_ends_with_reason_and_requeues() -> None:
    m = Consultation()
    run(m, c.Welcomed(), c.Accepted(CID, "Ann"), COMMITTED, c.AnswerReceived(CID, "sdp"))
    actions = run(m, c.CallFailed())
    assert actions[:3] == [c.CallFinished(CID, "failed"), c.SendEnd(CID, "failed"), c.CloseCall()]
    assert actions[3:] == [c.SendQueueRequest(), c.PrepareCall()]
    assert phase(m) is Phase.QUEUEING


def test_customer_hangs_up() -> None:
    m = Consultation()
    run(
        m,
        c.Welcomed(),
        c.Accepted(CID, "Ann"),
        COMMITTED,
        c.AnswerReceived(CID, "s"),
        c.CallConnected(),
    )
    actions = m.handle(c.HangUp())
    assert actions == [
        c.CallFinished(CID, "customer_left"),
        c.SendEnd(CID, "customer_left"),
        c.CloseCall(),
    ]


def test_hub_lost_closes_the_call() -> None:
    m = Consultation()
    run(
        m,
        c.Welcomed(),
        c.Accepted(CID, "Ann"),
        COMMITTED,
        c.AnswerReceived(CID, "s"),
        c.CallConnected(),
    )
    assert m.handle(c.HubLost()) == [c.CallFinished(CID, "peer_gone"), c.CloseCall()]
    assert phase(m) is Phase.DISCONNECTED
    assert m.handle(c.CallClosed()) == []
    assert m.handle(c.Welcomed()) == [c.SendQueueRequest(), c.PrepareCall()]


def test_hub_lost_while_queued_closes_the_prepared_call() -> None:
    m = Consultation()
    run(m, c.Welcomed())
    assert m.handle(c.HubLost()) == [c.CloseCall()]


def test_messages_for_other_consultations_are_ignored() -> None:
    m = Consultation()
    run(m, c.Welcomed(), c.Accepted(CID, "Ann"))
    assert m.handle(c.AnswerReceived(OTHER, "s")) == []
    assert m.handle(c.EndedByPeer(OTHER, "hangup")) == []
    assert m.handle(c.CandidateReceived(OTHER, "c", None, 0)) == []
    assert phase(m) is Phase.OFFERING


def test_out_of_phase_events_are_ignored() -> None:
    m = Consultation()
    for event in (c.Accepted(CID, "Ann"), COMMITTED, c.AnswerReceived(CID, "s"), c.CallConnected()):
        assert m.handle(event) == []
        assert phase(m) is Phase.DISCONNECTED


def test_shutdown_ends_politely() -> None:
    m = Consultation()
    run(m, c.Welcomed(), c.Accepted(CID, "Ann"))
    assert m.handle(c.Shutdown()) == [
        c.SendEnd(CID, "customer_left"),
        c.CallFinished(CID, "customer_left"),
        c.CloseCall(),
    ]
    assert phase(m) is Phase.STOPPED
    assert m.handle(c.Welcomed()) == []
    q = Consultation()
    run(q, c.Welcomed())
    assert q.handle(c.Shutdown()) == [c.SendQueueLeave(), c.CloseCall()]


events = st.one_of(
    st.just(c.Welcomed()),
    st.just(c.HubLost()),
    st.builds(c.QueuePositionChanged, st.sampled_from([CID, OTHER]), st.just(1), st.just(1)),
    st.builds(c.Accepted, st.sampled_from([CID, OTHER]), st.just("Ann")),
    st.builds(c.CommitmentReceived, st.sampled_from([CID, OTHER]), st.just(COMMIT)),
    st.builds(c.AnswerReceived, st.sampled_from([CID, OTHER]), st.just("sdp")),
    st.builds(
        c.CandidateReceived, st.sampled_from([CID, OTHER]), st.just("c"), st.none(), st.just(0)
    ),
    st.builds(c.EndedByPeer, st.sampled_from([CID, OTHER]), st.just("hangup")),
    st.just(c.CallPrepared()),
    st.just(c.CallConnected()),
    st.just(c.CallFailed()),
    st.just(c.CallClosed()),
    st.just(c.HangUp()),
    st.just(c.Shutdown()),
)


class ShellModel:
    """What a faithful shell would hold: is a call object open, was its offer sent."""

    def __init__(self) -> None:
        self.call_open = False
        self.offer_sent = False
        self.in_progress: str | None = None  # consultation with stats open

    def apply(self, action: c.Action) -> list[c.Event]:
        match action:
            case c.PrepareCall():
                self.call_open, self.offer_sent = True, False  # the shell replaces any old call
                return [c.CallPrepared()]
            case c.CloseCall():
                self.call_open = self.offer_sent = False
                return [c.CallClosed()]
            case c.SendOffer():
                assert self.call_open
                self.offer_sent = True
            case c.ApplyAnswer() | c.AddCandidate():
                assert self.call_open and self.offer_sent
            case c.CallStarted(consultation_id=cid):
                assert self.in_progress is None
                self.in_progress = cid
            case c.CallFinished(consultation_id=cid):
                assert self.in_progress == cid
                self.in_progress = None
            case _:
                pass
        return []


@settings(max_examples=400)
@given(st.lists(events, max_size=40), st.booleans())
def test_random_sequences_keep_the_invariants(seq: list[c.Event], prompt_shell: bool) -> None:
    m = Consultation()
    shell = ShellModel()
    for event in seq:
        pending = [event]
        while pending:
            actions = m.handle(pending.pop(0))
            for action in actions:
                follow = shell.apply(action)
                if prompt_shell:  # the real shell reports outcomes at once
                    pending += follow
        s = m.state
        if s.phase in (Phase.DISCONNECTED, Phase.STOPPED):
            assert s.call is c.CallSlot.NONE
            assert s.consultation_id is None
            assert shell.in_progress is None
        if s.phase in (Phase.DISCONNECTED, Phase.STOPPED) and prompt_shell:
            assert not shell.call_open
        if s.phase is Phase.QUEUEING:
            assert s.call is not c.CallSlot.ACTIVE
            assert s.consultation_id is None
            assert not shell.offer_sent
            assert shell.in_progress is None
        if s.phase in (Phase.OFFERING, Phase.CONNECTING, Phase.IN_CALL):
            assert s.consultation_id is not None
            assert shell.in_progress == s.consultation_id
