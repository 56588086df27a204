"""The identity directory: made on the device, private, refused when it cannot be trusted."""

from __future__ import annotations

import datetime as dt
import os
import stat
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AttributeOID, NameOID

from provisioning import profile
from provisioning.identity import (
    CA_FILE,
    CERT_FILE,
    HUB_FILE,
    KEY_FILE,
    PENDING_KEY_FILE,
    IdentityError,
    IdentityStore,
    build_csr,
)
from tests.support.requirements import require, require_tool

NOW = dt.datetime(2030, 1, 15, 12, 0, tzinfo=dt.UTC)
HUB = "wss://hub.example.org"


def _enrolled(directory: Path) -> IdentityStore:
    store = IdentityStore(directory)
    key = store.enrolment_key()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = profile.make_ca_certificate(ca_key, "Tenant A", NOW)
    cert = profile.make_device_certificate(
        ca_cert=ca, ca_key=ca_key, public_key=key.public_key(), device_name="branch-7", now=NOW
    )
    store.store(key, cert, ca, HUB)
    return store


def test_a_fresh_directory_gets_a_private_p256_key(tmp_path: Path) -> None:
    directory = tmp_path / "identity"
    store = IdentityStore(directory)
    key = store.enrolment_key()
    assert isinstance(key.curve, ec.SECP256R1)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / KEY_FILE).stat().st_mode) == 0o600
    assert (directory / KEY_FILE).read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert store.load() is None  # a key alone is not an identity
    # The unenrolled key is reused: its fingerprint stays what the technician saw.
    assert store.key_fingerprint() == profile.spki_sha256(key.public_key())
    assert store.key_fingerprint() == store.key_fingerprint()


def test_openssl_reads_the_key_as_pkcs8_p256(tmp_path: Path) -> None:
    openssl = require_tool("openssl", "openssl")
    IdentityStore(tmp_path / "id").enrolment_key()
    text = subprocess.run(
        [openssl, "pkey", "-in", str(tmp_path / "id" / KEY_FILE), "-noout", "-text"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "prime256v1" in text or "P-256" in text


def test_store_and_load(tmp_path: Path) -> None:
    store = _enrolled(tmp_path / "id")
    identity = store.load()
    assert identity is not None
    assert identity.device_name == "branch-7"
    assert identity.tenant == "Tenant A"
    assert identity.hub_url == HUB
    for name in (KEY_FILE, CERT_FILE, CA_FILE, HUB_FILE):
        assert stat.S_IMODE((tmp_path / "id" / name).stat().st_mode) == 0o600
    assert "PRIVATE" not in repr(identity) and "key=" not in repr(identity)


def test_re_enrolling_an_enrolled_kiosk_uses_a_pending_key_until_it_succeeds(
    tmp_path: Path,
) -> None:
    store = _enrolled(tmp_path / "id")
    old = store.load()
    assert old is not None
    new_key = store.enrolment_key()
    assert (tmp_path / "id" / PENDING_KEY_FILE).exists()
    assert store.load() == old  # the old identity still works meanwhile
    cert = profile.make_device_certificate(
        ca_cert=old.ca_certificate,
        ca_key=ec.generate_private_key(ec.SECP256R1()),
        public_key=new_key.public_key(),
        device_name="branch-7",
        now=NOW,
    )
    store.store(new_key, cert, old.ca_certificate, HUB)
    assert not (tmp_path / "id" / PENDING_KEY_FILE).exists()
    loaded = store.load()
    assert loaded is not None and loaded.certificate == cert


def test_a_certificate_for_another_key_is_refused(tmp_path: Path) -> None:
    store = IdentityStore(tmp_path / "id")
    key = store.enrolment_key()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = profile.make_ca_certificate(ca_key, "T", NOW)
    other = ec.generate_private_key(ec.SECP256R1())
    cert = profile.make_device_certificate(
        ca_cert=ca, ca_key=ca_key, public_key=other.public_key(), device_name="d", now=NOW
    )
    with pytest.raises(IdentityError, match="not for this device's key"):
        store.store(key, cert, ca, HUB)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644])
