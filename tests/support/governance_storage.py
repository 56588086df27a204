"""A fresh hub database with a second tenant, for the storage tests of administration and data
protection (tests/hub/test_storage_governance*.py). A test module re-exports the fixture by name
(``storage = governance_storage.storage``) so pytest finds it there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub.storage import SqliteStorage, Storage

NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC
PASSWORD = "correct horse battery"


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    """The hub's storage in ``tmp_path`` with the tenants ``default`` and ``bank-b``."""
    s = await SqliteStorage.open(tmp_path / "hub.sqlite3")
    await s.add_tenant("bank-b", now=NOW)
    yield s
    await s.close()
