"""Storage on a real SQLite file: migrations, names, secrets stored only as hashes."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.storage import (
    DEFAULT_MAX_FILE_BYTES,
    LATEST_VERSION,
    MAX_FILE_BYTES_LIMIT,
    MIGRATIONS,
    ConstraintViolated,
    Device,
    DuplicateName,
    InvalidLimit,
    InvalidName,
    NotFound,
    SchemaTooNew,
    SqliteStorage,
    Storage,
    StorageError,
    WeakPassword,
)

NOW = 1_800_000_000.0
PASSWORD = "correct horse battery"


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    s = await SqliteStorage.open(tmp_path / "hub.sqlite3")
    yield s
    await s.close()


async def test_fresh_database_gets_the_latest_schema(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "hub.sqlite3"
    storage = await SqliteStorage.open(path)
    assert path.exists()
    assert await storage.schema_version() == LATEST_VERSION
    assert (await storage.tenant("default")).name == "default"
    await storage.close()
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    assert [r[0] for r in rows] == list(range(1, LATEST_VERSION + 1))
    assert mode == "wal"


async def test_reopening_is_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    first = await SqliteStorage.open(path)
    await first.add_device("kiosk-1", now=NOW)
    await first.close()
    second = await SqliteStorage.open(path)
    assert await second.schema_version() == LATEST_VERSION
    assert [d.name for d in await second.devices()] == ["kiosk-1"]
    with pytest.raises(DuplicateName):
        await second.add_tenant("default", now=NOW)  # the default tenant was created exactly once
    await second.close()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    await (await SqliteStorage.open(path)).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO schema_version VALUES (?, 0)", (LATEST_VERSION + 1,))
    conn.close()
    with pytest.raises(SchemaTooNew, match="newer"):
        await SqliteStorage.open(path)


async def test_garbage_file_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match="not a usable hub database"):
        await SqliteStorage.open(path)


async def test_unopenable_path_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="cannot open"):
        await SqliteStorage.open(blocker / "hub.sqlite3")


async def test_foreign_keys_are_enforced(storage: Storage) -> None:
    # A consultation of a device the database does not hold: refused, not stored.
    tenant = await storage.tenant("default")
    ghost = Device(id=999, name="ghost", tenant=tenant, created_at=NOW, revoked=False)
    with pytest.raises(ConstraintViolated) as refused:
        await storage.consultation_queued("consultation-of-a-ghost", ghost, now=NOW)
    assert isinstance(refused.value.__cause__, sqlite3.IntegrityError)
    assert await storage.consultations() == []


async def test_device_token_is_stored_only_as_hash(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    storage = await SqliteStorage.open(path)
    device, token = await storage.add_device("kiosk-1", now=NOW)
    assert len(token) >= 43
    assert await storage.device_for_token(token) == device
    await storage.close()
    assert _files_holding(tmp_path, token) == []


def _files_holding(directory: Path, secret: str) -> list[str]:
    """The files in ``directory`` that hold ``secret`` in the clear (by name)."""
    return [f.name for f in directory.iterdir() if secret.encode() in f.read_bytes()]


async def test_device_tokens(storage: Storage) -> None:
    device, token = await storage.add_device("kiosk-1", now=NOW)
    assert await storage.device_for_token("wrong") is None
    with pytest.raises(DuplicateName, match="--replace"):
        await storage.add_device("kiosk-1", now=NOW)
    same, new_token = await storage.add_device("kiosk-1", now=NOW, replace=True)
    assert same.id == device.id and new_token != token
    assert await storage.device_for_token(token) is None
    assert await storage.device_for_token(new_token) == same
    await storage.revoke_device("kiosk-1")
    assert await storage.device_for_token(new_token) is None
    assert (await storage.devices())[0].revoked
    with pytest.raises(NotFound):
        await storage.add_device("nope", now=NOW, replace=True)
    with pytest.raises(NotFound):
        await storage.revoke_device("nope")
    with pytest.raises(NotFound, match="tenant"):
        await storage.add_device("kiosk-2", now=NOW, tenant="nope")


async def test_device_names_are_unique_per_tenant(storage: Storage) -> None:
    await storage.add_tenant("other", now=NOW)
    await storage.add_device("kiosk-1", now=NOW)
    await storage.add_device("kiosk-1", now=NOW, tenant="other")
    assert [(d.tenant.name, d.name) for d in await storage.devices()] == [
        ("default", "kiosk-1"),
        ("other", "kiosk-1"),
    ]


async def test_adviser_names_are_unique_across_tenants(storage: Storage) -> None:
    await storage.add_tenant("other", now=NOW)
    await storage.add_adviser("alice", PASSWORD, now=NOW)
    with pytest.raises(DuplicateName, match="'alice' already exists in tenant 'default'"):
        await storage.add_adviser("alice", PASSWORD + "!", now=NOW, tenant="other")
    with pytest.raises(DuplicateName, match="unique across all tenants"):
        await storage.add_adviser("alice", PASSWORD, now=NOW)
    await storage.add_adviser("olga", PASSWORD, now=NOW, tenant="other")
    assert [(a.tenant.name, a.name) for a in await storage.advisers()] == [
        ("default", "alice"),
        ("other", "olga"),
    ]
    login = await storage.adviser_login("olga")
    assert login is not None and login.adviser.tenant.name == "other"
    assert await storage.adviser_login("nobody") is None


def _version_1_database(path: Path, advisers: list[tuple[str, str]]) -> None:
    """A database as the first hub release left it, with (tenant, adviser) rows."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at REAL)")
    for statement in MIGRATIONS[0].split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("INSERT INTO schema_version VALUES (1, 0)")
    for tenant, adviser in advisers:
        conn.execute("INSERT OR IGNORE INTO tenants (name, created_at) VALUES (?, 0)", (tenant,))
        conn.execute(
            "INSERT INTO advisers (tenant_id, name, password_hash, created_at) "
            "SELECT id, ?, 'x', 0 FROM tenants WHERE name = ?",
            (adviser, tenant),
        )
    conn.close()


