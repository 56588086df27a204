"""The hub's aiohttp application: routes, security headers, static console files."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler

from hub.access_log import CLIENT_ADDRESS, install_log_filter
from hub.admission import install as install_admission
from hub.auth import Clock, ConsoleAuth, LoginThrottle
from hub.config import HubConfig
from hub.relay import RELAY, Relay
from hub.signalling import SWITCHBOARD, Switchboard
from hub.storage import Storage

CONFIG = web.AppKey("config", HubConfig)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
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


def create_app(config: HubConfig, *, clock: Clock = time.time) -> web.Application:
    """Build the hub application; storage opens on startup and closes on cleanup.

    ``clock`` (seconds since the epoch) is injectable so tests can move time for login
    throttling and session expiry.
    """
    install_log_filter()  # aiohttp's own error messages name the client's IP
    app = web.Application(client_max_size=API_BODY_MAX, middlewares=[_client_address])
    app[CONFIG] = config
    app[CLOCK] = clock
    install_admission(app, config)  # bounds unauthenticated connections (run it with HubSite)
    app.cleanup_ctx.append(_hub_state)
    app.on_response_prepare.append(_security_headers)
    app.on_shutdown.append(_close_websockets)
    app.router.add_get("/", _index)
    app.router.add_get("/static/{path:.+}", _static)
    app.router.add_get("/api/csrf", _csrf)
    app.router.add_post("/api/login", _login)
    app.router.add_get("/api/session", _session)
    app.router.add_post("/api/logout", _logout)
    app.router.add_post("/api/relay/{consultation_id}", _relay_upload)
    app.router.add_get("/api/relay/{consultation_id}/{blob}", _relay_download)
    app.router.add_delete("/api/relay/{consultation_id}/{blob}", _relay_delete)
    app.router.add_delete("/api/relay/{consultation_id}/transfer/{transfer_id}", _relay_cancel)
    app.router.add_get("/ws/kiosk", _kiosk_ws)
    app.router.add_get("/ws/adviser", _adviser_ws)
    return app


async def _hub_state(app: web.Application) -> AsyncIterator[None]:
    config, clock = app[CONFIG], app[CLOCK]
    storage = Storage.open(config.db_path)
    throttle = LoginThrottle(
        window_s=config.login_window_s,
        per_name=config.login_failures_per_name,
        per_ip=config.login_failures_per_ip,
        clock=clock,
    )
    auth = ConsoleAuth(config, storage, clock, throttle)
    app[STORAGE] = storage
    app[AUTH] = auth
    switchboard = Switchboard(config, storage, clock, auth)
    app[SWITCHBOARD] = switchboard
    relay = Relay(config, storage, switchboard, auth)
    app[RELAY] = relay
    switchboard.restore()
    try:
        yield
    finally:
        relay.clear()
        storage.close()


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


async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
    # A response_prepare signal rather than a middleware: it also covers WebSocket upgrades,
    # file responses and the router's own 404/405, which are sent before a middleware returns.
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith(("/api/", "/ws/")):
        response.headers["Cache-Control"] = "no-store"


# -- handlers: thin delegates to the objects created at startup ---------------


async def _csrf(request: web.Request) -> web.StreamResponse:
    return await request.app[AUTH].csrf(request)


async def _login(request: web.Request) -> web.StreamResponse:
    return await request.app[AUTH].login(request)


async def _session(request: web.Request) -> web.StreamResponse:
    return await request.app[AUTH].session(request)


async def _logout(request: web.Request) -> web.StreamResponse:
    return await request.app[AUTH].logout(request)


async def _relay_upload(request: web.Request) -> web.StreamResponse:
    return await request.app[RELAY].upload(request)


async def _relay_download(request: web.Request) -> web.StreamResponse:
    return await request.app[RELAY].download(request)


async def _relay_delete(request: web.Request) -> web.StreamResponse:
    return await request.app[RELAY].delete(request)


async def _relay_cancel(request: web.Request) -> web.StreamResponse:
    return await request.app[RELAY].cancel(request)


async def _kiosk_ws(request: web.Request) -> web.StreamResponse:
    return await request.app[SWITCHBOARD].kiosk_endpoint(request)


async def _adviser_ws(request: web.Request) -> web.StreamResponse:
    return await request.app[SWITCHBOARD].adviser_endpoint(request)


async def _index(request: web.Request) -> web.StreamResponse:
    return _file_response(request.app[CONFIG].web_root, "index.html")


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
