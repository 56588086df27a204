"""Which trustee certificate a kiosk seals biometric evidence to (docs/signature-sealing.md).

The hub hands the kiosk its tenant's trustee certificate; a hostile hub could hand its own and
so receive the biometrics. ``check_trustee`` accepts a certificate only when the tenant CA the
kiosk enrolled with signed it, or when the kiosk's configuration pins it, and only when it is
currently valid, an encryption certificate, and of a key ``signing.sealed`` can seal to.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID

from signing.cms import CURVES
from signing.sealed import RSA_BITS

TrusteeCode = Literal[
    "expired", "not_yet_valid", "not_for_encryption", "untrusted", "unsupported_key", "malformed"
]
CERT_MAX = 8 * 1024  # what the welcome carries (protocol.messages.Welcome.trustee_cert)
NAME_MAX = 100


class TrusteeError(Exception):
    """A trustee certificate the kiosk refuses; ``code`` names the failed check."""

    def __init__(self, code: TrusteeCode, message: str) -> None:
        super().__init__(message)
        self.code: TrusteeCode = code


@dataclass(frozen=True)
class Trustee:
    """The trustee evidence is sealed to: its checked certificate and the name shown."""

    certificate: x509.Certificate
    name: str  # shown to the customer: who can ever open the evidence

    @property
    def sha256(self) -> bytes:
        """The certificate's DER SHA-256 (what a kiosk's configuration pins)."""
        return fingerprint(self.certificate)


def fingerprint(certificate: x509.Certificate) -> bytes:
    """SHA-256 of ``certificate``'s DER."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()


def display_name(certificate: x509.Certificate) -> str:
    """A name for the customer when the hub gave none: the subject's O, else its CN."""
    for oid in (NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME):
        for attribute in certificate.subject.get_attributes_for_oid(oid):
            value = attribute.value
            text = value if isinstance(value, str) else value.decode("utf-8", "replace")
            if text.strip():
                return text.strip()[:NAME_MAX]
    return certificate.subject.rfc4514_string()[:NAME_MAX]


def _signed_by(cert: x509.Certificate, anchor: x509.Certificate) -> bool:
    if cert.issuer != anchor.subject:
        return False
    try:
        cert.verify_directly_issued_by(anchor)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _check_key(cert: x509.Certificate) -> bool:
    """True for RSA, False for EC; TrusteeError("unsupported_key") for anything else."""
    try:
        public = cert.public_key()
    except (ValueError, TypeError, UnsupportedAlgorithm):  # a key cryptography cannot load
        public = None
    if isinstance(public, rsa.RSAPublicKey) and RSA_BITS[0] <= public.key_size <= RSA_BITS[1]:
        return True
    if isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name in CURVES:
        return False
    raise TrusteeError(
        "unsupported_key", "the trustee key must be RSA (2048 bits or more), EC P-256 or P-384"
    )


def _extension(cert: x509.Certificate, kind: type[x509.ExtensionType]) -> object | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _check_usage(cert: x509.Certificate, *, is_rsa: bool) -> None:
    wanted = "keyEncipherment" if is_rsa else "keyAgreement"
    usage = _extension(cert, x509.KeyUsage)
    if not isinstance(usage, x509.KeyUsage):
        raise TrusteeError(
            "not_for_encryption", f"the certificate has no keyUsage; it needs {wanted}"
        )
    if not (usage.key_encipherment if is_rsa else usage.key_agreement):
        raise TrusteeError(
            "not_for_encryption", f"the certificate is not for encryption: keyUsage lacks {wanted}"
        )
    constraints = _extension(cert, x509.BasicConstraints)
    if isinstance(constraints, x509.BasicConstraints) and constraints.ca:
        raise TrusteeError("not_for_encryption", "the certificate is a CA's, not a trustee's")


def check_trustee(
    cert_der: bytes,
    *,
    anchors: Sequence[x509.Certificate],
    pinned: Sequence[bytes] = (),
    now: dt.datetime,
) -> x509.Certificate:
    """The trustee certificate in ``cert_der`` if the kiosk may seal to it; TrusteeError else.

    Accepted only when one of ``anchors`` (the tenant CA the kiosk enrolled with) signed it or
    its DER SHA-256 is in ``pinned``; valid at ``now`` (aware); keyUsage keyEncipherment (RSA
    2048+) or keyAgreement (EC P-256/P-384), and not a CA certificate.
    """
    if now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    if len(cert_der) > CERT_MAX:
        raise TrusteeError("malformed", f"the trustee certificate exceeds {CERT_MAX} bytes")
    try:
        with warnings.catch_warnings():
            # e.g. a serial number that is not positive: RFC 5280 forbids it, so do we
            warnings.simplefilter("error", CryptographyDeprecationWarning)
            cert = x509.load_der_x509_certificate(cert_der)
        not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
        # cryptography parses these lazily: a broken one would fail later, in another check
        _ = (cert.issuer, cert.subject, cert.extensions)
    except (
        ValueError,
        x509.InvalidVersion,
        CryptographyDeprecationWarning,
        x509.DuplicateExtension,
        x509.UnsupportedGeneralNameType,
    ):
        raise TrusteeError(
            "malformed", "the trustee certificate is not a DER certificate"
        ) from None
    trusted = hashlib.sha256(cert_der).digest() in set(pinned) or any(
        _signed_by(cert, anchor) for anchor in anchors
    )
    if not trusted:
        raise TrusteeError(
            "untrusted",
            "the trustee certificate is not signed by this kiosk's tenant CA and not pinned in "
            "its configuration ([signature] trustee_cert)",
        )
    if now > not_after:
        raise TrusteeError("expired", f"the trustee certificate expired on {not_after:%Y-%m-%d}")
    if now < not_before:
        raise TrusteeError(
            "not_yet_valid", f"the trustee certificate is valid only from {not_before:%Y-%m-%d}"
        )
    _check_usage(cert, is_rsa=_check_key(cert))
    return cert
