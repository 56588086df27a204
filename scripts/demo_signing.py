"""The demo's signature set-up (docs/signature.md): a trustee, the demo contract, the CA.

The trustee is who alone can open the sealed writing dynamics. In a bank it is a notary or an
escrow service that makes its key pair itself and sends the tenant's administrator a CSR; the
demo plays that part: it makes an RSA key in ``var/trustee.key`` and a CSR, has the tenant CA
sign it (``kiosk-hub tenant trustee-issue``) and sets it for the tenant (``kiosk-hub tenant set
--trustee-cert``). The hub never sees the key. Done once; the files stay in ``var/``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from kiosk_ui.sample_contract import sample_contract

TENANT = "default"
TRUSTEE_NAME = "Demo-Treuhänder / demo trustee"

Hub = Callable[..., subprocess.CompletedProcess[str]]


class DemoSetupError(RuntimeError):
    """A step of the signature set-up failed; the message says which and why."""


def _private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def _trustee_csr(key_path: Path, csr_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    _private(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Demo trustee")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    csr_path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))


def _checked(result: subprocess.CompletedProcess[str], what: str) -> str:
    if result.returncode != 0:
        raise DemoSetupError(f"{what} failed: {result.stderr.strip()}")
    return result.stdout


def prepare(var: Path, secret_file: Path, hub: Hub, shown: Callable[[Path], str]) -> list[str]:
    """Trustee, CA certificate and demo contract in ``var``; returns the banner's lines."""
    key, csr, cert = var / "trustee.key", var / "trustee.csr", var / "trustee.pem"
    ca, contract = var / "ca.pem", var / "demo-contract.pdf"
    if not (key.exists() and cert.exists()):
        _trustee_csr(key, csr)
        _checked(
            hub("tenant", "trustee-issue", TENANT, "--csr", str(csr), "--out", str(cert),
                "--secret-file", str(secret_file)),
            "kiosk-hub tenant trustee-issue",
        )  # fmt: skip
        csr.unlink(missing_ok=True)
    _checked(
        hub("tenant", "set", TENANT, "--trustee-cert", str(cert), "--trustee-name", TRUSTEE_NAME),
        "kiosk-hub tenant set --trustee-cert",
    )
    ca_pem = _checked(
        hub("tenant", "show", TENANT, "--secret-file", str(secret_file)), "kiosk-hub tenant show"
    )
    if "-----BEGIN CERTIFICATE-----" not in ca_pem:
        raise DemoSetupError("kiosk-hub tenant show printed no CA certificate")
    ca.write_text(ca_pem[ca_pem.index("-----BEGIN CERTIFICATE-----") :])  # after the summary
    if not contract.exists():
        contract.write_bytes(sample_contract("Demo-Vertrag / demo contract", pages=3))
    return [
        "  Signing: send the demo contract from the console's file picker,",
        f'    {shown(contract)}, then "Request signature" on it. The customer signs',
        "    with the mouse in the kiosk window (or the simulated customer signs by itself).",
        "  Check the signed PDF you download (the demo trustee's key opens the sealed dynamics):",
        f"    $ kiosk-verify signed.pdf --ca {shown(ca)} --trustee-key {shown(key)}"
        " --plot dynamics.png",
    ]
