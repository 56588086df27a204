"""Console login, sessions and CSRF for the console's JSON API (see docs/signalling.md).

Accounts of every role (adviser, admin, dpo) log in here; a disabled account cannot.

Login uses a double-submit CSRF token (cookie ``kh_csrf`` = header ``X-CSRF-Token``); once
logged in, the session's own CSRF token guards logout and the adviser WebSocket hello.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
import math
import secrets
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from hub.access_log import ACCESS_TENANT
from hub.config import HubConfig
from hub.forwarded import TrustedProxies
from hub.storage import PASSWORD_MAX, AdviserLogin, Storage, WebSession, secret_digest

log = logging.getLogger(__name__)

SESSION_COOKIE = "kh_session"
CSRF_COOKIE = "kh_csrf"
CSRF_HEADER = "X-CSRF-Token"
LOGIN_FAILED = "wrong name or password"
_TOKEN_MAX = 128  # our tokens are 43 characters; anything much longer is junk

Clock = Callable[[], float]
LogoutListener = Callable[[str], Awaitable[None]]


def _json_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": code, "message": message}, status=status)


def throttle_key(ip: str) -> str:
    """The address a throttle counts against: IPv6 by its /64 (one host's usual share)."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


class LoginThrottle:
    """Sliding-window count of failed logins per (ip, name) and per ip (IPv6: per /64).

    An attempt is counted as a failure *before* the password is checked (``reserve``) and
    taken back when it succeeds (``succeeded``), so parallel requests cannot all slip in
    under the limit while the slow password checks run. Memory is bounded: at most
    ``max_keys`` keys are tracked, oldest evicted first.
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
        ip = throttle_key(ip)
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

    def reserve(self, ip: str, name: str) -> float | None:
        """Count an attempt as failed up front; None when limited (see ``retry_after``).

        Returns the attempt's time, which ``release`` and ``succeeded`` need to take it back.
        """
        if self.retry_after(ip, name) > 0:
            return None
        return self.failed(ip, name)

    def failed(self, ip: str, name: str) -> float:
        """Count one failed attempt; return its time."""
        now = self._clock()
        for key, _limit in self._keys(ip, name):
            times = self._live(key, now)
            times.append(now)
            self._failures[key] = times
            self._failures.move_to_end(key)
        while len(self._failures) > self._max_keys:
            self._failures.popitem(last=False)
        return now

    def release(self, ip: str, name: str, attempt: float) -> None:
        """Take back an attempt reserved with ``reserve`` (it was never checked)."""
        for key, _limit in self._keys(ip, name):
            times = self._failures.get(key)
            if times is not None and attempt in times:
                times.remove(attempt)
                if not times:
                    del self._failures[key]

    def succeeded(self, ip: str, name: str, attempt: float | None = None) -> None:
        """Forget the failures of this (ip, name) pair and take back ``attempt``.

        Earlier failures of the ip stay counted.
        """
        if attempt is not None:
            self.release(ip, name, attempt)
        self._failures.pop(self._keys(ip, name)[0][0], None)

    def tracked_keys(self) -> list[tuple[str, ...]]:
        """The keys with failures kept, oldest first (at most ``max_keys``)."""
        return list(self._failures)


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
        # argon2 is deliberately slow and memory-hungry: only a few checks at a time.
        self._verifications = asyncio.Semaphore(config.login_verify_concurrency)
        self.logout_listeners: list[LogoutListener] = []
        self._proxies = TrustedProxies(config.trusted_proxies)
        self._warned_no_forwarded_for = False

    @property
    def throttle(self) -> LoginThrottle:
        """The failed-login counter the login endpoint consults."""
        return self._throttle

    # -- helpers ----------------------------------------------------------

    def cookie_secure(self, request: web.BaseRequest) -> bool:
        """Whether cookies get the Secure flag for this request."""
        if self._config.cookie_secure is not None:
            return self._config.cookie_secure
        return self.secure_request(request)

    def secure_request(self, request: web.BaseRequest) -> bool:
        """Whether the client used TLS: to the hub, or to a trusted proxy that says so."""
        if request.secure:
            return True
        forwarded = request.headers.getall("X-Forwarded-Proto", [])
        return self._proxies.proto(request.remote, forwarded) == "https"

    def client_ip(self, request: web.BaseRequest) -> str:
        """The client's address: the TCP peer, or what trusted proxies saw (hub/forwarded.py)."""
        forwarded = request.headers.getall("X-Forwarded-For", [])
        if not forwarded and not self._warned_no_forwarded_for:
            if self._proxies.trusts_peer(request.remote):
                # Every client would share the proxy's throttle key: say so once.
                self._warned_no_forwarded_for = True
                log.warning(
                    "a trusted proxy sent a request without X-Forwarded-For; configure it to "
                    "set the header (README: production), or all clients share one login limit"
                )
        return self._proxies.client(request.remote, forwarded) or "unknown"

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

    async def current_session(self, request: web.BaseRequest) -> SessionCookie | None:
        """The live session of the request's ``kh_session`` cookie, if any."""
        session_id = request.cookies.get(SESSION_COOKIE, "")
        if not session_id or len(session_id) > _TOKEN_MAX:
            return None
        session = await self._storage.session(session_id, now=self._clock())
        if session is None:
            return None
        request[ACCESS_TENANT] = session.adviser.tenant.id  # the access line's tenant
        return SessionCookie(session_id, session)

    async def session_with_csrf(
        self, request: web.BaseRequest
    ) -> tuple[SessionCookie | None, bool]:
        """The request's live session and whether its ``X-CSRF-Token`` is the session's.

        For API calls other than the JSON login flow (the relay): (None, False) when not
        logged in, (session, False) when the CSRF header is missing or wrong.
        """
        current = await self.current_session(request)
        if current is None:
            return None, False
        return current, tokens_match(current.session.csrf, request.headers.get(CSRF_HEADER))

    # -- handlers ---------------------------------------------------------

    async def csrf(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/csrf``: a fresh pre-login token, in the body and the ``kh_csrf`` cookie."""
        token = secrets.token_urlsafe(32)
        response = web.json_response({"csrf": token})
        self._set_cookie(request, response, CSRF_COOKIE, token)
        return response

    async def login(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/login``: check CSRF, throttle, name and password; start a session."""
        if not tokens_match(request.cookies.get(CSRF_COOKIE), request.headers.get(CSRF_HEADER)):
            return _json_error(403, "forbidden", "missing or wrong CSRF token; reload the page")
        credentials = await _read_credentials(request)
        if credentials is None:
            return _json_error(400, "invalid_request", 'send JSON {"name", "password"}')
        name, password = credentials
        ip = self.client_ip(request)
        # Reserve the attempt (counted as failed) before the slow check, so that parallel
        # requests see each other; a success takes it back.
        attempt = self._throttle.reserve(ip, name)
        if attempt is None:
            return _rate_limited(
                self._throttle.retry_after(ip, name), "too many failed logins; try again later"
            )
        try:
            async with asyncio.timeout(self._config.login_verify_wait_s):
                await self._verifications.acquire()
        except TimeoutError:
            self._throttle.release(ip, name, attempt)  # not checked, so not a failure
            return _rate_limited(1.0, "too many logins at once; try again in a moment")
        try:
            login = await self._check_password(name, password)
        finally:
            self._verifications.release()
        if login is None:
            return _json_error(401, "unauthorized", LOGIN_FAILED)
        self._throttle.succeeded(ip, name, attempt)
        now = self._clock()
        await self._storage.purge_sessions(now=now)
        session_id, csrf = await self._storage.create_session(
            login.adviser, now=now, lifetime_s=self._config.session_lifetime_s
        )
        response = web.json_response(
            {
                "adviser": login.adviser.name,
                "tenant": login.adviser.tenant.name,
                "role": login.adviser.role,
                "csrf": csrf,
            }
        )
        self._set_cookie(request, response, SESSION_COOKIE, session_id)
        return response

    async def _check_password(self, name: str, password: str) -> AdviserLogin | None:
        # Adviser names are unique across tenants, so there is at most one candidate.
        candidate = await self._storage.adviser_login(name)
        # an unknown name is checked against a dummy hash, so it takes as long as a known one;
        # the check runs on a worker thread (neither the loop nor the database's)
        password_hash = None if candidate is None else candidate.password_hash
        ok = await self._storage.verify_password(password_hash, password)
        # a disabled account gets the usual answer, after the same check (no timing tell)
        if not ok or candidate is None or candidate.disabled:
            return None
        return candidate

    async def session(self, request: web.Request) -> web.StreamResponse:
        """``GET /api/session``: who is logged in, with the session's CSRF token.

        Signed out is an answer, not an error: 200 ``{"signed_in": false}``, so the console's
        check on every page load leaves no failed request behind.
        """
        current = await self.current_session(request)
        if current is None:
            return web.json_response({"signed_in": False})
        adviser = current.session.adviser
        return web.json_response(
            {
                "signed_in": True,
                "adviser": adviser.name,
                "tenant": adviser.tenant.name,
                "role": adviser.role,
                "csrf": current.session.csrf,
            }
        )

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """``POST /api/logout``: end the session (CSRF = the session's token)."""
        current = await self.current_session(request)
        if current is None:
            return _json_error(401, "unauthorized", "not logged in")
        if not tokens_match(current.session.csrf, request.headers.get(CSRF_HEADER)):
            return _json_error(403, "forbidden", "missing or wrong CSRF token; reload the page")
        await self._storage.delete_session(current.session_id)
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


def _rate_limited(wait: float, message: str) -> web.Response:
    response = _json_error(429, "rate_limited", message)
    response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
    return response


def tokens_match(expected: str | None, given: str | None) -> bool:
    """Whether a CSRF token matches the expected one (constant time; absent or huge: no)."""
    if not expected or not given or len(expected) > _TOKEN_MAX or len(given) > _TOKEN_MAX:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


async def _read_credentials(request: web.Request) -> tuple[str, str] | None:
    try:
        body = await request.json()
    except (ValueError, UnicodeDecodeError, RecursionError):  # deep nesting: RecursionError
        return None
    if not isinstance(body, dict) or set(body) != {"name", "password"}:
        return None
    name, password = body["name"], body["password"]
    if not isinstance(name, str) or not isinstance(password, str):
        return None
    if not name or len(name) > 256 or not password or len(password) > PASSWORD_MAX:
        return None
    return name, password
