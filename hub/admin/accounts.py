"""``/api/admin/overview`` and ``/api/admin/accounts``: the tenant's console accounts.

Any role can be added here (adviser, admin, dpo); only an administrator changes accounts. A
disabled account, or one whose password was reset, loses its sessions at once and its open
console connections are closed (its calls end).
"""

from __future__ import annotations

from aiohttp import web

from hub.admin.access import (
    AdminApi,
    ApiError,
    Caller,
    is_text,
    read_object,
    route,
    storage_refusal,
)
from hub.storage import NAME_MAX, PASSWORD_MAX, StorageError
from hub.storage.records import ROLES


@route
async def overview(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``GET /api/admin/overview``: who is signed in, and how many devices raise an alarm."""
    caller = await api.caller(request)
    statuses = await api.storage.device_statuses(now=api.clock(), tenant_id=caller.tenant.id)
    alarms = sum(1 for s in statuses if s.wipes_failed or s.wipes_missing)
    return web.json_response(
        {
            "tenant": caller.tenant.name,
            "name": caller.name,
            "role": caller.role,
            "alarms": {"devices": alarms},
        }
    )


@route
async def list_accounts(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``GET /api/admin/accounts``: every account of the tenant, with who is online."""
    caller = await api.caller(request)
    accounts = await api.storage.governance.accounts(caller.tenant.id)
    online = _online(api, caller.tenant.id)
    return web.json_response(
        {
            "accounts": [
                {
                    "name": a.name,
                    "role": a.role,
                    "disabled": a.disabled_at is not None,
                    "online": a.name in online,
                    "created_at": a.created_at,
                }
                for a in accounts
            ]
        }
    )


@route
async def add_account(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``POST /api/admin/accounts`` ``{"name", "password", "role"}``: 201."""
    caller = await api.caller(request, write=True, admin_only=True)
    body = await read_object(
        request,
        {
            "name": is_text(NAME_MAX),
            "password": is_text(PASSWORD_MAX),
            "role": lambda v: v in ROLES,
        },
    )
    try:
        account = await api.storage.governance.add_account(
            body["name"],
            body["password"],
            tenant=caller.tenant.name,
            role=body["role"],
            actor=caller.actor,
            now=api.clock(),
        )
    except StorageError as exc:
        raise storage_refusal(exc, "account") from None
    return web.json_response({"name": account.name, "role": account.role}, status=201)


@route
async def disable(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``POST /api/admin/accounts/{name}/disable``: 204; its sessions and connections end."""
    return await _set_disabled(api, request, disabled=True)


@route
async def enable(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``POST /api/admin/accounts/{name}/enable``: 204."""
    return await _set_disabled(api, request, disabled=False)


@route
async def reset_password(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``POST /api/admin/accounts/{name}/password`` ``{"password"}``: 204; sessions end."""
    caller = await api.caller(request, write=True, admin_only=True)
    body = await read_object(request, {"password": is_text(PASSWORD_MAX)})
    name = request.match_info["name"]
    try:
        await api.storage.governance.reset_password(
            caller.tenant.id, name, body["password"], actor=caller.actor, now=api.clock()
        )
    except StorageError as exc:
        raise storage_refusal(exc, "account") from None
    await _close_connections(api, caller, name)
    return web.Response(status=204)


async def _set_disabled(api: AdminApi, request: web.Request, *, disabled: bool) -> web.Response:
    caller = await api.caller(request, write=True, admin_only=True)
    name = request.match_info["name"]
    if disabled and name == caller.name:
        # the tenant would be left without the administrator who can undo it
        raise ApiError(409, "own_account", "you cannot disable your own account")
    try:
        await api.storage.governance.set_disabled(
            caller.tenant.id, name, disabled, actor=caller.actor, now=api.clock()
        )
    except StorageError as exc:
        raise storage_refusal(exc, "account") from None
    if disabled:
        await _close_connections(api, caller, name)
    return web.Response(status=204)


def _online(api: AdminApi, tenant_id: int) -> set[str]:
    """Names of the tenant's accounts with an open console WebSocket."""
    return {
        peer.name
        for peer in api.switchboard.connections()
        if peer.role == "adviser" and peer.tenant.id == tenant_id
    }


async def _close_connections(api: AdminApi, caller: Caller, name: str) -> None:
    """Close the account's console connections now (storage already ended its sessions)."""
    for peer in api.switchboard.connections():
        if (
            peer.role == "adviser"
            and peer.tenant.id == caller.tenant.id
            and peer.name == name
            and peer.session_digest is not None
        ):
            await api.switchboard.session_ended(peer.session_digest)
