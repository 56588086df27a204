"""Our setting for the addresses ICE gathers host candidates on.

aioice asks ``aioice.ice.get_host_addresses`` for the machine's addresses each time a peer
connection gathers candidates, and leaves 127.0.0.1 out. Inside a loopback-only network
namespace (the media tests, see docs) that leaves no candidate at all; on a kiosk with several
interfaces it may be useful to pin the one facing the branch network.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence

import aioice.ice

HostAddresses = Callable[[bool, bool], list[str]]


def use_host_addresses(addresses: Sequence[str]) -> HostAddresses:
    """Make every later ICE gathering in this process use exactly ``addresses``.

    This replaces aioice's module function, so it is process-wide: call it once, from the
    composition root (or a test fixture), before any peer connection gathers. Returns the
    function it replaced, so a test can put it back.
    """
    fixed = [str(ipaddress.ip_address(a)) for a in addresses]

    def host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [
            a for a in fixed if (use_ipv4 if ipaddress.ip_address(a).version == 4 else use_ipv6)
        ]

    previous: HostAddresses = aioice.ice.get_host_addresses
    aioice.ice.get_host_addresses = host_addresses
    return previous


def restore_host_addresses(previous: HostAddresses) -> None:
    """Undo ``use_host_addresses`` with the function it returned (for tests)."""
    aioice.ice.get_host_addresses = previous  # type: ignore[assignment]
