"""EST (RFC 7030) endpoints for enrolment with a one-time code and for renewal.

- ``GET /.well-known/est/<code id>/cacerts``: the code's tenant CA, certs-only PKCS#7, base64.
- ``POST /.well-known/est/<code id>/simpleenroll``: a base64 PKCS#10 request whose PKCS#9
  challengePassword is the code's secret (bound to the key that signed the request; RFC 7030's
  tls-unique is not available with TLS 1.3 or behind a proxy).
- ``POST /.well-known/est/simplereenroll``: a request signed by the key of the device's current
  certificate (found by its public key), before that certificate expires.
- ``GET /.well-known/est/<tenant>/crl``: the tenant's CRL (DER).

Errors are JSON ``{"error", "message"}``. Every refused request (4xx) counts against the
client's address (IPv6 per /64, behind trusted proxies the client they saw); too many in the
window get 429. Requests in flight and successes never count, so kiosks behind one NAT can enrol
at once; at most ``IN_FLIGHT_PER_ADDRESS`` run at once per address (more get 429, uncounted), so
parallel guesses cannot outrun the count. Log lines name no address, code or device name.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
from collections.abc import Awaitable, Callable

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7

from hub.auth import Clock, LoginThrottle, throttle_key
from hub.config import HubConfig
from hub.log_throttle import ThrottledLog
from hub.pki.authorities import Authorities, EnrolmentDisabled
from hub.pki.ca import CSR_MAX_BYTES, CsrRejected, challenge_password, check_csr, issue, load_csr
from hub.pki.codes import MAX_FAILURES, CodeBook, CodeNotLive, WrongSecret, is_live
from hub.pki.secret import HubSecret
from hub.storage import CertificateRefused, CodeRefused, NotFound, Storage
from provisioning import profile
from provisioning.codes import is_code_id

log = logging.getLogger("hub.enrol")

PREFIX = "/.well-known/est"
CERTS_ONLY = "application/pkcs7-mime; smime-type=certs-only"
NOT_LIVE = "unknown, expired or used enrolment code; ask for a new code"
WRONG_SECRET = "wrong enrolment code; check it, or ask for a new one"  # noqa: S105 - a message
_THROTTLE_NAME = "est"
# Bounds how many unanswered guesses one address can have beyond its refusal count; far above
# the kiosks a branch enrols at once.
IN_FLIGHT_PER_ADDRESS = 32

ClientAddress = Callable[[web.BaseRequest], str]


def _error(status: int, code: str, message: str) -> web.Response:
    response = web.json_response({"error": code, "message": message}, status=status)
    response.headers["Cache-Control"] = "no-store"
    return response


def _rate_limited(message: str, wait_s: float) -> web.Response:
    refusal = _error(429, "rate_limited", message)
    refusal.headers["Retry-After"] = str(max(1, math.ceil(wait_s)))
    return refusal


def _certs_only(*certs: x509.Certificate) -> web.Response:
    der = pkcs7.serialize_certificates(list(certs), serialization.Encoding.DER)
    return web.Response(
        body=base64.encodebytes(der),
        headers={
            "Content-Type": CERTS_ONLY,
            "Content-Transfer-Encoding": "base64",
            "Cache-Control": "no-store",
        },
    )


class Est:
    """The EST handlers; ``client_address`` is the hub's (trusted-proxy aware) client IP."""

    def __init__(
        self,
        config: HubConfig,
        storage: Storage,
        clock: Clock,
        authorities: Authorities,
        codes: CodeBook | None,
        client_address: ClientAddress,
    ) -> None:
        self._config = config
        self._storage = storage
        self._clock = clock
        self._authorities = authorities
        self._codes = codes
        self._client_address = client_address
        per_address = config.enrol_failures_per_address
        self.throttle = LoginThrottle(
            window_s=config.enrol_window_s, per_name=per_address, per_ip=per_address, clock=clock
        )
        # Refusals are counted into one line per kind and interval: a guesser cannot flood
        # the log, and no line carries an address, a code or a name.
        self._events = ThrottledLog(log, interval_s=config.log_repeat_interval_s)
        self._in_flight: dict[str, int] = {}  # per throttle key; an entry lives while > 0

    @property
    def authorities(self) -> Authorities:
        """The tenant CAs this hub signs with (the certificate hello checks against them)."""
        return self._authorities

    # -- handlers ---------------------------------------------------------

    async def cacerts(self, request: web.Request) -> web.StreamResponse:
        """The tenant CA of a live code (the device compares its fingerprint)."""
        return await self._guarded(request, self._cacerts)

    async def simpleenroll(self, request: web.Request) -> web.StreamResponse:
        """First enrolment with a code: the device's certificate, certs-only."""
        return await self._guarded(request, self._simpleenroll)

    async def simplereenroll(self, request: web.Request) -> web.StreamResponse:
        """Renewal before expiry with the current key: a new certificate, certs-only."""
        return await self._guarded(request, self._simplereenroll)

    async def crl(self, request: web.Request) -> web.StreamResponse:
        """The tenant's certificate revocation list, DER (for offline verifiers)."""
        try:
            der = await self._authorities.crl(request.match_info["label"])
        except NotFound:
            return _error(404, "not_found", "no such tenant")
        except EnrolmentDisabled as exc:
            return _error(503, "unavailable", str(exc))
        return web.Response(
            body=der, content_type="application/pkix-crl", headers={"Cache-Control": "no-cache"}
        )

    # -- the work ---------------------------------------------------------

    async def _guarded(
        self,
        request: web.Request,
        work: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        """Throttle by address: only refused requests (4xx) count, once they are answered."""
        if not self._authorities.enabled or self._codes is None:
            return _error(503, "unavailable", "this hub runs without --secret-file: no enrolment")
        address = self._client_address(request)
        wait = self.throttle.retry_after(address, _THROTTLE_NAME)
        key = throttle_key(address)
        busy = self._in_flight.get(key, 0)
        if wait > 0:
            self._events.hit(
                "throttled", "enrolment: refused requests from an address over its limit"
            )
            return _rate_limited("too many refused enrolment attempts; wait", wait)
        if busy >= IN_FLIGHT_PER_ADDRESS:
            self._events.hit("busy", "enrolment: too many requests at once from an address")
            return _rate_limited("too many enrolment requests at once from here; retry", 1)
        self._in_flight[key] = busy + 1
        try:
            response = await work(request)
        finally:
            left = self._in_flight[key] - 1
            if left:
                self._in_flight[key] = left
            else:
                del self._in_flight[key]
        if 400 <= response.status < 500:
            self.throttle.failed(address, _THROTTLE_NAME)
        return response

    async def _cacerts(self, request: web.Request) -> web.StreamResponse:
        label = request.match_info["label"]
        record = await self._storage.enrolment_code(label) if is_code_id(label) else None
        now = self._clock()
        if record is None or not is_live(record, now):
            return self._not_live()
        signer = await self._authorities.signer(record.tenant.name)
        return _certs_only(signer.cert)

    async def _simpleenroll(self, request: web.Request) -> web.StreamResponse:
        assert self._codes is not None  # noqa: S101 - checked by _guarded
        label = request.match_info["label"]
        if not is_code_id(label):
            return self._not_live()
        now = self._clock()
        try:
            csr = await _read_csr(request)
            secret = challenge_password(csr)
            if secret is None:
                raise CsrRejected("challenge_password", "the request lacks the code's secret")
            record = await self._codes.check(self._storage, label, secret, now=now)
            public_key = check_csr(csr, (record.id, record.device_name))
        except CodeNotLive:
            return self._not_live()
        except WrongSecret:
            log.info(
                "enrolment: a wrong code secret (the code counts it; %d burn it)", MAX_FAILURES
            )
            return _error(401, "unauthorized", WRONG_SECRET)
        except CsrRejected as exc:
            return _error(400, "bad_csr", str(exc))
        signer = await self._authorities.signer(record.tenant.name)
        cert, row = issue(
            signer, public_key, record.device_name, now=now, days=self._config.device_cert_days
        )
        try:
            device = await self._storage.enrol_device(
                label, record.secret_hmac, row, now=now, max_failures=MAX_FAILURES
            )
        except CodeRefused:  # used up by a request that came first
            return self._not_live()
        log.info("enrolled a device (device id %d, tenant id %d)", device.id, device.tenant.id)
        return _certs_only(cert)

    async def _simplereenroll(self, request: web.Request) -> web.StreamResponse:
        now = self._clock()
        try:
            csr = await _read_csr(request)
            key = csr.public_key()
            current = None
            if isinstance(key, ec.EllipticCurvePublicKey):
                current = await self._storage.certificate_for_key(profile.spki_sha256(key))
            if current is None:
                return _error(
                    403,
                    "unknown_certificate",
                    "this hub issued no certificate for that key; enrol with a fresh code",
                )
            public_key = check_csr(csr, (current.device.name,))
        except CsrRejected as exc:
            return _error(400, "bad_csr", str(exc))
        signer = await self._authorities.signer(current.device.tenant.name)
        cert, row = issue(
            signer, public_key, current.device.name, now=now, days=self._config.device_cert_days
        )
        try:
            device = await self._storage.renew_certificate(current.serial, row, now=now)
        except CertificateRefused as exc:
            return _error(403, f"certificate_{exc.reason}", str(exc))
        log.info("renewed a device certificate (device id %d)", device.id)
        return _certs_only(cert)

    def _not_live(self) -> web.Response:
        self._events.hit("not_live", "enrolment: requests for unknown, expired or used code ids")
        return _error(404, "not_found", NOT_LIVE)


EST = web.AppKey("est", Est)
# method, path, handler: registered by hub.app on the Est made at startup
EST_ROUTES = (
    ("GET", f"{PREFIX}/{{label}}/cacerts", Est.cacerts),
    ("POST", f"{PREFIX}/{{label}}/simpleenroll", Est.simpleenroll),
    ("POST", f"{PREFIX}/simplereenroll", Est.simplereenroll),
    ("GET", f"{PREFIX}/{{label}}/crl", Est.crl),
)


def load_secret(config: HubConfig) -> HubSecret | None:
    """The hub secret of ``--secret-file`` (``SecretFileError`` if unusable); None without."""
    return None if config.secret_file is None else HubSecret.load(config.secret_file)


async def start_enrolment(
    config: HubConfig,
    storage: Storage,
    clock: Clock,
    secret: HubSecret | None,
    client_address: ClientAddress,
) -> Est:
    """The hub's EST service; tenants without a CA get one now (when there is a secret)."""
    authorities = Authorities(storage, secret, clock)
    made = await authorities.start()
    if made:
        log.info("made a CA for %d tenant(s) that had none", len(made))
    if secret is None:
        log.warning(
            "no --secret-file: enrolment, renewal and the CRL are off "
            "(kiosks already enrolled still connect)"
        )
    codes = None if secret is None else CodeBook(secret)
    return Est(config, storage, clock, authorities, codes, client_address)


async def _read_csr(request: web.Request) -> x509.CertificateSigningRequest:
    """The body as a base64 (line breaks allowed, RFC 8951) DER PKCS#10; else ``CsrRejected``."""
    body = await request.read()
    try:
        if len(body) > (CSR_MAX_BYTES + 2) // 3 * 4 + CSR_MAX_BYTES // 32:
            raise ValueError("too long")
        der = base64.b64decode(b"".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise CsrRejected("malformed", "send the request as base64 DER PKCS#10") from None
    return load_csr(der)
