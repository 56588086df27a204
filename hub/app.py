"""The hub's aiohttp application: routes, security headers, static console files."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from aiohttp import web
from aiohttp.typedefs import Handler

from hub.access_log import ACCESS_SINK, CLIENT_ADDRESS, install_log_filter
from hub.access_sink import AccessSink
from hub.admin import ADMIN, ADMIN_ROUTES, AdminApi
from hub.admission import install as install_admission
from hub.archive import ARCHIVE, Archive
from hub.auth import Clock, ConsoleAuth, LoginThrottle
from hub.config import HubConfig
from hub.console_ca import tenant_ca_route
from hub.governance.purger import Purger
from hub.pki.codes import CodeBook
from hub.pki.est import EST, EST_ROUTES, load_secret, start_enrolment
from hub.relay import RELAY, Relay
from hub.signalling import ENDPOINTS, SWITCHBOARD, Endpoints, Switchboard
from hub.storage import SqliteStorage, Storage, StorageUnavailable

log = logging.getLogger("hub.app")

T = TypeVar("T")

OpenStorage = Callable[[Path], Awaitable[Storage]]
CONFIG = web.AppKey("config", HubConfig)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
OPEN_STORAGE: web.AppKey[OpenStorage] = web.AppKey("open_storage")
STORAGE = web.AppKey("storage", Storage)
AUTH = web.AppKey("auth", ConsoleAuth)

# Exactly as in docs/signalling.md: no inline script, nothing from other origins.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob: mediastream:; connect-src 'self'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
# login is the largest body we read whole; the relay streams its uploads (hub/relay.py)
API_BODY_MAX = 16 * 1024


def create_app(
    config: HubConfig, *, clock: Clock = time.time, open_storage: OpenStorage = SqliteStorage.open
) -> web.Application:
    """Build the hub application; storage opens on startup and closes on cleanup.

    ``clock`` (seconds since the epoch) is injectable so tests can move time for login
    throttling and session expiry; ``open_storage`` so they can choose the engine's settings.
    """
    install_log_filter()  # aiohttp's own error messages name the client's IP
    app = web.Application(
        client_max_size=API_BODY_MAX, middlewares=[_client_address, _storage_unavailable]
    )
    app[CONFIG] = config
    app[CLOCK] = clock
    app[OPEN_STORAGE] = open_storage
    install_admission(app, config)  # bounds unauthenticated connections (run it with HubSite)
    app.cleanup_ctx.append(_hub_state)
    app.cleanup_ctx.append(_housekeeping)  # after storage opens, stopped before it closes
    app.on_response_prepare.append(_security_headers)
    app.on_shutdown.append(_close_websockets)
    app.router.add_get("/", _index)
    app.router.add_get("/admin", _admin_page)  # administrators and DPOs (docs/admin.md)
    app.router.add_get("/static/{path:.+}", _static)
    app.router.add_get("/api/csrf", _on(AUTH, ConsoleAuth.csrf))
    app.router.add_post("/api/login", _on(AUTH, ConsoleAuth.login))
    app.router.add_get("/api/session", _on(AUTH, ConsoleAuth.session))
    app.router.add_post("/api/logout", _on(AUTH, ConsoleAuth.logout))
    app.router.add_get(
        "/api/tenant-ca", tenant_ca_route(lambda r: r.app[AUTH], lambda r: r.app[EST].authorities)
    )
    relay_blob = "/api/relay/{consultation_id}/{blob}"
    app.router.add_post("/api/relay/{consultation_id}", _on(RELAY, Relay.upload))
    app.router.add_get(relay_blob, _on(RELAY, Relay.download))
    app.router.add_delete(relay_blob, _on(RELAY, Relay.delete))
    relay_transfer = "/api/relay/{consultation_id}/transfer/{transfer_id}"
    app.router.add_delete(relay_transfer, _on(RELAY, Relay.cancel))
    app.router.add_post("/api/archive/{consultation_id}", _on(ARCHIVE, Archive.upload))
    app.router.add_get("/api/archive/{archive_id}", _on(ARCHIVE, Archive.download))
    app.router.add_get("/ws/kiosk", _on(ENDPOINTS, Endpoints.kiosk))
    app.router.add_get("/ws/adviser", _on(ENDPOINTS, Endpoints.adviser))
    for method, path, handler in EST_ROUTES:  # enrolment (docs/enrolment.md)
        app.router.add_route(method, path, _on(EST, handler))
    for method, path, admin_handler in ADMIN_ROUTES:  # administration (docs/admin.md)
        app.router.add_route(method, path, _on(ADMIN, admin_handler))
    return app


def _on(
    key: web.AppKey[T], method: Callable[[T, web.Request], Awaitable[web.StreamResponse]]
) -> Handler:
    """A route to ``method`` of the object stored under ``key`` at startup (by ``_hub_state``).

    The routes are fixed when the application is built, the objects only once storage is open.
    """

    async def handler(request: web.Request) -> web.StreamResponse:
        return await method(request.app[key], request)

    return handler


async def _hub_state(app: web.Application) -> AsyncIterator[None]:
    config, clock = app[CONFIG], app[CLOCK]
    secret = load_secret(config)  # before the database opens: a bad secret file fails first
    storage = await app[OPEN_STORAGE](config.db_path)
    throttle = LoginThrottle(
        window_s=config.login_window_s,
        per_name=config.login_failures_per_name,
        per_ip=config.login_failures_per_ip,
        clock=clock,
    )
    auth = ConsoleAuth(config, storage, clock, throttle)
    try:
        est = await start_enrolment(config, storage, clock, secret, auth.client_ip)
    except BaseException:
        await storage.close()
        raise
    app[STORAGE] = storage
    app[AUTH] = auth
    app[EST] = est
    switchboard = Switchboard(config, storage, clock)
    auth.logout_listeners.append(switchboard.session_ended)
    app[SWITCHBOARD] = switchboard
    app[ENDPOINTS] = Endpoints(config, storage, clock, auth, switchboard, est.authorities)
    relay = Relay(config, storage, switchboard.registry, auth, switchboard.relay_tokens, clock)
    app[RELAY] = relay
    app[ARCHIVE] = Archive(config, storage, auth, switchboard.relay_tokens, clock)
    codes = None if secret is None else CodeBook(secret)
    app[ADMIN] = AdminApi(config, storage, clock, auth, switchboard, est.authorities, codes)
    try:
        await switchboard.restore()
        yield
    finally:
        relay.clear()
        await switchboard.drain()  # the consultation log's writes still under way
        await storage.close()


async def _housekeeping(app: web.Application) -> AsyncIterator[None]:
    """The access log's database copy and the retention purge, for the hub's lifetime."""
    storage, clock, interval_s = app[STORAGE], app[CLOCK], app[CONFIG].purge_interval_s
    sink = AccessSink(storage.governance.add_access_lines, clock)
    sink.start()
    app[ACCESS_SINK] = sink
    purge = None
    if interval_s > 0:
        purger = Purger(storage, clock, interval_s=interval_s)
        purge = asyncio.get_running_loop().create_task(purger.run(), name="purger")
    try:
        yield
    finally:
        if purge is not None:
            purge.cancel()
            await asyncio.gather(purge, return_exceptions=True)
        await sink.close()


async def _close_websockets(app: web.Application) -> None:
    if SWITCHBOARD in app:
        await app[SWITCHBOARD].shutdown()
    if RELAY in app:
        app[RELAY].clear()  # blobs never outlive the hub


@web.middleware
async def _client_address(request: web.Request, handler: Handler) -> web.StreamResponse:
    # For the access log: behind trusted proxies the client they saw, not the proxy.
    if AUTH in request.app:
        request[CLIENT_ADDRESS] = request.app[AUTH].client_ip(request)
    return await handler(request)


@web.middleware
async def _storage_unavailable(request: web.Request, handler: Handler) -> web.StreamResponse:
    # The database failed or stayed locked: the request gets a clear 503, the hub goes on.
    try:
        return await handler(request)
    except StorageUnavailable as exc:
        log.warning("answered 503: %s", exc)
        response = web.json_response(
            {"error": "unavailable", "message": "the hub's database is unavailable; try again"},
            status=503,
        )
        response.headers["Retry-After"] = "1"
        return response


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    # A response_prepare signal rather than a middleware: it also covers WebSocket upgrades,
    # file responses and the router's own 404/405, which are sent before a middleware returns.
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith(("/api/", "/ws/")):
        response.headers["Cache-Control"] = "no-store"


# -- the console's files ------------------------------------------------------


async def _index(request: web.Request) -> web.StreamResponse:
    return _file_response(request.app[CONFIG].web_root, "index.html")


async def _admin_page(request: web.Request) -> web.StreamResponse:
    return _file_response(request.app[CONFIG].web_root, "admin.html")


async def _static(request: web.Request) -> web.StreamResponse:
    return _file_response(request.app[CONFIG].web_root, request.match_info["path"])


def _file_response(root: Path, relative: str) -> web.StreamResponse:
    """A regular file strictly inside ``root``; 404 for anything else (dirs, escapes, dotfiles)."""
    parts = relative.split("/")
    if any(p in ("", ".", "..") or p.startswith(".") or "\\" in p or "\x00" in p for p in parts):
        raise web.HTTPNotFound()
    base = root.resolve()
    try:
        target = base.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError):
        raise web.HTTPNotFound() from None
    if not target.is_relative_to(base) or not target.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(target)
