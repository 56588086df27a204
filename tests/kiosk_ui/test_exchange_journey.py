"""The exchange in the call, by touch on the real UI: scan, photo, documents, screen share,
transfers and a call that drops and heals (or ends) while the customer watches."""

from __future__ import annotations

from dataclasses import replace

import pytest

from appliance.session import journey as j
from kiosk_ui import layout as lay
from kiosk_ui import viewmodels as v
from kiosk_ui.app import KioskUi
from kiosk_ui.samples import SampleFeed
from kiosk_ui.samples import test_picture as bars
from kiosk_ui.viewmodels import Screen
from tests.support.ui_harness import Harness

PAGE = v.Picture(60, 80, bars(60, 80, 2))


def request(state: str, kind: v.RequestKind = "scan", **more: object) -> j.ExchangeUpdate:
    panel = v.RequestPanel("req-0001", kind, state)
    return j.ExchangeUpdate(replace(panel, **more))  # type: ignore[arg-type]


def decide(choice: v.Choice, rid: str = "req-0001") -> v.DecideRequest:
    return v.DecideRequest(rid, choice)


def in_call(size: tuple[int, int] = (800, 480)) -> Harness:
    h = Harness(size, SampleFeed())
    h.to_call()
    return h


@pytest.mark.parametrize("size", [(800, 480), (720, 1280)])
def test_scan_asked_scanned_rescanned_and_sent(size: tuple[int, int]) -> None:
    h = in_call(size)
    h.event(request("asked"))
    assert any("asks for a scan" in t for t in h.texts())
    h.tap(decide("start"))
    assert h.actions == [j.RequestDecision("req-0001", "start")]
    assert not h.shows(decide("start"))  # pending: a second tap cannot start twice
    h.event(request("scanning", progress=40))
    assert "Scanning the document … 40 %" in h.texts()
    assert any(isinstance(w, lay.Progress) for w in h.ui.widgets)
    h.event(request("confirming", previews=(PAGE, PAGE)))
    assert "2 pages" in h.texts()
    assert sum(isinstance(w, lay.Media) and w.picture is PAGE for w in h.ui.widgets) == 2
    h.tap(decide("retake"))
    h.event(request("scanning", progress=10))
    h.event(request("confirming", previews=(PAGE,)))
    assert "1 page" in h.texts()
    h.tap(decide("confirm"))
    assert [a.choice for a in h.actions if isinstance(a, j.RequestDecision)] == [
        "start",
        "retake",
        "confirm",
    ]
    h.event(request("sending", progress=70))
    assert "Sending … 70 %" in h.texts() and not h.shows(decide("decline"))
    h.event(j.ExchangeUpdate(None))
    assert h.journey.view(h.now).call.request is None
    assert h.shows(v.ToggleChat()) and h.shows(v.HangUp())


def test_scan_declined_at_once_and_at_the_preview() -> None:
    h = in_call()
    h.event(request("asked"))
    h.tap(decide("decline"))  # "Not now"
    h.event(request("declined"))
    assert h.journey.view(h.now).call.request is None
    h.event(j.ExchangeUpdate(v.RequestPanel("req-0002", "scan", "confirming", previews=(PAGE,))))
    h.tap(decide("decline", "req-0002"))  # "Don't send"
    assert h.actions == [
        j.RequestDecision("req-0001", "decline"),
        j.RequestDecision("req-0002", "decline"),
    ]


def test_photo_countdown_preview_retake_and_send() -> None:
    h = in_call((1280, 800))
    h.event(request("asked", "photo"))
    assert any("asks for a photo" in t for t in h.texts())
    assert any(isinstance(w, lay.Media) and w.source == "self" for w in h.ui.widgets)
    h.tap(decide("start"))
    for seconds in (3, 2, 1):
        h.event(request("countdown", "photo", countdown=seconds))
        assert str(seconds) in h.texts()
        big = next(w for w in h.ui.widgets if isinstance(w, lay.Label) and w.text == str(seconds))
        assert big.px > h.ui.theme(h.ui.view).title_px  # a big number, not a line of text
    h.event(request("confirming", "photo", previews=(PAGE,)))
    assert "Send this photo?" in h.texts()
    h.tap(decide("retake"))
    h.event(request("countdown", "photo", countdown=3))
    h.event(request("confirming", "photo", previews=(PAGE,)))
    h.tap(decide("confirm"))
    assert [a.choice for a in h.actions if isinstance(a, j.RequestDecision)] == [
        "start",
        "retake",
        "confirm",
    ]


