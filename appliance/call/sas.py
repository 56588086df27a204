"""The short authentication string: commit, reveal, check and the four words both ends show.

A hub that swaps the DTLS fingerprints in the SDP it relays could sit in the middle of the
call. The adviser therefore commits to its fingerprint and a random nonce (``sas_commit``)
before the kiosk's fingerprint travels in the offer, and reveals both on the data channel
once it is open. The kiosk checks the commitment and that the revealed fingerprint is the one
its DTLS stack was told to accept (the answer's); both ends then show four words derived from
both fingerprints and the nonce. A man in the middle would have to fix its own fingerprints
before it learns what the code depends on, so the words match by chance only (2^-32).

Pure functions, no I/O beyond reading the shared word list (docs/verification.md); the
console (``hub/web/verification.js``) does the same computations in JavaScript.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from importlib import resources

from protocol.channel import FINGERPRINT_PATTERN, NONCE_PATTERN
from protocol.messages import COMMITMENT_PATTERN

DOMAIN = "branch-kiosk sas v1"
NONCE_BYTES = 32
CODE_WORDS = 4
WORD_COUNT = 256
_SDP_FINGERPRINT = re.compile(r"^a=fingerprint:(\S+) (\S+)\s*$", re.MULTILINE)


class VerificationError(Exception):
    """The peer could not be verified; ``code`` says why in one word (safe to log)."""

    code = "unverified"


class BadFingerprint(VerificationError):
    """A fingerprint that is not ``sha-256 XX:XX:...`` (32 upper-case hex pairs)."""

    code = "bad_fingerprint"


class BadNonce(VerificationError):
    """A nonce that is not 64 lower-case hex digits (32 bytes)."""

    code = "bad_nonce"


class CommitmentMismatch(VerificationError):
    """The revealed fingerprint and nonce are not what the adviser committed to."""

    code = "commitment_mismatch"


class FingerprintMismatch(VerificationError):
    """The revealed fingerprint is not the one our own DTLS stack negotiated."""

    code = "fingerprint_mismatch"


class NoCommitment(VerificationError):
    """A reveal arrived but no commitment was ever received."""

    code = "no_commitment"


@functools.cache
def words() -> tuple[str, ...]:
    """The 256 words of ``hub/web/sas-words.json`` (shared with the console)."""
    text = resources.files("hub").joinpath("web/sas-words.json").read_text(encoding="utf-8")
    loaded = json.loads(text)["words"]
    if (
        not isinstance(loaded, list)
        or len(loaded) != WORD_COUNT
        or len(set(loaded)) != WORD_COUNT
        or not all(isinstance(w, str) and re.fullmatch(r"[a-z]{3,8}", w) for w in loaded)
    ):
        raise RuntimeError("hub/web/sas-words.json must hold 256 distinct lower-case words")
    return tuple(loaded)


def check_fingerprint(fingerprint: str) -> str:
    """``fingerprint`` if it is ``sha-256`` followed by 32 upper-case hex pairs."""
    if not re.fullmatch(FINGERPRINT_PATTERN, fingerprint):
        raise BadFingerprint("not a sha-256 fingerprint in SDP form")
    return fingerprint


def new_nonce() -> str:
    """A fresh 32-byte nonce as 64 lower-case hex digits."""
    return secrets.token_hex(NONCE_BYTES)


def _nonce_bytes(nonce: str) -> bytes:
    if not re.fullmatch(NONCE_PATTERN, nonce):
        raise BadNonce("the nonce must be 64 lower-case hex digits")
    return bytes.fromhex(nonce)


def _digest(purpose: str, *parts: bytes) -> bytes:
    # Every part length-prefixed: no two different inputs encode to the same bytes.
    h = hashlib.sha256()
    for part in (DOMAIN.encode(), purpose.encode(), *parts):
        h.update(len(part).to_bytes(4, "big"))
        h.update(part)
    return h.digest()


def commitment(fingerprint: str, nonce: str) -> str:
    """The adviser's commitment: hex SHA-256 over domain, ``commit``, fingerprint and nonce."""
    fp = check_fingerprint(fingerprint).encode()
    return _digest("commit", fp, _nonce_bytes(nonce)).hex()


