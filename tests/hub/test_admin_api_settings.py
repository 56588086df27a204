"""``/api/admin/retention``, ``/api/admin/audit``, ``/api/admin/access-log`` and
``/api/admin/third-parties``: settings within their limits, audited; pages bounded."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from hub.access_log import ACCESS_SINK
from hub.access_sink import AccessSink
from hub.storage.records import RETENTION_LIMITS, NewAccessLine
from hub.turn import TurnSettings
from tests.support.admin_api import RETENTION_DEFAULTS, AdminWorld, admin_world

pytestmark = pytest.mark.asyncio(loop_scope="module")
TURN = TurnSettings(urls=("turn:turn.example:3478",), secret="s" * 32, relay_only=True)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AdminWorld]:
    """A hub with a TURN server configured (switched on per tenant)."""
    async with admin_world(tmp_path_factory.mktemp("admin-settings"), turn=TURN) as running:
        yield running


async def test_retention_shows_settings_limits_and_defaults(world: AdminWorld) -> None:
    reply = await world.client("beta", "dpo").get("/api/admin/retention")
    assert reply.status == 200
    assert reply.body == {
        "settings": RETENTION_DEFAULTS,
        "limits": {k: list(v) for k, v in RETENTION_LIMITS.items()},
        "defaults": RETENTION_DEFAULTS,
    }


async def test_a_retention_change_is_audited_with_old_and_new(world: AdminWorld) -> None:
    admin = world.client("alpha", "admin")
    reply = await admin.put("/api/admin/retention", {"consultations_days": 30, "audit_days": 365})
    assert reply.status == 200, reply.text
    assert reply.body["settings"]["consultations_days"] == 30
    assert reply.body["settings"]["audit_days"] == 365
    assert (await admin.get("/api/admin/retention")).body == reply.body
    entries = (await admin.get("/api/admin/audit")).body["entries"]
    changes = {e["action"]: e for e in entries if e["action"].startswith("retention.")}
    assert changes["retention.consultations_days"]["old_value"] == "90"
    assert changes["retention.consultations_days"]["new_value"] == "30"
    assert changes["retention.consultations_days"]["actor"] == "admin:alpha-admin"
    assert changes["retention.audit_days"]["new_value"] == "365"


@pytest.mark.parametrize("key", sorted(RETENTION_LIMITS))
async def test_retention_out_of_range_changes_nothing(world: AdminWorld, key: str) -> None:
    admin = world.client("alpha", "admin")
    before = (await admin.get("/api/admin/retention")).body
    audit_before = (await admin.get("/api/admin/audit")).body
    low, high = RETENTION_LIMITS[key]
    for value in (low - 1, high + 1):
        # a valid change beside it must not slip through either
        body = {key: value, "stats_min_cell" if key != "stats_min_cell" else "audit_days": 400}
        reply = await admin.put("/api/admin/retention", body)
        assert (reply.status, reply.error) == (400, "invalid_setting"), reply.text
    assert (await admin.get("/api/admin/retention")).body == before
    assert (await admin.get("/api/admin/audit")).body == audit_before


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"retention_days": 3},
        {"access_log_days": "7"},
        {"access_log_days": 7.5},
        {"access_log_days": True},
        [7],
        None,
    ],
    ids=["empty", "unknown-key", "string", "float", "bool", "list", "null"],
)
async def test_retention_bodies_of_the_wrong_shape(world: AdminWorld, body: object) -> None:
    admin = world.client("alpha", "admin")
    before = (await admin.get("/api/admin/retention")).body
    reply = await admin.call("PUT", "/api/admin/retention", data=_json(body))
    assert reply.status == 400 and reply.error in ("invalid_request", "invalid_json"), reply.text
    assert (await admin.get("/api/admin/retention")).body == before


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


async def test_audit_pages_newest_first(world: AdminWorld) -> None:
    admin = world.client("beta", "admin")
    for days in (10, 11, 12):
        await admin.put("/api/admin/retention", {"consultations_days": days})
    first = (await admin.get("/api/admin/audit?limit=2")).body["entries"]
    assert [e["new_value"] for e in first] == ["12", "11"]
    assert first[0]["id"] > first[1]["id"]
    rest = (await admin.get(f"/api/admin/audit?limit=2&before={first[1]['id']}")).body["entries"]
    assert rest[0]["new_value"] == "10"


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=501", "limit=x", "before=-1", "before=1e3", "limit=" + "9" * 40]
)
@pytest.mark.parametrize("path", ["/api/admin/audit", "/api/admin/access-log"])
async def test_bad_page_queries(world: AdminWorld, path: str, query: str) -> None:
    reply = await world.client("alpha", "dpo").get(f"{path}?{query}")
    assert (reply.status, reply.error) == (400, "invalid_request")


async def test_access_log_lines(world: AdminWorld) -> None:
    tenant_id = world.devices["alpha"].tenant.id
    now = world.clock()
    await world.storage.governance.add_access_lines(
        [
            NewAccessLine(now + i, tenant_id, "192.0.2.0", "GET", f"/p{i}", 200, 10, 3)
            for i in range(3)
        ]
    )
    reply = await world.client("alpha", "dpo").get("/api/admin/access-log?limit=2")
    lines = reply.body["lines"]
    assert [line["path"] for line in lines] == ["/p2", "/p1"]
    assert set(lines[0]) == {
        "id",
        "at",
        "client",
        "method",
        "path",
        "status",
        "bytes",
        "duration_ms",
    }


async def test_third_parties_are_off_until_switched_on(world: AdminWorld) -> None:
    admin = world.client("alpha", "admin")
    reply = await admin.get("/api/admin/third-parties")
    assert reply.status == 200
    parties = {p["id"]: p for p in reply.body["parties"]}
    assert parties["turn"]["enabled"] is False
    assert parties["turn"]["available"] is True
    assert parties["turn"]["destinations"] == ["turn:turn.example:3478"]
    assert parties["tsa"]["enabled"] is False
    assert reply.body["relay_only"] is True
    on = await admin.put(
        "/api/admin/third-parties", {"turn": True, "tsa_url": "https://tsa.example/rfc3161"}
    )
    assert on.status == 200, on.text
    parties = {p["id"]: p for p in on.body["parties"]}
    assert parties["turn"]["enabled"] is True
    assert parties["tsa"]["destinations"] == ["https://tsa.example/rfc3161"]
    assert await world.storage.governance.turn_enabled(world.devices["alpha"].tenant.id)
    entries = (await admin.get("/api/admin/audit")).body["entries"]
    assert {"third_party.turn"} <= {e["action"] for e in entries}
    off = await admin.put("/api/admin/third-parties", {"turn": False, "tsa_url": None})
    assert [p["enabled"] for p in off.body["parties"]] == [False, False]


async def test_a_bad_tsa_url_changes_nothing(world: AdminWorld) -> None:
    admin = world.client("alpha", "admin")
    before = (await admin.get("/api/admin/third-parties")).body
    reply = await admin.put("/api/admin/third-parties", {"turn": True, "tsa_url": "ftp://x"})
    assert (reply.status, reply.error) == (400, "invalid_setting"), reply.text
    assert (await admin.get("/api/admin/third-parties")).body == before


async def test_turn_cannot_be_switched_on_without_a_turn_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    async with admin_world(tmp_path_factory.mktemp("no-turn")) as bare:
        admin = bare.client("alpha", "admin")
        reply = await admin.put("/api/admin/third-parties", {"turn": True})
        assert (reply.status, reply.error) == (409, "not_available")
        parties = (await admin.get("/api/admin/third-parties")).body
        assert parties["parties"][0]["available"] is False
        assert parties["parties"][0]["enabled"] is False


async def test_a_sessions_requests_land_in_its_own_tenants_access_log(world: AdminWorld) -> None:
    # the session names the tenant (hub/auth.py sets the access line's tenant slot)
    beta = world.client("beta", "dpo")
    assert (await beta.get("/api/admin/devices/beta-kiosk/wipes")).status == 200
    sink = world.hub.app[ACCESS_SINK]
    assert isinstance(sink, AccessSink)
    wanted = "/api/admin/devices/beta-kiosk/wipes"
    for _ in range(50):  # the line is handed over once the response is written
        await sink.flush()
        beta_lines = (await beta.get("/api/admin/access-log?limit=500")).body["lines"]
        if any(line["path"] == wanted for line in beta_lines):
            break
    else:
        raise AssertionError("the request never reached beta's access log")
    alpha = (await world.client("alpha", "dpo").get("/api/admin/access-log?limit=500")).body
    assert not [line for line in alpha["lines"] if line["path"] == wanted]
