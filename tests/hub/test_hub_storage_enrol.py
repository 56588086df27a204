"""Enrolment's storage on a real SQLite file: tenant CAs, one-time codes, certificates."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.storage import (
    MIGRATIONS,
    CertificateRefused,
    CodeRefused,
    DuplicateName,
    InvalidLimit,
    InvalidName,
    NewCertificate,
    NotFound,
    SqliteStorage,
    Storage,
)
from hub.storage.sqlite_schema import migrate

NOW = 1_800_000_000.0
DAY = 86_400.0
MAX_FAILURES = 5


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    s = await SqliteStorage.open(tmp_path / "hub.sqlite3")
    yield s
    await s.close()


def cert(serial: str, *, spki: str = "aa" * 32, days: float = 30) -> NewCertificate:
    return NewCertificate(
        serial=serial,
        spki_sha256=spki,
        cert_der=b"\x30\x00" + serial.encode(),
        not_before=NOW - 300,
        not_after=NOW + days * DAY,
    )


async def code_for(
    storage: Storage, device: str, code_id: str = "K7QX", tenant: str = "default"
) -> None:
    await storage.add_enrolment_code(
        code_id, device, "hmac-" + code_id, tenant=tenant, now=NOW, expires_at=NOW + 3600
    )


async def states(storage: Storage, now: float = NOW) -> dict[str, str]:
    return {s.device.name: s.state for s in await storage.device_statuses(now=now)}


async def test_a_tenant_ca_is_stored_once_and_the_first_maker_wins(storage: Storage) -> None:
    default = await storage.tenant("default")
    assert await storage.tenant_ca("default") is None
    assert [t.name for t in await storage.tenants_without_ca()] == ["default"]
    first = await storage.store_tenant_ca(default.id, b"cert-1", b"key-1", now=NOW)
    second = await storage.store_tenant_ca(default.id, b"cert-2", b"key-2", now=NOW)
    assert first == second and first.cert_der == b"cert-1" and first.key_sealed == b"key-1"
    assert await storage.tenant_ca("default") == first
    assert await storage.tenants_without_ca() == []
    with pytest.raises(NotFound):
        await storage.tenant_ca("nobody")


async def test_a_code_registers_a_pending_device_and_enrolment_uses_it_up(
    storage: Storage,
) -> None:
    await code_for(storage, "kiosk-1")
    assert await states(storage) == {"kiosk-1": "pending"}
    code = await storage.enrolment_code("K7QX")
    assert code is not None and code.device_name == "kiosk-1" and code.used_at is None
    device = await storage.enrol_device(
        "K7QX", "hmac-K7QX", cert("01"), now=NOW + 1, max_failures=MAX_FAILURES
    )
    assert device.name == "kiosk-1" and not device.revoked
    used = await storage.enrolment_code("K7QX")
    assert used is not None and used.used_at == NOW + 1
    assert await states(storage) == {"kiosk-1": "enrolled"}
    stored = await storage.device_certificate("01")
    assert stored is not None and stored.device.id == device.id and stored.revoked_at is None
    assert await storage.certificate_valid("01", now=NOW + 2)
    # single use: the same code again is refused, and nothing more is stored
    with pytest.raises(CodeRefused):
        await storage.enrol_device(
            "K7QX", "hmac-K7QX", cert("02"), now=NOW + 2, max_failures=MAX_FAILURES
        )
    assert await storage.device_certificate("02") is None


@pytest.mark.parametrize("case", ["wrong_secret", "expired", "burnt", "unknown"])
async def test_a_refused_code_writes_nothing(storage: Storage, case: str) -> None:
    await code_for(storage, "kiosk-1")
    secret, now, code_id = "hmac-K7QX", NOW + 1, "K7QX"
    if case == "wrong_secret":
        secret = "hmac-other"
    elif case == "expired":
        now = NOW + 3600
    elif case == "burnt":
        for _ in range(MAX_FAILURES):
            await take(storage, "K7QX")
    else:
        code_id = "ZZZZ"
    with pytest.raises(CodeRefused) as refused:
        await storage.enrol_device(code_id, secret, cert("01"), now=now, max_failures=MAX_FAILURES)
    assert "ask for a new code" in str(refused.value)
    assert await storage.device_certificate("01") is None
    left = await storage.enrolment_code("K7QX")
    assert left is not None and left.used_at is None
    assert await states(storage) == {"kiosk-1": "pending"}


async def take(storage: Storage, code_id: str, now: float = NOW + 1) -> int | None:
    """Take an attempt at a code: its count so far, or None when refused."""
    code = await storage.take_enrolment_attempt(code_id, now=now, max_failures=MAX_FAILURES)
    return None if code is None else code.failures


async def test_failures_are_counted_per_code(storage: Storage) -> None:
    await code_for(storage, "kiosk-1")
    assert [await take(storage, "K7QX") for _ in range(3)] == [1, 2, 3]
    assert await take(storage, "ZZZZ") is None
    code = await storage.enrolment_code("K7QX")
    assert code is not None and code.failures == 3


async def test_attempts_stop_at_the_limit_and_a_given_back_one_is_uncounted(
    storage: Storage,
) -> None:
    await code_for(storage, "kiosk-1")
    await storage.give_back_enrolment_attempt("K7QX")  # never below zero
    taken = await storage.take_enrolment_attempt("K7QX", now=NOW + 1, max_failures=MAX_FAILURES)
    assert taken is not None and (taken.id, taken.device_name, taken.failures) == (
        "K7QX",
        "kiosk-1",
        1,
    )
    await storage.give_back_enrolment_attempt("K7QX")  # its secret was right
    assert [await take(storage, "K7QX") for _ in range(MAX_FAILURES + 2)] == [
        *range(1, MAX_FAILURES + 1),
        None,
        None,
    ]
    code = await storage.enrolment_code("K7QX")
    assert code is not None and code.failures == MAX_FAILURES  # a refusal counts nothing
    await code_for(storage, "kiosk-2", "AAAA")
    assert await take(storage, "AAAA", now=NOW + 3600) is None  # expired
    await storage.enrol_device(
        "AAAA", "hmac-AAAA", cert("01"), now=NOW + 1, max_failures=MAX_FAILURES
    )
    assert await take(storage, "AAAA") is None  # used
    used = await storage.enrolment_code("AAAA")
    assert used is not None and used.failures == 0


async def test_parallel_attempts_never_pass_the_limit(storage: Storage) -> None:
    await code_for(storage, "kiosk-1")
    taken = await asyncio.gather(*(take(storage, "K7QX") for _ in range(20)))
    assert sorted(t for t in taken if t is not None) == list(range(1, MAX_FAILURES + 1))
    assert taken.count(None) == 20 - MAX_FAILURES


async def test_a_new_code_kills_the_older_unused_one(storage: Storage) -> None:
    await code_for(storage, "kiosk-1", "AAAA")
    await code_for(storage, "kiosk-1", "BBBB")
    with pytest.raises(CodeRefused):
        await storage.enrol_device(
            "AAAA", "hmac-AAAA", cert("01"), now=NOW + 1, max_failures=MAX_FAILURES
        )
    await storage.enrol_device(
        "BBBB", "hmac-BBBB", cert("01"), now=NOW + 1, max_failures=MAX_FAILURES
    )


async def test_enrolling_again_under_a_name_revokes_the_old_certificate_and_token(
    storage: Storage,
) -> None:
    _device, token = await storage.add_device("kiosk-1", now=NOW)
    assert await states(storage) == {"kiosk-1": "active"}
    await code_for(storage, "kiosk-1", "AAAA")
    assert await storage.device_for_token(token) is not None  # works until the enrolment
    await storage.enrol_device(
        "AAAA", "hmac-AAAA", cert("01"), now=NOW + 1, max_failures=MAX_FAILURES
    )
    assert await storage.device_for_token(token) is None  # one credential per device
    await code_for(storage, "kiosk-1", "BBBB")
    await storage.enrol_device(
        "BBBB", "hmac-BBBB", cert("02", spki="bb" * 32), now=NOW + 2, max_failures=MAX_FAILURES
    )
    assert not await storage.certificate_valid("01", now=NOW + 3)
    assert await storage.certificate_valid("02", now=NOW + 3)
    default = await storage.tenant("default")
    assert [r.serial for r in await storage.revoked_serials(default.id)] == ["01"]


async def test_revoking_a_device_revokes_its_certificates_and_kills_its_codes(
    storage: Storage,
) -> None:
    await code_for(storage, "kiosk-1", "AAAA")
    await storage.enrol_device(
        "AAAA", "hmac-AAAA", cert("01"), now=NOW + 1, max_failures=MAX_FAILURES
    )
    await code_for(storage, "kiosk-1", "BBBB")  # a replacement on its way
    await storage.revoke_device("kiosk-1", now=NOW + 5)
    assert not await storage.certificate_valid("01", now=NOW + 6)
    assert await states(storage) == {"kiosk-1": "revoked"}
    default = await storage.tenant("default")
    assert [(r.serial, r.revoked_at) for r in await storage.revoked_serials(default.id)] == [
        ("01", NOW + 5)
    ]
    with pytest.raises(CodeRefused):
        await storage.enrol_device(
            "BBBB", "hmac-BBBB", cert("02"), now=NOW + 6, max_failures=MAX_FAILURES
        )
    # a fresh code brings the device back
    await code_for(storage, "kiosk-1", "CCCC")
    await storage.enrol_device(
        "CCCC", "hmac-CCCC", cert("03"), now=NOW + 7, max_failures=MAX_FAILURES
    )
    assert await states(storage, NOW + 8) == {"kiosk-1": "enrolled"}


async def test_renewal_keeps_the_old_certificate_and_refuses_revoked_or_expired(
    storage: Storage,
) -> None:
    await code_for(storage, "kiosk-1")
    await storage.enrol_device(
        "K7QX", "hmac-K7QX", cert("01", days=30), now=NOW, max_failures=MAX_FAILURES
    )
    found = await storage.certificate_for_key("aa" * 32)
    assert found is not None and found.serial == "01"
    await storage.renew_certificate("01", cert("02", days=40), now=NOW + 20 * DAY)
    assert await storage.certificate_valid("01", now=NOW + 21 * DAY)  # no revocation
    newest = await storage.certificate_for_key("aa" * 32)
    assert newest is not None and newest.serial == "02"
    with pytest.raises(CertificateRefused) as expired:
        await storage.renew_certificate("01", cert("03"), now=NOW + 31 * DAY)
    assert expired.value.reason == "expired" and "fresh enrolment code" in str(expired.value)
    with pytest.raises(CertificateRefused) as unknown:
        await storage.renew_certificate("ff", cert("04"), now=NOW)
    assert unknown.value.reason == "unknown"
    await storage.revoke_device("kiosk-1", now=NOW + 22 * DAY)
    with pytest.raises(CertificateRefused) as revoked:
        await storage.renew_certificate("02", cert("05"), now=NOW + 23 * DAY)
    assert revoked.value.reason == "revoked"
    for serial in ("03", "04", "05"):
        assert await storage.device_certificate(serial) is None


async def test_state_follows_expiry_and_hellos_are_recorded(storage: Storage) -> None:
    await code_for(storage, "kiosk-1")
    device = await storage.enrol_device(
        "K7QX", "hmac-K7QX", cert("01", days=30), now=NOW, max_failures=MAX_FAILURES
    )
    await storage.device_seen(device.id, now=NOW + 60, version="branch-kiosk 0.1.0")
    await storage.device_seen(device.id, now=NOW + 120, version=None)  # keeps the version
    (status,) = await storage.device_statuses(now=NOW + 200)
    assert status.state == "enrolled"
    assert status.last_seen == NOW + 120 and status.version == "branch-kiosk 0.1.0"
    assert status.cert_not_after == NOW + 30 * DAY
    assert not await storage.certificate_valid("01", now=NOW + 31 * DAY)
    assert await states(storage, NOW + 31 * DAY) == {"kiosk-1": "expired"}


async def test_bad_codes_are_refused_before_anything_is_written(storage: Storage) -> None:
    with pytest.raises(InvalidName):
        await code_for(storage, "bad\nname")
    with pytest.raises(NotFound):
        await code_for(storage, "kiosk-1", tenant="nobody")
    with pytest.raises(InvalidLimit):
        await storage.add_enrolment_code("K7QX", "kiosk-1", "h", now=NOW, expires_at=NOW - 1)
    await code_for(storage, "kiosk-1")
    with pytest.raises(DuplicateName):
        await code_for(storage, "kiosk-2")
    assert await states(storage) == {"kiosk-1": "pending"}


async def test_a_database_from_before_enrolment_keeps_its_token_devices(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at REAL)")
    for version, script in enumerate(MIGRATIONS[:3], start=1):
        for statement in (s for s in script.split(";") if s.strip()):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (?, 0)", (version,))
    conn.execute(
        "INSERT INTO devices (tenant_id, name, token_hash, created_at) VALUES (1, 'old', 'h', 0)"
    )
    migrate(conn)  # as the engine does on open
    conn.close()
    storage = await SqliteStorage.open(path)
    try:
        assert await states(storage) == {"old": "active"}
        assert [t.name for t in await storage.tenants_without_ca()] == ["default"]
    finally:
        await storage.close()
