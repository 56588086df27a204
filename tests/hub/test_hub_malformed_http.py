"""Malformed HTTP costs one log line per kind and interval, and none of the client's bytes."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import aiohttp
import pytest
from aiohttp.http_exceptions import BadStatusLine

from hub.access_log import AnonymisingFilter
from tests.support.hub import RunningHub, running_hub

CANARY = "Canary-5e1f"
# (event class the hub reports, raw request carrying the canary)
MALFORMED = {
    "bad_content_length": (
        "bad_message",
        f"POST /api/login HTTP/1.1\r\nHost: hub\r\nContent-Length: {CANARY}\r\n\r\n",
    ),
    "bad_request_line": (
        "bad_request_line",
        f"GET /{CANARY} HTTP/1.1 {CANARY}\r\nHost: hub\r\n\r\n",
    ),
    "bad_version": ("bad_request_line", f"GET / HTTP/9.{CANARY}\r\nHost: hub\r\n\r\n"),
    "bad_method": ("bad_method", f"{CANARY}\x01 / HTTP/1.1\r\nHost: hub\r\n\r\n"),
    "header_too_long": (
        "line_too_long",
        f"GET / HTTP/1.1\r\nHost: hub\r\nX-{CANARY}: {CANARY * 1000}\r\n\r\n",
    ),
    "url_too_long": ("line_too_long", f"GET /{CANARY * 1000} HTTP/1.1\r\nHost: hub\r\n\r\n"),
    "invalid_header_chars": (
        "bad_message",
        f"GET / HTTP/1.1\r\nHost: hub\r\nX-Note: {CANARY}\x01\x7f\r\n\r\n",
    ),
    "invalid_header_name": ("bad_message", f"GET / HTTP/1.1\r\nHost: hub\r\n{CANARY} x: 1\r\n\r\n"),
    "bad_chunk": (
        "bad_message",
        f"POST /api/login HTTP/1.1\r\nHost: hub\r\nTransfer-Encoding: chunked\r\n\r\n{CANARY}\r\n",
    ),
}


async def send_raw(hub: RunningHub, request: str) -> bytes:
    """One request over its own connection; the whole answer (the hub closes after a 400)."""
    port = int(hub.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request.encode("latin-1"))
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
        await writer.wait_closed()


def text_of(record: logging.LogRecord) -> str:
    """Everything a handler could write: message, traceback, stack."""
    return logging.Formatter("%(name)s %(message)s").format(record)


def summaries(caplog: pytest.LogCaptureFixture, key: str | None = None) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == "hub.http" and key in (None, getattr(r, "throttle_key", None))
    ]


@pytest.mark.parametrize("case", sorted(MALFORMED))
async def test_malformed_request_leaves_no_client_bytes_in_the_log(
    case: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key, request = MALFORMED[case]
    async with running_hub(tmp_path) as hub:
        reply = await send_raw(hub, request)
        assert reply.split(b"\r\n", 1)[0].split(b" ")[1] == b"400", reply[:100]
        async with aiohttp.ClientSession() as http, http.get(f"{hub.url}/api/csrf") as response:
            assert response.status == 200  # the hub serves on
    for record in caplog.records:
        assert CANARY not in text_of(record), text_of(record)[:2000]
    assert [r.events for r in summaries(caplog)] == [1]  # type: ignore[attr-defined]
    (line,) = summaries(caplog, key)
    assert line.getMessage().startswith("malformed HTTP request: ")
    assert "127.0.0" not in line.getMessage()
    assert not [r for r in caplog.records if r.name == "aiohttp.server"]


async def test_malformed_requests_are_counted_per_kind_and_interval(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    kinds = {"bad_request_line": 7, "bad_message": 5}
    async with running_hub(tmp_path) as hub:
        for _ in range(kinds["bad_request_line"]):
            await send_raw(hub, MALFORMED["bad_request_line"][1])
        for _ in range(kinds["bad_message"]):
            await send_raw(hub, MALFORMED["bad_content_length"][1])
        during = summaries(caplog)
        # one line per kind so far; nothing from aiohttp, not even access lines
        assert sorted((r.throttle_key, r.events) for r in during) == [  # type: ignore[attr-defined]
            ("bad_message", 1),
            ("bad_request_line", 1),
        ]
        assert len([r for r in caplog.records if r.name.startswith("aiohttp")]) == 0
    # the counts of the interval are written when the hub stops (or the interval ends)
    for key, sent in kinds.items():
        assert [r.events for r in summaries(caplog, key)] == [1, sent - 1]  # type: ignore[attr-defined]


async def test_websocket_subprotocols_are_not_echoed_into_the_log(
    hub: RunningHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with (
        aiohttp.ClientSession() as http,
        http.ws_connect(f"{hub.ws_url}/ws/kiosk", protocols=(CANARY,)) as ws,
    ):
        await ws.close()
    warnings = [r for r in caplog.records if r.name == "aiohttp.websocket"]
    assert [r.getMessage() for r in warnings] == [
        "a WebSocket client offered only subprotocols the hub does not speak"
    ]
    assert all(CANARY not in text_of(r) for r in caplog.records)


def test_global_filter_drops_parser_errors_quoting_the_request() -> None:
    """Outside a hub's own server logger, aiohttp.server's records are still scrubbed."""
    try:
        raise BadStatusLine(f"GET /{CANARY}")
    except BadStatusLine as exc:
        info = (type(exc), exc, exc.__traceback__)
    record = logging.LogRecord(
        "aiohttp.server", logging.ERROR, __file__, 1, "Error from %s", ("192.0.2.1",), info
    )
    assert AnonymisingFilter().filter(record)
    assert text_of(record) == "aiohttp.server malformed HTTP request: bad request line"
