"""The biometric evidence sealed to the tenant's trustee (docs/signature-sealing.md).

``seal`` encrypts an :class:`Evidence` (the ISO 19794-7 record, the signed PDF's SHA-256, the
device and the time) as CMS AuthEnvelopedData (RFC 5083) with AES-256-GCM (RFC 5084) to the
trustee's certificate: RSAES-OAEP key transport for RSA, ECDH key agreement (RFC 5753) for EC.
Only the trustee's private key opens it (``open_sealed``, or ``openssl cms -decrypt``). Nothing
here logs: the evidence is biometric data.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

from asn1crypto import cms, core
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from signing.cms import (
    CURVES,
    KEY_BYTES,
    NONCE_BYTES,
    OID_AES256_GCM,
    OID_AUTH_ENVELOPED_DATA,
    OID_DATA,
    TAG_BYTES,
    GcmParameters,
    OpenError,
    OpenReason,
    RidMatch,
    SealError,
    is_der,
    kari,
    ktri,
    open_kari,
    open_ktri,
    recipient_ref,
    rid_matcher,
)

__all__ = [
    "EVIDENCE_VERSION",
    "Evidence",
    "OpenError",
    "OpenReason",
    "SealError",
    "evidence_der",
    "open_bytes",
    "open_sealed",
    "parse_evidence",
    "seal",
    "seal_bytes",
]

EVIDENCE_VERSION = 1
RECORD_MAX = 4 * 1024 * 1024  # far above a capped capture (signing.iso19794.MAX_SAMPLES)
DEVICE_MAX = 128  # a certificate CN is at most 64; room for a longer device name
SEALED_MAX = RECORD_MAX + 64 * 1024  # the record plus the CMS around it
RSA_BITS = (2048, 16384)
# asn1crypto raises these on bytes that are not the DER it expects; all mean "malformed".
_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError)


class _EvidenceAsn1(core.Sequence):  # type: ignore[misc]
    """BiometricEvidence (docs/signature-sealing.md has its ASN.1 module)."""

    _fields = [
        ("version", core.Integer),
        ("record", core.OctetString),
        ("document_sha256", core.OctetString),
        ("device", core.UTF8String),
        ("signed_at", core.GeneralizedTime),
    ]


@dataclass(frozen=True)
class Evidence:
    """What is sealed to the trustee."""

    record: bytes  # ISO/IEC 19794-7 bytes
    document_sha256: bytes  # SHA-256 of the exact PDF bytes the customer was asked to sign
    device: str  # device name (its certificate's CN)
    signed_at: dt.datetime  # UTC


def _check(e: Evidence) -> None:
    if not 0 < len(e.record) <= RECORD_MAX:
        raise SealError("bad_evidence", f"the record must hold 1 to {RECORD_MAX} bytes")
    if len(e.document_sha256) != 32:
        raise SealError("bad_evidence", "the document hash must be a 32-byte SHA-256")
    if not 0 < len(e.device) <= DEVICE_MAX or not e.device.isprintable():
        raise SealError(
            "bad_evidence", f"the device name must be 1 to {DEVICE_MAX} printable chars"
        )
    if e.signed_at.utcoffset() != dt.timedelta(0):
        raise SealError("bad_evidence", "the signing time must be timezone-aware UTC")


def evidence_der(e: Evidence) -> bytes:
    """The DER of ``e`` as a BiometricEvidence SEQUENCE (SealError("bad_evidence") if invalid)."""
    _check(e)
    return bytes(
        _EvidenceAsn1(
            {
                "version": EVIDENCE_VERSION,
                "record": e.record,
                "document_sha256": e.document_sha256,
                "device": e.device,
                "signed_at": e.signed_at.astimezone(dt.UTC),
            }
        ).dump()
    )


def parse_evidence(der: bytes) -> Evidence:
    """The Evidence in ``der``; OpenError("bad_evidence") for anything but a valid one."""
    if len(der) > RECORD_MAX + 1024:
        raise OpenError("bad_evidence", "the evidence is larger than any record")
    try:
        parsed = _EvidenceAsn1.load(der, strict=True)
        native = parsed.native
        canonical = is_der(der)
    except _PARSE_ERRORS:
        raise OpenError("bad_evidence", "the evidence is not a DER BiometricEvidence") from None
    if not canonical:
        raise OpenError("bad_evidence", "the evidence is not in DER")
    if native["version"] != EVIDENCE_VERSION:
        # the value stays out of the message: it is the sender's, and may be huge
        raise OpenError("bad_evidence", "the evidence's version is not supported (1 is)")
    signed_at = native["signed_at"]
    if not isinstance(signed_at, dt.datetime) or signed_at.utcoffset() != dt.timedelta(0):
        raise OpenError("bad_evidence", "the evidence's time is not a UTC date and time")
    evidence = Evidence(
        record=native["record"],
        document_sha256=native["document_sha256"],
        device=native["device"],
        signed_at=signed_at.astimezone(dt.UTC),
    )
    try:
        _check(evidence)
    except SealError as exc:
        raise OpenError("bad_evidence", str(exc)) from None
    return evidence


def _recipient_info(certificate: x509.Certificate, cek: bytes) -> cms.RecipientInfo:
    public = certificate.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        if not RSA_BITS[0] <= public.key_size <= RSA_BITS[1]:
            raise SealError("unsupported_key", "an RSA trustee key needs 2048 to 16384 bits")
        return ktri(public, recipient_ref(certificate), cek)
    if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name in CURVES:
        return kari(public, recipient_ref(certificate), cek)
    raise SealError(
        "unsupported_key", "the trustee key must be RSA (2048 bits or more), EC P-256 or P-384"
    )


def seal(evidence: Evidence, recipient: x509.Certificate) -> bytes:
    """DER ContentInfo(AuthEnvelopedData) of ``evidence`` for ``recipient``'s key.

    AES-256-GCM with a fresh key and nonce; the key goes to the recipient by RSAES-OAEP
    (SHA-256) or ECDH (dhSinglePass-stdDH-sha256kdf, aes256-wrap). SealError for an evidence
    that is not valid or a key of another kind (check the certificate with
    signing.trustee.check_trustee first: this does not).
    """
    return seal_bytes(evidence_der(evidence), recipient)


def seal_bytes(plaintext: bytes, recipient: x509.Certificate) -> bytes:
    """DER ContentInfo(AuthEnvelopedData) of ``plaintext`` (id-data) for ``recipient``'s key.

    What :func:`seal` does for an evidence, for any content (the archive seals signed PDFs and
    chat transcripts with it, docs/archive.md); ``openssl cms -decrypt`` opens it.
    """
    cek = AESGCM.generate_key(bit_length=KEY_BYTES * 8)
    recipient_info = _recipient_info(recipient, cek)
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(cek).encrypt(nonce, plaintext, None)
    ciphertext, tag = sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]
    algorithm = {
        "algorithm": OID_AES256_GCM,
        "parameters": GcmParameters({"aes_nonce": nonce, "aes_icvlen": TAG_BYTES}),
    }
    content = cms.AuthEnvelopedData(
        {
            "version": "v0",  # RFC 5083 §2.1: always 0
            "recipient_infos": [recipient_info],
            "auth_encrypted_content_info": {
                "content_type": "data",
                "content_encryption_algorithm": algorithm,
                "encrypted_content": ciphertext,
            },
            "mac": tag,
        }
    )
    return bytes(
        cms.ContentInfo({"content_type": "authenticated_enveloped_data", "content": content}).dump()
    )


def _container(data: bytes, limit: int) -> cms.AuthEnvelopedData:
    if len(data) > limit:
        raise OpenError("malformed", "the container is larger than any sealed content allowed")
    try:
        info = cms.ContentInfo.load(data, strict=True)
        content_type = info["content_type"].dotted
        content = info["content"]
        _ = info.native  # parses every level now, so a malformed part fails here
        canonical = is_der(data)
    except _PARSE_ERRORS:
        raise OpenError("malformed", "the container is not DER CMS") from None
    if content_type != OID_AUTH_ENVELOPED_DATA:
        raise OpenError("wrong_content_type", "the container is not AuthEnvelopedData")
    if not canonical:
        raise OpenError("malformed", "the container is not in DER")
    if content["version"].native != "v0":
        raise OpenError("malformed", "AuthEnvelopedData version is not 0")
    for optional in ("originator_info", "auth_attrs", "unauth_attrs"):
        if content[optional].native is not None:
            raise OpenError("unsupported_algorithm", f"the container carries {optional}")
    return content


def _cipher(content: cms.AuthEnvelopedData) -> tuple[bytes, bytes, bytes]:
    """(nonce, ciphertext, tag) after checking the content's algorithm and sizes."""
    eci = content["auth_encrypted_content_info"]
    if eci["content_type"].dotted != OID_DATA:
        raise OpenError("wrong_content_type", "the sealed content is not id-data")
    algorithm = eci["content_encryption_algorithm"]
    if algorithm["algorithm"].dotted != OID_AES256_GCM:
        raise OpenError("unsupported_algorithm", "the content cipher is not AES-256-GCM")
    try:
        params = GcmParameters.load(algorithm["parameters"].dump(), strict=True)
        nonce, icvlen = params["aes_nonce"].native, params["aes_icvlen"].native
    except _PARSE_ERRORS:
        raise OpenError("malformed", "the GCM parameters are malformed") from None
    tag, ciphertext = content["mac"].native, eci["encrypted_content"].native
    if len(nonce) != NONCE_BYTES or icvlen != TAG_BYTES or len(tag) != TAG_BYTES:
        raise OpenError("unsupported_algorithm", "GCM nonce or tag length is not 12/16 bytes")
    if ciphertext is None:
        raise OpenError("malformed", "the container has no encrypted content")
    return nonce, ciphertext, tag


