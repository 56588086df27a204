"""The bridge between the exchange and the screen: ExchangeState snapshots in, the customer's
decisions out to ``CustomerDecisions``, pushed documents read from a real session vault,
shared-screen frames, and the call that drops and heals (phase ``reconnecting``)."""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import av
import numpy as np
import pygame
import pytest

from appliance.custody.vault import ArtifactKind, SessionVault
from appliance.exchange.state import (
    ExchangeState,
    Preview,
    ReceivedDocument,
    RequestView,
    Transfer,
)
from appliance.session import consultation as c
from appliance.session import journey as j
from appliance.ui.bridge import UiBridge
from kiosk_ui import viewmodels as v
from kiosk_ui.sample_contract import sample_contract
from kiosk_ui.viewmodels import Screen
from protocol.channel import RequestState
from tests.support.fake_kiosk import FakeKiosk

VALUES = (("name", "Jürgen Weiß"), ("topic", "Konto"))
SECRET_NAME = "Kündigung-Jürgen-Weiß.pdf"  # personal: must never reach a log line
MIB = 1024 * 1024


def phase(bridge: UiBridge, kiosk: FakeKiosk, value: c.Phase) -> None:
    kiosk.show_phase(value)
    bridge.changed()


def in_call(vault: SessionVault | None = None) -> tuple[FakeKiosk, UiBridge]:
    kiosk = FakeKiosk(vault)
    kiosk.show_phase(c.Phase.QUEUEING)
    bridge = UiBridge(kiosk, j.Journey(hub_up=True))
    for intent in (v.Start(), v.ChooseLanguage("en"), v.AcceptConsent(), v.SubmitIntake(VALUES)):
        bridge.handle(intent)
    phase(bridge, kiosk, c.Phase.OFFERING)
    phase(bridge, kiosk, c.Phase.IN_CALL)
    assert bridge.current_view().screen is Screen.CALL
    return kiosk, bridge


def asked(
    state: RequestState = "asked",
    kind: Literal["scan", "photo"] = "scan",
    *,
    progress: int = 0,
    countdown: int | None = None,
    previews: tuple[Preview, ...] = (),
) -> ExchangeState:
    request = RequestView("req-1", kind, state, progress, countdown, previews)
    return ExchangeState(request=request)


def decisions(kiosk: FakeKiosk) -> list[tuple[str, str]]:
    assert kiosk.exchange is not None
    return kiosk.exchange.calls


def frame(colour: tuple[int, int, int], size: tuple[int, int] = (128, 72)) -> av.VideoFrame:
    picture = np.full((size[1], size[0], 3), colour, dtype=np.uint8)
    return av.VideoFrame.from_ndarray(picture, format="rgb24")


def png(colour: tuple[int, int, int]) -> bytes:
    surface = pygame.Surface((40, 30))
    surface.fill(colour)
    out = io.BytesIO()
    pygame.image.save(surface, out, "x.png")
    return out.getvalue()


def test_scan_snapshots_become_the_panel_and_choices_reach_the_exchange() -> None:
    kiosk, bridge = in_call()
    bridge.exchange_changed(asked())
    request = bridge.current_view().call.request
    assert request is not None and (request.id, request.kind, request.state) == (
        "req-1",
        "scan",
        "asked",
    )
    bridge.handle(v.DecideRequest("req-1", "start"))
    bridge.handle(v.DecideRequest("req-1", "start"))  # a double tap
    assert decisions(kiosk) == [("start", "req-1")]
    bridge.exchange_changed(asked("scanning", progress=55))
    request = bridge.current_view().call.request
    assert request is not None and request.progress == 55 and not request.pending
    page = Preview(4, 2, bytes(range(24)))
    bridge.exchange_changed(asked("confirming", previews=(page, page)))
    first = bridge.current_view().call.request
    assert first is not None and [p.rgb for p in first.previews] == [page.rgb, page.rgb]
    bridge.exchange_changed(asked("confirming", previews=(page, page)))
    again = bridge.current_view().call.request
    assert again is not None and again.previews[0] is first.previews[0]  # scaled once
    bridge.handle(v.DecideRequest("req-1", "retake"))
    bridge.exchange_changed(asked("confirming", previews=(Preview(4, 2, bytes(24)),)))
    bridge.handle(v.DecideRequest("req-1", "confirm"))
    bridge.exchange_changed(asked("sending", progress=20))
    bridge.exchange_changed(ExchangeState())
    assert decisions(kiosk) == [("start", "req-1"), ("retake", "req-1"), ("confirm", "req-1")]
    assert bridge.current_view().call.request is None


