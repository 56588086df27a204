"""Access log without personal data: anonymised IP, path without query, never cookies."""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import time

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger


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


class AnonymisingFilter(logging.Filter):
    """Rewrites a log record so that no full IP address is left in its message or traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Anonymise, never drop."""
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


RELAY_PREFIX = "/api/relay/"


def _loggable_path(path: str) -> str:
    """The path cut to 300 characters; of a relay path only the prefix (no blob ids)."""
    if path.startswith(RELAY_PREFIX):
        return RELAY_PREFIX + "-"
    return path[:300]


class HubAccessLogger(AbstractAccessLogger):
    """One line per request: time, IP/24 or /48, method, path, status, bytes, user agent.

    Pass it as ``access_log_class`` to ``web.AppRunner``; the path and user agent are written
    JSON-quoted so a crafted request cannot forge log lines.
    """

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time_: float) -> None:
        """Write the line for one finished request."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        agent = request.headers.get("User-Agent", "-")[:200]
        self.logger.info(
            "%s %s %s %s %d %d %s %.3f",
            stamp,
            anonymise_ip(request.remote),
            request.method[:16],
            json.dumps(_loggable_path(request.rel_url.path)),
            response.status,
            response.body_length,
            json.dumps(agent),
            time_,
        )
