"""``/api/admin/requests/{ref}``: data-subject requests by conversation reference.

Show and export are audited (the reference, never content); erase, restrict and lift are
audited by storage. A reference of another tenant answers exactly like an unknown one.
"""

from __future__ import annotations

import json

from aiohttp import web

from hub.admin.access import AdminApi, ApiError, Caller, not_found, route, storage_refusal
from hub.governance.references import BadReference, parse_reference
from hub.governance.subject_access import document
from hub.storage import InvalidSetting, StorageError

_WHAT = "conversation"


@route
async def show(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``GET /api/admin/requests/{ref}``: what the hub holds about the conversation."""
    caller = await api.caller(request)
    return web.json_response(await _document(api, request, caller, "request.show"))


@route
async def export(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``GET /api/admin/requests/{ref}/export``: the same, as a JSON attachment."""
    caller = await api.caller(request)
    held = await _document(api, request, caller, "request.export")
    reference = _reference(request)
    return web.Response(
        text=json.dumps(held, indent=2, ensure_ascii=False),
        content_type="application/json",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="conversation-{reference}.json"'},
    )


@route
async def erase(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``POST /api/admin/requests/{ref}/erase``: 204; an audit entry without content stays."""
    caller = await api.caller(request, write=True)
    reference = _reference(request)
    try:
        found = await api.storage.governance.erase_conversation(
            caller.tenant.id, reference, actor=caller.actor, now=api.clock()
        )
    except InvalidSetting:
        raise ApiError(
            409, "not_ended", "the conversation has not ended yet; erase it after it ends"
        ) from None
    except StorageError as exc:
        raise storage_refusal(exc, _WHAT) from None
    if not found:
        raise not_found(_WHAT)
    return web.Response(status=204)


@route
async def restrict(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``POST /api/admin/requests/{ref}/restrict``: 204; kept, out of statistics and purges."""
    return await _restrict(api, request, restricted=True)


@route
async def lift(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``POST /api/admin/requests/{ref}/lift``: 204; the restriction ends."""
    return await _restrict(api, request, restricted=False)


async def _restrict(api: AdminApi, request: web.Request, *, restricted: bool) -> web.Response:
    caller = await api.caller(request, write=True)
    reference = _reference(request)
    try:
        found = await api.storage.governance.restrict_conversation(
            caller.tenant.id, reference, restricted, actor=caller.actor, now=api.clock()
        )
    except StorageError as exc:
        raise storage_refusal(exc, _WHAT) from None
    if not found:
        raise not_found(_WHAT)
    return web.Response(status=204)


async def _document(
    api: AdminApi, request: web.Request, caller: Caller, action: str
) -> dict[str, object]:
    reference = _reference(request)
    governance = api.storage.governance
    now = api.clock()
    conversation = await governance.conversation(caller.tenant.id, reference, now=now)
    if conversation is None:
        raise not_found(_WHAT)
    held = document(conversation, await governance.retention(caller.tenant.id), now=now)
    await governance.add_audit(
        caller.tenant.id, caller.actor, action, reference, None, None, now=now
    )
    return held


def _reference(request: web.Request) -> str:
    """The path's reference in canonical form; 400 ``bad_reference`` when it cannot be one."""
    text = request.match_info["ref"]
    try:
        return parse_reference(text)  # refuses long text before looking at it
    except BadReference:
        raise ApiError(
            400, "bad_reference", "a conversation reference is ten letters and digits"
        ) from None
