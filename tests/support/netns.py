"""Where media may flow: tests that send media run only in a loopback-only network namespace.

The namespaces themselves are testbed/netns.py (the reconnect benchmark and the demo use them
too); this adds the test suite's rule for what is missing: fail under CI=true, skip with the
reason elsewhere. Also the ``loopback_only_netns`` fixture (registered in tests/conftest.py).

    with child_netns() as ns:
        async with forward_tcp(ns.host_addr, hub_port) as port:
            process = await asyncio.create_subprocess_exec(*ns.command("kiosk", "run", ...))
            ns.cut(); await asyncio.sleep(20); ns.heal()
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from appliance.call.ice import restore_host_addresses, use_host_addresses
from testbed import netns
from testbed.netns import ChildNetns, forward_tcp, in_loopback_only_netns, interfaces
from tests.support.requirements import require, require_tool

__all__ = [
    "ChildNetns",
    "child_netns",
    "forward_tcp",
    "loopback_only_netns",
    "require_loopback_only_netns",
]

NETNS_HINT = (
    "media tests must run in a loopback-only network namespace: run the suite through "
    "`make test` (it runs pytest inside `unshare -n` via scripts/loopback-only)"
)


def require_loopback_only_netns() -> None:
    """Fail under CI, skip with the reason elsewhere, unless only loopback exists."""
    require(in_loopback_only_netns(), f"{NETNS_HINT}; interfaces here: {', '.join(interfaces())}")


@contextmanager
def child_netns() -> Iterator[ChildNetns]:
    """Make the child namespace and its veth link; remove both afterwards."""
    require_loopback_only_netns()  # never on a real machine's network
    require_tool("ip", "iproute2")
    require(os.geteuid() == 0, "child network namespaces need root in the test's namespace")
    with netns.child_netns() as ns:
        yield ns


@pytest.fixture
def loopback_only_netns() -> Iterator[None]:
    """Run only inside a network namespace whose only interface is ``lo``.

    Media tests send RTP; this keeps it on loopback. ICE then gathers on 127.0.0.1 only
    (aioice leaves it out by default), and the process-wide setting is undone afterwards.
    Outside such a namespace the test is skipped, or fails under CI=true.
    """
    require_loopback_only_netns()
    previous = use_host_addresses(["127.0.0.1"])
    try:
        yield
    finally:
        restore_host_addresses(previous)
