"""Adviser login, sessions and CSRF for the console's JSON API (see docs/signalling.md).

Login uses a double-submit CSRF token (cookie ``kh_csrf`` = header ``X-CSRF-Token``); once
logged in, the session's own CSRF token guards logout and the adviser WebSocket hello.
"""

from __future__ import annotations

import asyncio
import hmac
import math
import secrets
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from hub.config import HubConfig
from hub.storage import PASSWORD_MAX, AdviserLogin, Storage, WebSession, secret_digest

SESSION_COOKIE = "kh_session"
CSRF_COOKIE = "kh_csrf"
CSRF_HEADER = "X-CSRF-Token"
LOGIN_FAILED = "wrong name or password"
_TOKEN_MAX = 128  # our tokens are 43 characters; anything much longer is junk

Clock = Callable[[], float]
LogoutListener = Callable[[str], Awaitable[None]]


def _json_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


class LoginThrottle:
    """Sliding-window count of failed logins per (ip, name) and per ip.

    Memory is bounded: at most ``max_keys`` keys are tracked, oldest evicted first.
    """

    def __init__(
        self,
        *,
        window_s: float,
        per_name: int,
        per_ip: int,
        clock: Clock,
        max_keys: int = 10_000,
    ) -> None:
        self._window = window_s
        self._limits = {"name": per_name, "ip": per_ip}
        self._clock = clock
        self._max_keys = max_keys
        self._failures: OrderedDict[tuple[str, ...], deque[float]] = OrderedDict()

    def _keys(self, ip: str, name: str) -> list[tuple[tuple[str, ...], int]]:
        return [
            (("name", ip, name.casefold()[:64]), self._limits["name"]),
            (("ip", ip), self._limits["ip"]),
        ]

    def _live(self, key: tuple[str, ...], now: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self._window:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, ip: str, name: str) -> float:
        """Seconds until another attempt is allowed; 0 when allowed now."""
        now = self._clock()
        wait = 0.0
        for key, limit in self._keys(ip, name):
            times = self._live(key, now)
            if len(times) >= limit:
                # allowed again when enough of the oldest failures leave the window
                wait = max(wait, times[len(times) - limit] + self._window - now)
        return wait

    def failed(self, ip: str, name: str) -> None:
        """Count one failed attempt."""
        now = self._clock()
        for key, _limit in self._keys(ip, name):
            times = self._live(key, now)
            times.append(now)
            self._failures[key] = times
            self._failures.move_to_end(key)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)

    def succeeded(self, ip: str, name: str) -> None:
        """Forget the failures of this (ip, name) pair; the per-ip count stays."""
        self._failures.pop(self._keys(ip, name)[0][0], None)


@dataclass(frozen=True)
class SessionCookie:
    """The session a request carries, with the raw id (needed to delete it)."""

    session_id: str
    session: WebSession

    @property
    def digest(self) -> str:
        """Stable identifier of the session that is safe to keep in memory and logs."""
        return secret_digest(self.session_id)