def test_photo_countdown_and_decline() -> None:
    kiosk, bridge = in_call()
    bridge.exchange_changed(asked(kind="photo"))
    bridge.handle(v.DecideRequest("req-1", "start"))
    for seconds in (3, 2, 1):
        bridge.exchange_changed(asked("countdown", kind="photo", countdown=seconds))
        request = bridge.current_view().call.request
        assert request is not None and request.countdown == seconds
    bridge.exchange_changed(asked("confirming", kind="photo", previews=(Preview(2, 2, bytes(12)),)))
    bridge.handle(v.DecideRequest("req-1", "decline"))
    bridge.exchange_changed(asked("declined", kind="photo"))
    assert decisions(kiosk) == [("start", "req-1"), ("decline", "req-1")]
    assert bridge.current_view().call.request is None


def test_without_an_exchange_decisions_are_dropped() -> None:
    kiosk, bridge = in_call()
    kiosk.exchange = None
    bridge.exchange_changed(asked())
    bridge.handle(v.DecideRequest("req-1", "decline"))  # nothing to tell: no error either
    assert bridge.actions[-1] == j.RequestDecision("req-1", "decline")


def test_session_ending_mid_request_shows_goodbye_and_forgets_it() -> None:
    kiosk, bridge = in_call()
    bridge.exchange_changed(asked())
    phase(bridge, kiosk, c.Phase.QUEUEING)  # the adviser ended the consultation
    assert bridge.current_view().screen is Screen.GOODBYE
    bridge.exchange_changed(asked("cancelled"))
    bridge.handle(v.DecideRequest("req-1", "start"))
    assert decisions(kiosk) == [] and bridge.current_view().call == v.CallView()


def test_a_closed_exchange_clears_the_screen() -> None:
    _, bridge = in_call()
    bridge.exchange_changed(
        ExchangeState(request=RequestView("req-1", "scan", "asked"), screen_share=True)
    )
    bridge.exchange_changed(None)  # the kiosk closed the session's exchange
    call = bridge.current_view().call
    assert call.request is None and not call.screen_share and call.transfers == ()


def test_transfers_on_their_way_are_shown_with_progress() -> None:
    _, bridge = in_call()
    moving = Transfer("t-in-000001", "in", "document", SECRET_NAME, 400, 100, "downloading")
    sending = Transfer("t-out-00001", "out", "scan", "scan.pdf", 0, 0, "sealing")
    done = Transfer("t-done-0001", "out", "file", "x", 10, 10, "done")
    bridge.exchange_changed(ExchangeState(transfers=(moving, sending, done)))
    assert bridge.current_view().call.transfers == (
        v.TransferView("in", 0.25),
        v.TransferView("out", 0.0),
    )


def test_pushed_pdf_and_png_are_read_from_the_vault(tmp_path: Path) -> None:
    vault = SessionVault(tmp_path, max_file_bytes=8 * MIB, max_session_bytes=16 * MIB)
    pdf = vault.store(ArtifactKind.FILE_RECEIVED, SECRET_NAME, sample_contract(pages=3))
    image = vault.store(ArtifactKind.FILE_RECEIVED, "foto.png", png((10, 120, 200)))
    _, bridge = in_call(vault)
    doc = ReceivedDocument("doc-1", SECRET_NAME, "application/pdf", pdf.ref)
    bridge.exchange_changed(ExchangeState(documents=(doc,)))
    call = bridge.current_view().call
    assert call.document_notice and call.document is not None
    assert len(call.document.pages) == 3 and not call.document.unreadable
    bridge.handle(v.OpenDocument())
    bridge.handle(v.CloseDocument())
    bridge.exchange_changed(ExchangeState(documents=(doc,)))  # the same one: no new notice
    assert bridge.current_view().call.document is None
    second = ReceivedDocument("doc-2", "foto.png", "image/png", image.ref)
    bridge.exchange_changed(ExchangeState(documents=(doc, second)))
    document = bridge.current_view().call.document
    assert document is not None and len(document.pages) == 1
    assert document.pages[0].rgb[:3] == bytes((10, 120, 200))


