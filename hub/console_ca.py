"""``GET /api/tenant-ca``: the signed-in adviser's tenant CA certificate, for the console to pin.

The console pins it on first use (per hub origin and tenant, in the browser's localStorage),
shows its SHA-256 fingerprint for the adviser to compare with the one the administrator gave
them, and from then on checks the kiosks' device proofs against the pinned copy, never against
what the hub serves later (docs/verification.md "Which device"). A hub that serves another
CA later gets a loud warning in the console, not trust.

Answers (JSON, ``Cache-Control: no-store`` as every ``/api/`` answer):

- 200 ``{"tenant": name, "certificate": base64 DER, "fingerprint": 64 lower-case hex}``;
  both ``null`` when the tenant has no CA (a hub without ``--secret-file`` never made one):
  an answer, not an error, so a console's page load leaves no failed request behind
- 401 ``{"error": "unauthorized", ...}`` without a live session
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from hub.auth import ConsoleAuth
from hub.storage import NotFound

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class CaSource(Protocol):
    """What serves tenant CA certificates (``hub.pki.authorities.Authorities``)."""

    @property
    def enabled(self) -> bool:
        """Whether this hub can make CAs (it has the hub secret)."""
        ...

    async def start(self) -> list[str]:
        """Give tenants without a CA one (when enabled)."""
        ...

    async def certificate(self, tenant: str) -> x509.Certificate | None:
        """The tenant CA's certificate; None when it has none yet."""
        ...


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


async def tenant_ca(auth: ConsoleAuth, authorities: CaSource, request: web.Request) -> web.Response:
    """The answer for one request (see the module docstring)."""
    current = await auth.current_session(request)
    if current is None:
        return _error(401, "unauthorized", "not logged in")
    tenant = current.session.adviser.tenant.name
    try:
        cert = await authorities.certificate(tenant)
        if cert is None and authorities.enabled:  # a tenant added since the hub started
            await authorities.start()
            cert = await authorities.certificate(tenant)
    except NotFound:
        cert = None
    if cert is None:
        return web.json_response({"tenant": tenant, "certificate": None, "fingerprint": None})
    der = cert.public_bytes(serialization.Encoding.DER)
    return web.json_response(
        {
            "tenant": tenant,
            "certificate": base64.b64encode(der).decode("ascii"),
            "fingerprint": hashlib.sha256(der).hexdigest(),
        }
    )


def tenant_ca_route(
    auth: Callable[[web.Request], ConsoleAuth], authorities: Callable[[web.Request], CaSource]
) -> Handler:
    """The route's handler; ``auth`` and ``authorities`` find the running hub's objects."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return await tenant_ca(auth(request), authorities(request), request)

    return handler
