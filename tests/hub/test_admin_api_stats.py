"""``/api/admin/stats`` and ``stats.csv``: the figures, the CSV attachment, bad ranges, and the
bound on statistics queries (per session per minute, and at once in the hub)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from hub.admin.access import STATS_AT_ONCE, STATS_PER_MINUTE
from tests.support.admin_api import AdminWorld, admin_world

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[AdminWorld]:
    """A hub where alpha has seven ended conversations today (two from the world, five here)."""
    async with admin_world(tmp_path_factory.mktemp("admin-stats")) as running:
        for _ in range(5):
            await running.conversation("alpha")
        yield running


def _today(world: AdminWorld) -> str:
    return dt.datetime.fromtimestamp(world.clock(), dt.UTC).date().isoformat()


async def test_the_figures(world: AdminWorld) -> None:
    client = await world.sign_in("alpha-dpo")
    reply = await client.get("/api/admin/stats")
    assert reply.status == 200, reply.text
    assert reply.body["to"] == _today(world)
    assert reply.body["min_cell"] == 5
    assert reply.body["total"]["consultations"] == 7
    assert reply.body["total"]["abandoned"] == 0
    today = [d for d in reply.body["per_day"] if d["day"] == _today(world)]
    assert today == [{"day": _today(world), "consultations": 7}]


async def test_the_csv_attachment(world: AdminWorld) -> None:
    client = await world.sign_in("alpha-admin")
    day = _today(world)
    reply = await client.get(f"/api/admin/stats.csv?from={day}&to={day}")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/csv")
    assert reply.headers["Content-Disposition"] == (
        f'attachment; filename="statistics-{day}-{day}.csv"'
    )
    assert "7" in reply.text


@pytest.mark.parametrize(
    "query",
    [
        "from=2027-13-01",
        "from=yesterday",
        "from=2027-01-10&to=2027-01-01",
        "from=2020-01-01&to=2027-01-01",
    ],
    ids=["month", "word", "reversed", "too-long"],
)
@pytest.mark.parametrize("path", ["/api/admin/stats", "/api/admin/stats.csv"])
async def test_bad_ranges(world: AdminWorld, path: str, query: str) -> None:
    client = await world.sign_in("alpha-dpo")
    reply = await client.get(f"{path}?{query}")
    assert (reply.status, reply.error) == (400, "bad_range"), reply.text


async def test_a_flood_of_queries_is_bounded_per_session(world: AdminWorld) -> None:
    flooder = await world.sign_in("alpha-admin")
    for _ in range(STATS_PER_MINUTE):
        assert (await flooder.get("/api/admin/stats")).status == 200
    refused = await flooder.get("/api/admin/stats.csv")
    assert (refused.status, refused.error) == (429, "rate_limited")
    # all of them at one moment of the hub's clock: the oldest leaves the window in a minute
    assert refused.headers["Retry-After"] == "60"
    other = await world.sign_in("alpha-admin")  # another session is still served
    assert (await other.get("/api/admin/stats")).status == 200
    assert (await flooder.get("/api/admin/accounts")).status == 200  # only statistics wait
    world.clock.advance(61)
    assert (await flooder.get("/api/admin/stats")).status == 200


async def test_at_most_two_queries_run_at_once(world: AdminWorld) -> None:
    limit = world.api.stats_limit
    for n in range(STATS_AT_ONCE):  # queries still running, held through the seam
        limit.enter(f"held-{n}")
    try:
        client = await world.sign_in("alpha-dpo")
        refused = await client.get("/api/admin/stats")
        assert (refused.status, refused.error) == (429, "rate_limited")
        assert refused.headers["Retry-After"] == "1"
    finally:
        for _ in range(STATS_AT_ONCE):
            limit.leave()
    assert (await client.get("/api/admin/stats")).status == 200
