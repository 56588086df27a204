"""The sealed archive in storage (docs/archive.md): settings with their audit, items kept per
tenant, purge by expiry (restricted conversations keep theirs), erase deletes them, the
subject-access document lists them without content."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.governance import subject_access
from hub.governance.references import new_reference
from hub.storage import InvalidSetting, NotFound, SqliteStorage, Storage
from hub.storage.errors import ArchiveRefused
from hub.storage.records import ArchiveSettings
from hub.storage.sqlite_archive_ops import ITEMS_PER_CONSULTATION

NOW = 1_800_000_000.0
DAY_S = 86_400.0
CERT = b"0\x82" + b"c" * 300  # storage keeps the DER as given (hub.pki.trustee checks it)
SEALED = b"0\x80sealed-bytes"


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    opened = await SqliteStorage.open(tmp_path / "hub.sqlite3")
    for tenant in ("alpha", "beta"):
        await opened.add_tenant(tenant, now=NOW)
        await opened.add_device(f"{tenant}-kiosk", tenant=tenant, now=NOW)
    try:
        yield opened
    finally:
        await opened.close()


async def _ids(storage: Storage) -> dict[str, int]:
    return {t.tenant.name: t.tenant.id for t in await storage.tenants()}


async def _conversation(storage: Storage, tenant: str, *, ended: bool = True) -> tuple[str, str]:
    """Record a conversation at the tenant's kiosk; its id and reference."""
    reference = new_reference()
    cid = reference.replace("-", "").lower() + "x" * 12
    devices = {d.device.name: d.device for d in await storage.device_statuses(now=NOW)}
    await storage.consultation_queued(cid, devices[f"{tenant}-kiosk"], now=NOW, reference=reference)
    if ended:
        await storage.consultation_ended(cid, "left", now=NOW + 60)
    return cid, reference


async def _switch_on(storage: Storage, tenant_id: int) -> None:
    await storage.governance.set_archive(
        tenant_id, cert_der=CERT, contracts=True, transcripts=True, actor="cli:test", now=NOW
    )


async def test_settings_are_off_by_default_and_every_change_is_audited(storage: Storage) -> None:
    gov, alpha = storage.governance, (await _ids(storage))["alpha"]
    assert await gov.archive_settings(alpha) == ArchiveSettings()
    with pytest.raises(InvalidSetting, match="archive certificate"):
        await gov.set_archive(alpha, contracts=True, actor="cli:test", now=NOW)
    assert await gov.archive_settings(alpha) == ArchiveSettings()  # nothing changed
    await _switch_on(storage, alpha)
    assert (await gov.archive_settings(alpha)).kinds == ("contract", "transcript")
    removed = await gov.set_archive(alpha, remove_cert=True, actor="admin:a", now=NOW + 1)
    assert removed == ArchiveSettings()  # no certificate: nothing to seal to, both off
    actions = [(e.action, e.old_value, e.new_value) for e in await gov.audit(alpha)]
    assert ("archive.contracts", "on", "off") in actions
    assert ("archive.transcripts", "off", "on") in actions
    fingerprints = [e for e in actions if e[0] == "archive.certificate"]
    assert fingerprints[0][1] is not None and fingerprints[0][1].startswith("sha256:")
    assert fingerprints[0][2] is None
    with pytest.raises(InvalidSetting):
        await gov.set_archive(alpha, cert_der=b"x" * 9000, actor="cli:test", now=NOW)
    with pytest.raises(InvalidSetting):
        await gov.set_archive(alpha, cert_der=CERT, remove_cert=True, actor="cli:test", now=NOW)


