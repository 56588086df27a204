"""bench/engine_spike.py: the parts of the GStreamer spike's driver that need no GStreamer."""

from __future__ import annotations

import argparse

import pytest

from appliance.call.sas import BadFingerprint
from bench.call_proc import CLK_TCK, StatLine
from bench.engine_spike import _size, four_words_inputs, per_thread

# What webrtcbin 1.22 offers: the same fingerprint in every bundled section.
FP = "sha-256 " + ":".join(["AB"] * 32)
OFFER = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=fingerprint:{fp}\r\nm=application 0 x\r\n"


def test_threads_are_summed_by_name_and_idle_ones_left_out() -> None:
    before = {1: StatLine("queue0:src", 100), 2: StatLine("python", 10), 3: StatLine("idle", 5)}
    after = {
        1: StatLine("queue0:src", 150),
        2: StatLine("python", 20),
        3: StatLine("idle", 5),
        4: StatLine("python", 10),  # born in the window: counts from zero
    }
    assert per_thread(before, after, 2.0) == {
        "queue0:src": round(50 / CLK_TCK / 2, 4),
        "python": round(20 / CLK_TCK / 2, 4),
    }


def test_both_fingerprints_are_read_with_the_kiosks_own_reader() -> None:
    other = "sha-256 " + ":".join(["CD"] * 32)
    offer = OFFER.format(fp=FP) + f"a=fingerprint:{FP}\r\n"
    assert four_words_inputs(offer, OFFER.format(fp=other)) == {"kiosk": FP, "browser": other}


def test_an_sdp_without_one_fingerprint_is_refused() -> None:
    two = OFFER.format(fp=FP) + "a=fingerprint:sha-256 " + ":".join(["CD"] * 32) + "\r\n"
    with pytest.raises(BadFingerprint):
        four_words_inputs(two, OFFER.format(fp=FP))


@pytest.mark.parametrize("text", ["640", "12x7", "640x480x2", "", "1e3x720"])
def test_a_bad_resolution_is_an_argument_error(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        _size(text)
