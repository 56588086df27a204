"""Where media may flow: tests that send media run only in a loopback-only network namespace."""

from __future__ import annotations

import socket

from tests.support.requirements import require

NETNS_HINT = (
    "media tests must run in a loopback-only network namespace: run the suite through "
    "`make test` (it runs pytest inside `unshare -n` via scripts/loopback-only)"
)


def interfaces() -> list[str]:
    """Network interfaces of *this process's* namespace (/sys/class/net may be stale)."""
    return sorted(name for _index, name in socket.if_nameindex())


def in_loopback_only_netns() -> bool:
    return interfaces() == ["lo"]


def require_loopback_only_netns() -> None:
    """Fail under CI, skip with the reason elsewhere, unless only loopback exists."""
    require(in_loopback_only_netns(), f"{NETNS_HINT}; interfaces here: {', '.join(interfaces())}")
