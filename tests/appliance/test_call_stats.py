"""The stats of each consultation: counted live, finished into one JSON line of the stats file."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from appliance.runner.call_stats import CallRecorder
from tests.support.fake_kiosk import ManualScheduler


def test_a_consultation_is_counted_from_accept_to_end_and_appended_to_the_file(
    tmp_path: Path,
) -> None:
    clock = ManualScheduler()
    stats_file = tmp_path / "calls.jsonl"
    recorder = CallRecorder(stats_file=stats_file, clock=clock, wall_clock=lambda: 1700000000.0)
    assert recorder.all(None) == [] and recorder.finish("hangup", None) is None
    recorder.start("c1")
    clock.advance(1.25)
    recorder.connected()
    clock.advance(5.0)
    recorder.connected()  # a resumed call connecting again: the first time counts
    recorder.verified("amber falcon river stone")
    recorder.chat(incoming=True)
    recorder.chat(incoming=False)
    recorder.chat(incoming=False)
    recorder.interrupted("silence", 2500.0)
    recorder.interrupted("hub_lost", None)
    recorder.healed(800.0)
    recorder.healed(None)
    assert recorder.verification_code == "amber falcon river stone"
    (live,) = recorder.all(None)
    assert live.end_reason is None and live.accepted_to_connected_ms == 1250.0
    finished = recorder.finish("hangup", None)
    assert finished is live and recorder.current is None and recorder.verification_code is None
    line = json.loads(stats_file.read_text())
    assert line == {
        **line,
        "consultation_id": "c1",
        "accepted_at_ms": 1700000000000,
        "accepted_to_connected_ms": 1250.0,
        "chat_in": 1,
        "chat_out": 2,
        "verified": True,
        "verification_code": "amber falcon river stone",
        "end_reason": "hangup",
        "reconnects": 2,
        "reconnect_causes": ["silence", "hub_lost"],
        "detection_ms": [2500.0],
        "reconnect_ms": [800.0],
    }
    assert not recorder.last_unverified


def test_a_refused_adviser_is_remembered_for_the_goodbye_screen() -> None:
    recorder = CallRecorder()
    recorder.start("c1")
    recorder.verified("amber falcon river stone")
    recorder.unverified("reveal_timeout")
    assert recorder.verification_code is None
    recorder.finish("failed", None)
    assert recorder.last_unverified
    recorder.start("c2")
    recorder.finish("hangup", None)
    assert not recorder.last_unverified
    assert [s.consultation_id for s in recorder.all(None)] == ["c1", "c2"]


def test_an_unwritable_stats_file_is_a_warning_not_a_crash(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    recorder = CallRecorder(stats_file=tmp_path / "missing" / "calls.jsonl")
    recorder.start("c1")
    assert recorder.finish("hangup", None) is not None
    assert "cannot append to the stats file" in caplog.text


def test_between_consultations_nothing_is_counted() -> None:
    recorder = CallRecorder()
    recorder.connected()
    recorder.verified("amber falcon river stone")
    recorder.chat(incoming=True)
    recorder.interrupted("silence", 1.0)
    recorder.healed(1.0)
    assert recorder.all(None) == [] and recorder.verification_code is None
