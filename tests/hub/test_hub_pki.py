"""The tenant CA, the hub secret and enrolment codes, checked independently with openssl."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hub.pki import ca as pki
from hub.pki.checked import Checked, CheckedCertificates
from hub.pki.codes import MAX_FAILURES, CodeBook, CodeNotLive, WrongSecret
from hub.pki.secret import (
    CA_KEY_INFO,
    ENROL_CODE_INFO,
    HubSecret,
    SecretFileError,
    create_secret_file,
)
from hub.storage import RevokedSerial, SqliteStorage, Storage, Tenant
from provisioning import profile
from tests.support.device_certs import device, tenant_ca
from tests.support.hub_enrol import csr_der, device_key, hub_secret, openssl, pem

NOW = time.time()


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    s = await SqliteStorage.open(tmp_path / "hub.sqlite3")
    yield s
    await s.close()


@pytest.fixture
def secret(tmp_path: Path) -> HubSecret:
    return hub_secret(tmp_path)[1]


@pytest.fixture
async def authority(storage: Storage, secret: HubSecret) -> pki.Authority:
    await pki.ensure_tenant_cas(storage, secret, now=NOW)
    return await pki.load_authority(storage, secret, "default")


# -- the hub secret ---------------------------------------------------------


def test_a_secret_file_is_made_private_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    old = os.umask(0)
    try:
        create_secret_file(path)
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o600
    first = HubSecret.load(path).key(CA_KEY_INFO)
    with pytest.raises(SecretFileError, match="already exists"):
        create_secret_file(path)
    assert HubSecret.load(path).key(CA_KEY_INFO) == first
    assert first != HubSecret.load(path).key(ENROL_CODE_INFO)  # one key per purpose
    assert "hidden" in repr(HubSecret.load(path))


def test_raw_and_hex_secrets_are_both_read(tmp_path: Path) -> None:
    raw, hexed = tmp_path / "raw", tmp_path / "hex"
    value = os.urandom(48)
    for path, data in ((raw, value), (hexed, value.hex().encode() + b"\n")):
        path.write_bytes(data)
        path.chmod(0o600)
    assert HubSecret.load(raw).key(CA_KEY_INFO) == HubSecret.load(hexed).key(CA_KEY_INFO)


@pytest.mark.parametrize("case", ["missing", "short", "world_readable", "group_readable"])
def test_an_unusable_secret_file_is_a_clear_error(tmp_path: Path, case: str) -> None:
    path = tmp_path / "secret"
    if case != "missing":
        path.write_bytes(b"ab" * 10 if case == "short" else os.urandom(32).hex().encode())
        path.chmod({"short": 0o600, "world_readable": 0o604, "group_readable": 0o640}[case])
    with pytest.raises(SecretFileError) as error:
        HubSecret.load(path)
    expected = {
        "missing": "kiosk-hub secret create",
        "short": "fewer than 32 bytes",
        "world_readable": "chmod 600",
        "group_readable": "chmod 600",
    }[case]
    assert expected in str(error.value)


# -- the tenant CA ----------------------------------------------------------


async def test_every_tenant_gets_a_ca_once(storage: Storage, secret: HubSecret) -> None:
    await storage.add_tenant("bank-b", now=NOW)
    made = await pki.ensure_tenant_cas(storage, secret, now=NOW)
    assert sorted(t.name for t in made) == ["bank-b", "default"]
    assert await pki.ensure_tenant_cas(storage, secret, now=NOW) == []
    a = await pki.load_authority(storage, secret, "default")
    b = await pki.load_authority(storage, secret, "bank-b")
    assert a.fingerprint != b.fingerprint
    assert profile.tenant_of(b.cert) == "bank-b"


async def test_the_ca_key_opens_only_with_its_secret_and_tenant(
    storage: Storage, secret: HubSecret, tmp_path: Path
) -> None:
    await pki.ensure_tenant_cas(storage, secret, now=NOW)
    ca = await storage.tenant_ca("default")
    assert ca is not None
    (tmp_path / "other").mkdir()
    other = hub_secret(tmp_path / "other")[1]
    with pytest.raises(pki.CaKeyUnavailable, match="--secret-file"):
        pki.unseal_key(other, ca.key_sealed, "default")
    with pytest.raises(pki.CaKeyUnavailable):
        pki.unseal_key(secret, ca.key_sealed, "bank-b")  # moved to another tenant's row
    with pytest.raises(pki.CaKeyUnavailable):
        pki.unseal_key(secret, b"\x02" + ca.key_sealed[1:], "default")
    assert b"PRIVATE" not in ca.key_sealed and len(ca.key_sealed) > 100
    with pytest.raises(pki.NoTenantCa):
        await storage.add_tenant("late", now=NOW)
        await pki.load_authority(storage, secret, "late")


async def test_the_ca_certificate_matches_the_profile_for_openssl(
    authority: pki.Authority, tmp_path: Path
) -> None:
    text = openssl("x509", "-in", str(pem(authority.cert, tmp_path / "ca.pem")), "-noout", "-text")
    out = text.stdout
    assert "CA:TRUE, pathlen:0" in out
    assert "Certificate Sign, CRL Sign" in out
    assert "ASN1 OID: prime256v1" in out
    assert "Subject: CN = Branch Kiosk tenant CA default, O = default" in out
    assert "Subject Key Identifier" in out


async def test_a_device_certificate_verifies_with_openssl_and_carries_the_profile(
    authority: pki.Authority, tmp_path: Path
) -> None:
    key = device_key()
    csr = pki.load_csr(csr_der(key, "K7QX", password="SECRET"))
    assert pki.challenge_password(csr) == "SECRET"
    public = pki.check_csr(csr, ("K7QX", "kiosk-1"))
    cert, record = pki.issue(authority, public, "kiosk-1", now=NOW, days=30)
    ca_pem = pem(authority.cert, tmp_path / "ca.pem")
    dev_pem = pem(cert, tmp_path / "dev.pem")
    verified = openssl("verify", "-CAfile", str(ca_pem), "-purpose", "sslclient", str(dev_pem))
    assert verified.stdout.strip().endswith(": OK")
    out = openssl("x509", "-in", str(dev_pem), "-noout", "-text").stdout
    assert "Subject: CN = kiosk-1, O = default" in out
    assert "CA:FALSE" in out and "Digital Signature" in out and "Non Repudiation" not in out
    assert "TLS Web Client Authentication" in out
    assert "1.3.6.1.5.5.7.3.36" in out or "Document Signing" in out
    assert "Authority Key Identifier" in out and "Subject Key Identifier" in out
    assert record.serial == format(cert.serial_number, "x")
    assert record.spki_sha256 == profile.spki_sha256(key.public_key())
    assert record.not_after - record.not_before == pytest.approx(30 * 86400 + 300)
    assert cert.serial_number.bit_length() > 100  # 128 random bits, top one clear


async def test_the_crl_lists_revoked_serials_for_openssl(
    authority: pki.Authority, tmp_path: Path
) -> None:
    cert, record = pki.issue(
        authority, pki.check_csr(pki.load_csr(csr_der(device_key(), "k")), ("k",)), "k", now=NOW
    )
    crl_der = pki.make_crl(authority, [RevokedSerial(record.serial, NOW)], now=NOW)
    crl_path = tmp_path / "crl.der"
    crl_path.write_bytes(crl_der)
    ca_pem = pem(authority.cert, tmp_path / "ca.pem")
    listed = openssl("crl", "-in", str(crl_path), "-inform", "DER", "-noout", "-text").stdout
    # openssl prints whole bytes: a serial whose hex has an odd length gets a leading 0 (1 in 16)
    serial = f"{cert.serial_number:X}"
    assert f"Serial Number: {serial.zfill(len(serial) + len(serial) % 2)}".upper() in listed.upper()
    assert "Next Update" in listed
    checked = openssl("crl", "-in", str(crl_path), "-inform", "DER", "-CAfile", str(ca_pem))
    assert "verify OK" in checked.stdout + checked.stderr
    crl_pem = tmp_path / "crl.pem"
    openssl("crl", "-in", str(crl_path), "-inform", "DER", "-out", str(crl_pem))
    refused = openssl(
        "verify",
        "-crl_check",
        "-CRLfile",
        str(crl_pem),
        "-CAfile",
        str(ca_pem),
        str(pem(cert, tmp_path / "dev.pem")),
        check=False,
    )
    assert refused.returncode != 0 and "revoked" in (refused.stdout + refused.stderr)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("rsa", "key_type"),
        ("p384", "key_type"),
        ("bad_signature", "signature"),
        ("wrong_cn", "subject"),
        ("no_cn", "subject"),
        ("garbage", "malformed"),
        ("huge", "malformed"),
    ],
)
def test_a_bad_request_is_rejected_with_its_reason(case: str, reason: str) -> None:
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = device_key()
    name: str | None = "kiosk-1"
    if case == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif case == "p384":
        key = ec.generate_private_key(ec.SECP384R1())
    elif case == "wrong_cn":
        name = "kiosk-2"
    elif case == "no_cn":
        name = None
    der = csr_der(key, name, organization="evil-tenant")
    if case == "bad_signature":
        der = der[:-1] + bytes([der[-1] ^ 0x01])
    elif case == "garbage":
        der = b"\x30\x82junk"
    elif case == "huge":
        der = b"\x30" * (pki.CSR_MAX_BYTES + 1)
    with pytest.raises(pki.CsrRejected) as rejected:
        pki.check_csr(pki.load_csr(der), ("kiosk-1",))
    assert rejected.value.reason == reason


def test_the_tenant_comes_from_the_ca_not_the_request(tmp_path: Path) -> None:
    secret = hub_secret(tmp_path)[1]
    key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = profile.make_ca_certificate(key, "bank-a", dt.datetime.now(dt.UTC))
    authority = pki.Authority(Tenant(1, "bank-a"), ca_cert, key)
    csr = pki.load_csr(csr_der(device_key(), "kiosk-1", organization="bank-b"))
    cert, _ = pki.issue(authority, pki.check_csr(csr, ("kiosk-1",)), "kiosk-1", now=NOW)
    assert profile.tenant_of(cert) == "bank-a"
    sealed = pki.seal_key(secret, key, "bank-a")
    opened = pki.unseal_key(secret, sealed, "bank-a")
    assert opened.private_numbers() == key.private_numbers()
    der = opened.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert der not in sealed


# -- enrolment codes --------------------------------------------------------


async def test_a_code_is_checked_by_its_hmac_and_burnt_after_five_wrong_secrets(
    storage: Storage, secret: HubSecret
) -> None:
    book = CodeBook(secret)
    code, record = await book.new(storage, "kiosk-1", now=NOW, ttl_s=600)
    assert record.secret_hmac == book.digest(code.id, code.secret)
    assert code.secret not in record.secret_hmac
    assert (await book.check(storage, code.id, code.secret, now=NOW + 1)).device_name == "kiosk-1"
    for _ in range(MAX_FAILURES):
        with pytest.raises(WrongSecret):
            await book.check(storage, code.id, "2" * 12, now=NOW + 1)
    with pytest.raises(CodeNotLive):  # burnt: even the right secret is refused now
        await book.check(storage, code.id, code.secret, now=NOW + 1)


async def test_a_code_expires_and_a_secret_is_bound_to_its_id(
    storage: Storage, secret: HubSecret
) -> None:
    book = CodeBook(secret)
    code, _ = await book.new(storage, "kiosk-1", now=NOW, ttl_s=600)
    with pytest.raises(CodeNotLive):
        await book.check(storage, code.id, code.secret, now=NOW + 600)
    with pytest.raises(CodeNotLive):
        await book.check(storage, "ZZZZ", code.secret, now=NOW)
    assert book.digest(code.id, code.secret) != book.digest("ZZZZ", code.secret)
    with pytest.raises(ValueError, match="30 days"):
        await book.new(storage, "kiosk-1", now=NOW, ttl_s=0)


def test_checked_certificates_are_bounded_least_recently_used_first() -> None:
    ca = tenant_ca()
    a, b, c = (device(ca, name) for name in ("kiosk-a", "kiosk-b", "kiosk-c"))
    cache = CheckedCertificates(max_entries=2)
    for one in (a, b):
        cache.add(one.der, Checked(one.certificate, ca.tenant, ca.certificate))
    assert cache.get(a.der) is not None  # a is used: b is now the least recent
    cache.add(c.der, Checked(c.certificate, ca.tenant, ca.certificate))
    assert len(cache) == 2
    assert cache.get(b.der) is None
    found = cache.get(c.der)
    assert found is not None and found.cert == c.certificate and found.ca == ca.certificate
    assert (cache.hits, cache.misses) == (2, 1)
    with pytest.raises(ValueError, match="room for one"):
        CheckedCertificates(max_entries=0)