def check_commitment(committed: str, fingerprint: str, nonce: str) -> None:
    """Raise ``CommitmentMismatch`` unless ``committed`` opens to ``fingerprint`` and ``nonce``."""
    if not re.fullmatch(COMMITMENT_PATTERN, committed):
        raise CommitmentMismatch("the commitment is not 64 lower-case hex digits")
    if not hmac.compare_digest(commitment(fingerprint, nonce), committed):
        raise CommitmentMismatch("the reveal does not open the commitment")


def sdp_fingerprint(sdp: str) -> str:
    """The one ``sha-256`` fingerprint of an SDP (every section must carry the same one).

    Other algorithms are ignored here: aiortc and browsers check the certificate against
    every fingerprint given, so a second one of another algorithm cannot admit another peer.
    """
    found = {
        value.upper()
        for algorithm, value in _SDP_FINGERPRINT.findall(sdp)
        if algorithm.lower() == "sha-256"
    }
    if len(found) != 1:
        raise BadFingerprint(f"the SDP carries {len(found)} distinct sha-256 fingerprints")
    return check_fingerprint("sha-256 " + found.pop())


def code(kiosk_fingerprint: str, adviser_fingerprint: str, nonce: str) -> str:
    """The four words both ends show: SHA-256 over domain, ``code``, both fingerprints, nonce."""
    digest = _digest(
        "code",
        check_fingerprint(kiosk_fingerprint).encode(),
        check_fingerprint(adviser_fingerprint).encode(),
        _nonce_bytes(nonce),
    )
    table = words()
    return " ".join(table[b] for b in digest[:CODE_WORDS])


@dataclass(frozen=True)
class Verified:
    """A peer that passed every check, and the code to compare aloud."""

    code: str
    kiosk_fingerprint: str
    adviser_fingerprint: str


def verify_adviser(
    *,
    committed: str | None,
    kiosk_fingerprint: str,
    answer_fingerprint: str,
    revealed_fingerprint: str,
    nonce: str | None,
) -> Verified:
    """The kiosk's checks of the adviser's ``sas_reveal``.

    The reveal must open the commitment, and the revealed fingerprint must be the answer's,
    which is the one aiortc's DTLS checked the adviser's certificate against.
    """
    if committed is None:
        raise NoCommitment("no sas_commit was received for this call")
    if nonce is None:
        raise BadNonce("the adviser's reveal carries no nonce")
    check_fingerprint(revealed_fingerprint)
    check_commitment(committed, revealed_fingerprint, nonce)
    if not hmac.compare_digest(revealed_fingerprint, check_fingerprint(answer_fingerprint)):
        raise FingerprintMismatch("the adviser's fingerprint is not the answer's")
    return Verified(
        code(kiosk_fingerprint, revealed_fingerprint, nonce),
        kiosk_fingerprint,
        revealed_fingerprint,
    )


def verify_kiosk(
    *,
    offer_fingerprint: str,
    revealed_fingerprint: str,
    adviser_fingerprint: str,
    nonce: str,
    certificate_fingerprint: str | None = None,
) -> Verified:
    """The adviser's checks of the kiosk's ``sas_reveal`` (the console does the same in JS).

    The revealed fingerprint must be the offer's and, where the stack tells us, the one of the
    certificate DTLS actually received.
    """
    check_fingerprint(revealed_fingerprint)
    if not hmac.compare_digest(revealed_fingerprint, check_fingerprint(offer_fingerprint)):
        raise FingerprintMismatch("the kiosk's fingerprint is not the offer's")
    if certificate_fingerprint is not None and not hmac.compare_digest(
        revealed_fingerprint, check_fingerprint(certificate_fingerprint)
    ):
        raise FingerprintMismatch("the kiosk's fingerprint is not its certificate's")
    return Verified(
        code(revealed_fingerprint, adviser_fingerprint, nonce),
        revealed_fingerprint,
        adviser_fingerprint,
    )


