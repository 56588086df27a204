"""A child network namespace on a veth pair whose link a test can cut and heal.

The namespace itself is bench/netcut.py (the reconnect benchmark uses it too); this adds the
test suite's rule for missing tools: fail under CI=true, skip with the reason elsewhere.

    with child_netns() as ns:
        async with forward_tcp(ns.host_addr, hub_port) as port:
            process = await asyncio.create_subprocess_exec(*ns.command("kiosk", "run", ...))
            ns.cut(); await asyncio.sleep(20); ns.heal()
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from bench import netcut
from bench.netcut import ChildNetns, forward_tcp
from tests.support.netns import require_loopback_only_netns
from tests.support.requirements import require, require_tool

__all__ = ["ChildNetns", "child_netns", "forward_tcp"]


@contextmanager
def child_netns() -> Iterator[ChildNetns]:
    """Make the child namespace and its veth link; remove both afterwards."""
    require_loopback_only_netns()  # never on a real machine's network
    require_tool("ip", "iproute2")
    require(os.geteuid() == 0, "child network namespaces need root in the test's namespace")
    with netcut.child_netns() as ns:
        yield ns