async def test_upgrade_makes_adviser_names_unique(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    _version_1_database(path, [("default", "alice"), ("other", "olga")])
    storage = await SqliteStorage.open(path)
    assert await storage.schema_version() == LATEST_VERSION
    with pytest.raises(DuplicateName):
        await storage.add_adviser("olga", PASSWORD, now=NOW)
    # version 3: existing tenants get the default file size limit
    assert {t.tenant.name: t.max_file_bytes for t in await storage.tenants()} == {
        "default": DEFAULT_MAX_FILE_BYTES,
        "other": DEFAULT_MAX_FILE_BYTES,
    }
    await storage.close()


async def test_upgrade_refuses_adviser_names_used_in_two_tenants(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    _version_1_database(path, [("default", "alice"), ("other", "alice"), ("other", "olga")])
    with pytest.raises(StorageError, match=r"unique across tenants.*'alice' in (default|other)"):
        await SqliteStorage.open(path)
    with sqlite3.connect(path) as conn:  # nothing changed, still version 1
        assert conn.execute("SELECT MAX(version) FROM schema_version").fetchone() == (1,)
    conn.close()


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "bad\nname", "nul\x00"])
async def test_bad_names_are_refused(storage: Storage, name: str) -> None:
    with pytest.raises(InvalidName):
        await storage.add_device(name, now=NOW)
    with pytest.raises(InvalidName):
        await storage.add_adviser(name, PASSWORD, now=NOW)
    assert await storage.adviser_login(name) is None


@pytest.mark.parametrize("password", ["short", "123456789", "x" * 1025])
async def test_weak_passwords_are_refused(storage: Storage, password: str) -> None:
    with pytest.raises(WeakPassword):
        await storage.add_adviser("alice", password, now=NOW)


async def test_passwords_are_argon2_hashes(storage: Storage) -> None:
    await storage.add_adviser("alice", PASSWORD, now=NOW)
    login = await storage.adviser_login("alice")
    assert login is not None
    assert login.password_hash.startswith("$argon2id$")
    assert PASSWORD not in login.password_hash
    assert await storage.verify_password(login.password_hash, PASSWORD)
    assert not await storage.verify_password(login.password_hash, PASSWORD + "x")
    assert not await storage.verify_password("not a hash", PASSWORD)
    assert not await storage.verify_password(None, PASSWORD)


async def test_sessions_expire_and_are_stored_hashed(tmp_path: Path) -> None:
    storage = await SqliteStorage.open(tmp_path / "hub.sqlite3")
    adviser = await storage.add_adviser("alice", PASSWORD, now=NOW)
    session_id, csrf = await storage.create_session(adviser, now=NOW, lifetime_s=60)
    session = await storage.session(session_id, now=NOW + 59)
    assert session is not None and session.adviser == adviser and session.csrf == csrf
    assert await storage.session(session_id, now=NOW + 60) is None
    assert await storage.session("unknown", now=NOW) is None
    assert await storage.purge_sessions(now=NOW + 61) == 1
    other_id, _ = await storage.create_session(adviser, now=NOW, lifetime_s=60)
    await storage.delete_session(other_id)
    assert await storage.session(other_id, now=NOW) is None
    await storage.close()
    assert _files_holding(tmp_path, session_id) == []