# -- staying verified across peer connections (docs/reconnection.md) ----------------------

RESUME_DOMAIN = "branch-kiosk resume v1"
CONTINUITY_BYTES = 32
Role = str  # "kiosk" or "adviser": the sender of a resume proof


class ProofMismatch(VerificationError):
    """A resume proof whose MAC does not check out: not the end we verified before."""

    code = "proof_mismatch"


class NoContinuity(VerificationError):
    """A resume proof or continuity secret arrived where none belongs."""

    code = "no_continuity"


def new_continuity_secret() -> bytes:
    """The session's continuity secret: 32 random bytes, sent once inside DTLS."""
    return secrets.token_bytes(CONTINUITY_BYTES)


def continuity_secret(hex_secret: str) -> bytes:
    """Parse the hex ``secret`` of a ``continuity`` message (64 lower-case hex digits)."""
    if not re.fullmatch(r"[0-9a-f]{64}", hex_secret):
        raise NoContinuity("the continuity secret must be 64 lower-case hex digits")
    return bytes.fromhex(hex_secret)


def resume_mac(
    secret: bytes,
    *,
    role: Role,
    consultation_id: str,
    own_fingerprint: str,
    peer_fingerprint: str,
) -> str:
    """The ``mac`` of a ``resume_proof``, as 64 lower-case hex digits.

    Byte layout (the console's JavaScript computes exactly the same)::

        key     = secret                      (the 32 raw bytes, not the hex)
        message = b"branch-kiosk resume v1" 0x00
                  role                    0x00   (UTF-8: "kiosk" or "adviser", the sender's)
                  consultation_id         0x00   (UTF-8, as in signalling)
                  own fingerprint         0x00   (the sender's, SDP form:
                                                  "sha-256 AB:CD:..." upper-case hex)
                  peer fingerprint               (the receiver's, as the sender's stack
                                                  negotiated it, same form; no trailing 0x00)
        mac     = HMAC-SHA256(key, message).hexdigest()

    The parts never contain 0x00 (fixed role names, ids and fingerprints of restricted
    alphabets), so the single separator byte is unambiguous.
    """
    if role not in ("kiosk", "adviser"):
        raise ValueError("role must be kiosk or adviser")
    if len(secret) != CONTINUITY_BYTES:
        raise NoContinuity("the continuity secret must be 32 bytes")
    parts = (
        RESUME_DOMAIN,
        role,
        consultation_id,
        check_fingerprint(own_fingerprint),
        check_fingerprint(peer_fingerprint),
    )
    if any("\x00" in part for part in parts):
        raise ValueError("no part of a resume proof may contain a NUL byte")
    message = b"\x00".join(part.encode() for part in parts)
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def verify_resume_proof(
    secret: bytes,
    *,
    role: Role,
    consultation_id: str,
    revealed_fingerprint: str,
    negotiated_fingerprint: str,
    own_fingerprint: str,
    mac: str,
) -> None:
    """Check a peer's ``resume_proof`` (``role`` is the peer's): raise unless it is genuine.

    The revealed fingerprint must be the one our stack negotiated for the peer, and the MAC,
    computed as the peer would (its fingerprint first, ours second), must match.
    """
    check_fingerprint(revealed_fingerprint)
    if not hmac.compare_digest(revealed_fingerprint, check_fingerprint(negotiated_fingerprint)):
        raise FingerprintMismatch("the resume proof's fingerprint is not the negotiated one")
    expected = resume_mac(
        secret,
        role=role,
        consultation_id=consultation_id,
        own_fingerprint=revealed_fingerprint,
        peer_fingerprint=own_fingerprint,
    )
    if not hmac.compare_digest(expected, mac):
        raise ProofMismatch("the resume proof's MAC does not match")
