"""``/api/admin/devices``: the tenant's fleet, branch labels, enrolment codes, revocation and
wipe history (docs/enrolment.md has the codes, docs/admin.md the alarms)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from hub.admin.access import (
    AdminApi,
    ApiError,
    read_object,
    route,
    storage_refusal,
)
from hub.pki.authorities import EnrolmentDisabled
from hub.signalling import CLOSE_UNAUTHORIZED
from hub.signalling.peers import send_error
from hub.storage import NAME_MAX, DeviceReportRecord, StorageError, check_name
from provisioning.codes import BadEnrolmentUri, EnrolmentCode, enrolment_uri

BRANCH_MAX = 64


@route
async def list_devices(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``GET /api/admin/devices``: state, last seen, expiry, version, reports, wipe alarms."""
    caller = await api.caller(request)
    statuses = await api.storage.device_statuses(now=api.clock(), tenant_id=caller.tenant.id)
    return web.json_response(
        {
            "devices": [
                {
                    "name": s.device.name,
                    "state": s.state,
                    "branch": s.device.branch,
                    "last_seen": s.last_seen,
                    "cert_not_after": s.cert_not_after,
                    "version": s.version,
                    "last_selftest": _last(s.last_selftest),
                    "last_wipe": _last(s.last_wipe),
                    "wipes_failed": s.wipes_failed,
                    "wipes_missing": s.wipes_missing,
                }
                for s in statuses
            ]
        }
    )


@route
async def set_branch(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``POST /api/admin/devices/{name}/branch`` ``{"branch": str | null}``: 204."""
    caller = await api.caller(request, write=True, admin_only=True)
    body = await read_object(
        request,
        {"branch": lambda v: v is None or (isinstance(v, str) and 0 < len(v) <= BRANCH_MAX)},
    )
    try:
        await api.storage.governance.set_branch(
            caller.tenant.id,
            request.match_info["name"],
            body["branch"],
            actor=caller.actor,
            now=api.clock(),
        )
    except StorageError as exc:
        raise storage_refusal(exc, "device") from None
    return web.Response(status=204)


@route
async def revoke(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``POST /api/admin/devices/{name}/revoke``: 204; its token, certificates and codes die."""
    caller = await api.caller(request, write=True, admin_only=True)
    try:
        await api.storage.revoke_device(
            request.match_info["name"],
            tenant=caller.tenant.name,
            now=api.clock(),
            actor=caller.actor,
        )
    except StorageError as exc:
        raise storage_refusal(exc, "device") from None
    await _disconnect(api, caller.tenant.id, request.match_info["name"])
    return web.Response(status=204)


async def _disconnect(api: AdminApi, tenant_id: int, name: str) -> None:
    """Close a revoked kiosk's live connection now, not at its next credential check."""
    for peer in api.switchboard.connections():
        device = peer.device
        if device is not None and device.tenant.id == tenant_id and device.name == name:
            api.switchboard.revoked(peer)  # its call ends; it cannot resume
            await send_error(peer.ws, "unauthorized", "device revoked", fatal=True)
            await peer.ws.close(code=CLOSE_UNAUTHORIZED, message=b"revoked")


@route
async def enrolment_code(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``POST /api/admin/devices/{name}/code``: 201 ``{"code", "uri", "expires_at"}``.

    As ``kiosk-hub device enrol``: a new name is registered as pending; older codes die.
    """
    caller = await api.caller(request, write=True, admin_only=True)
    name = request.match_info["name"]
    if api.codes is None:
        raise ApiError(409, "no_secret", "this hub runs without --secret-file: enrolment is off")
    try:
        name = check_name(name, "device")
        signer = await api.authorities.signer(caller.tenant.name)
        # the hub URL is checked before a code exists, so a refusal leaves none behind
        enrolment_uri(_hub_url(api, request), EnrolmentCode.new(), signer.fingerprint)
    except StorageError as exc:
        raise storage_refusal(exc, "device") from None
    except EnrolmentDisabled:
        raise ApiError(409, "no_secret", "this hub cannot sign for your tenant") from None
    except BadEnrolmentUri as exc:
        raise ApiError(409, "bad_hub_url", f"set --public-url: {exc}") from None
    now = api.clock()
    try:
        code, record = await api.codes.new(api.storage, name, tenant=caller.tenant.name, now=now)
    except StorageError as exc:
        raise storage_refusal(exc, "device") from None
    uri = enrolment_uri(_hub_url(api, request), code, signer.fingerprint)
    await api.storage.governance.add_audit(
        caller.tenant.id, caller.actor, "device.code", name, None, None, now=now
    )
    return web.json_response(
        {"code": code.format(), "uri": uri, "expires_at": record.expires_at}, status=201
    )


@route
async def wipes(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``GET /api/admin/devices/{name}/wipes``: the device's wipe reports, newest first."""
    caller = await api.caller(request)
    name = request.match_info["name"]
    if len(name) > NAME_MAX:
        raise ApiError(404, "not_found", "no such device in your tenant")
    try:
        reports = await api.storage.governance.wipe_history(caller.tenant.id, name)
    except StorageError as exc:
        raise storage_refusal(exc, "device") from None
    return web.json_response(
        {
            "device": name,
            "reports": [
                {"at": r.at, "ok": r.ok, "summary": _summary(r.summary)}
                for r in reports
                if r.kind == "wipe"
            ],
        }
    )


def _last(report: DeviceReportRecord | None) -> dict[str, Any] | None:
    return None if report is None else {"ok": report.ok, "at": report.at}


def _summary(text: str) -> Any:
    # stored by the hub itself as JSON (hub/signalling/device_reports.py); never fail a page
    try:
        return json.loads(text)
    except ValueError:
        return {}


def _hub_url(api: AdminApi, request: web.Request) -> str:
    """The URL kiosks reach the hub at: ``--public-url``, else what the browser used."""
    if api.config.public_url is not None:
        return api.config.public_url
    scheme = "https" if api.auth.secure_request(request) else "http"
    return f"{scheme}://{request.host}"
