"""Who may call the administration API, and the plumbing every handler shares.

Every handler starts with ``AdminApi.caller``: a live session (401 otherwise), a role of
``admin`` or ``dpo`` (advisers get 403), the session's CSRF token on every mutation, and
``admin`` for changes a data-protection officer may not make. Everything is then scoped to the
session's tenant: another tenant's name or reference answers exactly like an unknown one.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from hub.auth import CSRF_HEADER, Clock, ConsoleAuth, LoginThrottle, tokens_match
from hub.config import HubConfig
from hub.pki.authorities import Authorities
from hub.pki.codes import CodeBook
from hub.signalling.switchboard import Switchboard
from hub.storage import (
    DuplicateName,
    InvalidName,
    InvalidSetting,
    NotFound,
    Storage,
    StorageError,
    Tenant,
    WeakPassword,
)

# Admin bodies are a few small fields; a tighter bound than the hub's 16 KiB.
BODY_MAX = 4096
STATS_AT_ONCE = 2  # statistics queries running at once, hub-wide
STATS_PER_MINUTE = 20  # per session

Handler = Callable[["AdminApi", web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """A refusal with its HTTP status, a machine-readable code and a message for people."""

    def __init__(
        self, status: int, code: str, message: str, *, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    def response(self) -> web.Response:
        """The JSON error body every hub API uses: ``{"error", "message"}``."""
        body = {"error": self.code, "message": self.message}
        response = web.json_response(body, status=self.status)
        if self.retry_after is not None:
            response.headers["Retry-After"] = str(self.retry_after)
        return response


def not_found(what: str) -> ApiError:
    """The one answer for unknown and other tenants' things alike."""
    return ApiError(404, "not_found", f"no such {what} in your tenant")


def bad_request(message: str, code: str = "invalid_request") -> ApiError:
    """A 400 for a body or query the API cannot use."""
    return ApiError(400, code, message)


def storage_refusal(exc: StorageError, what: str) -> ApiError:
    """Map what storage refused to the API's answer (NotFound never names the thing)."""
    if isinstance(exc, NotFound):
        return not_found(what)
    if isinstance(exc, DuplicateName):
        return ApiError(409, "duplicate_name", str(exc))
    if isinstance(exc, WeakPassword):
        return ApiError(400, "weak_password", str(exc))
    if isinstance(exc, InvalidName):
        return ApiError(400, "invalid_name", str(exc))
    if isinstance(exc, InvalidSetting):
        return ApiError(400, "invalid_setting", str(exc))
    raise exc  # StorageUnavailable and bugs: the app's middleware answers 503 / 500


@dataclass(frozen=True)
class Caller:
    """The signed-in administrator or data-protection officer making a request."""

    name: str
    role: str
    tenant: Tenant
    session_digest: str

    @property
    def actor(self) -> str:
        """How the audit log names them, e.g. ``admin:alice``."""
        return f"{self.role}:{self.name}"


class StatsLimit:
    """At most ``STATS_AT_ONCE`` statistics queries at once in the hub, and
    ``STATS_PER_MINUTE`` per session; memory bounded like the login throttle."""

    _KEY = "stats"

    def __init__(self, clock: Clock) -> None:
        self.running = 0
        # keyed by session digest: a LoginThrottle's "ip" may be any string
        self._window = LoginThrottle(
            window_s=60.0, per_name=STATS_PER_MINUTE, per_ip=STATS_PER_MINUTE, clock=clock
        )

    def enter(self, session_digest: str) -> None:
        """Take a slot for one query, or raise a 429 ``ApiError``; ``leave`` gives it back."""
        wait = self._window.retry_after(session_digest, self._KEY)
        if wait > 0:
            raise rate_limited(wait, "too many statistics queries; try again in a minute")
        if self.running >= STATS_AT_ONCE:
            raise rate_limited(1.0, "the hub is busy with statistics; try again in a moment")
        self._window.failed(session_digest, self._KEY)  # counts every query
        self.running += 1

    def leave(self) -> None:
        """A query took by ``enter`` has finished."""
        self.running -= 1