class ConsoleAuth:
    """Login, logout, session and CSRF endpoints of the console's JSON API."""

    def __init__(
        self, config: HubConfig, storage: Storage, clock: Clock, throttle: LoginThrottle
    ) -> None:
        self._config = config
        self._storage = storage
        self._clock = clock
        self._throttle = throttle
        self.logout_listeners: list[LogoutListener] = []

    # -- helpers ----------------------------------------------------------

    def cookie_secure(self, request: web.BaseRequest) -> bool:
        """Whether cookies get the Secure flag for this request."""
        if self._config.cookie_secure is not None:
            return self._config.cookie_secure
        if request.secure:
            return True
        if self._config.trust_proxy:
            proto = request.headers.get("X-Forwarded-Proto", "")
            return proto.split(",")[0].strip().lower() == "https"
        return False

    def client_ip(self, request: web.BaseRequest) -> str:
        """The client's address; behind a trusted proxy, the one the proxy appended last."""
        if self._config.trust_proxy:
            forwarded = request.headers.get("X-Forwarded-For", "")
            last = forwarded.rsplit(",", 1)[-1].strip()
            if last:
                return last[:64]
        return request.remote or "unknown"

    def _set_cookie(
        self, request: web.BaseRequest, response: web.StreamResponse, name: str, value: str
    ) -> None:
        response.set_cookie(
            name,
            value,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=self.cookie_secure(request),
        )

    def current_session(self, request: web.BaseRequest) -> SessionCookie | None:
        """The live session of the request's ``kh_session`` cookie, if any."""
        session_id = request.cookies.get(SESSION_COOKIE, "")
        if not session_id or len(session_id) > _TOKEN_MAX:
            return None
        session = self._storage.session(session_id, now=self._clock())
        return None if session is None else SessionCookie(session_id, session)

    # -- handlers ---------------------------------------------------------

    async def csrf(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/csrf``: a fresh pre-login token, in the body and the ``kh_csrf`` cookie."""
        token = secrets.token_urlsafe(32)
        response = web.json_response({"csrf": token})
        self._set_cookie(request, response, CSRF_COOKIE, token)
        return response

    async def login(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/login``: check CSRF, throttle, name and password; start a session."""
        if not _tokens_match(request.cookies.get(CSRF_COOKIE), request.headers.get(CSRF_HEADER)):
            return _json_error(403, "forbidden", "missing or wrong CSRF token; reload the page")
        credentials = await _read_credentials(request)
        if credentials is None:
            return _json_error(400, "invalid_request", 'send JSON {"name", "password"}')
        name, password = credentials
        ip = self.client_ip(request)
        wait = self._throttle.retry_after(ip, name)
        if wait > 0:
            response = _json_error(429, "rate_limited", "too many failed logins; try again later")
            response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
            return response
        login = await self._check_password(name, password)
        if login is None:
            self._throttle.failed(ip, name)
            return _json_error(401, "unauthorized", LOGIN_FAILED)
        self._throttle.succeeded(ip, name)
        now = self._clock()
        self._storage.purge_sessions(now=now)
        session_id, csrf = self._storage.create_session(
            login.adviser, now=now, lifetime_s=self._config.session_lifetime_s
        )
        response = web.json_response(
            {"adviser": login.adviser.name, "tenant": login.adviser.tenant.name, "csrf": csrf}
        )
        self._set_cookie(request, response, SESSION_COOKIE, session_id)
        return response

    async def _check_password(self, name: str, password: str) -> AdviserLogin | None:
        candidates = self._storage.adviser_logins(name)
        if not candidates:
            # verify against a dummy hash so an unknown name takes as long as a known one
            await asyncio.to_thread(self._storage.verify_password, None, password)
            return None
        # Names are unique per tenant; the same name in two tenants is told apart by password.
        for candidate in candidates:
            ok = await asyncio.to_thread(
                self._storage.verify_password, candidate.password_hash, password
            )
            if ok:
                return candidate
        return None

    async def session(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/session``: who is logged in, with the session's CSRF token."""
        current = self.current_session(request)
        if current is None:
            return _json_error(401, "unauthorized", "not logged in")
        adviser = current.session.adviser
        return web.json_response(
            {"adviser": adviser.name, "tenant": adviser.tenant.name, "csrf": current.session.csrf}
        )

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/logout``: end the session (CSRF = the session's token)."""
        current = self.current_session(request)
        if current is None:
            return _json_error(401, "unauthorized", "not logged in")
        if not _tokens_match(current.session.csrf, request.headers.get(CSRF_HEADER)):
            return _json_error(403, "forbidden", "missing or wrong CSRF token; reload the page")
        self._storage.delete_session(current.session_id)
        for listener in self.logout_listeners:
            await listener(current.digest)
        response = web.Response(status=204)
        response.del_cookie(
            SESSION_COOKIE,
            path="/",
            secure=self.cookie_secure(request),
            httponly=True,
            samesite="Strict",
        )
        return response


def _tokens_match(expected: str | None, given: str | None) -> bool:
    if not expected or not given or len(expected) > _TOKEN_MAX or len(given) > _TOKEN_MAX:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


async def _read_credentials(request: web.Request) -> tuple[str, str] | None:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(body, dict) or set(body) != {"name", "password"}:
        return None
    name, password = body["name"], body["password"]
    if not isinstance(name, str) or not isinstance(password, str):
        return None
    if not name or len(name) > 256 or not password or len(password) > PASSWORD_MAX:
        return None
    return name, password
