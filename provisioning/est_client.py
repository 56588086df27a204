"""The kiosk's EST client (RFC 7030 over aiohttp): CA certificates, enrolment, renewal.

Endpoints below ``<hub origin>/.well-known/est/``: ``<code id>/cacerts`` (the tenant CA of the
code's tenant), ``<code id>/simpleenroll`` (a CSR carrying the code's secret as its
challengePassword) and ``simplereenroll`` (a CSR signed by the current key). Bodies are base64
DER: PKCS#7 certs-only out of the hub, PKCS#10 into it.

Every refusal is a typed :class:`EstError` whose message tells the technician what to do; the
hub's own message is shown only after it is cut to printable text, and never logged. Responses
are read up to :data:`RESPONSE_MAX` bytes, every request is bounded by a timeout.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import email.utils
import json
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from provisioning.challenge import BadChallenge, canonical_origin

RESPONSE_MAX = 64 * 1024
TIMEOUT_S = 15.0
MESSAGE_MAX = 200
EST_PATH = "/.well-known/est"


class EstError(Exception):
    """An EST request failed; the message says what to do."""


class HubUnreachable(EstError):
    """No answer from the hub (network, timeout, or a server error): try again later."""


class CodeNotFound(EstError):
    """The hub does not know the code's id (unknown, expired, used, or burnt)."""


class WrongCode(EstError):
    """The hub refused the code's secret (typing mistake, or somebody else's code)."""


class Throttled(EstError):
    """Too many attempts from this address; ``retry_after`` seconds if the hub said."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CsrRefused(EstError):
    """The hub refused the certificate request itself (HTTP 400)."""


class NeedsFreshCode(EstError):
    """Renewal refused: the certificate expired or was revoked; a technician must enrol again."""


class CaMismatch(EstError):
    """The hub's CA is not the one the technician was told to expect (code not sent)."""


class BadResponse(EstError):
    """The hub's answer is not what EST promises (size, encoding, content)."""


@dataclass(frozen=True)
class EstAnswer:
    """Certificates from the hub and the hub's clock (its ``Date`` header), if it sent one."""

    certificates: tuple[x509.Certificate, ...]
    hub_time: dt.datetime | None


def est_base(hub_url: str) -> str:
    """The EST base URL for a hub URL (ws(s):// maps to http(s)://; the path is dropped)."""
    try:
        return canonical_origin(hub_url) + EST_PATH
    except BadChallenge as exc:
        raise EstError(f"hub URL: {exc}") from None


class EstClient:
    """EST requests to one hub; give it an aiohttp session or it makes (and closes) its own."""

    def __init__(
        self,
        hub_url: str,
        *,
        session: aiohttp.ClientSession | None = None,
        timeout_s: float = TIMEOUT_S,
    ) -> None:
        self.base = est_base(hub_url)
        self._session = session
        self._own_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def __aenter__(self) -> EstClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the session if this client made it."""
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def cacerts(self, code_id: str) -> x509.Certificate:
        """The tenant CA of the code's tenant (exactly one certificate, self-signed)."""
        answer = await self._request("GET", f"/{quote(code_id, safe='')}/cacerts")
        if len(answer.certificates) != 1:
            raise BadResponse("the hub sent more than one CA certificate: expected its tenant CA")
        ca = answer.certificates[0]
        if ca.issuer != ca.subject:
            raise BadResponse("the hub's CA certificate is not self-signed")
        return ca

    async def simpleenroll(
        self, code_id: str, csr: x509.CertificateSigningRequest
    ) -> x509.Certificate:
        """Send the first enrolment's CSR (it carries the code's secret); the new certificate."""
        answer = await self._request("POST", f"/{quote(code_id, safe='')}/simpleenroll", csr)
        return _single(answer)

    async def simplereenroll(self, csr: x509.CertificateSigningRequest) -> EstAnswer:
        """Renew with a CSR signed by the current key; the new certificate and the hub's time."""
        answer = await self._request("POST", "/simplereenroll", csr, renewal=True)
        _single(answer)
        return answer

    async def hub_time(self) -> dt.datetime | None:
        """The hub's clock (the ``Date`` header of any answer), for a kiosk whose clock is unset."""
        session = self._session
        if session is None:
            session = self._session = aiohttp.ClientSession()
        try:
            async with session.head(
                self.base.removesuffix(EST_PATH) + "/", timeout=self._timeout
            ) as response:
                return _parse_date(response.headers.get("Date"))
        except (aiohttp.ClientError, OSError, TimeoutError):
            return None

    async def _request(
        self,
        method: str,
        path: str,
        csr: x509.CertificateSigningRequest | None = None,
        *,
        renewal: bool = False,
    ) -> EstAnswer:
        session = self._session
        if session is None:
            session = self._session = aiohttp.ClientSession()
        body: bytes | None = None
        headers = {"Accept": "application/pkcs7-mime"}
        if csr is not None:
            body = base64.b64encode(csr.public_bytes(serialization.Encoding.DER))
            headers |= {"Content-Type": "application/pkcs10", "Content-Transfer-Encoding": "base64"}
        try:
            async with session.request(
                method, self.base + path, data=body, headers=headers, timeout=self._timeout
            ) as response:
                data = await _read_limited(response)
                status = response.status
                date = response.headers.get("Date")
                retry_after = response.headers.get("Retry-After")
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise HubUnreachable(
                f"cannot reach the hub at {urlsplit(self.base).netloc} ({type(exc).__name__}): "
                "check the URL and the network, then try again"
            ) from None
        if status != 200:
            raise _refusal(status, data, retry_after, renewal=renewal)
        return EstAnswer(_certificates(data), _parse_date(date))


