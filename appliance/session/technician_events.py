"""What goes into the technician machine besides UI intents (events) and what comes out (effects).

Plain frozen records, no behaviour: ``appliance.session.technician`` decides; the shell
(``appliance.ui.technician``) reports what the hub, the identity directory and the self-test
said, and carries out the effects. ``attempt`` ties a result to the request that asked for it,
so a late answer to an abandoned attempt changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from kiosk_ui import viewmodels as v
from provisioning.codes import EnrolmentCode

# -- events from the shell -------------------------------------------------------------


@dataclass(frozen=True)
class Tick:
    """Time passed (the shell sends one at least every second)."""


@dataclass(frozen=True)
class KeyReady:
    """The identity directory is usable and holds the key to enrol (SHA-256 of its SPKI)."""

    fingerprint: str


@dataclass(frozen=True)
class IdentityBroken:
    """The identity directory cannot be used; ``detail`` says what is wrong with it."""

    detail: str


@dataclass(frozen=True)
class AlreadyEnrolled:
    """Looking again, the kiosk is enrolled (``kiosk enrol`` ran from a shell meanwhile)."""

    device_name: str
    tenant: str


@dataclass(frozen=True)
class CaFetched:
    """The hub's tenant CA for the code: its SHA-256 fingerprint (64 hex digits)."""

    attempt: int
    fingerprint: str


@dataclass(frozen=True)
class Failed:
    """A request of ``attempt`` failed; ``notice`` says why, in the technician's words."""

    attempt: int
    notice: v.Notice
    identity: bool = False  # the identity directory is at fault: nothing to retry here


@dataclass(frozen=True)
class Enrolled:
    """The hub issued the certificate and it is stored: the kiosk is enrolled."""

    attempt: int
    device_name: str
    tenant: str


@dataclass(frozen=True)
class SelftestDone:
    """The self-test's results, one line per fitted device."""

    results: tuple[v.SelftestLine, ...]


@dataclass(frozen=True)
class CertificateRefused:
    """The hub refused the enrolled kiosk's certificate (expired or revoked): enrol again."""


Event = (
    v.Intent
    | Tick
    | KeyReady
    | IdentityBroken
    | AlreadyEnrolled
    | CaFetched
    | Failed
    | Enrolled
    | SelftestDone
    | CertificateRefused
)

# -- effects for the shell ---------------------------------------------------------------


@dataclass(frozen=True)
class CheckIdentity:
    """Look at the identity directory: ``KeyReady`` with the key to enrol (made if there is
    none), ``IdentityBroken``, or ``AlreadyEnrolled`` (unless the hub just refused it)."""

    accept_enrolled: bool = True


@dataclass(frozen=True)
class FetchCa:
    """GET the code's tenant CA (``CaFetched`` or ``Failed``); the code's secret stays here."""

    attempt: int
    hub_url: str  # http(s)://host[:port]
    code: EnrolmentCode  # its repr hides the secret


@dataclass(frozen=True)
class Enrol:
    """Enrol with ``code``, refusing any CA but ``ca_fingerprint`` (``Enrolled`` or ``Failed``)."""

    attempt: int
    hub_url: str
    code: EnrolmentCode
    ca_fingerprint: str


@dataclass(frozen=True)
class RunSelftest:
    """Run ``kiosk selftest``'s checks on the configured devices (``SelftestDone``)."""


@dataclass(frozen=True)
class StartService:
    """Enrolled: hand the screen to the customer's journey."""


Effect = CheckIdentity | FetchCa | Enrol | RunSelftest | StartService
