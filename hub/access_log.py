"""Access log without personal data: anonymised IP, path without query, never cookies."""

from __future__ import annotations

import ipaddress
import json
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
            json.dumps(request.rel_url.path[:300]),
            response.status,
            response.body_length,
            json.dumps(agent),
            time_,
        )
