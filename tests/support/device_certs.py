"""Tenant CAs and device certificates for the device-proof tests (docs/verification.md).

Made with ``cryptography`` through provisioning.profile (the hub's own profile), or by Debian's
``openssl`` as an independent maker; a few deliberately wrong ones (another CA, expired, wrong
extended key usage) for the refusals.
"""

from __future__ import annotations

import base64
import datetime as dt
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from provisioning import challenge, profile
from provisioning.identity import Identity

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


@dataclass(frozen=True)
class Authority:
    """A tenant CA: its key and certificate."""

    key: ec.EllipticCurvePrivateKey = field(repr=False)
    certificate: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def tenant(self) -> str:
        return profile.tenant_of(self.certificate)


@dataclass(frozen=True)
class Device:
    """A device key and its certificate."""

    key: ec.EllipticCurvePrivateKey = field(repr=False)
    certificate: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def identity(self, ca: Authority, hub_url: str = "ws://127.0.0.1:1") -> Identity:
        """The kiosk's identity (provisioning.identity) for this device."""
        return Identity(self.key, self.certificate, ca.certificate, hub_url)

    def proof(self, consultation_id: str, fingerprint: str, commitment: str) -> dict[str, str]:
        """A device_proof message's fields, signed over ``call_payload``."""
        payload = challenge.call_payload(consultation_id, fingerprint, commitment)
        return {
            "certificate": b64(self.der),
            "signature": b64(challenge.sign(self.key, payload)),
            "fingerprint": fingerprint,
            "commitment": commitment,
        }


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def tenant_ca(tenant: str = "Acme Bank", now: dt.datetime = NOW) -> Authority:
    """A tenant CA as the hub makes it."""
    key = ec.generate_private_key(ec.SECP256R1())
    return Authority(key, profile.make_ca_certificate(key, tenant, now))


def device(
    ca: Authority, name: str = "kiosk-7", *, now: dt.datetime = NOW, days: int = 30
) -> Device:
    """A device certificate as the hub issues it."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = profile.make_device_certificate(
        ca_cert=ca.certificate,
        ca_key=ca.key,
        public_key=key.public_key(),
        device_name=name,
        now=now,
        days=days,
    )
    return Device(key, cert)


def server_only_device(ca: Authority, name: str = "kiosk-7") -> Device:
    """A certificate of the tenant CA whose extended key usage is serverAuth only."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(profile.device_subject(name, ca.tenant))
        .issuer_name(ca.certificate.subject)
        .public_key(key.public_key())
        .serial_number(profile.new_serial())
        .not_valid_before(NOW - dt.timedelta(minutes=5))
        .not_valid_after(NOW + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    return Device(key, cert)


def openssl(*args: str, cwd: Path) -> str:
    """Run Debian's openssl; its output (a failure shows its message)."""
    done = subprocess.run(
        ["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False, timeout=30
    )
    assert done.returncode == 0, f"openssl {args[0]}: {done.stdout}{done.stderr}"
    return done.stdout


def openssl_pair(
    work: Path, tenant: str = "Acme Bank", name: str = "kiosk-9"
) -> tuple[Authority, Device]:
    """A tenant CA made by ``openssl req -x509`` and a device certificate it signed."""
    work.mkdir(parents=True, exist_ok=True)
    curve = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    openssl(
        "req", "-x509", *curve, "-keyout", "ca.key", "-out", "ca.pem", "-days", "3650",
        "-subj", f"/CN=Branch Kiosk tenant CA {tenant}/O={tenant}",
        "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        cwd=work,
    )  # fmt: skip
    openssl(
        "req", "-new", *curve, "-keyout", "dev.key", "-out", "dev.csr",
        "-subj", f"/CN={name}/O={tenant}", cwd=work,
    )  # fmt: skip
    (work / "dev.ext").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=clientAuth,1.3.6.1.5.5.7.3.36\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
        encoding="ascii",
    )
    openssl(
        "x509", "-req", "-in", "dev.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-set_serial", "0x1234567890abcdef", "-days", "30", "-sha256",
        "-extfile", "dev.ext", "-out", "dev.pem", cwd=work,
    )  # fmt: skip
    ca = Authority(_pem_key(work / "ca.key"), _pem_cert(work / "ca.pem"))
    return ca, Device(_pem_key(work / "dev.key"), _pem_cert(work / "dev.pem"))


def _pem_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _pem_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key
