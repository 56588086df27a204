"""Our host-address setting for aioice."""

from __future__ import annotations

import aioice.ice
import pytest

from appliance.call.ice import restore_host_addresses, use_host_addresses


async def test_gathering_uses_exactly_the_configured_addresses() -> None:
    original = aioice.ice.get_host_addresses
    previous = use_host_addresses(["127.0.0.1", "::1"])
    try:
        assert previous is original
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=True) == ["127.0.0.1", "::1"]
        assert aioice.ice.get_host_addresses(use_ipv4=True, use_ipv6=False) == ["127.0.0.1"]
        connection = aioice.Connection(ice_controlling=True, use_ipv6=False)
        await connection.gather_candidates()
        hosts = {c.host for c in connection.local_candidates}
        await connection.close()
        assert hosts == {"127.0.0.1"}
    finally:
        restore_host_addresses(previous)
    assert aioice.ice.get_host_addresses is original


def test_bad_address_is_refused_before_anything_changes() -> None:
    original = aioice.ice.get_host_addresses
    with pytest.raises(ValueError):
        use_host_addresses(["not-an-address"])
    assert aioice.ice.get_host_addresses is original
