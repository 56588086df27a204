"""Tenant isolation, both ways, for every administration endpoint: another tenant's account,
device or conversation reference answers exactly like an unknown one, and stays unchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from hub.governance.references import new_reference
from hub.storage.records import NewAccessLine
from tests.support.admin_api import TENANTS, AdminWorld, admin_world

pytestmark = pytest.mark.asyncio(loop_scope="module")

UNKNOWN_ACCOUNT = "nobody-at-all"
UNKNOWN_DEVICE = "no-such-kiosk"

ACCOUNT_ACTIONS = [
    ("POST", "/api/admin/accounts/{name}/disable", None),
    ("POST", "/api/admin/accounts/{name}/enable", None),
    ("POST", "/api/admin/accounts/{name}/password", {"password": "another good password"}),
]
DEVICE_ACTIONS = [
    ("POST", "/api/admin/devices/{name}/branch", {"branch": "Hijacked"}),
    ("POST", "/api/admin/devices/{name}/revoke", None),
    ("POST", "/api/admin/devices/{name}/code", None),
    ("GET", "/api/admin/devices/{name}/wipes", None),
]
REQUEST_ACTIONS = [
    ("GET", "/api/admin/requests/{name}", None),
    ("GET", "/api/admin/requests/{name}/export", None),
    ("POST", "/api/admin/requests/{name}/restrict", None),
    ("POST", "/api/admin/requests/{name}/lift", None),
    ("POST", "/api/admin/requests/{name}/erase", None),
]
OTHER = {"alpha": "beta", "beta": "alpha"}


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AdminWorld]:
    """One hub for the module (without a hub secret: enrolment codes answer 409 for all)."""
    async with admin_world(tmp_path_factory.mktemp("admin-tenants")) as running:
        yield running


async def _snapshot(world: AdminWorld, tenant: str) -> dict[str, object]:
    """What the tenant's own administrator sees of its accounts, devices and conversations."""
    admin = world.client(tenant, "admin")
    seen: dict[str, object] = {}
    for path in (
        "/api/admin/accounts",
        "/api/admin/devices",
        "/api/admin/retention",
        "/api/admin/third-parties",
    ):
        seen[path] = (await admin.get(path)).body
    for reference in world.references[tenant]:
        conversation = await world.storage.governance.conversation(
            world.devices[tenant].tenant.id, reference
        )
        seen[reference] = conversation
    return seen


def _unknown(kind: str) -> str:
    return {"account": UNKNOWN_ACCOUNT, "device": UNKNOWN_DEVICE}.get(kind) or new_reference()


@pytest.mark.parametrize("tenant", TENANTS)
@pytest.mark.parametrize(
    ("kind", "method", "path", "body"),
    [("account", *a) for a in ACCOUNT_ACTIONS]
    + [("device", *a) for a in DEVICE_ACTIONS]
    + [("request", *a) for a in REQUEST_ACTIONS],
)
async def test_another_tenants_thing_answers_like_an_unknown_one(
    world: AdminWorld, tenant: str, kind: str, method: str, path: str, body: object
) -> None:
    other = OTHER[tenant]
    theirs = {
        "account": f"{other}-adviser",
        "device": f"{other}-kiosk",
        "request": world.references[other][0],
    }[kind]
    admin = world.client(tenant, "admin")
    before = await _snapshot(world, other)
    unknown = await admin.call(method, path.format(name=_unknown(kind)), json=body)
    reaching = await admin.call(method, path.format(name=theirs), json=body)
    assert (reaching.status, reaching.body) == (unknown.status, unknown.body)
    assert reaching.status in (404, 409), reaching.text  # 409: no hub secret, for codes
    assert await _snapshot(world, other) == before
    if kind == "account":  # its password unchanged, not disabled: it still signs in
        assert (await world.sign_in(theirs)).csrf
    # the other tenant's own administrator still reaches it
    if method == "GET":
        mine = await world.client(other, "admin").get(path.format(name=theirs))
        assert mine.status == 200, mine.text


@pytest.mark.parametrize("tenant", TENANTS)
async def test_lists_show_only_the_own_tenant(world: AdminWorld, tenant: str) -> None:
    other = OTHER[tenant]
    admin = world.client(tenant, "admin")
    accounts = (await admin.get("/api/admin/accounts")).body["accounts"]
    assert {a["name"] for a in accounts} >= {f"{tenant}-{r}" for r in ("admin", "dpo", "adviser")}
    assert not [a for a in accounts if a["name"].startswith(other)]
    devices = (await admin.get("/api/admin/devices")).body["devices"]
    assert [d["name"] for d in devices] == [f"{tenant}-kiosk"]
    entries = (await admin.get("/api/admin/audit")).body["entries"]
    assert not [e for e in entries if other in (e["actor"] or "") or other in (e["subject"] or "")]
    overview = (await admin.get("/api/admin/overview")).body
    assert (overview["tenant"], overview["name"], overview["role"]) == (
        tenant,
        f"{tenant}-admin",
        "admin",
    )


@pytest.mark.parametrize("tenant", TENANTS)
async def test_settings_change_only_the_own_tenant(world: AdminWorld, tenant: str) -> None:
    other = OTHER[tenant]
    before = await _snapshot(world, other)
    admin = world.client(tenant, "admin")
    changed = await admin.put("/api/admin/retention", {"access_log_days": 2})
    assert changed.status == 200, changed.text
    assert changed.body["settings"]["access_log_days"] == 2
    parties = await admin.put("/api/admin/third-parties", {"tsa_url": "https://tsa.example/"})
    assert parties.status == 200, parties.text
    assert await _snapshot(world, other) == before
    # put back, so that the other direction starts from the same state
    await admin.put("/api/admin/retention", {"access_log_days": 7})
    await admin.put("/api/admin/third-parties", {"tsa_url": None})


async def test_statistics_count_only_the_own_tenant(world: AdminWorld) -> None:
    # beta gets many more conversations than alpha: alpha's figures must not move
    alpha = world.client("alpha", "admin")
    before = (await alpha.get("/api/admin/stats")).body
    for _ in range(6):
        world.references["beta"].append(await world.conversation("beta"))
    assert (await alpha.get("/api/admin/stats")).body == before
    beta = (await world.client("beta", "admin").get("/api/admin/stats")).body
    assert beta["total"]["consultations"] == len(world.references["beta"])


async def test_the_access_log_shows_only_the_own_tenants_lines(world: AdminWorld) -> None:
    now = world.clock()
    lines = [
        NewAccessLine(
            now, world.devices[t].tenant.id, "192.0.2.0", "GET", f"/{t}-marker", 200, 1, 1
        )
        for t in TENANTS
    ]
    await world.storage.governance.add_access_lines(lines)
    for tenant in TENANTS:
        reply = await world.client(tenant, "dpo").get("/api/admin/access-log")
        paths = {line["path"] for line in reply.body["lines"]}
        assert f"/{tenant}-marker" in paths
        assert f"/{OTHER[tenant]}-marker" not in paths