async def _read_limited(response: aiohttp.ClientResponse) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(16 * 1024):
        size += len(chunk)
        if size > RESPONSE_MAX:
            raise BadResponse(f"the hub's answer exceeds {RESPONSE_MAX} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _certificates(data: bytes) -> tuple[x509.Certificate, ...]:
    try:
        der = base64.b64decode(b"".join(data.split()), validate=True)
        certificates = pkcs7.load_der_pkcs7_certificates(der)
    except (binascii.Error, ValueError):
        raise BadResponse("the hub's answer is not a base64 PKCS#7 certificate list") from None
    if not certificates:
        raise BadResponse("the hub's answer holds no certificate")
    return tuple(certificates)


def _single(answer: EstAnswer) -> x509.Certificate:
    if len(answer.certificates) != 1:
        raise BadResponse("the hub sent more than one certificate: expected this device's")
    return answer.certificates[0]


def _refusal(status: int, data: bytes, retry_after: str | None, *, renewal: bool) -> EstError:
    said = _hub_message(data)
    if status == 429:
        seconds = _seconds(retry_after)
        wait = f"wait {seconds:g} s" if seconds is not None else "wait a while"
        return Throttled(f"the hub refused: too many attempts from here; {wait}", seconds)
    if renewal and status in (401, 403, 404):
        return NeedsFreshCode(
            f"the hub refused to renew the certificate ({said}): this kiosk needs a fresh "
            "enrolment code (`kiosk enrol`)"
        )
    if status == 404:
        return CodeNotFound(
            "the hub does not know this code (unknown, expired, already used, or burnt after "
            "wrong tries): ask for a fresh code (`kiosk-hub device enrol NAME`)"
        )
    if status in (401, 403):
        return WrongCode(
            "the hub refused the code: check it was typed right; after 5 wrong tries it is "
            "burnt and you need a fresh one"
        )
    if status == 400:
        return CsrRefused(f"the hub refused the certificate request: {said}")
    if status >= 500:
        return HubUnreachable(f"the hub failed (HTTP {status}): try again later")
    return BadResponse(f"unexpected answer from the hub (HTTP {status}): {said}")


def _hub_message(data: bytes) -> str:
    """The hub's JSON message, cut to printable ASCII (it is shown, never logged)."""
    try:
        message = json.loads(data)["message"]
    except (ValueError, KeyError, TypeError):
        return "no reason given"
    if not isinstance(message, str):
        return "no reason given"
    clean = "".join(c for c in message if c.isascii() and c.isprintable())
    return clean[:MESSAGE_MAX] or "no reason given"


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds <= 86400 else None


def _parse_date(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.astimezone(dt.UTC)
