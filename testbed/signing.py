"""A process stack ready for signatures (docs/signature.md), as an administrator sets one up.

The hub runs with a hub secret (tenant CA); the kiosk enrols with a one-time code
(testbed/enrolled.py); a trustee makes its own RSA key and CSR, the tenant CA signs it
(``kiosk-hub tenant trustee-issue``) and the administrator sets it for the tenant
(``kiosk-hub tenant set --trustee-cert``). The kiosk then runs as `kiosk run --simulate --no-ui`
with its identity: its simulated customer replays ``recording`` on the simulated tablet when
asked to sign. Used by the end-to-end test and ``python -m bench signature``.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from testbed.enrolled import EnrolledKiosk, enrol, start_hub_with_secret
from testbed.stack import BIN, HarnessError, Stack

TENANT = "default"
TRUSTEE_NAME = "Notariat Beispiel"
RECORDING = Path(__file__).resolve().parent.parent / "tests/fixtures/pen/signature_3s.jsonl"


@dataclass(frozen=True)
class SigningStack:
    """The stack, the enrolled kiosk and the files a checker needs."""

    stack: Stack
    kiosk: EnrolledKiosk
    trustee_key: Path  # PEM, PKCS#8, unencrypted: the trustee's, never the hub's or the kiosk's
    trustee_pem: Path
    ca_pem: Path  # the tenant CA (`kiosk-hub tenant show`)
    secret: Path


def _hub(stack: Stack, *args: str) -> str:
    done = subprocess.run(
        [str(BIN / "kiosk-hub"), *args, "--db", str(stack.db)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if done.returncode != 0:
        raise HarnessError(f"kiosk-hub {' '.join(args[:2])} failed: {done.stderr.strip()}")
    return done.stdout


def make_trustee(stack: Stack, secret: Path, directory: Path) -> tuple[Path, Path]:
    """A trustee key and CSR made here, its certificate from the tenant CA, set for the tenant."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_path, csr_path, cert_path = (
        directory / "trustee.key",
        directory / "trustee.csr",
        directory / "trustee.pem",
    )
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, TRUSTEE_NAME)])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    csr_path.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    _hub(stack, "tenant", "trustee-issue", TENANT, "--csr", str(csr_path), "--out",
         str(cert_path), "--secret-file", str(secret))  # fmt: skip
    _hub(stack, "tenant", "set", TENANT, "--trustee-cert", str(cert_path),
         "--trustee-name", TRUSTEE_NAME)  # fmt: skip
    return key_path, cert_path


def signing_stack(workdir: Path) -> SigningStack:
    """Hub up, kiosk enrolled, trustee set; the kiosk is not started yet (``start_kiosk``)."""
    stack = Stack(workdir, device_tokens=False)
    secret = start_hub_with_secret(stack)
    kiosk = enrol(stack, secret)
    key, cert = make_trustee(stack, secret, workdir)
    ca = workdir / "ca.pem"
    shown = _hub(stack, "tenant", "show", TENANT, "--secret-file", str(secret))
    ca.write_text(shown[shown.index("-----BEGIN CERTIFICATE-----") :])  # after the summary
    return SigningStack(stack, kiosk, key, cert, ca, secret)


def start_kiosk(setup: SigningStack, recording: Path = RECORDING) -> None:
    """`kiosk run --simulate --no-ui` with the identity; the simulator replays ``recording``."""
    stack = setup.stack
    config = stack.workdir / "kiosk.toml"
    config.write_text(f'[devices.tablet]\nbackend = "simulated"\nrecording = "{recording}"\n')
    stack.start_kiosk("--config", str(config), "--identity-dir", str(setup.kiosk.identity_dir))
