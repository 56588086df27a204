"""Bad bodies on every administration mutation: wrong types, extra or missing keys, huge, not
JSON -> 4xx with a typed code, nothing changed, and the hub keeps serving. Plus a property
test: no JSON body makes a mutation fail with a 5xx."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.admin_api import PASSWORD, AdminWorld, admin_world

pytestmark = pytest.mark.asyncio(loop_scope="module")

# (path, a valid body) of every mutation that reads a body
WITH_BODY = [
    ("POST", "/api/admin/accounts", {"name": "made-by-body", "password": PASSWORD, "role": "dpo"}),
    ("POST", "/api/admin/accounts/alpha-adviser/password", {"password": PASSWORD}),
    ("POST", "/api/admin/devices/alpha-kiosk/branch", {"branch": "Nord"}),
    ("PUT", "/api/admin/retention", {"access_log_days": 7}),
    ("PUT", "/api/admin/third-parties", {"tsa_url": None}),
]
BAD_BODIES: list[tuple[str, bytes]] = [
    ("not-json", b"{name: 1"),
    ("not-utf8", b'{"name": "\xff"}'),
    ("array", b"[1, 2]"),
    ("string", b'"text"'),
    ("null", b"null"),
    ("empty-object", b"{}"),
    ("empty", b""),
    ("deep", b"[" * 2000 + b"]" * 2000),  # within the size limit, beyond the parser's depth
]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AdminWorld]:
    """One hub for the module."""
    async with admin_world(tmp_path_factory.mktemp("admin-bodies")) as running:
        yield running


async def _state(world: AdminWorld) -> list[Any]:
    admin = world.client("alpha", "admin")
    paths = ["/api/admin/accounts", "/api/admin/devices", "/api/admin/retention"]
    paths += ["/api/admin/third-parties", "/api/admin/audit"]
    return [(await admin.get(path)).body for path in paths]


@pytest.mark.parametrize(("method", "path", "valid"), WITH_BODY, ids=lambda v: str(v)[:40])
@pytest.mark.parametrize(("label", "raw"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
async def test_malformed_bodies(
    world: AdminWorld, method: str, path: str, valid: dict[str, Any], label: str, raw: bytes
) -> None:
    before = await _state(world)
    reply = await world.client("alpha", "admin").call(method, path, data=raw)
    assert reply.status == 400, (label, reply.text)
    assert reply.error in ("invalid_json", "invalid_request")
    assert await _state(world) == before


@pytest.mark.parametrize(("method", "path", "valid"), WITH_BODY, ids=lambda v: str(v)[:40])
async def test_extra_missing_and_wrongly_typed_keys(
    world: AdminWorld, method: str, path: str, valid: dict[str, Any]
) -> None:
    admin = world.client("alpha", "admin")
    before = await _state(world)
    first = next(iter(valid))
    variants = [
        {**valid, "extra": 1},
        {**valid, first: 12345.5},
        {**valid, first: True},
        {**valid, first: ["list"]},
        {**valid, first: {"nested": True}},
    ]
    if len(valid) > 1:
        variants.append({k: v for k, v in valid.items() if k != first})
    for body in variants:
        reply = await admin.call(method, path, data=json.dumps(body).encode())
        assert (reply.status, reply.error) == (400, "invalid_request"), (body, reply.text)
    assert await _state(world) == before


@pytest.mark.parametrize(("method", "path", "valid"), WITH_BODY, ids=lambda v: str(v)[:40])
async def test_huge_bodies(
    world: AdminWorld, method: str, path: str, valid: dict[str, Any]
) -> None:
    before = await _state(world)
    admin = world.client("alpha", "admin")
    huge = {**valid, next(iter(valid)): "x" * 100_000}
    reply = await admin.call(method, path, data=json.dumps(huge).encode())
    assert (reply.status, reply.error) == (413, "too_large"), reply.text
    assert await _state(world) == before
    assert (await admin.get("/api/admin/overview")).status == 200  # the hub keeps serving


async def test_a_huge_body_without_a_length_is_cut_off(world: AdminWorld) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):
            yield b" " * 1024  # JSON whitespace: only the size is wrong

    admin = world.client("alpha", "admin")
    async with admin.http.put(
        f"{world.hub.url}/api/admin/retention",
        data=chunks(),
        headers={"X-CSRF-Token": admin.csrf or "", "Content-Type": "application/json"},
    ) as response:
        assert response.status == 413
        assert (await response.json())["error"] == "too_large"


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=80),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
KEYS = ["name", "password", "role", "branch", "turn", "tsa_url", "access_log_days"]
BODIES = st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=10), JSON_VALUES, max_size=4)


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=BODIES, route=st.sampled_from(WITH_BODY))
async def test_no_body_makes_a_mutation_fail_on_the_hub_side(
    world: AdminWorld, body: dict[str, Any], route: tuple[str, str, Any]
) -> None:
    method, path, _valid = route
    path = path.replace("alpha-adviser", "nobody-here")  # the world's clients keep passwords
    reply = await world.client("alpha", "admin").call(method, path, data=json.dumps(body).encode())
    assert reply.status < 500, reply.text
    assert reply.status in (200, 201, 204) or reply.error, reply.text
