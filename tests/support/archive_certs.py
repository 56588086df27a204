"""An archive key and the certificate a running hub's tenant CA issued for it, as a tenant gets
one (``kiosk-hub tenant trustee-issue``): what ``PUT /api/admin/archive`` accepts
(docs/archive.md)."""

from __future__ import annotations

import datetime as dt

from hub.pki import trustee
from hub.pki.authorities import Authorities
from tests.support import trustee_certs
from tests.support.hub_enrol import csr_der


async def issued_archive_key(
    authorities: Authorities, tenant: str, *, now: float, name: str = "Archive"
) -> trustee_certs.Trustee:
    """A fresh RSA key and its encryption certificate from ``tenant``'s CA, valid at ``now``."""
    key = trustee_certs.new_key("rsa")
    signer = await authorities.signer(tenant)  # makes the tenant CA if it has none yet
    request = trustee.read_request(csr_der(key, name))
    start = dt.datetime.fromtimestamp(now, dt.UTC) - dt.timedelta(days=1)
    return trustee_certs.Trustee(key, trustee.issue(signer, request, now=start, days=365))
