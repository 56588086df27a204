"""Whom the kiosk seals the writing dynamics to, and with what it signs the PDF.

The hub's welcome names the tenant's trustee; a hostile hub could name itself, so the
certificate counts only when the tenant CA the kiosk enrolled with signed it, or when the
kiosk's configuration pins it (``[signature] trustee_cert``). The device's own key and
certificate (``provisioning.identity``) sign the PDF.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from provisioning.identity import Identity, IdentityError, IdentityStore

TrustCode = Literal["no_trustee", "trustee_untrusted", "not_enrolled"]


class SignatureUnavailable(Exception):
    """The kiosk cannot take a signature now; ``code`` goes to the adviser."""

    def __init__(self, code: TrustCode, message: str) -> None:
        super().__init__(message)
        self.code: TrustCode = code


@dataclass(frozen=True)
class TrusteeChoice:
    """The trustee the records are sealed to: its checked certificate and its shown name."""

    certificate: x509.Certificate = field(repr=False)
    name: str


def pinned_digests(path: Path | None) -> tuple[bytes, ...]:
    """The SHA-256 of the pinned trustee certificate (PEM or DER) at ``path``; () without one.

    Raises ``ValueError`` naming the file when it is unreadable or no certificate.
    """
    if path is None:
        return ()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"[signature] trustee_cert {path}: {exc.strerror}") from None
    try:
        cert = (
            x509.load_pem_x509_certificate(raw)
            if raw.lstrip().startswith(b"-----")
            else x509.load_der_x509_certificate(raw)
        )
    except ValueError:
        raise ValueError(f"[signature] trustee_cert {path} is not a certificate") from None
    return (hashlib.sha256(cert.public_bytes(Encoding.DER)).digest(),)


def trustee_from_welcome(
    cert_b64: str | None,
    name: str | None,
    *,
    anchors: Sequence[x509.Certificate],
    pinned: Sequence[bytes],
    now: datetime,
) -> TrusteeChoice:
    """The welcome's trustee, checked; :class:`SignatureUnavailable` says why not."""
    if not cert_b64:
        raise SignatureUnavailable("no_trustee", "the tenant has no trustee certificate")
    try:
        der = base64.b64decode(cert_b64, validate=True)
    except (binascii.Error, ValueError):
        raise SignatureUnavailable(
            "trustee_untrusted", "the trustee certificate is not base64"
        ) from None
    from signing.trustee import TrusteeError, check_trustee, display_name

    try:
        cert = check_trustee(der, anchors=anchors, pinned=pinned, now=now)
    except TrusteeError as exc:
        raise SignatureUnavailable(
            "trustee_untrusted", f"the trustee certificate is refused: {exc.code}"
        ) from None
    return TrusteeChoice(cert, name or display_name(cert))


def device_identity(store: IdentityStore | None) -> Identity:
    """The enrolled device's key, certificate and tenant CA; ``not_enrolled`` without them."""
    try:
        identity = store.load() if store is not None else None
    except IdentityError:
        identity = None
    if identity is None:
        raise SignatureUnavailable("not_enrolled", "the kiosk is not enrolled with a tenant CA")
    return identity
