"""Who may call each administration endpoint: signed out, adviser, DPO, admin; CSRF on every
mutation; admin and DPO sessions kept off the adviser WebSocket and the relay; /api/session and
/api/login name the role (issue 16, docs/admin.md "HTTP API")."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from hub.admin import ADMIN_ROUTES
from tests.support.admin_api import PASSWORD, AdminWorld, Client, admin_world
from tests.support.hub import http_session

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AdminWorld]:
    """One hub for the module: every test here only reads, or is refused."""
    async with admin_world(tmp_path_factory.mktemp("admin-access")) as running:
        yield running


@dataclass(frozen=True)
class Endpoint:
    """One route with a valid body; ``dpo``: whether a data-protection officer may call it."""

    method: str
    path: str
    body: Any = None
    dpo: bool = True

    @property
    def mutation(self) -> bool:
        return self.method in ("POST", "PUT")

    def url(self, reference: str) -> str:
        return self.path.replace("{ref}", reference)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


ENDPOINTS = [
    Endpoint("GET", "/api/admin/overview"),
    Endpoint("GET", "/api/admin/accounts"),
    Endpoint(
        "POST",
        "/api/admin/accounts",
        {"name": "never-made", "password": PASSWORD, "role": "adviser"},
        dpo=False,
    ),
    Endpoint("POST", "/api/admin/accounts/alpha-adviser/disable", dpo=False),
    Endpoint("POST", "/api/admin/accounts/alpha-adviser/enable", dpo=False),
    Endpoint(
        "POST", "/api/admin/accounts/alpha-adviser/password", {"password": PASSWORD}, dpo=False
    ),
    Endpoint("GET", "/api/admin/devices"),
    Endpoint("POST", "/api/admin/devices/alpha-kiosk/branch", {"branch": "Mitte"}, dpo=False),
    Endpoint("POST", "/api/admin/devices/alpha-kiosk/revoke", dpo=False),
    Endpoint("POST", "/api/admin/devices/alpha-kiosk/code", dpo=False),
    Endpoint("GET", "/api/admin/devices/alpha-kiosk/wipes"),
    Endpoint("GET", "/api/admin/retention"),
    Endpoint("PUT", "/api/admin/retention", {"consultations_days": 30}, dpo=False),
    Endpoint("GET", "/api/admin/stats"),
    Endpoint("GET", "/api/admin/stats.csv"),
    Endpoint("GET", "/api/admin/audit"),
    Endpoint("GET", "/api/admin/access-log"),
    Endpoint("GET", "/api/admin/requests/{ref}"),
    Endpoint("GET", "/api/admin/requests/{ref}/export"),
    Endpoint("POST", "/api/admin/requests/{ref}/erase"),
    Endpoint("POST", "/api/admin/requests/{ref}/restrict"),
    Endpoint("POST", "/api/admin/requests/{ref}/lift"),
    Endpoint("GET", "/api/admin/third-parties"),
    Endpoint("PUT", "/api/admin/third-parties", {"turn": False}, dpo=False),
    Endpoint("GET", "/api/admin/archive"),
    Endpoint("PUT", "/api/admin/archive", {"transcripts": False}, dpo=False),
]
MUTATIONS = [e for e in ENDPOINTS if e.mutation]
DPO_REFUSED = [e for e in ENDPOINTS if not e.dpo]
DPO_READS = [e for e in ENDPOINTS if e.dpo and not e.mutation]


async def _send(client: Client, endpoint: Endpoint, world: AdminWorld, **kwargs: Any) -> Any:
    url = endpoint.url(world.references["alpha"][0])
    return await client.call(endpoint.method, url, json=endpoint.body, **kwargs)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
async def test_signed_out_gets_401(world: AdminWorld, endpoint: Endpoint) -> None:
    reply = await _send(world.anonymous, endpoint, world)
    assert (reply.status, reply.error) == (401, "unauthorized")


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
async def test_adviser_gets_403(world: AdminWorld, endpoint: Endpoint) -> None:
    reply = await _send(world.client("alpha", "adviser"), endpoint, world)
    assert (reply.status, reply.error) == (403, "forbidden")


@pytest.mark.parametrize("endpoint", DPO_REFUSED, ids=str)
async def test_dpo_may_not_change_accounts_devices_or_settings(
    world: AdminWorld, endpoint: Endpoint
) -> None:
    before = await world.client("alpha", "admin").get("/api/admin/audit")
    reply = await _send(world.client("alpha", "dpo"), endpoint, world)
    assert (reply.status, reply.error) == (403, "forbidden")
    after = await world.client("alpha", "admin").get("/api/admin/audit")
    assert after.body == before.body  # nothing happened


@pytest.mark.parametrize("endpoint", DPO_READS, ids=str)
async def test_dpo_reads_everything(world: AdminWorld, endpoint: Endpoint) -> None:
    reply = await _send(world.client("alpha", "dpo"), endpoint, world)
    assert reply.status == 200, reply.text


@pytest.mark.parametrize("endpoint", MUTATIONS, ids=str)
@pytest.mark.parametrize("csrf", [False, "wrong-token"], ids=["missing", "wrong"])
async def test_every_mutation_needs_the_sessions_csrf(
    world: AdminWorld, endpoint: Endpoint, csrf: str | bool
) -> None:
    admin = world.client("alpha", "admin")
    before = await admin.get("/api/admin/audit")
    reply = await _send(admin, endpoint, world, csrf=csrf)
    assert (reply.status, reply.error) == (403, "forbidden")
    assert (await admin.get("/api/admin/audit")).body == before.body


async def test_another_sessions_csrf_is_refused(world: AdminWorld) -> None:
    # the DPO's token is a real token, but not this session's
    admin = world.client("alpha", "admin")
    reply = await admin.put(
        "/api/admin/retention",
        {"access_log_days": 3},
        csrf=world.client("alpha", "dpo").csrf,
    )
    assert (reply.status, reply.error) == (403, "forbidden")


@pytest.mark.parametrize("role", ["admin", "dpo", "adviser"])
async def test_session_and_login_name_the_role(world: AdminWorld, role: str) -> None:
    session = await world.client("beta", role).get("/api/session")
    assert session.body["role"] == role
    assert session.body["tenant"] == "beta"
    async with http_session() as http:
        async with http.get(f"{world.hub.url}/api/csrf") as response:
            pre = (await response.json())["csrf"]
        async with http.post(
            f"{world.hub.url}/api/login",
            json={"name": f"beta-{role}", "password": PASSWORD},
            headers={"X-CSRF-Token": pre},
        ) as response:
            assert (await response.json())["role"] == role


@pytest.mark.parametrize("role", ["admin", "dpo"])
async def test_admin_and_dpo_sessions_are_refused_on_the_adviser_websocket(
    world: AdminWorld, role: str
) -> None:
    http = world.client("alpha", role).http
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(f"{world.hub.ws_url}/ws/adviser", headers={"Origin": world.hub.url})
    assert refused.value.status == 403


@pytest.mark.parametrize("role", ["admin", "dpo"])
async def test_admin_and_dpo_sessions_are_refused_by_the_relay(
    world: AdminWorld, role: str
) -> None:
    client = world.client("alpha", role)
    reply = await client.call("GET", "/api/relay/" + "a" * 22 + "/" + "b" * 22)
    assert (reply.status, reply.error) == (403, "forbidden")


async def test_every_route_is_in_the_reference_and_in_this_module() -> None:
    # docs/admin.md "HTTP API" names each route; the role tests above cover each one
    doc = (Path(__file__).parents[2] / "docs" / "admin.md").read_text(encoding="utf-8")
    section = doc.split("## HTTP API", 1)[1].split("\n## ", 1)[0].splitlines()
    for method, path, _handler in ADMIN_ROUTES:
        parent, leaf = path.rsplit("/", 1)
        rows = [line for line in section if method in line and parent in line and leaf in line]
        assert rows, f"{method} {path} is not in docs/admin.md's HTTP API"
    tested = {
        (e.method, e.path.replace("alpha-adviser", "{name}").replace("alpha-kiosk", "{name}"))
        for e in ENDPOINTS
    }
    assert tested == {(m, p) for m, p, _h in ADMIN_ROUTES}
