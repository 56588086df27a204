"""The hub's messages and the kiosk's timeouts as events of the consultation machine."""

from __future__ import annotations

from dataclasses import replace

import pytest

from appliance.runner.inputs import ConnectTimeout, consultation_event, timed_out
from appliance.session import consultation as c
from protocol import messages

CID = "consult-1"
IN_CALL = c.ConsultationState(phase=c.Phase.IN_CALL, consultation_id=CID)


@pytest.mark.parametrize(
    ("message", "event"),
    [
        (
            messages.QueuePosition(consultation_id=CID, position=2, waiting=3),
            c.QueuePositionChanged(CID, 2, 3),
        ),
        (messages.Accepted(consultation_id=CID, peer="Ann"), c.Accepted(CID, "Ann")),
        (
            messages.SasCommit(consultation_id=CID, commitment="ab" * 32),
            c.CommitmentReceived(CID, "ab" * 32),
        ),
        (messages.Answer(consultation_id=CID, sdp="v=0"), c.AnswerReceived(CID, "v=0")),
        (
            messages.IceCandidate(consultation_id=CID, candidate="c", sdp_mline_index=0),
            c.CandidateReceived(CID, "c", None, 0),
        ),
        (messages.Ended(consultation_id=CID, reason="hangup"), c.EndedByPeer(CID, "hangup")),
        (messages.ResumeGrant(consultation_id=CID, token="t" * 43), c.ResumeGranted(CID)),
        (messages.ResumeGrant(consultation_id="other", token="t" * 43), None),
        (
            messages.Resumed(consultation_id=CID, peer="Ann", peer_present=False),
            c.ResumeAccepted(CID, peer_present=False),
        ),
        (messages.PeerAway(consultation_id=CID), c.PeerAway(CID)),
        (messages.PeerBack(consultation_id=CID), c.PeerBack(CID)),
        (messages.Error(code="not_found", message="no"), None),
        (messages.Heartbeat(ts=1), None),
    ],
)
def test_each_hub_message_becomes_its_event(
    message: messages.AnyMessage, event: c.Event | None
) -> None:
    assert consultation_event(message, IN_CALL) == event


def test_not_found_refuses_a_resume_only_while_waiting_for_the_hub_to_take_us_back() -> None:
    refused = messages.Error(code="not_found", message="no")
    waiting = replace(IN_CALL, phase=c.Phase.RECONNECTING, present=False)
    assert consultation_event(refused, waiting) == c.ResumeRefused()
    assert consultation_event(refused, replace(waiting, present=True)) is None
    other = messages.Error(code="rate_limited", message="slow down")
    assert consultation_event(other, waiting) is None


def test_a_first_call_times_out_only_while_it_connects() -> None:
    timeout = ConnectTimeout(CID)
    for phase in (c.Phase.OFFERING, c.Phase.CONNECTING):
        assert timed_out(timeout, replace(IN_CALL, phase=phase), 1, 30.0) == c.CallFailed()
    assert timed_out(timeout, IN_CALL, 1, 30.0) is None  # connected meanwhile
    assert (
        timed_out(ConnectTimeout("old"), replace(IN_CALL, phase=c.Phase.OFFERING), 1, 30.0) is None
    )


def test_a_resumed_call_times_out_only_if_it_is_still_the_current_one() -> None:
    reconnecting = replace(IN_CALL, phase=c.Phase.RECONNECTING)
    assert timed_out(ConnectTimeout(CID, 4), reconnecting, 4, 30.0) == c.CallFailed()
    assert timed_out(ConnectTimeout(CID, 3), reconnecting, 4, 30.0) is None  # replaced since
    assert timed_out(ConnectTimeout(CID, 4), IN_CALL, 4, 30.0) is None  # healed