def _content_key(
    content: cms.AuthEnvelopedData,
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    match: RidMatch,
) -> bytes:
    """The content-encryption key from the first recipient info ``key`` opens."""
    kind = "ktri" if isinstance(key, rsa.RSAPrivateKey) else "kari"
    infos = [ri.chosen for ri in content["recipient_infos"] if ri.name == kind]
    failure = OpenError("no_recipient", f"the container has no recipient for an {kind} key")
    for info in infos:
        try:
            if isinstance(key, rsa.RSAPrivateKey):
                return open_ktri(info, key, match)
            return open_kari(info, key, match)
        except _PARSE_ERRORS:
            # parameters asn1crypto keeps as Any are parsed only when used
            exc = OpenError("malformed", "a recipient info is malformed")
        except OpenError as error:
            exc = error
        # report the most telling failure: another recipient's id says the least
        if failure.reason == "no_recipient":
            failure = exc
    raise failure


def open_sealed(
    data: bytes,
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    *,
    certificate: x509.Certificate | None = None,
) -> Evidence:
    """The Evidence sealed in ``data`` for ``private_key``; OpenError(reason) otherwise.

    ``certificate`` (the trustee's) is needed only to check an issuer-and-serial recipient
    identifier; a key identifier is checked against the key itself.
    """
    return parse_evidence(
        open_bytes(data, private_key, certificate=certificate, max_bytes=SEALED_MAX)
    )


def open_bytes(
    data: bytes,
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    *,
    certificate: x509.Certificate | None = None,
    max_bytes: int,
) -> bytes:
    """The content :func:`seal_bytes` sealed in ``data`` (at most ``max_bytes`` long) for
    ``private_key``; OpenError(reason) otherwise (see :func:`open_sealed`)."""
    supported = isinstance(private_key, rsa.RSAPrivateKey) or (
        isinstance(private_key, ec.EllipticCurvePrivateKey) and private_key.curve.name in CURVES
    )
    if not supported:
        raise OpenError("unsupported_key", "the key is neither RSA nor EC P-256/P-384")
    content = _container(data, max_bytes)
    nonce, ciphertext, tag = _cipher(content)
    cek = _content_key(content, private_key, rid_matcher(private_key.public_key(), certificate))
    try:
        plaintext = AESGCM(cek).decrypt(nonce, ciphertext + tag, None)
    except InvalidTag:
        raise OpenError(
            "tampered", "the sealed content fails its GCM tag: it was changed"
        ) from None
    return plaintext
