"""``/api/admin/overview`` and ``/api/admin/accounts``: list, add, disable, enable, reset;
a disabled account cannot log in and its open session and console connection end."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from protocol.messages import Hello, Welcome
from tests.support.admin_api import PASSWORD, AdminWorld, admin_world
from tests.support.hub import SignallingPeer

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AdminWorld]:
    """One hub for the module; each test makes the accounts it changes."""
    async with admin_world(tmp_path_factory.mktemp("admin-accounts")) as running:
        yield running


async def _login_status(world: AdminWorld, name: str, password: str = PASSWORD) -> int:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(f"{world.hub.url}/api/csrf") as response:
            pre = (await response.json())["csrf"]
        async with http.post(
            f"{world.hub.url}/api/login",
            json={"name": name, "password": password},
            headers={"X-CSRF-Token": pre},
        ) as response:
            return response.status


async def _open_console(world: AdminWorld, name: str) -> SignallingPeer:
    client = await world.sign_in(name)
    ws = await client.http.ws_connect(
        f"{world.hub.ws_url}/ws/adviser", headers={"Origin": world.hub.url}
    )
    peer = SignallingPeer(ws)
    await peer.send(Hello(role="adviser", csrf=client.csrf))
    peer.welcome = await peer.expect(Welcome)
    return peer


async def _closed(peer: SignallingPeer) -> bool:
    """Read what the hub still sends until the connection closes (the queue comes first)."""
    while True:
        frame = await peer.ws.receive(timeout=5)
        if frame.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return True


async def test_overview_names_the_caller_and_counts_alarms(world: AdminWorld) -> None:
    reply = await world.client("alpha", "dpo").get("/api/admin/overview")
    assert reply.status == 200
    assert reply.body == {
        "tenant": "alpha",
        "name": "alpha-dpo",
        "role": "dpo",
        "alarms": {"devices": reply.body["alarms"]["devices"]},
    }
    assert isinstance(reply.body["alarms"]["devices"], int)


async def test_accounts_list_roles_state_and_who_is_online(world: AdminWorld) -> None:
    await world.add_account("alpha-online", "adviser")
    console = await _open_console(world, "alpha-online")
    reply = await world.client("alpha", "admin").get("/api/admin/accounts")
    assert reply.status == 200
    by_name = {a["name"]: a for a in reply.body["accounts"]}
    assert [a["name"] for a in reply.body["accounts"]] == sorted(by_name)
    assert by_name["alpha-dpo"]["role"] == "dpo"
    assert by_name["alpha-admin"]["role"] == "admin"
    assert by_name["alpha-online"] == {
        "name": "alpha-online",
        "role": "adviser",
        "disabled": False,
        "online": True,
        "created_at": world.clock(),
    }
    assert by_name["alpha-adviser"]["online"] is False
    await console.close()


@pytest.mark.parametrize("role", ["adviser", "admin", "dpo"])
async def test_an_admin_adds_accounts_of_every_role(world: AdminWorld, role: str) -> None:
    name = f"alpha-new-{role}"
    reply = await world.client("alpha", "admin").post(
        "/api/admin/accounts", {"name": name, "password": PASSWORD, "role": role}
    )
    assert (reply.status, reply.body) == (201, {"name": name, "role": role})
    assert await _login_status(world, name) == 200
    entries = (await world.client("alpha", "admin").get("/api/admin/audit")).body["entries"]
    assert any(e["subject"] == name and e["actor"] == "admin:alpha-admin" for e in entries)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"name": "alpha-admin", "password": PASSWORD, "role": "adviser"}, 409, "duplicate_name"),
        ({"name": "beta-admin", "password": PASSWORD, "role": "adviser"}, 409, "duplicate_name"),
        ({"name": "alpha-weak", "password": "short", "role": "adviser"}, 400, "weak_password"),
        ({"name": "alpha\x07bell", "password": PASSWORD, "role": "adviser"}, 400, "invalid_name"),
        ({"name": "alpha-root", "password": PASSWORD, "role": "root"}, 400, "invalid_request"),
        ({"name": "", "password": PASSWORD, "role": "adviser"}, 400, "invalid_request"),
    ],
    ids=["taken", "taken-elsewhere", "weak", "control", "role", "empty"],
)
async def test_refused_accounts(
    world: AdminWorld, body: dict[str, str], status: int, code: str
) -> None:
    admin = world.client("alpha", "admin")
    before = (await admin.get("/api/admin/accounts")).body
    reply = await admin.post("/api/admin/accounts", body)
    assert (reply.status, reply.error) == (status, code), reply.text
    assert (await admin.get("/api/admin/accounts")).body == before


async def test_a_disabled_account_cannot_log_in_and_its_session_and_console_end(
    world: AdminWorld,
) -> None:
    await world.add_account("alpha-leaver", "adviser")
    console = await _open_console(world, "alpha-leaver")
    other_session = await world.sign_in("alpha-leaver")
    admin = world.client("alpha", "admin")
    reply = await admin.post("/api/admin/accounts/alpha-leaver/disable")
    assert reply.status == 204, reply.text
    assert await _login_status(world, "alpha-leaver") == 401  # "wrong name or password"
    assert (await other_session.get("/api/session")).body == {"signed_in": False}
    assert await _closed(console)
    accounts = (await admin.get("/api/admin/accounts")).body["accounts"]
    assert [a["disabled"] for a in accounts if a["name"] == "alpha-leaver"] == [True]
    assert (await admin.post("/api/admin/accounts/alpha-leaver/enable")).status == 204
    assert await _login_status(world, "alpha-leaver") == 200


async def test_a_disabled_admin_loses_the_api_at_once(world: AdminWorld) -> None:
    await world.add_account("alpha-second-admin", "admin")
    second = await world.sign_in("alpha-second-admin")
    assert (await second.get("/api/admin/accounts")).status == 200
    reply = await world.client("alpha", "admin").post(
        "/api/admin/accounts/alpha-second-admin/disable"
    )
    assert reply.status == 204
    assert (await second.get("/api/admin/accounts")).status == 401


async def test_an_admin_cannot_disable_their_own_account(world: AdminWorld) -> None:
    reply = await world.client("alpha", "admin").post("/api/admin/accounts/alpha-admin/disable")
    assert (reply.status, reply.error) == (409, "own_account")
    assert await _login_status(world, "alpha-admin") == 200


async def test_a_password_reset_ends_the_sessions(world: AdminWorld) -> None:
    await world.add_account("alpha-forgetful", "adviser")
    session = await world.sign_in("alpha-forgetful")
    reply = await world.client("alpha", "admin").post(
        "/api/admin/accounts/alpha-forgetful/password", {"password": "a brand new password"}
    )
    assert reply.status == 204, reply.text
    assert (await session.get("/api/session")).body == {"signed_in": False}
    assert await _login_status(world, "alpha-forgetful") == 401
    assert await _login_status(world, "alpha-forgetful", "a brand new password") == 200


async def test_a_weak_new_password_is_refused(world: AdminWorld) -> None:
    reply = await world.client("alpha", "admin").post(
        "/api/admin/accounts/alpha-adviser/password", {"password": "short"}
    )
    assert (reply.status, reply.error) == (400, "weak_password")
    assert await _login_status(world, "alpha-adviser") == 200


@pytest.mark.parametrize("action", ["disable", "enable", "password"])
async def test_unknown_accounts_are_not_found(world: AdminWorld, action: str) -> None:
    body = {"password": "a brand new password"} if action == "password" else None
    reply = await world.client("alpha", "admin").post(f"/api/admin/accounts/nobody/{action}", body)
    assert (reply.status, reply.error) == (404, "not_found")
