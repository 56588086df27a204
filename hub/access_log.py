"""Access log without personal data: anonymised IP, path without query, never cookies."""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import time
from typing import Protocol

from aiohttp import HttpVersion10, web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import (
    BadHttpMethod,
    BadStatusLine,
    HttpProcessingError,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
)

from hub.log_throttle import ThrottledLog


def anonymise_ip(address: str | None) -> str:
    """IPv4 with the last octet zeroed, IPv6 truncated to its /48; anything else as '-'."""
    if not address:
        return "-"
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return "-"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


# aiohttp's own loggers; "aiohttp.server" writes "Error handling request from <ip>".
AIOHTTP_LOGGERS = (
    "aiohttp.access",
    "aiohttp.client",
    "aiohttp.internal",
    "aiohttp.server",
    "aiohttp.web",
    "aiohttp.websocket",
)
# Anything that might be an IPv4 or IPv6 address (with an optional zone); checked properly below.
_ADDRESS_LIKE = re.compile(r"[0-9A-Fa-f:.]*[:.][0-9A-Fa-f:.]*(?:%[\w.-]+)?")


def _anonymise_text(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        address = token.split("%", 1)[0]  # the zone (interface name) goes too
        stripped = address.strip(".")
        try:
            ipaddress.ip_address(stripped)
        except ValueError:
            return token
        return address.replace(stripped, anonymise_ip(stripped), 1)

    return _ADDRESS_LIKE.sub(replace, text)


# aiohttp's parser errors, most specific first: their messages and tracebacks quote the
# request's bytes, so a record carrying one becomes a fixed text per class.
_MALFORMED: tuple[tuple[type[HttpProcessingError], str, str], ...] = (
    (LineTooLong, "line_too_long", "malformed HTTP request: request line or a header too long"),
    (BadHttpMethod, "bad_method", "malformed HTTP request: bad method (TLS or not HTTP at all?)"),
    (BadStatusLine, "bad_request_line", "malformed HTTP request: bad request line"),
    (InvalidURLError, "bad_url", "malformed HTTP request: invalid URL"),
    (InvalidHeader, "bad_header", "malformed HTTP request: invalid header"),
    (HttpProcessingError, "bad_message", "malformed HTTP request: bad headers or framing"),
)
# aiohttp messages whose arguments are request bytes: logged as a fixed text instead.
_ECHOING = {
    "%s: Client protocols %r don\u2019t overlap server-known ones %r": (
        "a WebSocket client offered only subprotocols the hub does not speak"
    ),
    "Cannot load cookie. Illegal cookie names: %r": "ignored cookies with illegal names",
}


def malformed_kind(record: logging.LogRecord) -> tuple[str, str] | None:
    """(event class, fixed text) when ``record`` reports a request aiohttp could not parse."""
    exc = record.exc_info[1] if isinstance(record.exc_info, tuple) else None
    for kind, key, text in _MALFORMED:
        if isinstance(exc, kind):
            return key, text
    return None


class AnonymisingFilter(logging.Filter):
    """Rewrites a log record so that no full IP address is left in its message or traceback.

    Records that would quote a client's bytes (a malformed request's parser error, a few
    aiohttp warnings) become a fixed text without traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Anonymise, never drop."""
        malformed = malformed_kind(record)
        fixed = malformed[1] if malformed else _ECHOING.get(str(record.msg))
        if fixed is not None:
            record.msg, record.args = fixed, None
            record.exc_info, record.exc_text = None, None
            return True
        message = record.getMessage()
        record.msg = _anonymise_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = _anonymise_text(record.exc_text)
        return True


def install_log_filter() -> None:
    """Put an ``AnonymisingFilter`` on each of aiohttp's loggers (once)."""
    for name in AIOHTTP_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, AnonymisingFilter) for f in logger.filters):
            logger.addFilter(AnonymisingFilter())


SERVER_LOGGER = "aiohttp.server"


class MalformedRequestFilter(logging.Filter):
    """Counts malformed requests into a ``ThrottledLog`` (one line per class and interval).

    Other records pass if ``aiohttp.server`` is enabled for their level.
    """

    def __init__(self, summary: ThrottledLog) -> None:
        super().__init__()
        self._summary = summary
        self._upstream = logging.getLogger(SERVER_LOGGER)

    def filter(self, record: logging.LogRecord) -> bool:
        """Drop (and count) a malformed request's record; keep the rest at their level."""
        kind = malformed_kind(record)
        if kind is not None:
            self._summary.hit(*kind)
            return False
        return self._upstream.isEnabledFor(record.levelno)