def test_decisions_for_another_request_or_state_are_ignored() -> None:
    h = in_call()
    h.event(request("scanning"))
    for intent in (decide("start"), decide("confirm"), decide("retake", "other-id")):
        h.actions += h.journey.handle(intent, h.now)
    assert h.actions == []
    h.event(j.ExchangeUpdate(None))
    assert h.journey.handle(decide("decline"), h.now) == []


def test_pending_survives_a_snapshot_that_did_not_move() -> None:
    h = in_call()
    h.event(request("confirming", previews=(PAGE,)))
    h.tap(decide("confirm"))
    h.event(request("confirming", previews=(PAGE,)))  # e.g. a transfer's progress changed
    assert not h.shows(decide("confirm"))
    h.event(request("sending"))
    request_now = h.journey.view(h.now).call.request
    assert request_now is not None and not request_now.pending


def test_failed_request_can_be_tried_again() -> None:
    h = in_call()
    h.event(request("failed"))
    h.tap(decide("retake"))
    assert h.actions == [j.RequestDecision("req-0001", "retake")]
    h.event(request("scanning"))
    assert h.journey.view(h.now).call.request is not None


def test_failed_request_is_shown_until_acknowledged() -> None:
    h = in_call()
    h.event(request("failed"))
    assert "Sorry, the scan did not work." in h.texts()
    h.tap(v.DismissRequest("req-0001"))
    assert h.journey.view(h.now).call.request is None
    h.event(request("failed"))  # the same failure again: stays closed
    assert h.journey.view(h.now).call.request is None
    h.event(request("cancelled"))
    assert h.journey.view(h.now).call.request is None


@pytest.mark.parametrize("state", ["asked", "scanning", "confirming"])
def test_session_ending_mid_request_goes_to_goodbye(state: str) -> None:
    h = in_call()
    h.event(request(state, previews=(PAGE,)))
    h.event(j.CallEnded())
    assert h.journey.screen is Screen.GOODBYE
    h.event(request("cancelled"))  # the exchange's last word arrives late
    h.event(j.DocumentReceived(v.DocumentView("late", (PAGE,))))
    view = h.journey.view(h.now)
    assert view.call == v.CallView() and view.screen is Screen.GOODBYE
    h.event(j.WipeFinished(v.WipeView(True, 1, 10, "crypto-erase")))
    h.tap(v.Done())
    assert h.journey.view(h.now).screen is Screen.ATTRACT


def test_hanging_up_during_a_request_ends_the_call() -> None:
    h = in_call()
    h.event(request("asked"))
    h.tap(v.HangUp())
    assert h.actions == [j.EndCall("hangup")] and h.journey.screen is Screen.GOODBYE


def test_document_push_notice_viewer_pages_and_close() -> None:
    h = in_call()
    pages = (PAGE, v.Picture(80, 60, bars(80, 60, 5)))
    h.event(j.DocumentReceived(v.DocumentView("contract", pages)))
    assert "New document" in h.texts()
    h.tap(v.OpenDocument())
    assert "Page 1 of 2" in h.texts()
    h.tap(v.TurnPage(1))
    assert "Page 2 of 2" in h.texts()
    assert any(isinstance(w, lay.Media) and w.picture is pages[1] for w in h.ui.widgets)
    h.tap(v.TurnPage(1))  # no page 3
    assert "Page 2 of 2" in h.texts()
    h.tap(v.TurnPage(-1))
    h.tap(v.CloseDocument())
    assert h.journey.view(h.now).call.document is None
    assert any(isinstance(w, lay.Media) and w.source == "remote" for w in h.ui.widgets)