@pytest.mark.parametrize("damage", ["unknown ref", "tampered", "closed vault", "not a pdf"])
def test_unreadable_pushed_documents_say_so_without_naming_them(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    vault = SessionVault(tmp_path, max_file_bytes=MIB, max_session_bytes=MIB)
    body = b"not a pdf at all" if damage == "not a pdf" else sample_contract()
    artifact = vault.store(ArtifactKind.FILE_RECEIVED, SECRET_NAME, body)
    ref = "0" * 32 if damage == "unknown ref" else artifact.ref
    if damage == "tampered":
        path = vault.directory / artifact.ref
        data = bytearray(path.read_bytes())
        data[-1] ^= 1
        path.write_bytes(bytes(data))
    if damage == "closed vault":
        vault.destroy()
    _, bridge = in_call(vault)
    bridge.exchange_changed(
        ExchangeState(documents=(ReceivedDocument("doc-1", SECRET_NAME, "application/pdf", ref),))
    )
    document = bridge.current_view().call.document
    assert document is not None and document.unreadable and document.pages == ()
    assert SECRET_NAME not in caplog.text and "Jürgen" not in caplog.text


def test_without_custody_a_pushed_document_is_unreadable() -> None:
    _, bridge = in_call(None)
    bridge.exchange_changed(
        ExchangeState(documents=(ReceivedDocument("doc-1", "x", "application/pdf", "ab" * 16),))
    )
    document = bridge.current_view().call.document
    assert document is not None and document.unreadable


def test_shared_screen_frames_show_only_while_sharing() -> None:
    _, bridge = in_call()
    bridge.screen_frame(frame((10, 200, 30)))
    assert bridge.screen_video() is None  # not announced yet
    bridge.exchange_changed(ExchangeState(screen_share=True))
    assert bridge.current_view().call.screen_share
    shown = bridge.screen_video()
    assert shown is not None and (shown.width, shown.height) == (128, 72)
    assert shown.rgb[:3] == bytes((10, 200, 30))
    assert bridge.screen_video() is shown  # converted once per frame
    bridge.screen_frame(frame((200, 10, 30)))
    newer = bridge.screen_video()
    assert newer is not None and newer.seq > shown.seq and newer.rgb[:3] == bytes((200, 10, 30))
    bridge.exchange_changed(ExchangeState(screen_share=False))
    assert bridge.screen_video() is None and not bridge.current_view().call.screen_share
    bridge.exchange_changed(ExchangeState(screen_share=True))
    assert bridge.screen_video() is None  # the old share's last frame is gone


def test_self_view_gets_a_new_sequence_per_camera_frame() -> None:
    kiosk, bridge = in_call()
    kiosk.latest_local_frame = frame((1, 2, 3))
    first = bridge.self_view()
    assert first is not None and bridge.self_view() is first
    kiosk.latest_local_frame = frame((4, 5, 6))
    second = bridge.self_view()
    assert second is not None and second.seq != first.seq  # the painter draws it again


def test_dropped_call_keeps_the_last_picture_then_heals() -> None:
    kiosk, bridge = in_call()
    bridge.video_frame(frame((90, 90, 200)))
    phase(bridge, kiosk, c.Phase.RECONNECTING)
    view = bridge.current_view()
    assert view.screen is Screen.CALL and view.call.reconnecting
    assert bridge.remote_video() is not None  # the last picture stays behind the notice
    bridge.handle(v.ToggleMute())  # the call screen still works
    phase(bridge, kiosk, c.Phase.OFFERING)  # a fresh peer connection for the same consultation
    phase(bridge, kiosk, c.Phase.CONNECTING)
    assert bridge.current_view().call.reconnecting
    phase(bridge, kiosk, c.Phase.IN_CALL)
    view = bridge.current_view()
    assert view.screen is Screen.CALL and not view.call.reconnecting and view.call.muted


def test_dropped_call_that_does_not_heal_ends_in_goodbye() -> None:
    kiosk, bridge = in_call()
    bridge.video_frame(frame((90, 90, 200)))
    bridge.exchange_changed(asked())
    phase(bridge, kiosk, c.Phase.RECONNECTING)
    phase(bridge, kiosk, c.Phase.QUEUEING)  # grace expired: the session ends and wipes
    assert bridge.current_view().screen is Screen.GOODBYE
    assert bridge.remote_video() is None  # the adviser's last frame is not kept


async def until(predicate: Callable[[], bool], within: float = 10.0) -> None:
    for _ in range(int(within / 0.01)):
        if predicate():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_on_the_loop_decisions_from_the_ui_thread_and_documents_off_the_loop(
    tmp_path: Path,
) -> None:
    vault = SessionVault(tmp_path, max_file_bytes=8 * MIB, max_session_bytes=16 * MIB)
    artifact = vault.store(ArtifactKind.FILE_RECEIVED, SECRET_NAME, sample_contract(pages=2))
    kiosk, bridge = in_call(vault)
    ticker = asyncio.create_task(bridge.run())
    try:
        await until(lambda: bridge.loop is not None)
        bridge.exchange_changed(asked())
        ui = threading.Thread(target=bridge.report, args=(v.DecideRequest("req-1", "start"),))
        ui.start()
        ui.join()
        await until(lambda: decisions(kiosk) == [("start", "req-1")])
        doc = ReceivedDocument("doc-1", SECRET_NAME, "application/pdf", artifact.ref)
        bridge.exchange_changed(ExchangeState(documents=(doc,)))
        await until(lambda: bridge.current_view().call.document is not None)
        document = bridge.current_view().call.document
        assert document is not None and len(document.pages) == 2
        # A document still rendering when the session ends is not shown to anybody.
        later = ReceivedDocument("doc-2", SECRET_NAME, "application/pdf", artifact.ref)
        bridge.exchange_changed(ExchangeState(documents=(doc, later)))
        phase(bridge, kiosk, c.Phase.QUEUEING)
        await asyncio.sleep(0.5)
        view = bridge.current_view()
        assert view.screen is Screen.GOODBYE and view.call.document is None
    finally:
        ticker.cancel()
        with pytest.raises(asyncio.CancelledError):
            await ticker
