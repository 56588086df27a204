"""``/api/admin/retention``, ``/api/admin/audit`` and ``/api/admin/access-log``.

Retention settings change only within ``RETENTION_LIMITS``; a body with any bad value changes
nothing. Every change is audited by storage (who, when, old and new value).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from aiohttp import web

from hub.admin.access import (
    AdminApi,
    bad_request,
    is_int,
    query_int,
    read_object,
    route,
    storage_refusal,
)
from hub.storage import StorageError
from hub.storage.records import RETENTION_LIMITS, Retention

PAGE_DEFAULT = 200
PAGE_MAX = 500
_ID_MAX = 2**62


def _retention_json(retention: Retention) -> dict[str, Any]:
    return {
        "settings": dataclasses.asdict(retention),
        "limits": {key: [low, high] for key, (low, high) in RETENTION_LIMITS.items()},
        "defaults": dataclasses.asdict(Retention()),
    }


@route
async def get_retention(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``GET /api/admin/retention``: ``{"settings", "limits", "defaults"}``."""
    caller = await api.caller(request)
    return web.json_response(
        _retention_json(await api.storage.governance.retention(caller.tenant.id))
    )


@route
async def put_retention(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``PUT /api/admin/retention`` ``{key: days, ...}``: 200 with the settings now in force."""
    caller = await api.caller(request, write=True, admin_only=True)
    changes = await read_object(request, dict.fromkeys(RETENTION_LIMITS, is_int), required=False)
    for key, value in changes.items():
        low, high = RETENTION_LIMITS[key]
        if not low <= value <= high:
            raise bad_request(f"{key} must be from {low} to {high}", "invalid_setting")
    try:
        retention = await api.storage.governance.set_retention(
            caller.tenant.id, changes, actor=caller.actor, now=api.clock()
        )
    except StorageError as exc:
        raise storage_refusal(exc, "setting") from None
    return web.json_response(_retention_json(retention))


@route
async def audit(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``GET /api/admin/audit?before=ID&limit=N``: the tenant's audit entries, newest first."""
    caller = await api.caller(request)
    limit, before = _page(request)
    entries = await api.storage.governance.audit(caller.tenant.id, limit=limit, before_id=before)
    return web.json_response({"entries": [dataclasses.asdict(e) for e in entries]})


@route
async def access_log(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``GET /api/admin/access-log?before=ID&limit=N``: anonymised access lines, newest first."""
    caller = await api.caller(request)
    limit, before = _page(request)
    lines = await api.storage.governance.access_lines(
        caller.tenant.id, limit=limit, before_id=before
    )
    return web.json_response({"lines": [dataclasses.asdict(line) for line in lines]})


def _page(request: web.Request) -> tuple[int, int | None]:
    limit = query_int(request, "limit", default=PAGE_DEFAULT, low=1, high=PAGE_MAX)
    before = query_int(request, "before", default=None, low=1, high=_ID_MAX)
    assert limit is not None  # noqa: S101 - it has a default
    return limit, before
