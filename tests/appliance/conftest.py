"""Fixtures for the appliance tests: where media may flow, and our ICE host address setting."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from appliance.call.ice import restore_host_addresses, use_host_addresses
from tests.support.netns import require_loopback_only_netns


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
