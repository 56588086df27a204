"""Enrolment and renewal, step by step, on top of the EST client and the identity directory.

Enrolment: the device key (made on the device), the tenant CA from the hub, its fingerprint
compared BEFORE the code's secret leaves the device, then the CSR with the secret, then the
certificate checked against that CA and stored.

Clock: a Pi without a real-time clock may start with a wrong time. Enrolment trusts the hub's
clock (the hub sets the validity, backdated 5 minutes); the kiosk never rejects its own
certificate for a notBefore in the future. Renewal is due at two thirds of the lifetime by the
local clock, or by the hub's clock (its ``Date`` header) while the local clock is before the
certificate's notBefore (it has not been set yet).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from urllib.parse import urlsplit

from cryptography import x509

from provisioning import challenge, profile
from provisioning.codes import EnrolmentCode
from provisioning.est_client import BadResponse, CaMismatch, EstClient
from provisioning.identity import Identity, IdentityStore, build_csr


def kiosk_hub_url(hub_url: str) -> str:
    """The kiosk's hub URL (``hub.json``) for the hub at ``hub_url``: ``ws(s)://host[:port]``.

    ``hub_url`` may be http(s) or ws(s), with a path; it is reduced to its canonical origin.
    Raises :class:`~provisioning.challenge.BadChallenge` (a ValueError) saying what is wrong.
    """
    origin = challenge.canonical_origin(hub_url)
    scheme = urlsplit(origin).scheme
    return ("wss" if scheme == "https" else "ws") + origin.removeprefix(scheme)


async def enrol(
    client: EstClient,
    store: IdentityStore,
    code: EnrolmentCode,
    hub_url: str,
    *,
    expected_fingerprint: str | None,
    confirm: Callable[[str], bool] | None = None,
) -> Identity:
    """Enrol with ``code``; the CA must match ``expected_fingerprint`` or be ``confirm``-ed.

    ``confirm`` gets the CA's fingerprint (when none was expected) and says whether the
    technician accepts it. Raises :class:`CaMismatch` before the code's secret is sent,
    :class:`~provisioning.est_client.EstError` subclasses for the hub's refusals, and
    :class:`~provisioning.identity.IdentityError` for the directory.
    """
    key = store.enrolment_key()
    ca = await client.cacerts(code.id)
    found = profile.fingerprint(ca)
    if expected_fingerprint is not None:
        if found != profile.parse_fingerprint(expected_fingerprint):
            raise CaMismatch(
                "the hub's CA is not the one you were given: the code was NOT sent. "
                f"The hub shows {profile.display_fingerprint(found)}; check the hub URL, the "
                "network (a proxy in between?) and the fingerprint on the code's printout"
            )
    elif confirm is None or not confirm(found):
        raise CaMismatch("the hub's CA was not confirmed: the code was NOT sent")
    csr = build_csr(key, code.id, code.secret)
    cert = await client.simpleenroll(code.id, csr)
    _check_issued(cert, ca)
    return store.store(key, cert, ca, hub_url)


def renewal_due(cert: x509.Certificate, now: dt.datetime) -> bool:
    """Whether ``cert`` is due for renewal at ``now`` (two thirds of its lifetime passed)."""
    return now >= profile.renew_at(cert)


def expired(cert: x509.Certificate, now: dt.datetime) -> bool:
    """Whether ``cert`` is past its notAfter at ``now``."""
    return now > cert.not_valid_after_utc


def clock_unset(cert: x509.Certificate, now: dt.datetime) -> bool:
    """Whether the local clock cannot be right: it is before the certificate's notBefore."""
    return now < cert.not_valid_before_utc


async def renew(client: EstClient, store: IdentityStore) -> Identity:
    """Renew the stored certificate with the same key (the hub keeps the old one valid)."""
    current = store.load()
    if current is None:
        raise BadResponse("no identity to renew: enrol this kiosk first")
    csr = build_csr(current.key, current.device_name, None)
    answer = await client.simplereenroll(csr)
    cert = answer.certificates[0]
    _check_issued(cert, current.ca_certificate)
    if profile.device_name(cert) != current.device_name:
        raise BadResponse("the hub renewed the certificate under another name")
    return store.store_renewal(cert)


def _check_issued(cert: x509.Certificate, ca: x509.Certificate) -> None:
    """The certificate is the tenant CA's and follows the profile (its validity is the hub's)."""
    try:
        profile.check_device_certificate(cert, ca, cert.not_valid_before_utc)
    except profile.CertificateRejected as exc:
        raise BadResponse(f"the hub's certificate is unusable: {exc}") from None
