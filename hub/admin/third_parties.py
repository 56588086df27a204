"""``/api/admin/third-parties``: everything that sends data beyond the hub and the kiosk.

Each party is off for a tenant until its administrator switches it on: TURN relaying (needs a
TURN server configured for the hub, ``serve --turn-url``) and a timestamp authority for
signatures (its URL). Changes are audited by storage.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from hub.admin.access import AdminApi, ApiError, Caller, read_object, route, storage_refusal
from hub.storage import TSA_URL_MAX, StorageError
from hub.storage.checks import check_tsa_url

TURN_PURPOSE = (
    "relays the encrypted audio and video of a call when the kiosk and the console cannot "
    "reach each other directly; the relay sees addresses and amounts, never the content"
)
TSA_PURPOSE = (
    "puts a trusted time on a document signed at the kiosk (PAdES B-T): the kiosk sends "
    "the signature's hash, never the document"
)


@route
async def get_parties(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``GET /api/admin/third-parties``: ``{"parties": [...], "relay_only": bool}``."""
    caller = await api.caller(request)
    return web.json_response(await _parties(api, caller))


@route
async def put_parties(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``PUT /api/admin/third-parties`` ``{"turn": bool}`` and/or ``{"tsa_url": str | null}``."""
    caller = await api.caller(request, write=True, admin_only=True)
    body = await read_object(
        request,
        {
            "turn": lambda v: isinstance(v, bool),
            "tsa_url": lambda v: v is None or (isinstance(v, str) and 0 < len(v) <= TSA_URL_MAX),
        },
        required=False,
    )
    now = api.clock()
    tsa_url = body.get("tsa_url")
    try:
        if tsa_url is not None:
            tsa_url = check_tsa_url(tsa_url)  # before any change: all of the body or nothing
        if body.get("turn") is True and api.config.turn is None:
            raise ApiError(
                409, "not_available", "this hub has no TURN server (kiosk-hub serve --turn-url)"
            )
        if "turn" in body:
            await api.storage.governance.set_turn(
                caller.tenant.id, body["turn"], actor=caller.actor, now=now
            )
        if "tsa_url" in body:
            await api.storage.set_tsa_url(caller.tenant.name, tsa_url, actor=caller.actor)
    except StorageError as exc:
        raise storage_refusal(exc, "setting") from None
    return web.json_response(await _parties(api, caller))


async def _parties(api: AdminApi, caller: Caller) -> dict[str, Any]:
    turn = api.config.turn
    turn_on = await api.storage.governance.turn_enabled(caller.tenant.id)
    signing = await api.storage.tenant_signing(caller.tenant.id)
    return {
        "parties": [
            {
                "id": "turn",
                "name": "TURN relay",
                "enabled": turn_on,
                "available": turn is not None,
                "destinations": [] if turn is None else list(turn.urls),
                "purpose": TURN_PURPOSE,
            },
            {
                "id": "tsa",
                "name": "Timestamp authority",
                "enabled": signing.tsa_url is not None,
                "available": True,
                "destinations": [] if signing.tsa_url is None else [signing.tsa_url],
                "purpose": TSA_PURPOSE,
            },
        ],
        "relay_only": turn is not None and turn.relay_only,
    }
