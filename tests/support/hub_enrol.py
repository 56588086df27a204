"""Device-side helpers for the hub's enrolment tests: keys, CSRs, a hub secret, EST, openssl."""

from __future__ import annotations

import base64
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import AttributeOID, NameOID

from hub.pki.codes import CodeBook
from hub.pki.secret import HubSecret, create_secret_file
from hub.storage import Storage
from provisioning.codes import EnrolmentCode
from tests.support.requirements import require_tool

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def device_key() -> ec.EllipticCurvePrivateKey:
    """A P-256 key as a kiosk makes it."""
    return ec.generate_private_key(ec.SECP256R1())


def csr_der(
    key: PrivateKey,
    common_name: str | None,
    *,
    password: str | None = None,
    organization: str | None = None,
) -> bytes:
    """A DER PKCS#10 request: CN (and O) as given, the code's secret as challengePassword."""
    names = []
    if common_name is not None:
        names.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    if organization is not None:
        names.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(names))
    if password is not None:
        builder = builder.add_attribute(AttributeOID.CHALLENGE_PASSWORD, password.encode())
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def with_bad_signature(der: bytes) -> bytes:
    """The same request with its signature's last byte flipped."""
    return der[:-1] + bytes([der[-1] ^ 0x01])


def hub_secret(directory: Path) -> tuple[Path, HubSecret]:
    """A fresh secret file in ``directory`` and the secret it holds."""
    path = directory / "hub-secret"
    create_secret_file(path)
    return path, HubSecret.load(path)


def pem(cert: x509.Certificate, path: Path) -> Path:
    """Write ``cert`` as PEM to ``path``; return it."""
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


def openssl(
    *args: str, check: bool = True, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run Debian's openssl, the independent checker (its absence fails under CI)."""
    tool = require_tool("openssl", "openssl")
    return subprocess.run(
        [tool, *args], capture_output=True, text=True, timeout=30, check=check, input=input_text
    )


# -- EST over HTTP, as a kiosk speaks it ---------------------------------------------


@dataclass
class EstAnswer:
    """An EST response: status, body, and the certificates of a certs-only body."""

    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def certificates(self) -> list[x509.Certificate]:
        """The certs-only PKCS#7's certificates (the body is base64)."""
        assert self.status == 200, (self.status, self.body)
        assert self.headers["Content-Type"] == "application/pkcs7-mime; smime-type=certs-only"
        return pkcs7.load_der_pkcs7_certificates(base64.b64decode(self.body))

    @property
    def error(self) -> tuple[str, str]:
        """(error code, message) of a JSON error."""
        data = json.loads(self.body)
        return data["error"], data["message"]


async def est(
    http: aiohttp.ClientSession,
    url: str,
    path: str,
    csr: bytes | None = None,
    *,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> EstAnswer:
    """GET (no ``csr``) or POST a base64 CSR to ``url + /.well-known/est/ + path``."""
    target = f"{url}/.well-known/est/{path}"
    if csr is None and raw is None:
        request = http.get(target, headers=headers)
    else:
        body = raw if raw is not None else base64.encodebytes(csr or b"")
        sent = {"Content-Type": "application/pkcs10", **(headers or {})}
        request = http.post(target, data=body, headers=sent)
    async with request as response:
        return EstAnswer(response.status, dict(response.headers), await response.read())


async def new_code(
    storage: Storage, secret: HubSecret, device: str, *, tenant: str = "default", now: float
) -> EnrolmentCode:
    """A one-time code for ``device``, as `kiosk-hub device enrol` makes it."""
    code, _record = await CodeBook(secret).new(storage, device, tenant=tenant, now=now)
    return code


def wrong_secret(code: EnrolmentCode) -> str:
    """The code's secret with its first symbol changed (still well formed)."""
    return ("3" if code.secret[0] != "3" else "4") + code.secret[1:]


async def simpleenroll(
    http: aiohttp.ClientSession,
    url: str,
    code: EnrolmentCode,
    *,
    secret: str | None = None,
    key: ec.EllipticCurvePrivateKey | None = None,
    headers: dict[str, str] | None = None,
) -> EstAnswer:
    """Ask for a certificate with ``code`` (CN = its id, as `kiosk enrol` does), a fresh key
    unless ``key`` is given, and the code's secret unless ``secret`` is given."""
    password = code.secret if secret is None else secret
    der = csr_der(key or device_key(), code.id, password=password)
    return await est(http, url, f"{code.id}/simpleenroll", der, headers=headers)


async def simplereenroll(
    http: aiohttp.ClientSession, url: str, key: ec.EllipticCurvePrivateKey, name: str
) -> EstAnswer:
    """Ask for a renewal with ``key`` under the subject ``CN=name`` (no password)."""
    return await est(http, url, "simplereenroll", csr_der(key, name))


async def enrol(
    http: aiohttp.ClientSession,
    url: str,
    code: EnrolmentCode,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """Enrol with ``code`` (CN = the code id, as `kiosk enrol` does); the key and certificate."""
    key = key or device_key()
    (cert,) = (await simpleenroll(http, url, code, key=key)).certificates
    return key, cert