def server_logger(malformed: ThrottledLog) -> logging.Logger:
    """The logger for one hub's request handlers (``AppRunner(logger=...)``).

    Not registered with ``logging``, so its filters and counts belong to this hub alone; its
    records go on to ``aiohttp.server``'s handlers. It lets every level through to the filter
    (aiohttp reports some malformed requests at DEBUG), which applies the real level.
    """
    logger = logging.Logger(SERVER_LOGGER, logging.DEBUG)
    logger.parent = logging.getLogger(SERVER_LOGGER)
    logger.addFilter(MalformedRequestFilter(malformed))
    logger.addFilter(AnonymisingFilter())
    return logger


RELAY_PREFIX = "/api/relay/"
EST_PREFIX = "/.well-known/est/"
# RFC 7030's operations: the one part of an EST path the log keeps
EST_OPERATIONS = frozenset(
    {"cacerts", "simpleenroll", "simplereenroll", "crl", "csrattrs", "serverkeygen", "fullcmc"}
)
# The client address the app resolved (behind trusted proxies: the forwarded one); a request
# that never reached the app's middlewares is logged by its TCP peer (malformed ones not at all).
CLIENT_ADDRESS = web.RequestKey("client_address", str)
# The tenant a request acted for, set by whoever learns it (console auth, a kiosk's hello); the
# database's copy of the line carries it so each tenant's retention and console see their own.
ACCESS_TENANT = web.RequestKey("access_tenant", int)


class AccessLineSink(Protocol):
    """Where the database's copy of each line goes (``hub.access_sink.AccessSink``)."""

    def add(
        self,
        *,
        tenant_id: int | None,
        client: str,
        method: str,
        path: str,
        status: int,
        bytes_: int,
        duration_ms: float,
    ) -> None:
        """Take one anonymised line without blocking."""


ACCESS_SINK: web.AppKey[AccessLineSink] = web.AppKey("access_sink")


# Paths whose next segment names a person or a conversation (an adviser's account name, a
# conversation reference, a consultation id or an archived item's id): logged as "-", so the
# log cannot be linked to either.
NAMED_PREFIXES = ("/api/admin/accounts/", "/api/admin/requests/", "/api/archive/")


def _loggable_path(path: str) -> str:
    """The path cut to 300 characters; of a relay path only the prefix (no blob ids), of an
    EST path only the operation (``/.well-known/est/-/cacerts``: no code ids, no tenants);
    account names and conversation references masked (``NAMED_PREFIXES``)."""
    for prefix in NAMED_PREFIXES:
        if path.startswith(prefix):
            rest = path[len(prefix) :].split("/", 1)
            return (prefix + "-" + ("/" + rest[1] if len(rest) > 1 else ""))[:300]
    if path.startswith(RELAY_PREFIX):
        return RELAY_PREFIX + "-"
    if path.startswith(EST_PREFIX):
        parts = path[len(EST_PREFIX) :].split("/")
        operation = parts[-1] if parts[-1] in EST_OPERATIONS and len(parts) <= 2 else "-"
        return EST_PREFIX + ("-/" if len(parts) > 1 else "") + operation
    return path[:300]


def _unparsed(request: web.BaseRequest, response: web.StreamResponse) -> bool:
    # aiohttp answers a request it could not parse as this placeholder: UNKNOWN / HTTP/1.0,
    # no headers at all (a parsed request without a route gets 404/405, not 400)
    return (
        response.status == 400
        and request.method == "UNKNOWN"
        and request.version == HttpVersion10
        and not request.raw_headers
    )


class HubAccessLogger(AbstractAccessLogger):
    """One line per request: time, IP/24 or /48, method, path, status, bytes, user agent.

    Pass it as ``access_log_class`` to ``web.AppRunner``; the path and user agent are written
    JSON-quoted so a crafted request cannot forge log lines.
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time_: float) -> None:
        """Write the line for one finished request (not for one that could not be parsed)."""
        if _unparsed(request, response):
            return  # counted by MalformedRequestFilter: one line per class and interval
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        agent = request.headers.get("User-Agent", "-")[:200]
        client = anonymise_ip(request.get(CLIENT_ADDRESS, request.remote))
        method, path = request.method[:16], _loggable_path(request.rel_url.path)
        self.logger.info(
            "%s %s %s %s %d %d %s %.3f",
            stamp,
            client,
            method,
            json.dumps(path),
            response.status,
            response.body_length,
            json.dumps(agent),
            time_,
        )
        sink = request.app.get(ACCESS_SINK) if isinstance(request, web.Request) else None
        if sink is not None:  # no user agent there: it adds little and can identify a person
            sink.add(
                tenant_id=request.get(ACCESS_TENANT),
                client=client,
                method=method,
                path=path,
                status=response.status,
                bytes_=response.body_length,
                duration_ms=max(0.0, round(time_ * 1000, 3)),
            )
