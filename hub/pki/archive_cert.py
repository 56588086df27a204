"""A tenant's archive certificate: checked before it is stored, and described for people.

Kiosks seal signed contracts and chat transcripts to it (docs/archive.md); the tenant keeps the
private key, never the hub. The checks are the trustee certificate's (``hub.pki.trustee``): a
certificate kiosks can seal to (RSA or EC P-256/P-384 for encryption, valid now, small enough
for the welcome), never a private key; and issued by the tenant CA, since kiosks pin none.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from cryptography import x509

from hub.pki import trustee

CheckedCertificate = trustee.CheckedTrustee
CertificateRefused = trustee.TrusteeRefused
FILE_MAX = trustee.FILE_MAX


def check_certificate(
    data: bytes, *, ca: x509.Certificate | None, now: dt.datetime
) -> CheckedCertificate:
    """Check an archive certificate (PEM or DER) as a kiosk would; ``CertificateRefused``.

    Kiosks trust an archive certificate only when the tenant CA (``ca``) issued it (they pin
    none), so one it did not sign, or a tenant without a CA, is refused here: kiosks would
    keep nothing (reasons ``no_ca``, ``not_signed_by_ca``, and the trustee checks').
    """
    checked = trustee.check_certificate(data, ca=ca, now=now)  # the certificate's own faults first
    if ca is None:
        raise CertificateRefused(
            "no_ca",
            "this tenant has no CA yet, and kiosks accept an archive certificate only when the "
            "tenant CA issued it: run the hub with --secret-file (it makes the CA)",
        )
    if not checked.signed_by_ca:
        raise CertificateRefused(
            "not_signed_by_ca",
            "the tenant CA did not issue this certificate, so kiosks would keep nothing: have "
            "the tenant CA issue it from the archive key's request (kiosk-hub tenant "
            "trustee-issue NAME --csr FILE --out FILE --secret-file F)",
        )
    return checked


def describe(der: bytes | None) -> dict[str, Any] | None:
    """``{"subject", "not_after", "sha256"}`` of a stored certificate (None: none)."""
    if der is None:
        return None
    try:
        cert = x509.load_der_x509_certificate(der)
        subject = cert.subject.rfc4514_string()
        not_after: str | None = cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    except ValueError:  # stored before a check that would refuse it now: still name it
        subject, not_after = "(unreadable certificate)", None
    return {"subject": subject, "not_after": not_after, "sha256": hashlib.sha256(der).hexdigest()}
