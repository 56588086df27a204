"""The short authentication string, pure: commitment, checks, the four words, bad inputs."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.call import sas
from tests.support.sas_vector import FP_A, FP_K, NONCE, VECTOR_CODE, VECTOR_COMMITMENT

ROOT = Path(__file__).resolve().parents[2]

fingerprints = st.binary(min_size=32, max_size=32).map(
    lambda b: "sha-256 " + ":".join(f"{x:02X}" for x in b)
)
nonces = st.binary(min_size=32, max_size=32).map(bytes.hex)


def sdp_with(*lines: str) -> str:
    return "\r\n".join(["v=0", "o=- 1 1 IN IP4 0.0.0.0", "s=-", *lines]) + "\r\n"


def test_word_list_is_256_distinct_short_words_with_distinct_prefixes() -> None:
    words = sas.words()
    assert len(words) == 256 and len(set(words)) == 256
    assert len({w[:3] for w in words}) == 256  # no two words start alike
    assert all(3 <= len(w) <= 6 and w.isascii() and w.isalpha() for w in words)
    on_disk = json.loads((ROOT / "hub" / "web" / "sas-words.json").read_text())["words"]
    assert tuple(on_disk) == words


def test_commitment_is_the_documented_encoding() -> None:
    # docs/verification.md: every part length-prefixed (4 bytes, big-endian).
    parts = [sas.DOMAIN.encode(), b"commit", FP_A.encode(), bytes.fromhex(NONCE)]
    expected = hashlib.sha256(b"".join(len(p).to_bytes(4, "big") + p for p in parts)).hexdigest()
    assert sas.commitment(FP_A, NONCE) == expected


# The fixed vector (tests/support/sas_vector.py); test_verification_js checks the console's.
def test_fixed_vector() -> None:
    assert sas.commitment(FP_A, NONCE) == VECTOR_COMMITMENT
    assert sas.code(FP_K, FP_A, NONCE) == VECTOR_CODE
    # Every input counts: swapped roles or another nonce give other words.
    assert sas.code(FP_A, FP_K, NONCE) != VECTOR_CODE
    assert sas.code(FP_K, FP_A, "5b" + NONCE[2:]) != VECTOR_CODE


@given(fingerprints, fingerprints, nonces)
def test_verification_passes_for_honest_peers_and_both_codes_agree(
    fp_k: str, fp_a: str, nonce: str
) -> None:
    committed = sas.commitment(fp_a, nonce)
    at_kiosk = sas.verify_adviser(
        committed=committed,
        kiosk_fingerprint=fp_k,
        answer_fingerprint=fp_a,
        revealed_fingerprint=fp_a,
        nonce=nonce,
    )
    at_adviser = sas.verify_kiosk(
        offer_fingerprint=fp_k,
        revealed_fingerprint=fp_k,
        adviser_fingerprint=fp_a,
        nonce=nonce,
        certificate_fingerprint=fp_k,
    )
    assert at_kiosk.code == at_adviser.code


@given(fingerprints, nonces, nonces)
def test_a_commitment_opens_to_nothing_else(fp: str, nonce: str, other: str) -> None:
    committed = sas.commitment(fp, nonce)
    sas.check_commitment(committed, fp, nonce)
    if other != nonce:
        with pytest.raises(sas.CommitmentMismatch):
            sas.check_commitment(committed, fp, other)


@given(fingerprints, fingerprints, nonces)
def test_the_code_is_four_listed_words(fp_k: str, fp_a: str, nonce: str) -> None:
    code = sas.code(fp_k, fp_a, nonce).split()
    assert len(code) == sas.CODE_WORDS and all(w in sas.words() for w in code)


def test_mitm_that_replaces_the_answer_fingerprint_is_refused() -> None:
    committed = sas.commitment(FP_A, NONCE)
    with pytest.raises(sas.FingerprintMismatch):
        sas.verify_adviser(
            committed=committed,
            kiosk_fingerprint=FP_K,
            answer_fingerprint=FP_K,  # the man in the middle's, in the answer the kiosk applied
            revealed_fingerprint=FP_A,
            nonce=NONCE,
        )


def test_mitm_that_forges_the_reveal_cannot_open_the_commitment() -> None:
    committed = sas.commitment(FP_A, NONCE)
    with pytest.raises(sas.CommitmentMismatch):
        sas.verify_adviser(
            committed=committed,
            kiosk_fingerprint=FP_K,
            answer_fingerprint=FP_K,
            revealed_fingerprint=FP_K,
            nonce=NONCE,
        )


def test_kiosk_reveal_must_match_offer_and_certificate() -> None:
    with pytest.raises(sas.FingerprintMismatch, match="offer"):
        sas.verify_kiosk(
            offer_fingerprint=FP_A, revealed_fingerprint=FP_K, adviser_fingerprint=FP_A, nonce=NONCE
        )
    with pytest.raises(sas.FingerprintMismatch, match="certificate"):
        sas.verify_kiosk(
            offer_fingerprint=FP_K,
            revealed_fingerprint=FP_K,
            adviser_fingerprint=FP_A,
            nonce=NONCE,
            certificate_fingerprint=FP_A,
        )


@pytest.mark.parametrize(
    ("committed", "fingerprint", "nonce", "error"),
    [
        (None, FP_A, NONCE, sas.NoCommitment),
        ("00" * 32, FP_A, None, sas.BadNonce),
        ("00" * 32, FP_A.lower(), NONCE, sas.BadFingerprint),
        ("00" * 32, "sha-1 " + FP_A[8:], NONCE, sas.BadFingerprint),
        ("00" * 32, FP_A, NONCE.upper(), sas.BadNonce),
        ("00" * 32, FP_A, NONCE[:-2], sas.BadNonce),
        ("XYZ", FP_A, NONCE, sas.CommitmentMismatch),
        ("00" * 32, FP_A, NONCE, sas.CommitmentMismatch),
    ],
)
def test_bad_reveals_are_typed_errors(
    committed: str | None, fingerprint: str, nonce: str | None, error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        sas.verify_adviser(
            committed=committed,
            kiosk_fingerprint=FP_K,
            answer_fingerprint=FP_A,
            revealed_fingerprint=fingerprint,
            nonce=nonce,
        )
    assert isinstance(info.value, sas.VerificationError)
    assert info.value.code != "unverified"


def test_sdp_fingerprint_takes_the_one_sha256_and_ignores_other_algorithms() -> None:
    value = FP_A.removeprefix("sha-256 ")
    sdp = sdp_with(
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        f"a=fingerprint:sha-256 {value.lower()}",
        "a=fingerprint:sha-384 AA:BB",
        "m=video 9 UDP/TLS/RTP/SAVPF 96",
        f"a=fingerprint:SHA-256 {value}",
    )
    assert sas.sdp_fingerprint(sdp) == FP_A


@pytest.mark.parametrize(
    "lines",
    [
        (),
        ("a=fingerprint:sha-384 AA:BB",),
        (f"a=fingerprint:{FP_A}", f"a=fingerprint:{FP_K}"),  # two different sha-256
        ("a=fingerprint:sha-256 AA:BB",),  # too short
    ],
)
def test_sdp_without_exactly_one_sha256_fingerprint_is_refused(lines: tuple[str, ...]) -> None:
    with pytest.raises(sas.BadFingerprint):
        sas.sdp_fingerprint(sdp_with(*lines))


@given(st.text(max_size=300))
def test_sdp_fingerprint_never_raises_anything_but_verification_errors(text: str) -> None:
    try:
        sas.sdp_fingerprint(text)
    except sas.VerificationError:
        pass


# -- resume proofs (docs/reconnection.md) ---------------------------------------------------

SECRET = bytes(range(32))
CID = "consult-0001"


def test_resume_mac_byte_layout_is_pinned() -> None:
    message = b"\x00".join(
        [b"branch-kiosk resume v1", b"kiosk", CID.encode(), FP_K.encode(), FP_A.encode()]
    )
    expected = hmac.new(SECRET, message, hashlib.sha256).hexdigest()
    mac = sas.resume_mac(
        SECRET, role="kiosk", consultation_id=CID, own_fingerprint=FP_K, peer_fingerprint=FP_A
    )
    assert mac == expected
    # A fixed vector for the console's JavaScript to match (secret = bytes 0..31).
    assert mac == "e048e2c2ddbab1f8df3eb078ebed4d56207c7561a308136ae89abc63f076ab0a"


def test_resume_proof_checks_role_secret_fingerprints_and_consultation() -> None:
    mac = sas.resume_mac(
        SECRET, role="adviser", consultation_id=CID, own_fingerprint=FP_A, peer_fingerprint=FP_K
    )
    good = {
        "role": "adviser",
        "consultation_id": CID,
        "revealed_fingerprint": FP_A,
        "negotiated_fingerprint": FP_A,
        "own_fingerprint": FP_K,
        "mac": mac,
    }
    sas.verify_resume_proof(SECRET, **good)
    wrong: list[tuple[dict[str, str], type[sas.VerificationError]]] = [
        ({"role": "kiosk"}, sas.ProofMismatch),  # a kiosk's proof reflected back
        ({"consultation_id": "consult-0002"}, sas.ProofMismatch),
        ({"negotiated_fingerprint": FP_K}, sas.FingerprintMismatch),  # a hub's own cert
        ({"revealed_fingerprint": FP_K, "negotiated_fingerprint": FP_K}, sas.ProofMismatch),
        ({"own_fingerprint": FP_A}, sas.ProofMismatch),
        ({"mac": "00" * 32}, sas.ProofMismatch),
        ({"revealed_fingerprint": "sha-256 nope"}, sas.BadFingerprint),
    ]
    for change, error in wrong:
        with pytest.raises(error):
            sas.verify_resume_proof(SECRET, **{**good, **change})
    with pytest.raises(sas.ProofMismatch):
        sas.verify_resume_proof(bytes(32), **good)


def test_resume_mac_refuses_bad_inputs() -> None:
    with pytest.raises(sas.NoContinuity):
        sas.resume_mac(
            b"short", role="kiosk", consultation_id=CID, own_fingerprint=FP_K, peer_fingerprint=FP_A
        )
    with pytest.raises(ValueError):
        sas.resume_mac(
            SECRET, role="hub", consultation_id=CID, own_fingerprint=FP_K, peer_fingerprint=FP_A
        )
    with pytest.raises(ValueError):
        sas.resume_mac(
            SECRET,
            role="kiosk",
            consultation_id="a\x00b",
            own_fingerprint=FP_K,
            peer_fingerprint=FP_A,
        )
    assert len(sas.new_continuity_secret()) == 32
    assert sas.new_continuity_secret() != sas.new_continuity_secret()


@given(st.text(max_size=80))
def test_continuity_secret_parses_only_64_lower_hex(text: str) -> None:
    try:
        secret = sas.continuity_secret(text)
    except sas.NoContinuity:
        assert (
            len(text) != 64
            or text != text.lower()
            or not all(c in "0123456789abcdef" for c in text)
        )
    else:
        assert secret.hex() == text


@given(nonces)
def test_continuity_secret_round_trips(hex_secret: str) -> None:
    assert sas.continuity_secret(hex_secret).hex() == hex_secret
