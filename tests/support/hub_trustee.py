"""Shared pieces of the hub's trustee tests (docs/signature.md): the tenant CA and its trustees,
a hub database and secret, ``kiosk-hub`` run in-process, and reading the stored settings.

The fixtures are pytest fixtures: a test module re-exports the ones it needs by name
(``ca = hub_trustee.ca``) so pytest finds them there.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from hub.__main__ import main
from hub.storage import SqliteStorage, Storage, TenantSigning
from tests.support import trustee_certs as tc
from tests.support.device_certs import Authority as CaKey
from tests.support.device_certs import tenant_ca

T = TypeVar("T")
NOW = tc.NOW
NAME = "Notariat Muster / escrow"


@pytest.fixture(scope="module")
def ca() -> CaKey:
    """The tenant CA of the tenant ``default``."""
    return tenant_ca("default")


@pytest.fixture(scope="module")
def trustees(ca: CaKey) -> dict[str, tc.Trustee]:
    """Each case built once: RSA keys cost ~0.1 s."""
    rsa_key = tc.new_key("rsa")
    return {
        "rsa": tc.rsa_trustee(ca, key=rsa_key),
        "p256": tc.ec_trustee(ca, "p256"),
        "p384": tc.ec_trustee(ca, "p384"),
        "self_signed": tc.trustee(None, key=rsa_key),
        "expired": tc.trustee(ca, key=rsa_key, not_before=dt.timedelta(days=-11), days=10),
        "future": tc.trustee(ca, key=rsa_key, not_before=dt.timedelta(days=1)),
        "signing_only": tc.trustee(ca, key=rsa_key, usage=tc.SIGNING_USAGE),
        "no_usage": tc.trustee(ca, key=rsa_key, usage=None),
    }


@functools.cache
def weak_rsa() -> rsa.RSAPrivateKey:
    """An RSA key too small for a trustee (the refusal under test)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505


def with_storage(db: Path, check: Callable[[Storage], Awaitable[T]]) -> T:
    """Open the hub database at ``db``, run ``check`` on it and close it again."""

    async def run() -> T:
        storage = await SqliteStorage.open(db)
        try:
            return await check(storage)
        finally:
            await storage.close()

    return asyncio.run(run())


def signing_of(db: Path, tenant: str = "default") -> TenantSigning:
    """The trustee and timestamp settings stored for ``tenant``."""

    async def read(storage: Storage) -> TenantSigning:
        return await storage.tenant_signing((await storage.tenant(tenant)).id)

    return with_storage(db, read)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Where the hub's database goes (not made yet)."""
    return tmp_path / "hub.sqlite3"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A hub secret file made by ``kiosk-hub secret create``."""
    path = tmp_path / "hub-secret"
    assert main(["secret", "create", str(path)]) == 0
    return path


def hub(db: Path, *argv: str) -> int:
    """Run ``kiosk-hub`` in-process on the database ``db``; its exit status."""
    return main([*argv, "--db", str(db)])


def write(path: Path, data: bytes) -> str:
    """Write ``data`` to ``path``; the path as a command-line argument."""
    path.write_bytes(data)
    return str(path)
