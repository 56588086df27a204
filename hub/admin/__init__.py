"""The administration HTTP API (``/api/admin/*``) for a tenant's administrator and DPO.

``ADMIN_ROUTES`` lists every route with its handler; the app binds them to the ``AdminApi``
it makes at startup (``ADMIN``). The reference is docs/admin.md, section "HTTP API".
"""

from __future__ import annotations

from aiohttp import web

from hub.admin import (
    accounts,
    archive,
    devices,
    settings,
    statistics,
    subject_requests,
    third_parties,
)
from hub.admin.access import AdminApi, ApiError, Caller, Handler

ADMIN = web.AppKey("admin_api", AdminApi)
_PREFIX = "/api/admin"
_DEVICE = _PREFIX + "/devices/{name}"
_ACCOUNT = _PREFIX + "/accounts/{name}"
_REQUEST = _PREFIX + "/requests/{ref}"

ADMIN_ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", _PREFIX + "/overview", accounts.overview),
    ("GET", _PREFIX + "/accounts", accounts.list_accounts),
    ("POST", _PREFIX + "/accounts", accounts.add_account),
    ("POST", _ACCOUNT + "/disable", accounts.disable),
    ("POST", _ACCOUNT + "/enable", accounts.enable),
    ("POST", _ACCOUNT + "/password", accounts.reset_password),
    ("GET", _PREFIX + "/devices", devices.list_devices),
    ("POST", _DEVICE + "/branch", devices.set_branch),
    ("POST", _DEVICE + "/revoke", devices.revoke),
    ("POST", _DEVICE + "/code", devices.enrolment_code),
    ("GET", _DEVICE + "/wipes", devices.wipes),
    ("GET", _PREFIX + "/retention", settings.get_retention),
    ("PUT", _PREFIX + "/retention", settings.put_retention),
    ("GET", _PREFIX + "/audit", settings.audit),
    ("GET", _PREFIX + "/access-log", settings.access_log),
    ("GET", _PREFIX + "/stats", statistics.stats),
    ("GET", _PREFIX + "/stats.csv", statistics.stats_csv),
    ("GET", _REQUEST, subject_requests.show),
    ("GET", _REQUEST + "/export", subject_requests.export),
    ("POST", _REQUEST + "/erase", subject_requests.erase),
    ("POST", _REQUEST + "/restrict", subject_requests.restrict),
    ("POST", _REQUEST + "/lift", subject_requests.lift),
    ("GET", _PREFIX + "/third-parties", third_parties.get_parties),
    ("PUT", _PREFIX + "/third-parties", third_parties.put_parties),
    ("GET", _PREFIX + "/archive", archive.get_archive),
    ("PUT", _PREFIX + "/archive", archive.put_archive),
]

__all__ = ["ADMIN", "ADMIN_ROUTES", "AdminApi", "ApiError", "Caller"]
