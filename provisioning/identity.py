"""The kiosk's identity directory: its own key, its certificate, the tenant CA and the hub.

Layout (``identity_dir``, default ``/var/lib/branch-kiosk``: systemd's ``StateDirectory``,
mode 0700, the only place the read-only image lets the kiosk write)::

    device.key          ECDSA P-256, PKCS#8 PEM, 0600: made here, never sent anywhere
    device.key.pending  a new key while re-enrolling an enrolled device (replaces device.key
                        only once the hub issued its certificate)
    device.crt          the device certificate (PEM), from the hub
    ca.crt              the tenant CA (PEM) the technician compared the fingerprint of
    hub.json            {"hub_url": "wss://..."}: where the kiosk enrolled

Loading refuses what it cannot trust, with an :class:`IdentityError` that says what to do: a
directory or key other users could read (the key may have leaked: enrol again with a fresh
code), a file owned by someone else (run as the kiosk's user), corrupt files, a certificate
that does not belong to the key.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AttributeOID, NameOID

from provisioning import profile

DEFAULT_IDENTITY_DIR = Path("/var/lib/branch-kiosk")
KEY_FILE = "device.key"
PENDING_KEY_FILE = "device.key.pending"
CERT_FILE = "device.crt"
CA_FILE = "ca.crt"
HUB_FILE = "hub.json"
FILE_MAX = 64 * 1024  # none of these files is more than a few KiB
_FRESH_START = "run `kiosk decommission`, then enrol again with a fresh code from the hub"


class IdentityError(Exception):
    """The identity directory cannot be used as it is; the message says what to do."""


@dataclass(frozen=True)
class Identity:
    """An enrolled kiosk: its key (never logged), certificate, tenant CA and hub URL."""

    key: ec.EllipticCurvePrivateKey = field(repr=False, compare=False)
    certificate: x509.Certificate
    ca_certificate: x509.Certificate
    hub_url: str

    @property
    def device_name(self) -> str:
        """The name the hub knows this kiosk by (the certificate's CN)."""
        return profile.device_name(self.certificate)

    @property
    def tenant(self) -> str:
        """The tenant (the certificate's O)."""
        return profile.tenant_of(self.certificate)

    def certificate_der(self) -> bytes:
        """The certificate as the hello carries it."""
        return self.certificate.public_bytes(serialization.Encoding.DER)


class IdentityStore:
    """Reads and writes one identity directory (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def __repr__(self) -> str:
        return f"IdentityStore({str(self.directory)!r})"

    @property
    def enrolled(self) -> bool:
        """Whether a certificate is stored (whether it is usable, :meth:`load` says)."""
        return (self.directory / CERT_FILE).exists()

    def load(self) -> Identity | None:
        """The enrolled identity, ``None`` if there is none; :class:`IdentityError` if broken."""
        if not self.directory.exists() or not self.enrolled:
            return None
        self._check_directory()
        key = self._read_key(KEY_FILE)
        if key is None:
            raise IdentityError(f"{self.directory / KEY_FILE} is missing: {_FRESH_START}")
        cert = _load_cert(self._read(CERT_FILE), self.directory / CERT_FILE)
        ca_data = self._read(CA_FILE)
        ca = _load_cert(ca_data, self.directory / CA_FILE)
        if _public_der(cert.public_key()) != _public_der(key.public_key()):
            raise IdentityError(
                f"the certificate does not belong to the device key: {_FRESH_START}"
            )
        return Identity(key, cert, ca, self.hub_url())

    def hub_url(self) -> str:
        """The hub the kiosk enrolled with (``hub.json``)."""
        data = self._read(HUB_FILE)
        try:
            url = json.loads(data)["hub_url"]
        except (ValueError, KeyError, TypeError):
            raise IdentityError(f"{self.directory / HUB_FILE} is corrupt: {_FRESH_START}") from None
        if not isinstance(url, str) or not url:
            raise IdentityError(f"{self.directory / HUB_FILE} is corrupt: {_FRESH_START}")
        return url

    def enrolment_key(self) -> ec.EllipticCurvePrivateKey:
        """The key to enrol with: the unenrolled device key (made now if there is none), or a
        pending one when the kiosk is enrolled already (the old identity stays until the hub
        issued the new certificate)."""
        self._prepare_directory()
        name = PENDING_KEY_FILE if self.enrolled else KEY_FILE
        existing = self._read_key(name)
        if existing is not None:
            return existing
        key = ec.generate_private_key(profile.CURVE())
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self._write(name, pem)
        return key

    def key_fingerprint(self) -> str:
        """SHA-256 of the enrolment key's public key: what the technician screen shows."""
        return profile.spki_sha256(self.enrolment_key().public_key())

    def store(
        self,
        key: ec.EllipticCurvePrivateKey,
        certificate: x509.Certificate,
        ca_certificate: x509.Certificate,
        hub_url: str,
    ) -> Identity:
        """Keep a certificate the hub issued for ``key``: the kiosk is enrolled."""
        if _public_der(certificate.public_key()) != _public_der(key.public_key()):
            raise IdentityError("the hub's certificate is not for this device's key: enrol again")
        self._check_directory()
        pem = serialization.Encoding.PEM
        self._write(CA_FILE, ca_certificate.public_bytes(pem))
        self._write(HUB_FILE, json.dumps({"hub_url": hub_url}).encode("utf-8"))
        pending = self.directory / PENDING_KEY_FILE
        if pending.exists():
            pending.replace(self.directory / KEY_FILE)
        self._write(CERT_FILE, certificate.public_bytes(pem))
        return Identity(key, certificate, ca_certificate, hub_url)

    def store_renewal(self, certificate: x509.Certificate) -> Identity:
        """Replace the certificate with its renewal (same key, same CA, same hub)."""
        current = self.load()
        if current is None:
            raise IdentityError("no identity to renew: enrol this kiosk first")
        return self.store(current.key, certificate, current.ca_certificate, current.hub_url)

    def decommission(self) -> list[str]:
        """Remove key (overwritten first), certificate, CA and hub file; the names removed.

        Overwriting does not guarantee erasure on flash media with wear levelling; the hub's
        revocation is what makes a retired key useless.
        """
        removed: list[str] = []
        for name in (KEY_FILE, PENDING_KEY_FILE):
            path = self.directory / name
            if path.is_file() and not path.is_symlink():
                _overwrite(path)
        for name in (KEY_FILE, PENDING_KEY_FILE, CERT_FILE, CA_FILE, HUB_FILE):
            path = self.directory / name
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(name)
        if removed:
            _fsync_directory(self.directory)
        return removed

    # -- files ------------------------------------------------------------------------

    def _prepare_directory(self) -> None:
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise IdentityError(
                f"cannot create {self.directory}: {exc.strerror} (systemd's StateDirectory= "
                "creates it when kiosk.service starts; or `install -d -m 0700 -o kiosk "
                f"-g kiosk {self.directory}`)"
            ) from None
        self._check_directory()

    def _check_directory(self) -> None:
        try:
            info = os.stat(self.directory, follow_symlinks=False)
        except OSError as exc:
            raise IdentityError(f"cannot read {self.directory}: {exc.strerror}") from None
        if not stat.S_ISDIR(info.st_mode):
            raise IdentityError(f"{self.directory} is not a directory")
        if info.st_uid != os.geteuid():
            raise IdentityError(
                f"{self.directory} belongs to uid {info.st_uid}, not to this user: run the "
                "command as the kiosk's user (e.g. `sudo -u kiosk kiosk ...`)"
            )
        if info.st_mode & 0o077:
            raise IdentityError(
                f"{self.directory} is open to other users (mode {info.st_mode & 0o777:04o}); "
                f"the device key may have leaked: {_FRESH_START} (the directory must be 0700)"
            )

    def _read_key(self, name: str) -> ec.EllipticCurvePrivateKey | None:
        path = self.directory / name
        if not path.exists() and not path.is_symlink():
            return None
        data = self._read(name, secret=True)
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise IdentityError(f"{path} is corrupt: {_FRESH_START}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(
            key.curve, profile.CURVE
        ):
            raise IdentityError(f"{path} is not an ECDSA P-256 key: {_FRESH_START}")
        return key

    def _read(self, name: str, *, secret: bool = False) -> bytes:
        path = self.directory / name
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise IdentityError(f"{path} is missing: {_FRESH_START}") from None
        except OSError as exc:
            raise IdentityError(f"cannot read {path}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise IdentityError(f"{path} is not a regular file: {_FRESH_START}")
            if info.st_uid != os.geteuid():
                raise IdentityError(
                    f"{path} belongs to uid {info.st_uid}, not to this user: run as the "
                    "kiosk's user, or fix the owner"
                )
            if secret and info.st_mode & 0o077:
                raise IdentityError(
                    f"{path} is readable by other users (mode {info.st_mode & 0o777:04o}): the "
                    f"key may have leaked: {_FRESH_START}"
                )
            data = file.read(FILE_MAX + 1)
        if len(data) > FILE_MAX:
            raise IdentityError(f"{path} is too large to be ours: {_FRESH_START}")
        return data

    def _write(self, name: str, data: bytes) -> None:
        """Write atomically (temporary file, fsync, rename), mode 0600 from the start."""
        path = self.directory / name
        temporary = path.with_name(f".{name}.tmp")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            temporary.replace(path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
            raise
        _fsync_directory(self.directory)


def is_enrolled(directory: Path) -> bool:
    """Whether ``directory`` holds a certificate (cheap; :meth:`IdentityStore.load` checks it)."""
    try:
        return (directory / CERT_FILE).is_file()
    except OSError:
        return False


def enrolled_hub_url(directory: Path) -> str | None:
    """The hub URL ``kiosk enrol`` stored, or ``None`` (not secret: read without the checks,
    so root's ``kiosk wipe`` can read the config too; :meth:`IdentityStore.load` checks)."""
    try:
        with open(directory / HUB_FILE, "rb") as file:
            url = json.loads(file.read(FILE_MAX))["hub_url"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return url if isinstance(url, str) and url else None


def build_csr(
    key: ec.EllipticCurvePrivateKey, common_name: str, challenge_password: str | None
) -> x509.CertificateSigningRequest:
    """A PKCS#10 request: subject ``CN=common_name``, the code's secret as challengePassword.

    First enrolment names the code's id as CN (the hub sets the device name); renewal names
    the device and carries no password (the key itself proves who asks).
    """
    builder = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    )
    if challenge_password is not None:
        builder = builder.add_attribute(
            AttributeOID.CHALLENGE_PASSWORD, challenge_password.encode("utf-8")
        )
    return builder.sign(key, hashes.SHA256())


def _load_cert(data: bytes, path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise IdentityError(f"{path} is corrupt: {_FRESH_START}") from None


def _public_der(public_key: object) -> bytes:
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        return b""
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _overwrite(path: Path) -> None:
    """Overwrite a key file with zeros in place before it is unlinked."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return  # unlinking still removes it; nothing to overwrite through
    with os.fdopen(fd, "wb") as file:
        size = os.fstat(file.fileno()).st_size
        file.write(b"\0" * size)
        file.flush()
        os.fsync(file.fileno())


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
