"""``/api/admin/stats`` and ``/api/admin/stats.csv``: anonymised figures from the roll-ups.

Bounded, since each query reads a range of roll-ups: at most ``STATS_AT_ONCE`` run at once in
the hub and ``STATS_PER_MINUTE`` per session; more get 429 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from hub.admin.access import (
    AdminApi,
    Caller,
    bad_request,
    route,
)
from hub.governance.csv_export import figures_csv
from hub.governance.stats import BadRange, Figures, compute, iso_day, parse_range

_DAY_S = 86_400


@route
async def stats(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``GET /api/admin/stats?from=YYYY-MM-DD&to=YYYY-MM-DD``: the figures as JSON."""
    caller = await api.caller(request)
    figures = await _figures(api, request, caller)
    return web.json_response(figures.to_json())


@route
async def stats_csv(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``GET /api/admin/stats.csv?...``: the same figures as a CSV attachment."""
    caller = await api.caller(request)
    figures = await _figures(api, request, caller)
    body = figures_csv(figures)
    span = figures.range
    name = f"statistics-{iso_day(span.from_day)}-{iso_day(span.to_day)}.csv"
    return web.Response(
        text=body,
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


async def _figures(api: AdminApi, request: web.Request, caller: Caller) -> Figures:
    try:
        rng = parse_range(
            request.query.get("from"), request.query.get("to"), today=int(api.clock() // _DAY_S)
        )
    except BadRange as exc:
        raise bad_request(str(exc), "bad_range") from None
    api.stats_limit.enter(caller.session_digest)
    try:
        governance = api.storage.governance
        retention = await governance.retention(caller.tenant.id)
        rows = await governance.stats_rows(
            caller.tenant.id, from_day=rng.from_day, to_day=rng.to_day
        )
        # ~0.1 s of numpy for a large tenant's year: off the loop, so hellos are not held up
        return await asyncio.to_thread(compute, rows, rng, min_cell=retention.stats_min_cell)
    finally:
        api.stats_limit.leave()