async def test_items_are_kept_per_tenant_and_downloads_audited(storage: Storage) -> None:
    gov, ids = storage.governance, await _ids(storage)
    cid, reference = await _conversation(storage, "alpha")
    with pytest.raises(ArchiveRefused) as refused:
        await gov.add_archive(ids["alpha"], cid, "contract", SEALED, now=NOW)
    assert refused.value.reason == "off"
    await _switch_on(storage, ids["alpha"])
    await _switch_on(storage, ids["beta"])
    with pytest.raises(NotFound):  # another tenant's consultation
        await gov.add_archive(ids["beta"], cid, "contract", SEALED, now=NOW)
    item = await gov.add_archive(ids["alpha"], cid, "contract", SEALED, now=NOW + 70)
    assert (item.reference, item.size, item.kind) == (reference, len(SEALED), "contract")
    assert item.expires_at == NOW + 70 + 3650 * DAY_S
    assert await gov.archives(ids["beta"]) == []
    assert await gov.archive_data(ids["beta"], item.id, actor="admin:b", now=NOW) is None
    assert await gov.archives(ids["alpha"], reference=reference) == [item]
    assert await gov.archive_data(ids["alpha"], item.id, actor="dpo:d", now=NOW) == (item, SEALED)
    [entry] = [e for e in await gov.audit(ids["alpha"]) if e.action == "archive.download"]
    assert (entry.actor, entry.subject, entry.new_value) == ("dpo:d", item.id, reference)
    held = await gov.conversation(ids["alpha"], reference, now=NOW)
    assert held is not None and held.archives == (item,)
    retention = await gov.retention(ids["alpha"])
    listed = subject_access.document(held, retention, now=NOW)["archived_content"]
    assert listed == [
        {
            "id": item.id,
            "kind": "contract",
            "size": len(SEALED),
            "sha256": item.sha256,
            "created_at": "2027-01-15T08:01:10Z",
            "expires_at": "2037-01-12T08:01:10Z",  # 3650 days later
        }
    ]


async def test_a_consultation_holds_a_bounded_number_of_items(storage: Storage) -> None:
    gov, alpha = storage.governance, (await _ids(storage))["alpha"]
    await _switch_on(storage, alpha)
    cid, _ = await _conversation(storage, "alpha")
    for _ in range(ITEMS_PER_CONSULTATION):
        await gov.add_archive(alpha, cid, "transcript", b"x", now=NOW)
    with pytest.raises(ArchiveRefused) as refused:
        await gov.add_archive(alpha, cid, "transcript", b"x", now=NOW)
    assert refused.value.reason == "full"
    with pytest.raises(InvalidSetting):
        await gov.add_archive(alpha, cid, "video", b"x", now=NOW)


async def test_purge_by_expiry_keeps_restricted_and_erase_deletes(storage: Storage) -> None:
    gov, alpha = storage.governance, (await _ids(storage))["alpha"]
    await _switch_on(storage, alpha)
    await gov.set_retention(alpha, {"archive_days": 10}, actor="cli:test", now=NOW)
    kept_cid, kept_ref = await _conversation(storage, "alpha")
    gone_cid, _ = await _conversation(storage, "alpha")
    erased_cid, erased_ref = await _conversation(storage, "alpha")
    kept = await gov.add_archive(alpha, kept_cid, "contract", SEALED, now=NOW)
    await gov.add_archive(alpha, gone_cid, "contract", SEALED, now=NOW)
    await gov.add_archive(alpha, erased_cid, "contract", SEALED, now=NOW)
    assert await gov.erase_conversation(alpha, erased_ref, actor="dpo:d", now=NOW + 100)
    assert [i.consultation_id for i in await gov.archives(alpha)].count(erased_cid) == 0
    assert await gov.restrict_conversation(alpha, kept_ref, True, actor="dpo:d", now=NOW)
    # a day before expiry nothing goes; a longer setting moves every item's expiry
    assert (await gov.purge_expired(now=NOW + 9 * DAY_S)).archives == 0
    await gov.set_retention(alpha, {"archive_days": 5}, actor="cli:test", now=NOW)
    counts = await gov.purge_expired(now=NOW + 9 * DAY_S, batch=1)
    assert counts.archives == 1
    assert [i.id for i in await gov.archives(alpha)] == [kept.id]  # restricted: kept
    assert await gov.restrict_conversation(alpha, kept_ref, False, actor="dpo:d", now=NOW)
    assert (await gov.purge_expired(now=NOW + 9 * DAY_S)).archives == 1
    assert await gov.archives(alpha) == []
