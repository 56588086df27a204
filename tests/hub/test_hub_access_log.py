"""The access log keeps no personal data: anonymised IPs, no query strings, no cookies."""

from __future__ import annotations

import asyncio
import io
import logging

import aiohttp
import pytest
from yarl import URL

from hub.access_log import AnonymisingFilter, anonymise_ip
from tests.support.hub import RunningHub


@pytest.mark.parametrize(
    ("address", "anonymised"),
    [
        ("192.0.2.123", "192.0.2.0"),
        ("127.0.0.1", "127.0.0.0"),
        ("2001:db8:abcd:1234::1", "2001:db8:abcd::"),
        ("fe80::1%eth0", "fe80::"),
        ("::ffff:198.51.100.7", "198.51.100.0"),
        ("not an ip", "-"),
        ("", "-"),
        (None, "-"),
    ],
)
def test_anonymise_ip(address: str | None, anonymised: str) -> None:
    assert anonymise_ip(address) == anonymised


async def test_log_line_has_no_query_or_cookies(
    hub: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    jar = aiohttp.CookieJar(unsafe=True)
    jar.update_cookies({"kh_session": "cookie-secret-value"}, URL(hub.url))
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        url = f"{hub.url}/api/session?token=query-secret-value"
        async with http.get(url, headers={"User-Agent": 'evil" 200 "x\tz'}) as response:
            assert response.status == 200  # a forged cookie is signed out, not an error
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(lines) == 1
    line = lines[0]
    assert "127.0.0.0" in line and "127.0.0.1" not in line
    assert ' GET "/api/session" 200 ' in line
    assert "query-secret-value" not in line and "cookie-secret-value" not in line
    assert line.endswith('"evil\\" 200 \\"x\\tz"' + line[line.rindex(" ") :])


@pytest.mark.parametrize(
    ("text", "anonymised"),
    [
        ("Error handling request from 192.0.2.55", "Error handling request from 192.0.2.0"),
        ("peer ('2001:db8:1:2::7', 5555)", "peer ('2001:db8:1::', 5555)"),
        ("from fe80::1%eth0 now", "from fe80:: now"),
        ("aiohttp 3.14.5 at 23:49:50, ratio 1.5", "aiohttp 3.14.5 at 23:49:50, ratio 1.5"),
    ],
)
def test_filter_anonymises_addresses_in_messages(text: str, anonymised: str) -> None:
    record = logging.LogRecord("aiohttp.server", logging.ERROR, __file__, 1, "%s", (text,), None)
    assert AnonymisingFilter().filter(record)
    assert record.getMessage() == anonymised


async def test_aiohttp_errors_carry_no_full_ip(
    hub: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    port = int(hub.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n")  # not a header
    await writer.drain()
    reply = await reader.read(100)
    writer.close()
    await writer.wait_closed()
    assert b" 400 " in reply.split(b"\r\n", 1)[0]
    # counted as a malformed request (tests/hub/test_hub_malformed_http.py), without address
    assert [r.getMessage() for r in caplog.records if r.name == "hub.http"] == [
        "malformed HTTP request: bad headers or framing "
        "(repeats are counted and logged at most every 60 s)"
    ]
    handler = logging.StreamHandler(io.StringIO())
    for record in caplog.records:
        assert "127.0.0.1" not in handler.format(record), handler.format(record)


async def test_est_paths_keep_only_the_operation(
    hub: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    # A code id is half of a one-time code and a tenant name says which bank: neither belongs
    # in the access log (docs/enrolment.md); the operation does.
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    sent = {
        "/.well-known/est/K7QX/cacerts": "/.well-known/est/-/cacerts",
        "/.well-known/est/K7QX/simpleenroll": "/.well-known/est/-/simpleenroll",
        "/.well-known/est/acme-savings-bank/crl": "/.well-known/est/-/crl",
        "/.well-known/est/simplereenroll": "/.well-known/est/simplereenroll",
        "/.well-known/est/K7QX/whoami-acme": "/.well-known/est/-/-",
        "/.well-known/est/acme-savings-bank/K7QX/crl": "/.well-known/est/-/-",
        "/.well-known/est/K7QX": "/.well-known/est/-",
    }
    async with aiohttp.ClientSession() as http:
        for path in sent:
            method = http.post if path.endswith("enroll") else http.get
            async with method(hub.url + path) as response:
                await response.read()
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(lines) == len(sent)
    for line, logged in zip(lines, sent.values(), strict=True):
        assert f' "{logged}" ' in line, line
        assert "K7QX" not in line and "acme" not in line
