"""``/api/admin/archive``: what the tenant keeps sealed (docs/archive.md).

Content is never kept by default. The administrator sets the archive certificate (kiosks seal
to it; the tenant keeps the key) and switches keeping signed contracts and/or chat transcripts
on; every change is audited by storage. A kind needs the certificate; removing the certificate
switches both off. The data-protection officer may read the settings, not change them.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from aiohttp import web

from hub.admin.access import AdminApi, ApiError, Caller, bad_request, route, storage_refusal
from hub.pki import archive_cert
from hub.storage import StorageError
from hub.storage.records import ArchiveSettings

BODY_MAX = 16 * 1024  # a PEM certificate of the largest size kiosks take, and two booleans
_FIELDS = ("certificate_pem", "contracts", "transcripts")


def settings_json(settings: ArchiveSettings) -> dict[str, Any]:
    """``{"certificate": {"subject", "not_after", "sha256"} or null, "contracts", ...}``."""
    return {
        "certificate": archive_cert.describe(settings.cert_der),
        "contracts": settings.contracts,
        "transcripts": settings.transcripts,
    }


@route
async def get_archive(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``GET /api/admin/archive``: the tenant's archive settings."""
    caller = await api.caller(request)
    return web.json_response(
        settings_json(await api.storage.governance.archive_settings(caller.tenant.id))
    )


@route
async def put_archive(api: AdminApi, request: web.Request) -> web.StreamResponse:
    """``PUT /api/admin/archive`` with some of ``{"certificate_pem": str | null, "contracts":
    bool, "transcripts": bool}``: all of it or nothing; 200 with the settings now in force."""
    caller = await api.caller(request, write=True, admin_only=True)
    body = await _read_body(request)
    cert_der, remove = None, False
    if "certificate_pem" in body:
        pem = body["certificate_pem"]
        if pem is None:
            remove = True
        else:
            cert_der = await _checked(api, caller, pem)
    try:
        settings = await api.storage.governance.set_archive(
            caller.tenant.id,
            cert_der=cert_der,
            remove_cert=remove,
            contracts=body.get("contracts"),
            transcripts=body.get("transcripts"),
            actor=caller.actor,
            now=api.clock(),
        )
    except StorageError as exc:
        raise storage_refusal(exc, "setting") from None
    return web.json_response(settings_json(settings))


async def _checked(api: AdminApi, caller: Caller, pem: str) -> bytes:
    """The certificate's DER once it passes the kiosk's checks; 400 ``bad_certificate``."""
    ca = await api.authorities.certificate(caller.tenant.name)
    if ca is None and api.authorities.enabled:
        await api.authorities.start()  # a tenant added since the hub started has none yet
        ca = await api.authorities.certificate(caller.tenant.name)
    try:
        checked = archive_cert.check_certificate(
            pem.encode("utf-8"), ca=ca, now=dt.datetime.fromtimestamp(api.clock(), dt.UTC)
        )
    except archive_cert.CertificateRefused as exc:
        raise bad_request(f"the archive certificate: {exc}", "bad_certificate") from None
    return checked.der


async def _read_body(request: web.Request) -> dict[str, Any]:
    """A JSON object with some of ``_FIELDS``, each of its type; 400/413 otherwise."""
    if request.content_length is not None and request.content_length > BODY_MAX:
        raise _too_large()
    raw = await request.content.read(BODY_MAX + 1)
    if len(raw) > BODY_MAX:
        raise _too_large()
    try:
        body = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise bad_request("send a JSON body", "invalid_json") from None
    wanted = 'some of "certificate_pem", "contracts", "transcripts"'
    if not isinstance(body, dict) or not body or set(body) - set(_FIELDS):
        raise bad_request(f"send a JSON object with {wanted}")
    pem = body.get("certificate_pem")
    if pem is not None and not (isinstance(pem, str) and 0 < len(pem) <= BODY_MAX):
        raise bad_request('"certificate_pem" must be a PEM certificate or null')
    for name in ("contracts", "transcripts"):
        if name in body and not isinstance(body[name], bool):
            raise bad_request(f'"{name}" must be true or false')
    return body


def _too_large() -> ApiError:
    return ApiError(413, "too_large", f"send at most {BODY_MAX} bytes")
