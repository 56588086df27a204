"""The customer's journey state machine: every transition, abort, timeout; random sequences."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.session import journey as j
from kiosk_ui import viewmodels as v
from kiosk_ui.viewmodels import Screen

T = j.Timeouts()
VALUES = (("name", "Jürgen Weiß"), ("topic", "Konto"))
WIPE = v.WipeView(verified=True, files=3, bytes=100, method="crypto-erase")


def where(jr: j.Journey) -> Screen:
    """The current screen (a call, so mypy does not narrow it across events)."""
    return jr.screen


def at(screen: Screen) -> tuple[j.Journey, list[j.Action]]:
    """A journey driven to ``screen`` the normal way; returns every action so far."""
    jr = j.Journey(hub_up=True)
    actions: list[j.Action] = []
    steps: list[j.Event] = [
        v.Start(),
        v.ChooseLanguage("en"),
        v.AcceptConsent(),
        v.SubmitIntake(VALUES),
        j.AdviserAccepted(),
        j.SignatureChanged("sig-1", "signing", title="contract"),
    ]
    order = [
        Screen.ATTRACT,
        Screen.LANGUAGE,
        Screen.CONSENT,
        Screen.INTAKE,
        Screen.WAITING,
        Screen.CALL,
        Screen.SIGNATURE,
    ]
    for step in steps[: order.index(screen)]:
        actions += jr.handle(step, 0.0)
    assert where(jr) is screen
    return jr, actions


def test_happy_path_to_goodbye_and_back() -> None:
    jr, actions = at(Screen.WAITING)
    assert actions == [j.RequestConsultation(VALUES)]
    jr.handle(j.QueueUpdate(2), 1)
    assert jr.view(1).queue_position == 2 and jr.view(1).estimated_wait_min == 16
    jr.handle(j.AdviserAccepted(), 2)
    jr.handle(j.CallConnected(), 3)
    assert jr.view(3).call.connected
    jr.handle(j.ChatReceived("hi"), 4)
    assert jr.handle(v.SendChat(" hello "), 4) == [j.SendChatLine("hello")]
    assert [line.mine for line in jr.view(4).call.chat] == [False, True]
    assert jr.handle(v.HangUp(), 5) == [j.EndCall("hangup")]
    assert where(jr) is Screen.GOODBYE and jr.view(5).wipe is None
    jr.handle(v.Done(), 6)
    assert where(jr) is Screen.GOODBYE  # not before the wipe is verified
    jr.handle(j.WipeFinished(WIPE), 7)
    assert jr.view(7).wipe == WIPE
    jr.handle(j.Tick(), 7 + T.goodbye)
    assert where(jr) is Screen.ATTRACT and jr.view(30).language == "de"


def test_verification_code_shows_in_the_call_and_a_refused_call_warns_on_goodbye() -> None:
    jr, _ = at(Screen.CALL)
    assert jr.view(1).call.verification_code is None
    jr.handle(j.CallVerified("dog lake globe onion"), 1)
    jr.handle(j.CallConnected(), 2)
    assert jr.view(2).call.verification_code == "dog lake globe onion"
    jr.handle(j.CallEnded(unverified=True), 3)
    view = jr.view(3)
    assert view.screen is Screen.GOODBYE and view.unverified
    assert view.call.verification_code is None  # the code goes with the call
    jr.handle(j.WipeFinished(WIPE), 4)
    jr.handle(j.Tick(), 4 + T.goodbye)
    assert where(jr) is Screen.ATTRACT and not jr.view(30).unverified
    # A normal ending does not warn.
    jr, _ = at(Screen.CALL)
    jr.handle(j.CallEnded(), 1)
    assert not jr.view(1).unverified


def test_declined_consent_stores_and_sends_nothing() -> None:
    jr, actions = at(Screen.CONSENT)
    actions += jr.handle(v.DeclineConsent(), 1)
    assert actions == [] and where(jr) is Screen.ATTRACT
    assert jr.state.values == ()


@pytest.mark.parametrize("screen", [Screen.LANGUAGE, Screen.CONSENT, Screen.INTAKE])
def test_abort_before_queueing_sends_nothing(screen: Screen) -> None:
    jr, _ = at(screen)
    session = jr.state.session
    assert jr.handle(v.Abort(), 1) == []
    assert where(jr) is Screen.ATTRACT and jr.state.session > session


def test_abort_while_waiting_leaves_queue_and_wipes() -> None:
    jr, _ = at(Screen.WAITING)
    assert jr.handle(v.Abort(), 1) == [j.LeaveQueue(), j.EndSession("customer_abort")]
    assert where(jr) is Screen.GOODBYE and jr.state.values == ()


def test_abort_in_call_hangs_up_and_in_signature_declines() -> None:
    jr, _ = at(Screen.SIGNATURE)
    assert jr.handle(v.Abort(), 1) == [j.SignatureDecision("decline", "sig-1")]
    assert where(jr) is Screen.CALL
    assert jr.handle(v.Abort(), 2) == [j.EndCall("hangup")]


@pytest.mark.parametrize(
    ("screen", "expected"),
    [
        (Screen.LANGUAGE, []),
        (Screen.CONSENT, []),
        (Screen.INTAKE, []),
        (Screen.WAITING, [j.LeaveQueue(), j.EndSession("inactivity")]),
    ],
)
def test_every_timeout_warns_then_ends(screen: Screen, expected: list[j.Action]) -> None:
    jr, _ = at(screen)
    timeout = T.for_screen(screen)
    assert timeout is not None
    assert jr.view(timeout - T.warning - 1).countdown is None
    assert jr.view(timeout - 5).countdown == 5
    jr.handle(v.StillHere(), timeout - 5)  # a touch restarts the timer
    assert jr.view(timeout).countdown is None
    assert jr.handle(j.Tick(), 2 * timeout - 5) == expected
    assert where(jr) in (Screen.ATTRACT, Screen.GOODBYE)


def test_signature_timeout_warns_then_fails_the_request_and_the_call_goes_on() -> None:
    # Issue 15: a timed-out signature is an error for the adviser, not the end of the call.
    jr, _ = at(Screen.SIGNATURE)
    timeout = T.for_screen(Screen.SIGNATURE)
    assert timeout is not None
    assert jr.view(timeout - T.warning - 1).countdown is None
    assert jr.view(timeout - 5).countdown == 5
    jr.handle(v.StillHere(), timeout - 5)  # a touch restarts the timer
    assert jr.view(timeout).countdown is None
    assert jr.handle(j.Tick(), 2 * timeout - 5) == [j.SignatureDecision("timed_out", "sig-1")]
    assert where(jr) is Screen.CALL and jr.view(2 * timeout).countdown is None


def test_call_has_no_inactivity_timeout() -> None:
    jr, _ = at(Screen.CALL)
    assert jr.handle(j.Tick(), 10_000) == [] and where(jr) is Screen.CALL


def test_goodbye_without_wipe_goes_out_of_service() -> None:
    jr, _ = at(Screen.CALL)
    jr.handle(j.CallEnded(), 1)
    jr.handle(j.Tick(), 1 + T.wipe_confirm)
    assert where(jr) is Screen.OUT_OF_SERVICE
    jr.handle(j.ServiceRestored(), 2 + T.wipe_confirm)
    assert where(jr) is Screen.ATTRACT


def test_wipe_failure_is_out_of_service() -> None:
    jr, _ = at(Screen.CALL)
    jr.handle(j.CallEnded(), 1)
    jr.handle(j.WipeFailed("disk"), 2)
    assert where(jr) is Screen.OUT_OF_SERVICE and jr.view(2).problem == "disk"
    assert jr.handle(v.Abort(), 3) == [] and where(jr) is Screen.OUT_OF_SERVICE


def test_hub_loss_while_waiting_reconnects_and_resumes() -> None:
    jr, _ = at(Screen.WAITING)
    jr.handle(j.HubUnreachable(), 1)
    assert where(jr) is Screen.RECONNECTING
    jr.handle(j.HubReachable(), 2)
    assert where(jr) is Screen.WAITING


def test_hub_loss_in_call_ends_in_goodbye() -> None:
    jr, _ = at(Screen.CALL)
    jr.handle(j.HubUnreachable(), 1)
    assert where(jr) is Screen.RECONNECTING
    jr.handle(j.CallEnded(), 1)
    assert where(jr) is Screen.GOODBYE


def test_hub_gone_for_long_is_out_of_service_then_back() -> None:
    jr, _ = at(Screen.WAITING)
    jr.handle(j.HubUnreachable(), 1)
    assert jr.handle(j.Tick(), 1 + T.hub_out_of_service) == [
        j.LeaveQueue(),
        j.EndSession("hub_lost"),
    ]
    assert where(jr) is Screen.OUT_OF_SERVICE
    jr.handle(j.HubReachable(), 500)
    assert where(jr) is Screen.ATTRACT


def test_incomplete_intake_is_refused() -> None:
    jr, _ = at(Screen.INTAKE)
    assert jr.handle(v.SubmitIntake((("name", " "),)), 1) == []
    assert jr.handle(v.SubmitIntake((("name", "x"), ("evil", "y"))), 1) == []
    assert where(jr) is Screen.INTAKE


def test_language_switch_any_time_and_large_text() -> None:
    jr, _ = at(Screen.INTAKE)
    jr.handle(v.ChooseLanguage("de"), 1)
    jr.handle(v.ToggleLargeText(), 1)
    assert jr.view(1).language == "de" and jr.view(1).large_text and where(jr) is Screen.INTAKE
    jr.handle(v.ChooseLanguage("fr"), 1)
    assert jr.view(1).language == "de"


def test_call_features() -> None:
    jr, _ = at(Screen.CALL)
    pages = (v.Picture(2, 2, bytes(12)), v.Picture(2, 2, bytes(12)))
    assert jr.handle(v.ToggleMute(), 1) == [j.SetMute(True)]
    assert jr.handle(v.ToggleCamera(), 1) == [j.SetCamera(True)]
    jr.handle(j.DocumentReceived(v.DocumentView("d", pages)), 1)
    assert jr.view(1).call.document_notice
    jr.handle(v.OpenDocument(), 1)
    jr.handle(v.TurnPage(5), 1)
    document = jr.view(1).call.document
    assert document is not None and document.page == 1
    jr.handle(v.CloseDocument(), 1)
    jr.handle(j.ExchangeUpdate(v.RequestPanel("r1", "photo", "confirming", previews=pages[:1])), 1)
    assert jr.handle(v.DecideRequest("r1", "retake"), 1) == [j.RequestDecision("r1", "retake")]
    jr.handle(j.ExchangeUpdate(v.RequestPanel("r1", "photo", "confirming", previews=pages[1:])), 1)
    assert jr.handle(v.DecideRequest("r1", "confirm"), 1) == [j.RequestDecision("r1", "confirm")]
    jr.handle(j.SignatureChanged("s1", "signing", title="t"), 1)
    assert jr.handle(v.ConfirmSignature(), 1) == []  # no ink yet
    jr.handle(j.InkChanged(True), 1)
    assert jr.handle(v.ConfirmSignature(), 1) == [j.SignatureDecision("confirm", "s1")]
    jr.handle(j.SignatureChanged("s1", "sealing", title="t"), 1)
    assert where(jr) is Screen.CALL


INTENTS = st.sampled_from(
    [
        v.Start(),
        v.ChooseLanguage("de"),
        v.ChooseLanguage("en"),
        v.AcceptConsent(),
        v.DeclineConsent(),
        v.SubmitIntake(VALUES),
        v.Abort(),
        v.StillHere(),
        v.HangUp(),
        v.ToggleMute(),
        v.SendChat("x"),
        v.Done(),
        v.ConfirmSignature(),
        v.ContinueToSign(),
        v.DeclineSignature(),
        v.ClearSignature(),
        v.PenPointer(0.5, 2.0, True),
        v.ZoomDocument(1),
        v.PanDocument(0.9, 0.9),
        v.DismissSignatureNotice(),
        v.ToggleLargeText(),
    ]
)
APPLIANCE = st.sampled_from(
    [
        j.HubReachable(),
        j.HubUnreachable(),
        j.QueueUpdate(1),
        j.AdviserAccepted(),
        j.CallConnected(),
        j.CallEnded(),
        j.CallEnded(unverified=True),
        j.CallVerified("dog lake globe onion"),
        j.WipeFinished(WIPE),
        j.ChatReceived("y"),
        j.SignatureChanged("s1", "reading", title="t"),
        j.SignatureChanged("s1", "signing", title="t", message="no_ink"),
        j.SignatureChanged("s1", "sealing"),
        j.SignatureChanged("s1", "failed"),
        j.SignatureDocument("s1", v.DocumentView("t", (v.Picture(1, 1, b"abc"),), signing=True)),
        j.InkChanged(True),
        j.ServiceRestored(),
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.one_of(INTENTS, APPLIANCE, st.just(j.Tick())), st.floats(0, 400)), max_size=60
    )
)
def test_random_sequences_keep_the_invariants(steps: list[tuple[j.Event, float]]) -> None:
    jr = j.Journey()
    now = 0.0
    queued = False
    for event, dt in steps:
        now += dt
        actions = jr.handle(event, now)
        view = jr.view(now)
        s = jr.state
        for action in actions:
            if isinstance(action, j.RequestConsultation):
                queued = True
            if isinstance(action, j.LeaveQueue):
                assert queued
            if isinstance(action, j.SignaturePointer):  # 0..1 of the ink area, always
                assert 0 <= action.x <= 1 and 0 <= action.y <= 1
        # The signature screen shows only while the desk waits for the customer's ink.
        if s.screen is Screen.SIGNATURE:
            assert s.signature.state == "signing"
        # Screens that show no customer data hold none.
        if s.screen in (Screen.ATTRACT, Screen.GOODBYE, Screen.OUT_OF_SERVICE):
            assert s.values == () and view.call.chat == ()
        if s.screen is Screen.ATTRACT:
            assert view.countdown is None and s.deadline is None
        if view.countdown is not None:
            assert 0 <= view.countdown <= T.warning
        # Timeouts are honoured: a deadline never lies further ahead than the longest one.
        if s.deadline is not None:
            assert s.deadline - now <= max(T.consent, T.waiting, T.wipe_confirm) + 1e-6


def test_hub_clock_starts_at_the_first_tick_not_at_zero() -> None:
    # time.monotonic() is large: a journey built without ``now`` must not think the hub has
    # been gone since 0 and show out of service at once.
    jr = j.Journey()
    jr.handle(j.Tick(), 50_000.0)
    assert where(jr) is Screen.ATTRACT
    jr.handle(j.Tick(), 50_000.0 + T.hub_out_of_service - 1)
    assert where(jr) is Screen.ATTRACT
    jr.handle(j.Tick(), 50_000.0 + T.hub_out_of_service)
    assert where(jr) is Screen.OUT_OF_SERVICE
    jr.handle(j.HubReachable(), 50_200.0)
    assert where(jr) is Screen.ATTRACT
