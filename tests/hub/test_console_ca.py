"""``GET /api/tenant-ca``: the signed-in adviser's tenant CA, for the console to pin.

A real hub on loopback with a hub secret (so its tenants have CAs): each adviser gets their own
tenant's CA certificate with its SHA-256 fingerprint; nobody signed out gets one; a hub without
a secret has no CA to give (docs/verification.md "Which device").
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from cryptography import x509

from hub.pki.secret import create_secret_file
from tests.support.hub import http_session, login, running_hub

PASSWORD = "correct horse battery"


async def test_each_adviser_gets_their_tenants_ca(tmp_path: Path) -> None:
    secret = tmp_path / "hub-secret"
    create_secret_file(secret)
    async with running_hub(tmp_path, secret_file=secret) as hub:
        hub.add_tenant("other")
        hub.add_adviser("ann", PASSWORD)
        hub.add_adviser("bob", PASSWORD, tenant="other")
        answers = {}
        for name in ("ann", "bob"):
            async with http_session() as http:
                await login(http, hub, name, PASSWORD)
                async with http.get(f"{hub.url}/api/tenant-ca") as response:
                    assert response.status == 200
                    assert response.headers["Cache-Control"] == "no-store"
                    answers[name] = await response.json()
        certs = {}
        for name, tenant in (("ann", "default"), ("bob", "other")):
            answer = answers[name]
            der = base64.b64decode(answer["certificate"], validate=True)
            assert answer["tenant"] == tenant
            assert answer["fingerprint"] == hashlib.sha256(der).hexdigest()
            cert = x509.load_der_x509_certificate(der)
            organisation = cert.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)
            assert [a.value for a in organisation] == [tenant]
            assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
            certs[name] = der
        assert certs["ann"] != certs["bob"]


async def test_signed_out_or_without_a_ca_there_is_none(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub:  # no hub secret: no tenant CA was ever made
        hub.add_adviser("ann", PASSWORD)
        async with http_session() as http:
            async with http.get(f"{hub.url}/api/tenant-ca") as response:
                assert response.status == 401
                assert (await response.json())["error"] == "unauthorized"
            await login(http, hub, "ann", PASSWORD)
            async with http.get(f"{hub.url}/api/tenant-ca") as response:
                # An answer, not an error: the console's page load leaves no failed request.
                assert response.status == 200
                body = await response.json()
                assert body == {"tenant": "default", "certificate": None, "fingerprint": None}
