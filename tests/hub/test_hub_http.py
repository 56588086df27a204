"""The hub's HTTP side: login, sessions, CSRF, throttling, cookies, headers, static files."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import sqlite3
import time
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from yarl import URL

from hub.app import AUTH, CONTENT_SECURITY_POLICY
from hub.auth import LOGIN_FAILED, LoginThrottle, throttle_key
from tests.support.hub import FakeClock, RunningHub, http_session, running_hub

PASSWORD = "correct horse battery"
# The test client connects from 127.0.0.1: trusting it makes it play the reverse proxy.
LOCAL_PROXY = (ipaddress.ip_network("127.0.0.1/32"),)


@pytest.fixture
def web_root(tmp_path: Path) -> Path:
    root = tmp_path / "web"
    (root / "js").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>console</title>")
    (root / "js" / "app.js").write_text("export const x = 1;\n")
    (root / ".hidden").write_text("secret")
    (tmp_path / "outside.txt").write_text("outside")
    (root / "escape.txt").symlink_to(tmp_path / "outside.txt")
    return root


@pytest.fixture
async def site(tmp_path: Path, web_root: Path, clock: FakeClock) -> AsyncIterator[RunningHub]:
    async with running_hub(
        tmp_path, clock=clock, web_root=web_root, login_failures_per_ip=8
    ) as hub:
        hub.add_adviser("alice", PASSWORD)
        yield hub


def set_cookie(response: aiohttp.ClientResponse, name: str) -> str:
    for header in response.headers.getall("Set-Cookie", []):
        if header.startswith(f"{name}="):
            return header
    raise AssertionError(f"no Set-Cookie for {name}")


def cookie_flags(header: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in header.split(";")[1:]}


async def pre_login_csrf(http: aiohttp.ClientSession, hub: RunningHub) -> str:
    async with http.get(f"{hub.url}/api/csrf") as response:
        assert response.status == 200
        token: str = (await response.json())["csrf"]
        return token


async def try_login(
    http: aiohttp.ClientSession, hub: RunningHub, name: str, password: str
) -> aiohttp.ClientResponse:
    token = await pre_login_csrf(http, hub)
    response = await http.post(
        f"{hub.url}/api/login",
        json={"name": name, "password": password},
        headers={"X-CSRF-Token": token},
    )
    await response.read()
    return response


# -- login ----------------------------------------------------------------


async def test_login_session_logout(site: RunningHub, http: aiohttp.ClientSession) -> None:
    response = await try_login(http, site, "alice", PASSWORD)
    assert response.status == 200
    body = await response.json()
    assert body["adviser"] == "alice" and body["tenant"] == "default"
    session_cookie = set_cookie(response, "kh_session")
    assert {"httponly", "samesite", "path"} <= cookie_flags(session_cookie)
    assert "secure" not in cookie_flags(session_cookie)  # plain http on loopback
    assert "SameSite=Strict" in session_cookie and "Path=/" in session_cookie

    async with http.get(f"{site.url}/api/session") as r:
        assert r.status == 200
        assert await r.json() == {"signed_in": True, **body}

    async with http.post(f"{site.url}/api/logout") as r:
        assert r.status == 403  # no CSRF header
    async with http.post(f"{site.url}/api/logout", headers={"X-CSRF-Token": "x" * 43}) as r:
        assert r.status == 403
    async with http.post(f"{site.url}/api/logout", headers={"X-CSRF-Token": body["csrf"]}) as r:
        assert r.status == 204
        cleared = set_cookie(r, "kh_session")
        assert "max-age=0" in cleared.lower() or "expires" in cleared.lower()
    async with http.get(f"{site.url}/api/session") as r:
        assert (r.status, await r.json()) == (200, {"signed_in": False})
    async with http.post(f"{site.url}/api/logout", headers={"X-CSRF-Token": body["csrf"]}) as r:
        assert r.status == 401


async def test_session_id_is_not_stored(site: RunningHub, http: aiohttp.ClientSession) -> None:
    response = await try_login(http, site, "alice", PASSWORD)
    session_id = SimpleCookie(set_cookie(response, "kh_session"))["kh_session"].value
    # What the hub wrote to its database file, read as anyone with the file could.
    with contextlib.closing(sqlite3.connect(f"file:{site.config.db_path}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT * FROM web_sessions").fetchall()
    assert rows and all(session_id not in map(str, row) for row in rows)


async def test_wrong_password_and_unknown_name_look_the_same(
    site: RunningHub, http: aiohttp.ClientSession
) -> None:
    wrong = await try_login(http, site, "alice", "wrong password!")
    unknown = await try_login(http, site, "mallory", "wrong password!")
    assert wrong.status == unknown.status == 401
    assert (
        await wrong.json()
        == await unknown.json()
        == {
            "error": "unauthorized",
            "message": LOGIN_FAILED,
        }
    )
    assert "kh_session" not in wrong.cookies


async def test_login_needs_matching_csrf(site: RunningHub, http: aiohttp.ClientSession) -> None:
    url = f"{site.url}/api/login"
    credentials = {"name": "alice", "password": PASSWORD}
    async with http.post(url, json=credentials) as r:  # no cookie, no header
        assert r.status == 403
        assert (await r.json())["error"] == "forbidden"
    async with http.post(url, json=credentials, headers={"X-CSRF-Token": "abc"}) as r:
        assert r.status == 403  # header without cookie
    await pre_login_csrf(http, site)
    async with http.post(url, json=credentials) as r:
        assert r.status == 403  # cookie without header
    async with http.post(url, json=credentials, headers={"X-CSRF-Token": "a" * 43}) as r:
        assert r.status == 403  # header differs from cookie
    assert (await try_login(http, site, "alice", PASSWORD)).status == 200


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"name": "alice"}',
        b'{"name": "alice", "password": 5}',
        b'{"name": "alice", "password": "correct horse battery", "admin": true}',
        b'{"name": "", "password": "x"}',
        b"\xff\xfe",
        b"[" * 8000 + b"]" * 8000,  # nested deeper than the JSON parser's recursion limit
        b'{"name": ' + b"[" * 7000 + b"]" * 7000 + b', "password": "x"}',
    ],
)
async def test_bad_login_bodies_get_400(
    site: RunningHub, http: aiohttp.ClientSession, body: bytes
) -> None:
    token = await pre_login_csrf(http, site)
    async with http.post(
        f"{site.url}/api/login",
        data=body,
        headers={"X-CSRF-Token": token, "Content-Type": "application/json"},
    ) as r:
        assert r.status == 400
        assert (await r.json())["error"] == "invalid_request"
    assert (await try_login(http, site, "alice", PASSWORD)).status == 200


async def test_oversized_login_body_is_refused(
    site: RunningHub, http: aiohttp.ClientSession
) -> None:
    token = await pre_login_csrf(http, site)
    async with http.post(
        f"{site.url}/api/login",
        json={"name": "alice", "password": "x" * 100_000},
        headers={"X-CSRF-Token": token},
    ) as r:
        assert r.status == 413
    assert (await try_login(http, site, "alice", PASSWORD)).status == 200


async def test_signed_out_session_is_an_answer_not_an_error(
    site: RunningHub, http: aiohttp.ClientSession
) -> None:
    # The console asks on every page load; a 401 there is a red line in the browser console.
    async with http.get(f"{site.url}/api/session") as r:
        assert (r.status, await r.json()) == (200, {"signed_in": False})
        assert r.headers["Cache-Control"] == "no-store"
        assert "Set-Cookie" not in r.headers
    # The endpoints that need a session still refuse without one.
    relay = f"{site.url}/api/relay/{'c' * 22}"
    async with http.post(f"{site.url}/api/logout") as r:
        assert r.status == 401
    async with http.post(relay, data=b"x") as r:
        assert r.status == 401
    async with http.get(f"{relay}/{'b' * 32}") as r:
        assert r.status == 401


async def test_session_with_bogus_cookie(site: RunningHub) -> None:
    async with http_session() as http:
        http.cookie_jar.update_cookies({"kh_session": "forged"}, URL(site.url))
        async with http.get(f"{site.url}/api/session") as r:
            assert (r.status, await r.json()) == (200, {"signed_in": False})
        http.cookie_jar.update_cookies({"kh_session": "x" * 5000}, URL(site.url))
        async with http.get(f"{site.url}/api/session") as r:
            assert (r.status, await r.json()) == (200, {"signed_in": False})


async def test_session_expires(
    site: RunningHub, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    assert (await try_login(http, site, "alice", PASSWORD)).status == 200
    clock.advance(site.config.session_lifetime_s + 1)
    async with http.get(f"{site.url}/api/session") as r:
        assert (r.status, await r.json()) == (200, {"signed_in": False})


# -- throttling -----------------------------------------------------------


async def test_login_rate_limit_per_name(
    site: RunningHub, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    for _ in range(site.config.login_failures_per_name):
        assert (await try_login(http, site, "alice", "wrong password!")).status == 401
    limited = await try_login(http, site, "alice", PASSWORD)  # even the right password
    assert limited.status == 429
    assert (await limited.json())["error"] == "rate_limited"
    assert int(limited.headers["Retry-After"]) == int(site.config.login_window_s)
    clock.advance(100)
    limited = await try_login(http, site, "alice", PASSWORD)
    assert int(limited.headers["Retry-After"]) == int(site.config.login_window_s) - 100
    clock.advance(site.config.login_window_s - 100 + 1)
    assert (await try_login(http, site, "alice", PASSWORD)).status == 200


async def test_login_rate_limit_per_ip(
    site: RunningHub, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    site.add_adviser("bob", PASSWORD)
    for i in range(site.config.login_failures_per_ip):
        assert (await try_login(http, site, f"user{i}", "wrong password!")).status == 401
    assert (await try_login(http, site, "bob", PASSWORD)).status == 429
    clock.advance(site.config.login_window_s + 1)
    assert (await try_login(http, site, "bob", PASSWORD)).status == 200


async def test_rate_limit_behind_a_trusted_proxy(tmp_path: Path, clock: FakeClock) -> None:
    async with (
        running_hub(
            tmp_path, clock=clock, trusted_proxies=LOCAL_PROXY, login_failures_per_ip=2
        ) as hub,
        http_session() as http,
    ):
        hub.add_adviser("alice", PASSWORD)
        token = await pre_login_csrf(http, hub)

        async def attempt(forwarded_for: str, password: str) -> int:
            async with http.post(
                f"{hub.url}/api/login",
                json={"name": "alice", "password": password},
                headers={"X-CSRF-Token": token, "X-Forwarded-For": forwarded_for},
            ) as response:
                return response.status

        # The proxy appends the real client address; what the client wrote before it is ignored.
        assert await attempt("1.1.1.1, 192.0.2.1", "wrong password!") == 401
        assert await attempt("2.2.2.2, 192.0.2.1", "wrong password!") == 401
        assert await attempt("192.0.2.1", PASSWORD) == 429
        assert await attempt("192.0.2.2", PASSWORD) == 200


async def test_parallel_wrong_logins_cannot_outrun_the_limit(
    site: RunningHub, http: aiohttp.ClientSession
) -> None:
    token = await pre_login_csrf(http, site)

    async def attempt() -> int:
        async with http.post(
            f"{site.url}/api/login",
            json={"name": "alice", "password": "wrong password!"},
            headers={"X-CSRF-Token": token},
        ) as response:
            return response.status

    statuses = await asyncio.gather(*(attempt() for _ in range(20)))
    assert statuses.count(401) + statuses.count(429) == 20, statuses
    assert 1 <= statuses.count(401) <= site.config.login_failures_per_name, statuses


async def test_busy_password_checks_get_429_and_do_not_count(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with (
        running_hub(
            tmp_path,
            clock=clock,
            trusted_proxies=LOCAL_PROXY,
            login_verify_concurrency=1,
            login_verify_wait_s=0.05,
        ) as hub,
        http_session() as http,
    ):
        hub.add_adviser("alice", PASSWORD)
        real_verify = hub.storage.verify_password

        async def slow_verify(password_hash: str | None, password: str) -> bool:
            await asyncio.to_thread(time.sleep, 0.5)  # as a slow argon2 check: off the loop
            return await real_verify(password_hash, password)

        monkeypatch.setattr(hub.storage, "verify_password", slow_verify)
        token = await pre_login_csrf(http, hub)

        async def attempt(ip: str) -> aiohttp.ClientResponse:
            response = await http.post(
                f"{hub.url}/api/login",
                json={"name": "alice", "password": "wrong password!"},
                headers={"X-CSRF-Token": token, "X-Forwarded-For": ip},
            )
            await response.read()
            return response

        first = asyncio.ensure_future(attempt("192.0.2.1"))
        await asyncio.sleep(0.2)  # the first check is running
        busy = await attempt("192.0.2.2")
        assert busy.status == 429
        assert busy.headers["Retry-After"] == "1"
        assert (await first).status == 401
        assert hub.app[AUTH].throttle.retry_after("192.0.2.2", "x") == 0
        assert "192.0.2.2" not in str(hub.app[AUTH].throttle.tracked_keys())


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("2001:db8:1:2::99", "2001:db8:1:2::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("unknown", "unknown"),
    ],
)
def test_throttle_key(address: str, key: str) -> None:
    assert throttle_key(address) == key


def test_throttle_counts_ipv6_per_64() -> None:
    throttle = LoginThrottle(window_s=10, per_name=2, per_ip=3, clock=FakeClock(0.0))
    throttle.failed("2001:db8:1:2::1", "a")
    throttle.failed("2001:db8:1:2::2", "a")  # same /64: same client
    assert throttle.retry_after("2001:db8:1:2:ffff::3", "a") > 0
    assert throttle.retry_after("2001:db8:1:3::1", "a") == 0  # another /64


def test_throttle_reserve_release_succeed() -> None:
    clock = FakeClock(0.0)
    throttle = LoginThrottle(window_s=10, per_name=2, per_ip=3, clock=clock)
    first = throttle.reserve("ip", "a")
    second = throttle.reserve("ip", "a")
    assert first is not None and second is not None
    assert throttle.reserve("ip", "a") is None  # two in flight use up the name's limit
    throttle.release("ip", "a", second)
    assert throttle.retry_after("ip", "a") == 0
    third = throttle.reserve("ip", "b")
    assert third is not None
    throttle.succeeded("ip", "b", third)
    assert throttle.reserve("ip", "c") is not None  # b's attempt was taken back: 2 of 3


def test_throttle_sliding_window() -> None:
    clock = FakeClock(0.0)
    throttle = LoginThrottle(window_s=10, per_name=2, per_ip=3, clock=clock)
    assert throttle.retry_after("ip", "a") == 0
    throttle.failed("ip", "a")
    clock.advance(4)
    throttle.failed("ip", "A")  # names compare case-insensitively
    assert throttle.retry_after("ip", "a") == pytest.approx(6)
    assert throttle.retry_after("other-ip", "a") == 0
    clock.advance(6)  # the first failure leaves the window
    assert throttle.retry_after("ip", "a") == 0
    throttle.failed("ip", "b")
    throttle.failed("ip", "c")  # three live failures for this ip
    assert throttle.retry_after("ip", "d") == pytest.approx(4)
    throttle.succeeded("ip", "a")
    assert throttle.retry_after("ip", "d") == pytest.approx(4)  # per-ip count stays


def test_throttle_memory_is_bounded() -> None:
    throttle = LoginThrottle(window_s=10, per_name=1, per_ip=100, clock=FakeClock(), max_keys=10)
    for i in range(100):
        throttle.failed(f"10.0.0.{i}", "a")
    assert len(throttle.tracked_keys()) <= 10


# -- cookies --------------------------------------------------------------


async def test_csrf_cookie_attributes(site: RunningHub, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{site.url}/api/csrf") as r:
        header = set_cookie(r, "kh_csrf")
        token = (await r.json())["csrf"]
    assert header.startswith(f"kh_csrf={token};")
    assert {"httponly", "samesite", "path"} <= cookie_flags(header)
    assert "SameSite=Strict" in header and "secure" not in cookie_flags(header)


@pytest.mark.parametrize(
    ("overrides", "headers", "secure"),
    [
        ({"cookie_secure": True}, {}, True),
        ({"cookie_secure": False}, {"X-Forwarded-Proto": "https"}, False),
        ({}, {"X-Forwarded-Proto": "https"}, False),  # proxy header not trusted by default
        ({"trusted_proxies": LOCAL_PROXY}, {"X-Forwarded-Proto": "https"}, True),
        ({"trusted_proxies": LOCAL_PROXY}, {"X-Forwarded-Proto": "http"}, False),
        ({"trusted_proxies": LOCAL_PROXY}, {"X-Forwarded-Proto": "http, https"}, True),  # last
    ],
)
async def test_secure_flag(
    tmp_path: Path, overrides: dict[str, Any], headers: dict[str, str], secure: bool
) -> None:
    async with running_hub(tmp_path, **overrides) as hub, http_session() as http:
        async with http.get(f"{hub.url}/api/csrf", headers=headers) as r:
            assert ("secure" in cookie_flags(set_cookie(r, "kh_csrf"))) is secure


# -- headers and static files ---------------------------------------------


@pytest.mark.parametrize(
    "path", ["/", "/static/js/app.js", "/api/session", "/api/csrf", "/nope", "/static/nope"]
)
async def test_security_headers_everywhere(
    site: RunningHub, http: aiohttp.ClientSession, path: str
) -> None:
    async with http.get(f"{site.url}{path}") as r:
        assert r.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Referrer-Policy"] == "no-referrer"
        assert r.headers["X-Frame-Options"] == "DENY"
        if path.startswith("/api/"):
            assert r.headers["Cache-Control"] == "no-store"


def test_csp_is_the_documented_one() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "signalling.md").read_text()
    flat = " ".join(doc.split())
    assert CONTENT_SECURITY_POLICY in flat


async def test_index_and_static(site: RunningHub, http: aiohttp.ClientSession) -> None:
    async with http.get(f"{site.url}/") as r:
        assert r.status == 200
        assert "console" in await r.text()
        assert r.content_type == "text/html"
    async with http.get(f"{site.url}/static/js/app.js") as r:
        assert r.status == 200
        assert "javascript" in r.content_type
        assert await r.text() == "export const x = 1;\n"


@pytest.mark.parametrize(
    "raw_path",
    [
        "/static/js",  # directory: no listing
        "/static/js/",
        "/static/.hidden",
        "/static/escape.txt",  # symlink out of the web root
        "/static/%2e%2e/outside.txt",
        "/static/js/%2e%2e/%2e%2e/outside.txt",
        "/static/..%2foutside.txt",
        "/static/%2fetc%2fpasswd",
        "/static/js%5c..%5c..%5coutside.txt",
        "/static/missing.js",
        "/static/a%00b",
    ],
)
async def test_static_refuses_escapes(
    site: RunningHub, http: aiohttp.ClientSession, raw_path: str
) -> None:
    async with http.get(URL(f"{site.url}{raw_path}", encoded=True)) as r:
        assert r.status == 404
        assert "outside" not in await r.text()


async def test_missing_index_is_404(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    async with running_hub(tmp_path, web_root=tmp_path / "empty") as hub:
        async with http.get(f"{hub.url}/") as r:
            assert r.status == 404
            assert r.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
