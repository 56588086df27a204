"""The running hub's tenant CAs: unsealed once and kept in memory, made when missing.

Without a hub secret (``--secret-file``) there is nothing to sign with: enrolment is off and
``signer`` raises ``EnrolmentDisabled``; a tenant CA's certificate (public) can still be read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509

from hub.pki.ca import Authority, authority, ca_certificate, ensure_tenant_cas, make_crl
from hub.pki.checked import CheckedCertificates
from hub.pki.secret import HubSecret
from hub.storage import RevokedSerial, Storage

CRL_REFRESH_S = 3600.0  # a CRL is valid for a day; a fresh one is signed at least hourly


class EnrolmentDisabled(Exception):
    """The hub runs without ``--secret-file``: it cannot sign certificates."""


@dataclass(frozen=True)
class _Crl:
    der: bytes
    revoked: tuple[RevokedSerial, ...]
    made_at: float


class Authorities:
    """Tenant CAs by tenant name; the keys unsealed at first use, CRLs cached."""

    def __init__(
        self, storage: Storage, secret: HubSecret | None, clock: Callable[[], float]
    ) -> None:
        self._storage = storage
        self._secret = secret
        self._clock = clock
        self._signers: dict[str, Authority] = {}
        self._certs: dict[str, x509.Certificate] = {}
        self._crls: dict[str, _Crl] = {}
        self._making = asyncio.Lock()
        # device certificates whose chain and profile passed (hub/pki/hello_check.py)
        self.checked = CheckedCertificates()

    @property
    def enabled(self) -> bool:
        """Whether this hub can sign (it has the hub secret)."""
        return self._secret is not None

    async def start(self) -> list[str]:
        """Give tenants without a CA one (when enabled); return their names."""
        if self._secret is None:
            return []
        async with self._making:
            made = await ensure_tenant_cas(self._storage, self._secret, now=self._clock())
        return [t.name for t in made]

    async def signer(self, tenant: str) -> Authority:
        """The tenant's CA with its key, made first if the tenant has none yet."""
        if self._secret is None:
            raise EnrolmentDisabled("this hub runs without --secret-file: enrolment is off")
        cached = self._signers.get(tenant)
        if cached is not None:
            return cached
        ca = await self._storage.tenant_ca(tenant)
        if ca is None:  # a tenant added since the start by `kiosk-hub tenant add`
            await self.start()
            ca = await self._storage.tenant_ca(tenant)
            if ca is None:
                raise EnrolmentDisabled(f"tenant {tenant!r} has no CA")
        signer = authority(self._secret, ca)
        self._signers[tenant] = signer
        return signer

    async def certificate(self, tenant: str) -> x509.Certificate | None:
        """The tenant CA's certificate (None: no CA yet); ``NotFound`` for an unknown tenant."""
        cached = self._certs.get(tenant)
        if cached is not None:
            return cached
        ca = await self._storage.tenant_ca(tenant)
        if ca is None:
            return None
        cert = ca_certificate(ca)
        self._certs[tenant] = cert
        return cert

    async def crl(self, tenant: str) -> bytes:
        """The tenant's current CRL (DER): signed again when a revocation came or hourly."""
        signer = await self.signer(tenant)
        revoked = tuple(await self._storage.revoked_serials(signer.tenant.id))
        now = self._clock()
        cached = self._crls.get(tenant)
        if (
            cached is not None
            and cached.revoked == revoked
            and now - cached.made_at < CRL_REFRESH_S
        ):
            return cached.der
        der = make_crl(signer, list(revoked), now=now)
        self._crls[tenant] = _Crl(der, revoked, now)
        return der
