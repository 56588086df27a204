"""``/api/admin/devices``: the fleet with its wipe alarms, branch labels, revocation, enrolment
codes (as ``kiosk-hub device enrol``) and the wipe history."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from hub.signalling import CLOSE_UNAUTHORIZED
from hub.storage import Device
from provisioning.codes import parse_enrolment_uri
from tests.support.admin_api import AdminWorld, admin_world
from tests.support.hub import connect_kiosk
from tests.support.hub_enrol import hub_secret

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AdminWorld]:
    """A hub with a hub secret (enrolment codes work); each test makes the devices it changes."""
    directory = tmp_path_factory.mktemp("admin-devices")
    secret_file, _secret = hub_secret(directory)
    async with admin_world(directory, secret_file=secret_file) as running:
        yield running


async def _device(world: AdminWorld, name: str) -> Device:
    device, _token = await world.storage.add_device(name, tenant="alpha", now=world.clock())
    return device


async def _listed(world: AdminWorld, name: str) -> dict[str, object]:
    devices = (await world.client("alpha", "dpo").get("/api/admin/devices")).body["devices"]
    [row] = [d for d in devices if d["name"] == name]
    return dict(row)


async def test_the_fleet_view(world: AdminWorld) -> None:
    row = await _listed(world, "alpha-kiosk")
    assert row == {
        "name": "alpha-kiosk",
        "state": "active",
        "branch": None,
        "last_seen": None,
        "cert_not_after": None,
        "version": None,
        "last_selftest": None,
        "last_wipe": None,
        "wipes_failed": 0,
        "wipes_missing": 2,  # the world's two ended calls never got a wipe report
    }


async def test_wipe_reports_clear_or_raise_the_alarm(world: AdminWorld) -> None:
    device = await _device(world, "alpha-wiper")
    await world.conversation("alpha", device=device, age_s=4000)
    assert (await _listed(world, "alpha-wiper"))["wipes_missing"] == 1
    now = world.clock()
    await world.storage.add_device_report(
        device.id, "wipe", ok=True, summary='{"files": 2}', at=now - 3000, now=now
    )
    row = await _listed(world, "alpha-wiper")
    assert (row["wipes_missing"], row["wipes_failed"]) == (0, 0)
    assert row["last_wipe"] == {"ok": True, "at": now - 3000}
    await world.conversation("alpha", device=device, age_s=2000)
    await world.storage.add_device_report(
        device.id, "wipe", ok=False, summary='{"files": 1}', at=now - 1000, now=now
    )
    row = await _listed(world, "alpha-wiper")
    assert (row["wipes_missing"], row["wipes_failed"]) == (0, 1)
    overview = (await world.client("alpha", "admin").get("/api/admin/overview")).body
    assert overview["alarms"]["devices"] >= 2  # alpha-kiosk (missing) and alpha-wiper (failed)
    history = await world.client("alpha", "dpo").get("/api/admin/devices/alpha-wiper/wipes")
    assert history.status == 200
    assert history.body == {
        "device": "alpha-wiper",
        "reports": [
            {"at": now - 1000, "ok": False, "summary": {"files": 1}},
            {"at": now - 3000, "ok": True, "summary": {"files": 2}},
        ],
    }


async def test_branch_labels(world: AdminWorld) -> None:
    await _device(world, "alpha-branch")
    admin = world.client("alpha", "admin")
    url = "/api/admin/devices/alpha-branch/branch"
    assert (await admin.post(url, {"branch": "Filiale Mitte"})).status == 204
    assert (await _listed(world, "alpha-branch"))["branch"] == "Filiale Mitte"
    for bad, code in (
        ("x" * 65, "invalid_request"),
        (7, "invalid_request"),
        ("a\x01b", "invalid_name"),
    ):
        reply = await admin.post(url, {"branch": bad})
        assert (reply.status, reply.error) == (400, code), bad
    assert (await _listed(world, "alpha-branch"))["branch"] == "Filiale Mitte"
    assert (await admin.post(url, {"branch": None})).status == 204
    assert (await _listed(world, "alpha-branch"))["branch"] is None
    entries = (await admin.get("/api/admin/audit")).body["entries"]
    assert any(e["subject"] == "alpha-branch" for e in entries)


async def test_revoke_disconnects_at_once(world: AdminWorld) -> None:
    _device, token = await world.storage.add_device(
        "alpha-stolen", tenant="alpha", now=world.clock()
    )
    kiosk = await connect_kiosk(world.anonymous.http, world.hub, token)
    admin = world.client("alpha", "admin")
    assert (await admin.post("/api/admin/devices/alpha-stolen/revoke")).status == 204
    closed = None
    while closed is None:  # what the hub still had queued, then the close
        frame = await kiosk.ws.receive(timeout=5)  # heartbeat re-check: 10 s, later than this
        if frame.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            closed = kiosk.ws.close_code
    assert closed == CLOSE_UNAUTHORIZED
    assert (await _listed(world, "alpha-stolen"))["state"] == "revoked"
    entries = (await admin.get("/api/admin/audit")).body["entries"]
    assert [e["actor"] for e in entries if e["subject"] == "alpha-stolen"][:1] == [
        "admin:alpha-admin"
    ]


async def test_an_enrolment_code_as_the_command_makes_it(world: AdminWorld) -> None:
    admin = world.client("alpha", "admin")
    reply = await admin.post("/api/admin/devices/alpha-new-kiosk/code")
    assert reply.status == 201, reply.text
    assert reply.body["expires_at"] == world.clock() + 3600
    scanned = parse_enrolment_uri(reply.body["uri"])
    assert scanned.code.format() == reply.body["code"]
    assert scanned.hub_url == world.hub.url
    assert (await _listed(world, "alpha-new-kiosk"))["state"] == "pending"
    code_id = scanned.code.id
    record = await world.storage.enrolment_code(code_id)
    assert record is not None and record.tenant.name == "alpha"


async def test_a_code_for_a_bad_name_leaves_nothing(world: AdminWorld) -> None:
    before = (await world.client("alpha", "dpo").get("/api/admin/devices")).body
    reply = await world.client("alpha", "admin").post("/api/admin/devices/%20%20/code")
    assert (reply.status, reply.error) == (400, "invalid_name")
    assert (await world.client("alpha", "dpo").get("/api/admin/devices")).body == before


async def test_without_a_hub_secret_codes_are_refused(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    async with admin_world(tmp_path_factory.mktemp("no-secret")) as bare:
        reply = await bare.client("alpha", "admin").post("/api/admin/devices/kiosk-9/code")
        assert (reply.status, reply.error) == (409, "no_secret")
        devices = (await bare.client("alpha", "admin").get("/api/admin/devices")).body
        assert [d["name"] for d in devices["devices"]] == ["alpha-kiosk"]


@pytest.mark.parametrize("path", ["branch", "revoke", "wipes"])
async def test_unknown_devices_are_not_found(world: AdminWorld, path: str) -> None:
    admin = world.client("alpha", "admin")
    url = f"/api/admin/devices/no-such-kiosk/{path}"
    reply = await (
        admin.get(url)
        if path == "wipes"
        else admin.post(url, {"branch": "X"} if path == "branch" else None)
    )
    assert (reply.status, reply.error) == (404, "not_found")
    assert json.dumps(reply.body).count("no-such-kiosk") == 0  # the answer does not echo it


async def test_a_code_for_another_tenants_device_name_touches_only_the_own_tenant(
    world: AdminWorld,
) -> None:
    # device names are per tenant: alpha gets a pending kiosk of that name, beta's is untouched
    beta = world.client("beta", "admin")
    before = (await beta.get("/api/admin/devices")).body
    reply = await world.client("alpha", "admin").post("/api/admin/devices/beta-kiosk/code")
    assert reply.status == 201, reply.text
    assert (await _listed(world, "beta-kiosk"))["state"] == "pending"
    assert (await beta.get("/api/admin/devices")).body == before
    code = await world.storage.enrolment_code(parse_enrolment_uri(reply.body["uri"]).code.id)
    assert code is not None and code.tenant.name == "alpha"
