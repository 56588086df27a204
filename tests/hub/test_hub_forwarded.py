"""Forwarded headers count only from trusted proxies; the client is the one they saw.

The integration tests run a real hub on 127.0.0.1 and bind each client's source address
(all of 127.0.0.0/8 is local in the loopback-only namespace): 127.0.0.2 plays the trusted
reverse proxy, 127.0.0.5 a client that reaches the hub directly.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.__main__ import build_parser, main
from hub.forwarded import (
    InvalidTrustedProxy,
    IPAddress,
    TrustedProxies,
    parse_address,
    parse_trusted_proxy,
)
from tests.support.hub import RunningHub, running_hub

PASSWORD = "correct horse battery"
PROXY = "127.0.0.2"
DIRECT = "127.0.0.5"

# -- parsing --------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "network"),
    [
        ("127.0.0.2", "127.0.0.2/32"),
        (" 10.0.0.0/8 ", "10.0.0.0/8"),
        ("::1", "::1/128"),
        ("2001:db8::/64", "2001:db8::/64"),
    ],
)
def test_trusted_proxy_values(text: str, network: str) -> None:
    assert parse_trusted_proxy(text) == ipaddress.ip_network(network)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("proxy.example", "not an IPv4 or IPv6 address or network"),
        ("", "not an IPv4 or IPv6 address or network"),
        ("10.0.0.0/33", "not an IPv4 or IPv6 address or network"),
        ("10.0.0.1/8", "host bits set: write 10.0.0.0/8 for the network or 10.0.0.1"),
        ("0.0.0.0/0", "would trust every client"),
        ("::/0", "would trust every client"),
        ("::ffff:10.0.0.0/104", "write its IPv4 form"),
    ],
)
def test_bad_trusted_proxy_values(text: str, message: str) -> None:
    with pytest.raises(InvalidTrustedProxy, match=message):
        parse_trusted_proxy(text)


@pytest.mark.parametrize(
    ("entry", "address"),
    [
        ("192.0.2.1", "192.0.2.1"),
        (" 192.0.2.1\t", "192.0.2.1"),
        ("192.0.2.1:4711", "192.0.2.1"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        ("::ffff:192.0.2.1", "192.0.2.1"),
        ("", None),
        ("unknown", None),  # RFC 7239 obfuscated identifiers are not addresses
        ("_hidden", None),
        ("192.0.2.1:", None),
        ("192.0.2.1:port", None),
        ("192.0.2.1:123456", None),
        ("[192.0.2.1]", None),
        ("[2001:db8::1", None),
        ("[2001:db8::1]x", None),
        ("01.2.3.4", None),
        ("١٩٢.0.2.1", None),  # non-ASCII digits
        ("1" * 200, None),
    ],
)
def test_parse_address(entry: str, address: str | None) -> None:
    parsed = parse_address(entry)
    assert (None if parsed is None else str(parsed)) == address


TRUSTED = TrustedProxies(
    (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("192.0.2.7/32"),
        ipaddress.ip_network("2001:db8::/32"),
    )
)
trusted_hops = st.one_of(
    st.ip_addresses(network="10.0.0.0/8"),
    st.just(ipaddress.ip_address("192.0.2.7")),
    st.ip_addresses(network="2001:db8::/32"),
)
# Characters that make up addresses and lists of them, to reach the parser's corners often.
header_text = st.text(alphabet=" \t,[]:.%0123456789abcdefABCDEF:_xyz", max_size=120) | st.text(
    max_size=120
)


def normalised(address: IPAddress) -> IPAddress:
    parsed = parse_address(str(address))
    assert parsed is not None
    return parsed


def untrusted(address: IPAddress) -> bool:
    return not TRUSTED.trusts(normalised(address))


@st.composite
def written(draw: st.DrawFn, address: IPAddress) -> str:
    """An address as a proxy may write it: plain or with a port, with or without spaces."""
    text = str(address)
    if draw(st.booleans()):
        port = draw(st.integers(1, 65535))
        text = f"[{text}]:{port}" if address.version == 6 else f"{text}:{port}"
    return draw(st.sampled_from(["", " "])) + text


@given(st.text(max_size=200))
def test_parse_address_never_raises(entry: str) -> None:
    assert parse_address(entry) is None or isinstance(
        parse_address(entry), ipaddress.IPv4Address | ipaddress.IPv6Address
    )


@given(
    st.one_of(st.none(), header_text, trusted_hops.map(str)),
    st.lists(header_text, max_size=4),
)
def test_any_headers_never_raise(peer: str | None, lines: list[str]) -> None:
    client = TRUSTED.client(peer, lines)
    assert client is None or isinstance(client, str)
    assert TRUSTED.proto(peer, lines) in (None, "http", "https")


@given(st.ip_addresses().filter(untrusted), st.lists(header_text, max_size=4))
def test_a_direct_client_is_its_peer_address(peer: IPAddress, lines: list[str]) -> None:
    # Whatever it writes into X-Forwarded-For or X-Forwarded-Proto.
    assert TRUSTED.client(str(peer), lines) == str(normalised(peer))
    assert TRUSTED.proto(str(peer), lines) is None


@given(
    st.data(),
    st.lists(header_text, max_size=3),
    st.ip_addresses().filter(untrusted),
    st.lists(trusted_hops, min_size=1, max_size=4),
)
def test_behind_trusted_proxies_the_client_is_the_address_they_saw(
    data: st.DataObject, client_lines: list[str], client: IPAddress, hops: list[IPAddress]
) -> None:
    # The client writes anything; each proxy appends the address it saw. The last hop is
    # the hub's TCP peer and appends nothing of its own.
    *inner, peer = hops
    appended = ",".join(data.draw(written(a)) for a in [client, *inner])
    assert TRUSTED.client(str(peer), [*client_lines, appended]) == str(normalised(client))


@given(st.lists(trusted_hops, min_size=1, max_size=4))
def test_when_every_hop_is_trusted_the_first_one_is_the_client(hops: list[IPAddress]) -> None:
    *forwarded, peer = hops
    expected = normalised(forwarded[0] if forwarded else peer)
    assert TRUSTED.client(str(peer), [", ".join(map(str, forwarded))]) == str(expected)


@pytest.mark.parametrize(
    ("header", "client"),
    [
        ("", "10.0.0.1"),  # a proxy that sets no header: the proxy is all we know
        ("garbage", "10.0.0.1"),
        ("198.51.100.7, garbage", "10.0.0.1"),  # not verifiable behind the malformed hop
        ("garbage, 198.51.100.7", "198.51.100.7"),  # the client's own junk never matters
        ("198.51.100.7, 10.9.9.9", "198.51.100.7"),
        ("198.51.100.7, garbage, 10.9.9.9", "10.9.9.9"),
        ("2001:db8:ffff::1, [2001:db8::2]:443", "2001:db8:ffff::1"),
        ("2001:db9::1, [2001:db8::2]:443", "2001:db9::1"),
    ],
)
def test_walk_from_the_right(header: str, client: str) -> None:
    assert TRUSTED.client("10.0.0.1", [header]) == client


def test_header_lines_join_and_proto_takes_the_last_value() -> None:
    assert TRUSTED.client("10.0.0.1", ["203.0.113.1", "198.51.100.7"]) == "198.51.100.7"
    assert TRUSTED.proto("10.0.0.1", ["https"]) == "https"
    assert TRUSTED.proto("10.0.0.1", ["https, http"]) == "http"
    assert TRUSTED.proto("10.0.0.1", ["http", "HTTPS "]) == "https"
    assert TRUSTED.proto("10.0.0.1", ["gopher"]) is None
    assert TRUSTED.proto("198.51.100.7", ["https"]) is None
    assert TrustedProxies().client("10.0.0.1", ["198.51.100.7"]) == "10.0.0.1"


# -- command line ---------------------------------------------------------


def test_trusted_proxy_option_is_repeatable() -> None:
    args = build_parser().parse_args(
        ["serve", "--trusted-proxy", "127.0.0.2", "--trusted-proxy", "2001:db8::/64"]
    )
    assert args.trusted_proxy == [
        ipaddress.ip_network("127.0.0.2/32"),
        ipaddress.ip_network("2001:db8::/64"),
    ]


def test_bad_trusted_proxy_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["serve", "--trusted-proxy", "10.0.0.1/8"])
    assert exit_.value.code == 2
    assert "argument --trusted-proxy: trusted proxy '10.0.0.1/8' has host bits set" in (
        capsys.readouterr().err
    )


def test_old_trust_proxy_flag_is_refused_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--db", str(tmp_path / "hub.sqlite3"), "--trust-proxy"]) == 1
    err = capsys.readouterr().err
    assert "--trust-proxy is gone" in err and "--trusted-proxy" in err
    assert not (tmp_path / "hub.sqlite3").exists()  # refused before anything started


# -- a real hub behind a (pretend) proxy ----------------------------------


@asynccontextmanager
async def client_from(source: str) -> AsyncIterator[aiohttp.ClientSession]:
    """A client session whose connections come from ``source`` (a 127/8 address)."""
    connector = aiohttp.TCPConnector(local_addr=(source, 0))
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as http:
        yield http


@pytest.fixture
async def proxied(tmp_path: Path) -> AsyncIterator[RunningHub]:
    async with running_hub(tmp_path, trusted_proxies=(ipaddress.ip_network(f"{PROXY}/32"),)) as hub:
        hub.add_adviser("alice", PASSWORD)
        yield hub


async def login_status(
    http: aiohttp.ClientSession, hub: RunningHub, password: str, headers: dict[str, str]
) -> int:
    async with http.get(f"{hub.url}/api/csrf") as response:
        token = (await response.json())["csrf"]
    async with http.post(
        f"{hub.url}/api/login",
        json={"name": "alice", "password": password},
        headers={"X-CSRF-Token": token, **headers},
    ) as response:
        return response.status


async def test_a_direct_client_rotating_forwarded_for_is_still_throttled(
    proxied: RunningHub,
) -> None:
    limit = proxied.config.login_failures_per_name
    async with client_from(DIRECT) as http:
        statuses = [
            await login_status(
                http, proxied, "wrong password!", {"X-Forwarded-For": f"198.51.100.{i}"}
            )
            for i in range(12)
        ]
    assert statuses == [401] * limit + [429] * (12 - limit)


async def test_clients_behind_the_trusted_proxy_have_their_own_limits(
    proxied: RunningHub,
) -> None:
    limit = proxied.config.login_failures_per_name
    first = {"X-Forwarded-For": "192.0.2.200, 198.51.100.7"}  # it forged an entry: ignored
    second = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9"}  # it claims to be the first
    async with client_from(PROXY) as http:
        for _ in range(limit):
            assert await login_status(http, proxied, "wrong password!", first) == 401
        assert await login_status(http, proxied, PASSWORD, first) == 429
        assert await login_status(http, proxied, PASSWORD, second) == 200


async def test_access_log_shows_the_forwarded_client(
    proxied: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    forwarded = {"X-Forwarded-For": "192.0.2.200, 203.0.113.9"}
    async with client_from(PROXY) as http, http.get(f"{proxied.url}/", headers=forwarded):
        pass
    async with client_from(DIRECT) as http, http.get(f"{proxied.url}/", headers=forwarded):
        pass
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(lines) == 2
    via_proxy, direct = lines
    assert " 203.0.113.0 GET " in via_proxy  # anonymised, and not the proxy's address
    assert "203.0.113.9" not in via_proxy and "127.0.0" not in via_proxy
    assert " 127.0.0.0 GET " in direct and "203.0.113" not in direct


async def test_forwarded_proto_counts_only_from_the_trusted_proxy(proxied: RunningHub) -> None:
    https = {"X-Forwarded-Proto": "https"}
    secure: dict[str, bool] = {}
    for source in (PROXY, DIRECT):
        async with (
            client_from(source) as http,
            http.get(f"{proxied.url}/api/csrf", headers=https) as r,
        ):
            cookie = r.headers["Set-Cookie"].lower()
            secure[source] = "; secure" in cookie
    assert secure == {PROXY: True, DIRECT: False}


async def test_websocket_origin_uses_forwarded_proto_only_from_the_trusted_proxy(
    proxied: RunningHub,
) -> None:
    host = proxied.url.removeprefix("http://")
    https = {"Origin": f"https://{host}", "X-Forwarded-Proto": "https"}
    for source, allowed in ((PROXY, True), (DIRECT, False)):
        async with client_from(source) as http:
            assert await login_status(http, proxied, PASSWORD, {}) == 200
            url = f"{proxied.ws_url}/ws/adviser"
            if allowed:
                ws = await http.ws_connect(url, headers=https)
                await ws.close()
            else:
                with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                    await http.ws_connect(url, headers=https)
                assert refused.value.status == 403
                # its real origin still works
                ws = await http.ws_connect(url, headers={"Origin": proxied.url})
                await ws.close()


async def test_a_trusted_proxy_without_forwarded_for_is_reported_once(
    proxied: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with client_from(PROXY) as http:
        for _ in range(3):
            async with http.get(f"{proxied.url}/api/csrf") as response:
                assert response.status == 200
    warnings = [r.getMessage() for r in caplog.records if r.name == "hub.auth"]
    assert len(warnings) == 1 and "without X-Forwarded-For" in warnings[0]
    access = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert all(" 127.0.0.0 GET " in line for line in access)  # the proxy is all we know