async def test_consultation_log(storage: Storage) -> None:
    device, _ = await storage.add_device("kiosk-1", now=NOW)
    adviser = await storage.add_adviser("alice", PASSWORD, now=NOW)
    await storage.consultation_queued("consult-1", device, now=NOW)
    await storage.consultation_accepted("consult-1", adviser, now=NOW + 1)
    await storage.consultation_ended("consult-1", "hangup", now=NOW + 2)
    await storage.consultation_ended("consult-1", "peer_gone", now=NOW + 3)  # first end wins
    (record,) = await storage.consultations()
    assert (record.device, record.adviser, record.end_reason) == ("kiosk-1", "alice", "hangup")
    assert (record.queued_at, record.accepted_at, record.ended_at) == (NOW, NOW + 1, NOW + 2)


async def test_tenant_file_size_limit(storage: Storage) -> None:
    default = await storage.tenant("default")
    assert await storage.max_file_bytes(default.id) == DEFAULT_MAX_FILE_BYTES == 25 * 1024 * 1024
    other = await storage.add_tenant("other", now=NOW, max_file_bytes=0)
    assert await storage.max_file_bytes(other.id) == 0
    await storage.set_max_file_bytes("other", MAX_FILE_BYTES_LIMIT)
    assert await storage.max_file_bytes(other.id) == MAX_FILE_BYTES_LIMIT
    for bad in (-1, MAX_FILE_BYTES_LIMIT + 1):
        with pytest.raises(InvalidLimit):
            await storage.set_max_file_bytes("other", bad)
        with pytest.raises(InvalidLimit):
            await storage.add_tenant("third", now=NOW, max_file_bytes=bad)
    with pytest.raises(NotFound):
        await storage.set_max_file_bytes("nobody", 1)
    with pytest.raises(NotFound):
        await storage.max_file_bytes(9999)


async def _live_consultation(storage: Storage, cid: str = "consult-1") -> tuple[int, int]:
    device, _ = await storage.add_device(f"kiosk-{cid}", now=NOW)
    adviser = await storage.add_adviser(f"alice-{cid}", PASSWORD, now=NOW)
    await storage.consultation_queued(cid, device, now=NOW)
    await storage.consultation_accepted(cid, adviser, now=NOW + 1)
    return device.id, adviser.id


async def test_resume_tokens_are_single_use_and_bound(tmp_path: Path) -> None:
    storage = await SqliteStorage.open(tmp_path / "hub.sqlite3")
    device_id, adviser_id = await _live_consultation(storage)
    await storage.grant_resume_token("consult-1", "kiosk", device_id, "a" * 64, now=NOW)
    await storage.grant_resume_token("consult-1", "adviser", adviser_id, "b" * 64, now=NOW)
    # someone else's side, principal or consultation: refused, and the token stays valid
    assert not await storage.take_resume_token("consult-1", "adviser", device_id, "a" * 64)
    assert not await storage.take_resume_token("consult-1", "kiosk", device_id + 1, "a" * 64)
    assert not await storage.take_resume_token("consult-2", "kiosk", device_id, "a" * 64)
    assert await storage.take_resume_token("consult-1", "kiosk", device_id, "a" * 64)
    assert not await storage.take_resume_token("consult-1", "kiosk", device_id, "a" * 64)  # used up
    # a new grant replaces that side's token
    await storage.grant_resume_token("consult-1", "adviser", adviser_id, "c" * 64, now=NOW)
    assert not await storage.take_resume_token("consult-1", "adviser", adviser_id, "b" * 64)
    assert [c.id for c in await storage.live_consultations()] == ["consult-1"]
    await storage.consultation_ended("consult-1", "hangup", now=NOW + 2)  # tokens die with it
    assert not await storage.take_resume_token("consult-1", "adviser", adviser_id, "c" * 64)
    assert await storage.live_consultations() == []
    await storage.close()
    with sqlite3.connect(tmp_path / "hub.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(*) FROM resume_tokens").fetchone() == (0,)
    conn.close()


async def test_live_consultations_and_stale_waiting_ones(storage: Storage) -> None:
    device_id, adviser_id = await _live_consultation(storage)
    device, _ = await storage.add_device("kiosk-waiting", now=NOW)
    await storage.consultation_queued("waiting-1", device, now=NOW)
    (live,) = await storage.live_consultations()
    assert (live.id, live.device_id, live.adviser_id) == ("consult-1", device_id, adviser_id)
    assert (live.device, live.adviser, live.tenant.name) == (
        "kiosk-consult-1",
        "alice-consult-1",
        "default",
    )
    assert await storage.end_waiting_consultations("peer_gone", now=NOW + 5) == 1
    reasons = {r.id: r.end_reason for r in await storage.consultations()}
    assert reasons == {"consult-1": None, "waiting-1": "peer_gone"}
