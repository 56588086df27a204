"""The kiosk's consultation state machine: the happy path, each ending, and random sequences."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.session import consultation as c
from appliance.session.consultation import Consultation, Phase

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
    assert m.handle(c.MediaConnected()) == []
    assert phase(m) is Phase.IN_CALL
    assert m.handle(c.EndedByPeer(CID, "hangup")) == [
        c.CallFinished(CID, "hangup"),
        c.CloseCall(bye=True),
    ]
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
    assert actions[:3] == [
        c.CallFinished(CID, "failed"),
        c.SendEnd(CID, "failed"),
        c.CloseCall(bye=True),
    ]
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
        c.MediaConnected(),
    )
    actions = m.handle(c.HangUp())
    assert actions == [
        c.CallFinished(CID, "customer_left"),
        c.SendEnd(CID, "customer_left"),
        c.CloseCall(bye=True),
    ]


def test_hub_lost_closes_the_call() -> None:
    m = Consultation()
    run(
        m,
        c.Welcomed(),
        c.Accepted(CID, "Ann"),
        COMMITTED,
        c.AnswerReceived(CID, "s"),
        c.MediaConnected(),
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
    for event in (
        c.Accepted(CID, "Ann"),
        COMMITTED,
        c.AnswerReceived(CID, "s"),
        c.MediaConnected(),
    ):
        assert m.handle(event) == []
        assert phase(m) is Phase.DISCONNECTED


def test_shutdown_ends_politely() -> None:
    m = Consultation()
    run(m, c.Welcomed(), c.Accepted(CID, "Ann"))
    assert m.handle(c.Shutdown()) == [
        c.SendEnd(CID, "customer_left"),
        c.CallFinished(CID, "customer_left"),
        c.CloseCall(bye=True),
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
    st.just(c.MediaConnected()),
    st.just(c.CallFailed()),
    st.just(c.CallClosed()),
    st.just(c.HangUp()),
    st.just(c.Shutdown()),
    st.builds(c.AdviserVerified, st.sampled_from([CID, OTHER])),
    st.builds(c.ResumeGranted, st.sampled_from([CID, OTHER])),
    st.just(c.VerificationFailed()),
    st.builds(c.DeadPath, st.sampled_from(["silence", "connection_failed"])),
    st.builds(c.PeerAway, st.sampled_from([CID, OTHER])),
    st.builds(c.PeerBack, st.sampled_from([CID, OTHER])),
    st.builds(c.ResumeAccepted, st.sampled_from([CID, OTHER]), st.booleans()),
    st.just(c.ResumeRefused()),
    st.builds(c.GraceExpired, st.sampled_from([CID, OTHER])),
    st.builds(c.ByeReceived, st.sampled_from([CID, OTHER])),
    st.builds(c.Reverified, st.sampled_from([CID, OTHER])),
    st.builds(c.RetryDue, st.sampled_from([CID, OTHER])),
    st.just(c.CannotResume()),
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
            case (
                c.ReconnectStarted(consultation_id=cid)
                | c.Reconnected(consultation_id=cid)
                | c.RetryLater(consultation_id=cid)
            ):
                assert self.in_progress == cid
            case c.SendResume(consultation_id=cid):
                assert self.in_progress == cid
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
        if s.phase in (Phase.OFFERING, Phase.CONNECTING, Phase.IN_CALL, Phase.RECONNECTING):
            assert s.consultation_id is not None
            assert shell.in_progress == s.consultation_id
        if s.phase is Phase.RECONNECTING:
            assert s.verified  # an unverified consultation is never resumed
            assert s.commitment is None  # the first call's commitment is never used again


# -- reconnection (docs/reconnection.md) -------------------------------------------------


def verified_call(*, token: bool = True) -> Consultation:
    """A machine in a verified call (with a resume token unless told otherwise)."""
    m = Consultation()
    run(m, c.Welcomed(), c.Accepted(CID, "Ann"), COMMITTED, c.AnswerReceived(CID, "sdp"))
    run(m, c.MediaConnected(), c.AdviserVerified(CID))
    if token:
        run(m, c.ResumeGranted(CID))
    assert phase(m) is Phase.IN_CALL
    return m


def test_dead_path_with_the_hub_up_offers_again_at_once_without_a_commitment() -> None:
    m = verified_call()
    actions = m.handle(c.DeadPath("silence"))
    assert actions == [
        c.ReconnectStarted(CID, "silence"),
        c.CloseCall(),  # no bye: the adviser must not take it as the end
        c.PrepareCall(resume=True),
    ]
    assert phase(m) is Phase.RECONNECTING
    assert m.handle(c.CallPrepared()) == [c.SendOffer(CID, None)]
    assert m.handle(c.AnswerReceived(CID, "sdp2")) == [c.ApplyAnswer("sdp2")]
    assert m.handle(c.AnswerReceived(CID, "sdp3")) == []  # one answer per call
    assert m.handle(c.CandidateReceived(CID, "c", None, 0)) == [c.AddCandidate("c", None, 0)]
    assert m.handle(c.MediaConnected()) == []  # connected is not healed: the proof is
    assert phase(m) is Phase.RECONNECTING
    assert m.handle(c.Reverified(OTHER)) == []
    assert m.handle(c.Reverified(CID)) == [c.Reconnected(CID)]
    assert phase(m) is Phase.IN_CALL
    assert m.state.consultation_id == CID


def test_hub_lost_reconnects_with_the_token_and_offers_when_resumed() -> None:
    m = verified_call()
    assert m.handle(c.HubLost()) == [c.ReconnectStarted(CID, "hub_lost"), c.CloseCall()]
    assert phase(m) is Phase.RECONNECTING
    assert m.handle(c.CallFailed()) == []  # nothing to retry while the hub is away
    assert m.handle(c.Welcomed()) == [c.SendResume(CID)]  # and no queue_request
    assert m.handle(c.ResumeAccepted(CID, peer_present=False)) == []
    assert m.handle(c.PeerBack(CID)) == [c.PrepareCall(resume=True)]
    assert m.handle(c.CallPrepared()) == [c.SendOffer(CID, None)]


def test_resumed_with_the_adviser_present_offers_at_once() -> None:
    m = verified_call()
    run(m, c.HubLost(), c.Welcomed())
    assert m.handle(c.ResumeAccepted(CID, peer_present=True)) == [c.PrepareCall(resume=True)]


def test_hub_lost_without_a_token_or_unverified_ends_as_before() -> None:
    m = verified_call(token=False)
    assert m.handle(c.HubLost()) == [c.CallFinished(CID, "peer_gone"), c.CloseCall()]
    assert phase(m) is Phase.DISCONNECTED
    m = Consultation()
    run(m, c.Welcomed(), c.Accepted(CID, "Ann"), COMMITTED, c.ResumeGranted(CID))
    assert m.handle(c.HubLost()) == [c.CallFinished(CID, "peer_gone"), c.CloseCall()]


def test_an_unverified_call_is_never_resumed() -> None:
    m = Consultation()
    run(m, c.Welcomed(), c.Accepted(CID, "Ann"), COMMITTED, c.AnswerReceived(CID, "sdp"))
    run(m, c.MediaConnected(), c.ResumeGranted(CID))
    actions = m.handle(c.DeadPath("silence"))
    assert actions[:2] == [c.CallFinished(CID, "failed"), c.SendEnd(CID, "failed")]
    m = Consultation()
    run(m, c.Welcomed(), c.Accepted(CID, "Ann"), COMMITTED)
    actions = m.handle(c.PeerAway(CID))
    assert actions[:2] == [c.CallFinished(CID, "peer_gone"), c.SendEnd(CID, "peer_gone")]


def test_peer_away_waits_for_peer_back_and_drops_an_offer_made_meanwhile() -> None:
    m = verified_call()
    assert m.handle(c.PeerAway(CID)) == [c.ReconnectStarted(CID, "peer_away"), c.CloseCall()]
    assert m.handle(c.DeadPath("silence")) == []  # nobody to offer to
    assert m.handle(c.PeerBack(CID)) == [c.PrepareCall(resume=True)]
    run(m, c.CallPrepared())
    assert m.handle(c.PeerBack(CID)) == [c.CloseCall(), c.PrepareCall(resume=True)]


def test_a_new_call_that_dies_too_is_retried_while_grace_lasts() -> None:
    m = verified_call()
    run(m, c.DeadPath("silence"))
    assert m.state.call is c.CallSlot.ACTIVE
    assert m.handle(c.DeadPath("connection_failed")) == [c.CloseCall(), c.RetryLater(CID, 1)]
    assert m.handle(c.RetryDue(OTHER)) == []
    assert m.handle(c.RetryDue(CID)) == [c.PrepareCall(resume=True)]


def test_a_connected_but_unproven_call_keeps_reconnecting_until_grace_ends() -> None:
    # A far end that completes ICE and DTLS but never proves itself heals nothing: the grace
    # timer (ReconnectStarted, never Reconnected) still ends the consultation.
    m = verified_call()
    actions = run(m, c.DeadPath("silence"), c.AnswerReceived(CID, "sdp2"), c.MediaConnected())
    assert not any(isinstance(a, c.Reconnected) for a in actions)
    assert phase(m) is Phase.RECONNECTING
    assert m.handle(c.GraceExpired(CID))[0] == c.CallFinished(CID, "peer_gone")
    assert phase(m) is Phase.ENDING
    # A proof for a call that has no answer yet proves nothing.
    m = verified_call()
    run(m, c.DeadPath("silence"))
    assert m.handle(c.Reverified(CID)) == []
    assert phase(m) is Phase.RECONNECTING


def test_new_calls_that_fail_at_once_wait_and_are_capped() -> None:
    # A shell whose every new call fails while preparing: each failure asks for a pause
    # (RetryLater), never for a new call in the same breath, so the shell's loop gets back
    # to its inputs (the grace timer among them).
    m = verified_call()
    actions = m.handle(c.DeadPath("silence"))
    assert actions[-1] == c.PrepareCall(resume=True)
    for attempt in range(1, c.MAX_RESUME_ATTEMPTS):
        actions = m.handle(c.CallFailed())
        assert actions == [c.CloseCall(), c.RetryLater(CID, attempt)]
        assert not any(isinstance(a, c.PrepareCall) for a in actions)
        assert m.handle(c.RetryDue(CID)) == [c.PrepareCall(resume=True)]
    assert m.handle(c.CallFailed()) == [
        c.CallFinished(CID, "peer_gone"),
        c.SendEnd(CID, "peer_gone"),
        c.CloseCall(bye=True),
    ]
    # The grace timer wins while the pauses run.
    m = verified_call()
    run(m, c.DeadPath("silence"), c.CallFailed())
    assert m.handle(c.GraceExpired(CID))[0] == c.CallFinished(CID, "peer_gone")
    # A proof that healed the consultation starts the count again.
    m = verified_call()
    run(m, c.DeadPath("silence"), c.CallFailed(), c.RetryDue(CID), c.CallPrepared())
    run(m, c.AnswerReceived(CID, "sdp2"), c.MediaConnected(), c.Reverified(CID))
    assert m.state.failures == 0


def test_nothing_to_resume_with_ends_the_session_as_failed() -> None:
    m = verified_call()
    run(m, c.DeadPath("silence"))
    assert m.handle(c.CannotResume()) == [
        c.CallFinished(CID, "failed"),
        c.SendEnd(CID, "failed"),
        c.CloseCall(bye=True),
    ]
    assert phase(m) is Phase.ENDING


def test_grace_expiry_ends_and_wipes_as_peer_gone() -> None:
    m = verified_call()
    run(m, c.DeadPath("silence"))
    assert m.handle(c.GraceExpired(OTHER)) == []
    actions = m.handle(c.GraceExpired(CID))
    assert actions == [
        c.CallFinished(CID, "peer_gone"),
        c.SendEnd(CID, "peer_gone"),
        c.CloseCall(bye=True),
    ]
    assert phase(m) is Phase.ENDING


def test_grace_expiry_while_the_hub_is_down_waits_disconnected() -> None:
    m = verified_call()
    run(m, c.HubLost())
    assert m.handle(c.GraceExpired(CID)) == [c.CallFinished(CID, "peer_gone")]
    assert phase(m) is Phase.DISCONNECTED
    assert m.handle(c.Welcomed())[0] == c.SendQueueRequest()  # a new session, a new customer


def test_refused_resume_and_ended_end_the_session() -> None:
    m = verified_call()
    run(m, c.HubLost(), c.Welcomed())
    assert m.handle(c.ResumeRefused())[0] == c.CallFinished(CID, "peer_gone")
    assert phase(m) is Phase.ENDING
    m = verified_call()
    run(m, c.DeadPath("silence"))
    assert m.handle(c.EndedByPeer(CID, "hangup"))[0] == c.CallFinished(CID, "hangup")


def test_a_wrong_resume_proof_ends_with_failed() -> None:
    m = verified_call()
    run(m, c.DeadPath("silence"), c.AnswerReceived(CID, "sdp2"))
    actions = m.handle(c.VerificationFailed())
    assert actions == [
        c.CallFinished(CID, "failed"),
        c.SendEnd(CID, "failed"),
        c.CloseCall(bye=True),
    ]


def test_hang_up_and_shutdown_while_reconnecting() -> None:
    m = verified_call()
    run(m, c.DeadPath("silence"))
    assert m.handle(c.HangUp())[:2] == [
        c.CallFinished(CID, "customer_left"),
        c.SendEnd(CID, "customer_left"),
    ]
    m = verified_call()
    run(m, c.HubLost())
    assert m.handle(c.Shutdown()) == [c.CallFinished(CID, "customer_left")]
    assert phase(m) is Phase.STOPPED


def test_bye_ends_the_consultation_and_tells_the_hub() -> None:
    m = verified_call()
    assert m.handle(c.ByeReceived(OTHER)) == []
    assert m.handle(c.ByeReceived(CID)) == [
        c.CallFinished(CID, "hangup"),
        c.SendEnd(CID, "hangup"),
        c.CloseCall(bye=True),
    ]
