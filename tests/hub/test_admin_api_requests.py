"""``/api/admin/requests/{ref}``: show, export, erase, restrict and lift a conversation by the
reference its customer saw on the goodbye screen (promise 8); audited without content."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from hub.governance.references import new_reference
from tests.support.admin_api import AdminWorld, admin_world

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AdminWorld]:
    """One hub for the module; each test makes the conversations it changes."""
    async with admin_world(tmp_path_factory.mktemp("admin-requests")) as running:
        yield running


async def _audit(world: AdminWorld) -> list[dict[str, object]]:
    entries = (await world.client("alpha", "dpo").get("/api/admin/audit")).body["entries"]
    return list(entries)


async def test_show_gives_what_the_hub_holds_and_is_audited(world: AdminWorld) -> None:
    reference = await world.conversation("alpha")
    reply = await world.client("alpha", "dpo").get(f"/api/admin/requests/{reference}")
    assert reply.status == 200, reply.text
    assert reference in json.dumps(reply.body)
    assert "not_included" in reply.body
    [entry] = [e for e in await _audit(world) if e["subject"] == reference]
    assert (entry["action"], entry["actor"]) == ("request.show", "dpo:alpha-dpo")
    assert (entry["old_value"], entry["new_value"]) == (None, None)


async def test_a_reference_as_people_type_it(world: AdminWorld) -> None:
    reference = await world.conversation("alpha")
    typed = reference.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    reply = await world.client("alpha", "dpo").get(f"/api/admin/requests/{typed}")
    assert reply.status == 200, reply.text


async def test_export_is_an_attachment_and_audited(world: AdminWorld) -> None:
    reference = await world.conversation("alpha")
    client = world.client("alpha", "admin")
    shown = await client.get(f"/api/admin/requests/{reference}")
    exported = await client.get(f"/api/admin/requests/{reference}/export")
    assert exported.status == 200
    assert exported.headers["Content-Disposition"] == (
        f'attachment; filename="conversation-{reference}.json"'
    )
    assert json.loads(exported.text) == shown.body
    actions = [e["action"] for e in await _audit(world) if e["subject"] == reference]
    assert actions == ["request.export", "request.show"]


async def test_erase_leaves_an_audit_entry_without_content(world: AdminWorld) -> None:
    reference = await world.conversation("alpha")
    dpo = world.client("alpha", "dpo")
    assert (await dpo.post(f"/api/admin/requests/{reference}/erase")).status == 204
    assert (await dpo.get(f"/api/admin/requests/{reference}")).status == 404
    assert (await dpo.post(f"/api/admin/requests/{reference}/erase")).status == 404
    [entry] = [
        e
        for e in await _audit(world)
        if e["action"] == "request.erase" and e["subject"] == reference
    ]
    assert (entry["old_value"], entry["new_value"]) == (None, None)


async def test_a_conversation_still_running_cannot_be_erased(world: AdminWorld) -> None:
    reference = await world.conversation("alpha", ended=False)
    reply = await world.client("alpha", "dpo").post(f"/api/admin/requests/{reference}/erase")
    assert (reply.status, reply.error) == (409, "not_ended")
    assert (
        await world.client("alpha", "dpo").get(f"/api/admin/requests/{reference}")
    ).status == 200


async def test_restrict_and_lift(world: AdminWorld) -> None:
    reference = await world.conversation("alpha")
    dpo = world.client("alpha", "dpo")
    tenant_id = world.devices["alpha"].tenant.id
    assert (await dpo.post(f"/api/admin/requests/{reference}/restrict")).status == 204
    held = await world.storage.governance.conversation(tenant_id, reference)
    assert held is not None and held.restricted_at == world.clock()
    assert (await dpo.post(f"/api/admin/requests/{reference}/lift")).status == 204
    held = await world.storage.governance.conversation(tenant_id, reference)
    assert held is not None and held.restricted_at is None
    actions = [e["action"] for e in await _audit(world) if e["subject"] == reference]
    assert actions == ["request.lift", "request.restrict"]


@pytest.mark.parametrize("action", ["", "/export", "/erase", "/restrict", "/lift"])
async def test_unknown_and_malformed_references(world: AdminWorld, action: str) -> None:
    dpo = world.client("alpha", "dpo")
    method = "GET" if action in ("", "/export") else "POST"
    unknown = await dpo.call(method, f"/api/admin/requests/{new_reference()}{action}")
    assert (unknown.status, unknown.error) == (404, "not_found")
    # a reference padded past 64 characters is no reference (not cut down to one)
    for bad in ("ABC", "U" * 10, "x" * 300, "%00" * 10, "7K3QD-M9XVB" + "%20" * 60):
        reply = await dpo.call(method, f"/api/admin/requests/{bad}{action}")
        assert (reply.status, reply.error) == (400, "bad_reference"), bad
