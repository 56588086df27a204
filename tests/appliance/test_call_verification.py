"""One call's verification of the adviser, pure (no peer connection) and its liveness watch."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.call import sas
from appliance.call.liveness import Liveness
from appliance.call.verification import AdviserVerification, Resumption
from protocol import channel
from tests.support.sas_vector import FP_A, FP_K, NONCE, VECTOR_CODE, VECTOR_COMMITMENT

SECRET = bytes(range(32))
fingerprints = st.binary(min_size=32, max_size=32).map(
    lambda b: "sha-256 " + ":".join(f"{x:02X}" for x in b)
)


def first_call() -> AdviserVerification:
    check = AdviserVerification()
    check.own_fingerprint = FP_K
    check.commitment = VECTOR_COMMITMENT
    check.answer_fingerprint = FP_A
    return check


def resumed_call() -> AdviserVerification:
    check = AdviserVerification(Resumption("consult1", SECRET, VECTOR_CODE))
    check.own_fingerprint = FP_K
    check.answer_fingerprint = FP_A
    return check


def test_a_first_call_reveals_its_fingerprint_and_verifies_an_honest_reveal() -> None:
    check = first_call()
    assert check.opening() == channel.SasReveal(fingerprint=FP_K)
    verified = check.check_reveal(channel.SasReveal(fingerprint=FP_A, nonce=NONCE))
    assert verified.code == VECTOR_CODE and check.verified == verified
    # A second reveal is refused, and the refusal takes the verification away.
    with pytest.raises(sas.VerificationError) as raised:
        check.check_reveal(channel.SasReveal(fingerprint=FP_A, nonce=NONCE))
    assert check.refuse(raised.value) and check.verified is None
    assert check.error == "unverified"


def test_nothing_is_sent_before_the_offer_is_prepared() -> None:
    assert AdviserVerification().opening() is None


@pytest.mark.parametrize(
    ("commitment", "answer", "code"),
    [
        (None, FP_A, "no_commitment"),
        ("0" * 64, FP_A, "commitment_mismatch"),
        (VECTOR_COMMITMENT, FP_K, "fingerprint_mismatch"),  # not the answer's fingerprint
    ],
)
def test_a_wrong_reveal_is_refused_and_reported_once(
    commitment: str | None, answer: str, code: str
) -> None:
    check = first_call()
    check.commitment = commitment
    check.answer_fingerprint = answer
    with pytest.raises(sas.VerificationError) as raised:
        check.check_reveal(channel.SasReveal(fingerprint=FP_A, nonce=NONCE))
    assert raised.value.code == code
    assert check.refuse(raised.value) is True
    assert check.refuse(sas.VerificationError("again")) is False  # reported once only
    assert check.verified is None


@given(fingerprints, fingerprints)
def test_a_resumed_call_proves_itself_and_checks_the_advisers_proof(own: str, peer: str) -> None:
    check = AdviserVerification(Resumption("consult1", SECRET, VECTOR_CODE))
    check.own_fingerprint, check.answer_fingerprint = own, peer
    opening = check.opening()
    assert isinstance(opening, channel.ResumeProof) and opening.fingerprint == own
    # The adviser checks our proof as the kiosk's...
    sas.verify_resume_proof(
        SECRET,
        role="kiosk",
        consultation_id="consult1",
        revealed_fingerprint=opening.fingerprint,
        negotiated_fingerprint=own,
        own_fingerprint=peer,
        mac=opening.mac,
    )
    # ...and we check the adviser's: the four words stay those of the first verification.
    mac = sas.resume_mac(
        SECRET,
        role="adviser",
        consultation_id="consult1",
        own_fingerprint=peer,
        peer_fingerprint=own,
    )
    verified = check.check_proof(channel.ResumeProof(fingerprint=peer, mac=mac))
    assert verified == sas.Verified(VECTOR_CODE, own, peer) == check.verified


def test_a_resumed_call_never_takes_a_reveal_nor_proves_before_the_answer() -> None:
    check = resumed_call()
    with pytest.raises(sas.VerificationError, match="a reveal on a resumed call"):
        check.check_reveal(channel.SasReveal(fingerprint=FP_A, nonce=NONCE))
    check.answer_fingerprint = None
    with pytest.raises(sas.VerificationError, match="a channel before the answer"):
        check.opening()


def test_a_first_call_refuses_a_resume_proof() -> None:
    with pytest.raises(sas.NoContinuity):
        first_call().check_proof(channel.ResumeProof(fingerprint=FP_A, mac="0" * 64))


class ManualClock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_liveness_beats_and_reports_silence_once() -> None:
    clock = ManualClock()
    beats: asyncio.Queue[float] = asyncio.Queue()
    silent = asyncio.Event()
    silences: list[float] = []

    def on_silence() -> None:
        silences.append(clock.now)
        silent.set()

    liveness = Liveness(
        send_beat=lambda: beats.put_nowait(clock.now),
        on_silence=on_silence,
        beat_interval_s=0.05,
        dead_after_s=0.2,
        clock=clock,
    )
    liveness.start()
    liveness.start()  # once only
    async with asyncio.timeout(5):
        assert await beats.get() == 0.0
        clock.now = 1.0
        liveness.heard()  # life: the silence clock starts over
        clock.now = 1.1
        assert await beats.get() == 1.1
        assert silences == [] and liveness.silence_ms() == 100.0
        clock.now = 2.0
        await silent.wait()
    assert silences == [2.0]
    assert beats.empty()  # no beat after the silence, nor a second report
    await liveness.stop()
    await liveness.stop()  # idempotent