def test_a_key_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    store = _enrolled(tmp_path / "id")
    os.chmod(tmp_path / "id" / KEY_FILE, mode)
    with pytest.raises(IdentityError, match=r"readable by other users.*decommission"):
        store.load()


def test_a_directory_open_to_others_is_refused(tmp_path: Path) -> None:
    store = _enrolled(tmp_path / "id")
    os.chmod(tmp_path / "id", 0o755)  # noqa: S103 - the mistake under test
    with pytest.raises(IdentityError, match="open to other users"):
        store.load()


@pytest.mark.parametrize("name", [KEY_FILE, CERT_FILE, CA_FILE, HUB_FILE])
def test_a_corrupt_file_is_refused_with_what_to_do(tmp_path: Path, name: str) -> None:
    store = _enrolled(tmp_path / "id")
    path = tmp_path / "id" / name
    path.write_bytes(path.read_bytes()[:40] + b"garbage")
    with pytest.raises(IdentityError, match=rf"{name} is corrupt.*decommission.*fresh code"):
        store.load()


def test_a_missing_key_is_refused(tmp_path: Path) -> None:
    store = _enrolled(tmp_path / "id")
    (tmp_path / "id" / KEY_FILE).unlink()
    with pytest.raises(IdentityError, match="device.key is missing"):
        store.load()


def test_a_symlinked_key_is_refused(tmp_path: Path) -> None:
    store = _enrolled(tmp_path / "id")
    key = tmp_path / "id" / KEY_FILE
    elsewhere = tmp_path / "elsewhere.key"
    key.rename(elsewhere)
    key.symlink_to(elsewhere)
    with pytest.raises(IdentityError, match="cannot read"):
        store.load()


def test_a_key_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    store = _enrolled(tmp_path / "id")
    require(os.geteuid() == 0, "changing a file's owner needs root (run the suite as root)")
    os.chown(tmp_path / "id" / KEY_FILE, 65534, 65534)
    with pytest.raises(IdentityError, match="belongs to uid 65534"):
        store.load()


def test_decommission_overwrites_the_key_and_removes_everything(tmp_path: Path) -> None:
    store = _enrolled(tmp_path / "id")
    store.enrolment_key()  # a pending key too
    key_path = tmp_path / "id" / KEY_FILE
    # A second link to the key's inode shows what the overwrite left behind.
    witness = tmp_path / "witness"
    os.link(key_path, witness)
    removed = store.decommission()
    assert set(removed) == {KEY_FILE, PENDING_KEY_FILE, CERT_FILE, CA_FILE, HUB_FILE}
    assert list((tmp_path / "id").iterdir()) == []
    assert set(witness.read_bytes()) == {0}
    assert store.load() is None
    assert store.decommission() == []


def test_the_csr_carries_the_code_secret_and_the_subject(tmp_path: Path) -> None:
    key = IdentityStore(tmp_path / "id").enrolment_key()
    csr = build_csr(key, "K7QX", "3M9PHT4R2WNC")
    assert csr.is_signature_valid
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "K7QX"
    password = csr.attributes.get_attribute_for_oid(AttributeOID.CHALLENGE_PASSWORD)
    assert password.value == b"3M9PHT4R2WNC"
    renewal = build_csr(key, "branch-7", None)
    with pytest.raises(Exception, match="No"):
        renewal.attributes.get_attribute_for_oid(AttributeOID.CHALLENGE_PASSWORD)


def test_openssl_reads_the_csr(tmp_path: Path) -> None:
    openssl = require_tool("openssl", "openssl")
    from cryptography.hazmat.primitives.serialization import Encoding

    key = IdentityStore(tmp_path / "id").enrolment_key()
    (tmp_path / "req.pem").write_bytes(
        build_csr(key, "K7QX", "3M9PHT4R2WNC").public_bytes(Encoding.PEM)
    )
    text = subprocess.run(
        [openssl, "req", "-in", str(tmp_path / "req.pem"), "-noout", "-verify", "-text"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "CN=K7QX" in text.stdout.replace(" = ", "=")
    assert "challengePassword" in text.stdout
    assert "verify OK" in text.stdout + text.stderr
