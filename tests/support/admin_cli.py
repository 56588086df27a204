"""Helpers for the ``kiosk-hub`` administration command tests (tests/hub/test_hub_admin_cli*.py):
the real command in-process and as a process, the database it wrote, a finished consultation."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub.governance.references import new_reference
from hub.storage import Storage

# one way to run kiosk-hub in-process and open its database, shared with the trustee tests
from tests.support.hub_trustee import db, hub, with_storage

ROOT = Path(__file__).parents[2]
PASSWORD = "correct horse battery"
__all__ = [
    "PASSWORD",
    "ROOT",
    "db",
    "ended_consultation",
    "hub",
    "password_file",
    "run_hub",
    "usage_error",
    "with_storage",
]


def run_hub(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The real ``kiosk-hub`` in a process of its own."""
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    """A password file holding ``PASSWORD`` and a trailing newline."""
    path = tmp_path / "password"
    path.write_text(PASSWORD + "\n")
    return path


def usage_error(db: Path, *argv: str) -> None:
    with pytest.raises(SystemExit) as exited:
        hub(db, *argv)
    assert exited.value.code == 2


async def ended_consultation(
    storage: Storage, device_name: str, *, ended_ago_s: float, tenant: str = "default"
) -> str:
    """An accepted consultation of ``device_name`` that ended ``ended_ago_s`` ago; its reference."""
    device = next(
        d for d in await storage.devices() if d.name == device_name and d.tenant.name == tenant
    )
    adviser_name = f"adv-{device_name}"
    login = await storage.adviser_login(adviser_name)
    adviser = (
        login.adviser
        if login is not None
        else await storage.add_adviser(adviser_name, PASSWORD, tenant=tenant, now=0.0)
    )
    now = time.time() - ended_ago_s
    reference = new_reference()
    cid = "c" + reference.replace("-", "")
    await storage.consultation_queued(cid, device, now=now - 600, reference=reference)
    await storage.consultation_accepted(cid, adviser, now=now - 500)
    await storage.consultation_ended(cid, "hangup", now=now)
    return reference
