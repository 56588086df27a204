"""A tiny EST server on 127.0.0.1 that speaks the hub's contract (docs/enrolment.md).

For the device side's tests where the real hub cannot play the part: a hostile hub whose CA
is not the tenant's (the test asserts the code's secret never reached it), a hub that renews
with a clock the test sets. It keeps codes and certificates in memory and records every
request it saw. Labels: ``<code id>/cacerts``, ``<code id>/simpleenroll``, ``simplereenroll``;
errors as JSON ``{"error", "message"}`` with 400/401/403/404/429.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import AttributeOID, NameOID

from provisioning import profile
from provisioning.codes import EnrolmentCode
from tests.support.loopback_server import serving

MAX_FAILURES = 5


@dataclass
class _Code:
    device_name: str
    secret: str
    expires: dt.datetime
    failures: int = 0
    used: bool = False


@dataclass
class Seen:
    """One request the server received: method, path and body."""

    method: str
    path: str
    body: bytes


@dataclass
class TinyEst:
    """The server's state; ``now`` is its clock (the test may move it)."""

    tenant: str = "Tenant A"
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    days: int = profile.DEVICE_CERT_DAYS
    seen: list[Seen] = field(default_factory=list)
    throttled: bool = False

    def __post_init__(self) -> None:
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = profile.make_ca_certificate(self.ca_key, self.tenant, self.now())
        self._codes: dict[str, _Code] = {}
        self._issued: dict[str, tuple[x509.Certificate, bool]] = {}  # spki -> (cert, revoked)

    @property
    def fingerprint(self) -> str:
        """The CA's SHA-256 fingerprint."""
        return profile.fingerprint(self.ca)

    def add_code(
        self, device_name: str, ttl: dt.timedelta = dt.timedelta(hours=1)
    ) -> EnrolmentCode:
        """A fresh code for ``device_name``."""
        code = EnrolmentCode.new()
        self._codes[code.id] = _Code(device_name, code.secret, self.now() + ttl)
        return code

    def revoke(self, device_name: str) -> None:
        """Revoke every certificate of ``device_name``."""
        for spki, (cert, _) in list(self._issued.items()):
            if profile.device_name(cert) == device_name:
                self._issued[spki] = (cert, True)

    def saw(self, text: str) -> bool:
        """Whether any request's path or body (decoded too) contained ``text``."""
        needle = text.encode()
        for request in self.seen:
            decoded = b""
            try:
                decoded = base64.b64decode(request.body)
            except ValueError:
                pass
            if needle in request.path.encode() or needle in request.body or needle in decoded:
                return True
        return False

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application()
        app.router.add_get("/.well-known/est/{label}/cacerts", self._cacerts)
        app.router.add_post("/.well-known/est/{label}/simpleenroll", self._simpleenroll)
        app.router.add_post("/.well-known/est/simplereenroll", self._simplereenroll)
        app.router.add_route("HEAD", "/", self._root)
        app.middlewares.append(self._record)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.seen.append(Seen(request.method, request.path, await request.read()))
        if self.throttled:
            return _error(429, "rate_limited", "too many attempts", retry_after="7")
        response = await handler(request)
        response.headers["Date"] = self.now().strftime("%a, %d %b %Y %H:%M:%S GMT")
        return response

    async def _root(self, request: web.Request) -> web.Response:
        return web.Response()

    def _live(self, label: str) -> _Code | None:
        code = self._codes.get(label)
        if code is None or code.used or code.failures >= MAX_FAILURES or self.now() > code.expires:
            return None
        return code

    async def _cacerts(self, request: web.Request) -> web.Response:
        if self._live(request.match_info["label"]) is None:
            return _error(404, "not_found", "unknown enrolment code")
        return _certs(self.ca)

    async def _simpleenroll(self, request: web.Request) -> web.Response:
        label = request.match_info["label"]
        code = self._live(label)
        if code is None:
            return _error(404, "not_found", "unknown enrolment code")
        csr = _csr(await request.read())
        if csr is None:
            return _error(400, "bad_csr", "the body is not a base64 DER PKCS#10 request")
        try:
            password = csr.attributes.get_attribute_for_oid(AttributeOID.CHALLENGE_PASSWORD).value
        except x509.AttributeNotFound:
            password = b""
        if password != code.secret.encode():
            code.failures += 1
            return _error(401, "unauthorized", "wrong enrolment code")
        names = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if len(names) != 1 or names[0].value not in (label, code.device_name):
            return _error(400, "bad_csr", "the subject is not this code's device")
        public = csr.public_key()
        if not csr.is_signature_valid or not isinstance(public, ec.EllipticCurvePublicKey):
            return _error(400, "bad_csr", "bad signature or key type")
        self.revoke(code.device_name)
        code.used = True
        return _certs(self._issue(public, code.device_name))

    async def _simplereenroll(self, request: web.Request) -> web.Response:
        csr = _csr(await request.read())
        if csr is None or not csr.is_signature_valid:
            return _error(400, "bad_csr", "bad request")
        public = csr.public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        found = self._issued.get(profile.spki_sha256(public))
        if found is None:
            return _error(403, "unknown_certificate", "unknown key")
        cert, revoked = found
        if revoked:
            return _error(403, "certificate_revoked", "revoked: enrol again with a fresh code")
        if self.now() > cert.not_valid_after_utc:
            return _error(403, "certificate_expired", "expired: enrol again with a fresh code")
        return _certs(self._issue(public, profile.device_name(cert)))

    def _issue(self, public: ec.EllipticCurvePublicKey, name: str) -> x509.Certificate:
        cert = profile.make_device_certificate(
            ca_cert=self.ca,
            ca_key=self.ca_key,
            public_key=public,
            device_name=name,
            now=self.now(),
            days=self.days,
        )
        self._issued[profile.spki_sha256(public)] = (cert, False)
        return cert


def _csr(body: bytes) -> x509.CertificateSigningRequest | None:
    try:
        return x509.load_der_x509_csr(base64.b64decode(body))
    except ValueError:
        return None


def _certs(cert: x509.Certificate) -> web.Response:
    der = pkcs7.serialize_certificates([cert], serialization.Encoding.DER)
    return web.Response(
        body=base64.encodebytes(der),
        content_type="application/pkcs7-mime",
        headers={"Content-Transfer-Encoding": "base64"},
    )


def _error(status: int, code: str, message: str, retry_after: str | None = None) -> web.Response:
    headers = {"Retry-After": retry_after} if retry_after else None
    return web.json_response({"error": code, "message": message}, status=status, headers=headers)


@asynccontextmanager
async def running_est(server: TinyEst) -> AsyncIterator[str]:
    """Serve ``server`` on 127.0.0.1; yields its base URL (``http://127.0.0.1:PORT``)."""
    async with serving(server.app(), access_log=None) as port:
        yield f"http://127.0.0.1:{port}"
