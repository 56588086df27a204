"""A real hub with two tenants, each with an admin, a DPO, an adviser, a kiosk and ended
conversations, and a signed-in HTTP client per account: for the administration API's tests.

    async with admin_world(tmp_path) as world:
        status, body = await world.client("alpha", "admin").get("/api/admin/accounts")
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from argon2 import PasswordHasher

from hub.admin import ADMIN, AdminApi
from hub.governance.references import new_reference
from hub.storage import Device, SqliteStorage, Storage
from hub.storage.passwords import Passwords
from tests.support.hub import FakeClock, RunningHub, http_session, login, running_hub

PASSWORD = "correct horse battery"
TENANTS = ("alpha", "beta")
ROLES = ("admin", "dpo", "adviser")
DAY_S = 86_400.0
# The retention settings a new tenant starts with (docs/admin.md), pinned here for the tests.
RETENTION_DEFAULTS = {
    "consultations_days": 90,
    "access_log_days": 7,
    "device_history_days": 365,
    "audit_days": 730,
    "stats_min_cell": 5,
    "archive_days": 3650,
}


async def open_fast_storage(path: Path) -> Storage:
    """The hub's storage with cheap argon2 parameters (tests make and check many passwords)."""
    hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    return await SqliteStorage.open(path, passwords=Passwords(hasher))


@dataclass
class Reply:
    """One HTTP answer: status, headers and the body (JSON when it was JSON, else text)."""

    status: int
    headers: dict[str, str]
    body: Any
    text: str

    @property
    def error(self) -> str | None:
        """The ``error`` code of a JSON error body."""
        return self.body.get("error") if isinstance(self.body, dict) else None


@dataclass
class Client:
    """A cookie-keeping HTTP client, signed in as one account (``csrf``: its session's token)."""

    hub: RunningHub
    http: aiohttp.ClientSession
    csrf: str | None = None

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: bytes | None = None,
        csrf: str | None | bool = True,
        headers: dict[str, str] | None = None,
    ) -> Reply:
        """Send a request; ``csrf``: True the session's token, False none, or a given one."""
        sent = dict(headers or {})
        token = self.csrf if csrf is True else (csrf or None)
        if token:
            sent["X-CSRF-Token"] = token
        kwargs: dict[str, Any] = {"headers": sent}
        if data is not None:
            kwargs["data"] = data
            sent.setdefault("Content-Type", "application/json")
        elif json is not None:
            kwargs["json"] = json
        async with self.http.request(method, self.hub.url + path, **kwargs) as response:
            text = await response.text()
            body: Any = None
            if response.content_type == "application/json":
                body = await response.json()
            return Reply(response.status, dict(response.headers), body, text)

    async def get(self, path: str) -> Reply:
        """GET ``path``."""
        return await self.call("GET", path)

    async def post(self, path: str, json: Any = None, **kwargs: Any) -> Reply:
        """POST ``path`` with the session's CSRF token (unless ``csrf=`` says otherwise)."""
        return await self.call("POST", path, json=json, **kwargs)

    async def put(self, path: str, json: Any = None, **kwargs: Any) -> Reply:
        """PUT ``path`` with the session's CSRF token (unless ``csrf=`` says otherwise)."""
        return await self.call("PUT", path, json=json, **kwargs)


@dataclass
class AdminWorld:
    """The hub, its clock, a client per (tenant, role) and one signed out, the kiosks and the
    references of each tenant's ended conversations."""

    hub: RunningHub
    clock: FakeClock
    clients: dict[tuple[str, str], Client]
    anonymous: Client
    devices: dict[str, Device]
    references: dict[str, list[str]] = field(default_factory=dict)
    _stack: AsyncExitStack | None = None

    @property
    def storage(self) -> Storage:
        """The hub's own storage (same engine, same loop)."""
        return self.hub.storage

    @property
    def api(self) -> AdminApi:
        """The hub's administration API object (its statistics limit is a seam for tests)."""
        return self.hub.app[ADMIN]

    def client(self, tenant: str, role: str) -> Client:
        """The signed-in client of ``<tenant>-<role>``."""
        return self.clients[(tenant, role)]

    async def add_account(self, name: str, role: str, tenant: str = "alpha") -> None:
        """Create an account beside the API, as ``kiosk-hub admin add`` would."""
        await self.storage.governance.add_account(
            name, PASSWORD, tenant=tenant, role=role, actor="cli:test", now=self.clock()
        )

    async def sign_in(self, name: str) -> Client:
        """A new client signed in as ``name`` (closed with the world)."""
        assert self._stack is not None
        http = await self._stack.enter_async_context(http_session())
        client = Client(self.hub, http)
        client.csrf = await login(http, self.hub, name, PASSWORD)
        return client

    async def conversation(
        self,
        tenant: str,
        *,
        ended: bool = True,
        accepted: bool = True,
        age_s: float = 3600.0,
        device: Device | None = None,
    ) -> str:
        """Record a conversation at the tenant's kiosk (or ``device``); return its reference."""
        storage, now = self.storage, self.clock()
        reference = new_reference()
        cid = reference.replace("-", "").lower() + "x" * 12  # an id of the usual shape
        device = device or self.devices[tenant]
        await storage.consultation_queued(cid, device, now=now - age_s, reference=reference)
        if accepted:
            adviser = await storage.adviser_login(f"{tenant}-adviser")
            assert adviser is not None
            await storage.consultation_accepted(cid, adviser.adviser, now=now - age_s + 30)
        if ended:
            await storage.consultation_ended(cid, "hangup", now=now - age_s + 600)
        return reference


@asynccontextmanager
async def admin_world(tmp_path: Path, **config: Any) -> AsyncIterator[AdminWorld]:
    """Start the hub and sign everyone in; everything closes on exit."""
    clock = FakeClock()
    settings: dict[str, Any] = {"purge_interval_s": 0}  # the purge has tests of its own
    settings.update(config)
    async with AsyncExitStack() as stack:
        hub = await stack.enter_async_context(
            running_hub(tmp_path, clock=clock, open_storage=open_fast_storage, **settings)
        )
        storage = hub.storage
        devices: dict[str, Device] = {}
        for tenant in TENANTS:
            await storage.add_tenant(tenant, now=clock())
            for role in ROLES:
                await storage.governance.add_account(
                    f"{tenant}-{role}",
                    PASSWORD,
                    tenant=tenant,
                    role=role,
                    actor="cli:test",
                    now=clock(),
                )
            devices[tenant], _token = await storage.add_device(
                f"{tenant}-kiosk", tenant=tenant, now=clock()
            )
        anonymous = Client(hub, await stack.enter_async_context(http_session()))
        world = AdminWorld(hub, clock, {}, anonymous, devices, _stack=stack)
        for tenant in TENANTS:
            for role in ROLES:
                world.clients[(tenant, role)] = await world.sign_in(f"{tenant}-{role}")
            world.references[tenant] = [await world.conversation(tenant) for _ in range(2)]
        yield world