def test_unreadable_document_says_so_and_closes() -> None:
    h = in_call()
    h.event(j.DocumentReceived(v.DocumentView("x", unreadable=True)))
    h.tap(v.OpenDocument())
    assert any("cannot be shown" in t for t in h.texts())
    h.tap(v.CloseDocument())
    assert h.journey.view(h.now).call.document is None


def test_request_takes_the_stage_over_chat_and_document() -> None:
    h = in_call()
    h.tap(v.ToggleChat())
    h.event(j.DocumentReceived(v.DocumentView("contract", (PAGE,))))
    h.event(request("asked"))
    assert not h.shows(lay.SubmitChat()) and not h.shows(v.OpenDocument())
    h.event(j.ExchangeUpdate(None))
    assert h.shows(lay.SubmitChat())  # the chat comes back as it was


def test_screen_share_fills_the_stage_and_goes_back() -> None:
    h = in_call((1280, 800))
    h.event(j.ExchangeUpdate(None, screen_share=True))
    assert "Your adviser is sharing their screen" in h.texts()
    sources = {w.source for w in h.ui.widgets if isinstance(w, lay.Media)}
    assert "screen" in sources and "self" not in sources
    assert h.shows(v.HangUp()) and h.shows(v.ToggleMute())
    h.event(j.ExchangeUpdate(None, screen_share=False))
    sources = {w.source for w in h.ui.widgets if isinstance(w, lay.Media)}
    assert sources == {"remote", "self"}


def test_transfers_show_progress_and_go() -> None:
    h = in_call()
    h.event(j.ExchangeUpdate(None, transfers=(v.TransferView("in", 0.5),)))
    assert "Receiving a file … 50 %" in h.texts()
    h.event(j.ExchangeUpdate(None, transfers=(v.TransferView("in", 1), v.TransferView("out", 0))))
    assert "2 files on their way … 50 %" in h.texts()
    h.tap(v.ToggleChat())  # the chat covers the stage at 800x480: the indicator stays
    assert "2 files on their way … 50 %" in h.texts()
    h.event(j.ExchangeUpdate(None))
    assert not any("on their way" in t for t in h.texts())


def test_call_drops_heals_and_drops_again_then_ends() -> None:
    h = in_call()
    h.event(j.CallVerified("falcon marble otter violin"))
    h.event(j.CallInterrupted())
    view = h.journey.view(h.now)
    assert view.screen is Screen.CALL and view.call.reconnecting
    assert "Connection lost — reconnecting …" in h.texts()
    assert any(isinstance(w, lay.Media) and w.source == "remote" for w in h.ui.widgets)
    assert h.shows(v.HangUp())  # the customer may still leave
    h.event(j.CallConnected())
    assert not h.journey.view(h.now).call.reconnecting
    assert "Connection lost — reconnecting …" not in h.texts()
    h.event(j.CallInterrupted())
    h.event(j.CallEnded())
    assert h.journey.screen is Screen.GOODBYE


def test_hanging_up_while_reconnecting() -> None:
    h = in_call()
    h.event(j.CallInterrupted())
    h.tap(v.HangUp())
    assert h.actions == [j.EndCall("hangup")] and h.journey.screen is Screen.GOODBYE


class RecordingCues:
    def __init__(self) -> None:
        self.played: list[str] = []

    def play(self, name: str) -> None:
        self.played.append(name)


def test_a_request_and_a_document_sound_a_cue() -> None:
    h = in_call()
    cues = RecordingCues()
    h.ui = KioskUi((800, 480), cues=cues)
    h.draw()
    cues.played.clear()  # the new UI's first frame is the call starting: its cue is not ours
    h.event(request("asked"))
    h.event(request("asked"))  # the same request again: no second cue
    h.event(j.DocumentReceived(v.DocumentView("contract", (PAGE,))))
    assert cues.played == ["message", "message"]