class AdminApi:
    """What the administration handlers need: storage, clock, auth, live connections, codes.

    ``codes`` is None without a hub secret (enrolment codes are then refused with 409).
    """

    def __init__(
        self,
        config: HubConfig,
        storage: Storage,
        clock: Clock,
        auth: ConsoleAuth,
        switchboard: Switchboard,
        authorities: Authorities,
        codes: CodeBook | None,
    ) -> None:
        self.config = config
        self.storage = storage
        self.clock = clock
        self.auth = auth
        self.switchboard = switchboard
        self.authorities = authorities
        self.codes = codes
        self.stats_limit = StatsLimit(clock)

    async def caller(
        self, request: web.Request, *, write: bool = False, admin_only: bool = False
    ) -> Caller:
        """The request's administrator or DPO; ``ApiError`` 401/403 otherwise.

        ``write``: a mutation, which needs the session's ``X-CSRF-Token``; ``admin_only``: a
        change a data-protection officer may not make.
        """
        current = await self.auth.current_session(request)
        if current is None:
            raise ApiError(401, "unauthorized", "not logged in")
        account = current.session.adviser
        if account.role not in ("admin", "dpo"):
            raise ApiError(403, "forbidden", "only administrators and data-protection officers")
        if write and not tokens_match(current.session.csrf, request.headers.get(CSRF_HEADER)):
            raise ApiError(403, "forbidden", "missing or wrong CSRF token; reload the page")
        if admin_only and account.role != "admin":
            raise ApiError(403, "forbidden", "only an administrator may change this")
        return Caller(account.name, account.role, account.tenant, current.digest)


def route(handler: Handler) -> Handler:
    """Answer an ``ApiError`` raised anywhere in ``handler`` with its JSON error."""

    async def wrapped(api: AdminApi, request: web.Request) -> web.StreamResponse:
        try:
            return await handler(api, request)
        except ApiError as exc:
            return exc.response()

    wrapped.__doc__ = handler.__doc__
    return wrapped


async def read_body(request: web.Request) -> Any:
    """The request's JSON body (at most ``BODY_MAX`` bytes); ``ApiError`` 400/413 otherwise."""
    if request.content_length is not None and request.content_length > BODY_MAX:
        raise ApiError(413, "too_large", f"send at most {BODY_MAX} bytes")
    raw = await request.content.read(BODY_MAX + 1)
    if len(raw) > BODY_MAX:
        raise ApiError(413, "too_large", f"send at most {BODY_MAX} bytes")
    try:
        return json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):  # deep nesting: RecursionError
        raise bad_request("send a JSON body", "invalid_json") from None


async def read_object(
    request: web.Request, fields: Mapping[str, Callable[[Any], bool]], *, required: bool = True
) -> dict[str, Any]:
    """A JSON object with only ``fields`` (each value passing its check); all of them when
    ``required``, else at least one."""
    body = await read_body(request)
    names = ", ".join(f'"{f}"' for f in fields)
    if not isinstance(body, dict):
        raise bad_request(f"send a JSON object with {names}")
    extra = set(body) - set(fields)
    if extra or not body or (required and set(body) != set(fields)):
        raise bad_request(f"send a JSON object with {'exactly' if required else 'some of'} {names}")
    for name, check in fields.items():
        if name in body and not check(body[name]):
            raise bad_request(f'"{name}" has the wrong type or length')
    return body


def is_text(limit: int) -> Callable[[Any], bool]:
    """A check for a string of 1 to ``limit`` characters."""
    return lambda value: isinstance(value, str) and 0 < len(value) <= limit


def is_int(value: Any) -> bool:
    """A JSON integer (not a boolean, not a float)."""
    return isinstance(value, int) and not isinstance(value, bool)


def query_int(
    request: web.Request, name: str, *, default: int | None, low: int, high: int
) -> int | None:
    """An integer query parameter within [low, high] (``default`` when absent)."""
    text = request.query.get(name)
    if text is None:
        return default
    if not text.isdigit() or len(text) > 12 or not low <= int(text) <= high:
        raise bad_request(f"{name} must be a whole number from {low} to {high}")
    return int(text)


def rate_limited(wait_s: float, message: str) -> ApiError:
    """A 429 with ``Retry-After`` (whole seconds, at least 1)."""
    return ApiError(429, "rate_limited", message, retry_after=max(1, math.ceil(wait_s)))
