"""Which client a request came from when reverse proxies sit in front of the hub.

Forwarded headers (``X-Forwarded-For``, ``X-Forwarded-Proto``) are believed only when the TCP
peer is one of the configured trusted proxies (``kiosk-hub serve --trusted-proxy CIDR``). The
client is then found as nginx's ``real_ip_recursive`` does: walk ``X-Forwarded-For`` from the
right, skip entries that are themselves trusted proxies, take the first one that is not. Each
trusted proxy appends the address it saw, so everything left of that entry was written by the
client and never decides anything. Pure functions: no I/O, no aiohttp.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Longest sensible entry: a bracketed IPv6 address with a zone and a port.
_ENTRY_MAX = 100
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
FORWARDED_PROTOS = ("http", "https")


class InvalidTrustedProxy(ValueError):
    """A ``--trusted-proxy`` value that is not an IPv4/IPv6 address or network."""


def parse_trusted_proxy(text: str) -> IPNetwork:
    """``192.0.2.10``, ``10.0.0.0/8``, ``::1`` or ``2001:db8::/64`` as a network.

    Raises ``InvalidTrustedProxy`` with a message naming the value and what to write instead.
    """
    value = text.strip()
    example = "write e.g. 127.0.0.1, 10.0.0.0/8 or 2001:db8::/64"
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        try:
            loose = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise InvalidTrustedProxy(
                f"trusted proxy {text!r} is not an IPv4 or IPv6 address or network ({exc}); "
                f"{example}"
            ) from None
        host = value.split("/", 1)[0]
        raise InvalidTrustedProxy(
            f"trusted proxy {text!r} has host bits set: write {loose} for the network "
            f"or {host} for one proxy"
        ) from None
    if network.prefixlen == 0:
        raise InvalidTrustedProxy(
            f"trusted proxy {text!r} would trust every client's forwarded headers; "
            "name only your reverse proxies' addresses"
        )
    if isinstance(network, ipaddress.IPv6Network) and network.subnet_of(_IPV4_MAPPED):
        raise InvalidTrustedProxy(
            f"trusted proxy {text!r} is an IPv4-mapped IPv6 network; write its IPv4 form"
        )
    return network


def parse_address(entry: str) -> IPAddress | None:
    """One ``X-Forwarded-For`` entry (or a peer address) as an address; None when malformed.

    Accepts ``192.0.2.1``, ``192.0.2.1:4711``, ``2001:db8::1``, ``[2001:db8::1]`` and
    ``[2001:db8::1]:4711``; a zone (``%eth0``) is dropped and an IPv4-mapped IPv6 address
    becomes IPv4. Never raises.
    """
    text = entry.strip(" \t")
    if not text or len(text) > _ENTRY_MAX or not text.isascii():
        return None
    if text.startswith("["):
        end = text.find("]")
        port = text[end + 1 :]
        if end < 0 or (port and not _is_port(port)):
            return None
        text = text[1:end]
        if ":" not in text:
            return None  # brackets are for IPv6 only
    elif text.count(":") == 1:  # IPv4 with a port
        text, port = text.split(":")
        if not _is_port(":" + port):
            return None
    text = text.split("%", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_port(text: str) -> bool:
    digits = text[1:]
    return text[:1] == ":" and 0 < len(digits) <= 5 and digits.isdigit()


@dataclass(frozen=True)
class TrustedProxies:
    """The reverse proxies whose forwarded headers the hub believes (empty: none)."""

    networks: tuple[IPNetwork, ...] = ()

    def trusts(self, address: IPAddress) -> bool:
        """Whether ``address`` belongs to a trusted proxy."""
        return any(address in network for network in self.networks)

    def trusts_peer(self, peer: str | None) -> bool:
        """Whether the TCP peer (``request.remote``) is a trusted proxy."""
        address = None if peer is None else parse_address(peer)
        return address is not None and self.trusts(address)

    def client(self, peer: str | None, forwarded_for: Iterable[str]) -> str | None:
        """The client's address for throttling and logs.

        ``peer`` is the TCP peer; ``forwarded_for`` the request's ``X-Forwarded-For`` header
        lines, in order. An untrusted peer is the client and the header is ignored. Behind
        trusted proxies: the right-most entry that is not a trusted proxy; if the walk meets
        a malformed entry first, the last trusted hop (nothing behind it can be verified).
        """
        address = None if peer is None else parse_address(peer)
        if address is None or not self.trusts(address):
            return peer if address is None else str(address)
        for raw in reversed(",".join(forwarded_for).split(",")):
            hop = parse_address(raw)
            if hop is None:
                break
            address = hop
            if not self.trusts(hop):
                break
        return str(address)

    def proto(self, peer: str | None, forwarded_proto: Iterable[str]) -> str | None:
        """``http`` or ``https`` as a trusted peer forwarded it; None when not (to be) believed.

        The last value counts: it is the one the proxy next to the hub set.
        """
        if not self.trusts_peer(peer):
            return None
        last = ",".join(forwarded_proto).rsplit(",", 1)[-1].strip().lower()
        return last if last in FORWARDED_PROTOS else None
