"""What the adviser's console does with the hub's relay (docs/relay.md): its CSRF token, and
pushing a document sealed into the relay and offered on the data channel."""

from __future__ import annotations

import hashlib

import aiohttp

from protocol import channel
from protocol.sealed import MIN_CHUNK, new_key, seal_bytes
from tests.support.adviser import AdviserPeer

PUSH_ID = "push-canary01"  # the transfer id of a pushed document


async def csrf_of(http: aiohttp.ClientSession, url: str) -> str:
    """The console session's CSRF token (the relay wants it on every request)."""
    async with http.get(f"{url}/api/session") as response:
        csrf: str = (await response.json())["csrf"]
        return csrf


async def push_document(
    http: aiohttp.ClientSession, url: str, adviser: AdviserPeer, cid: str, name: str, body: bytes
) -> str:
    """The console's push of a document: sealed into the relay, offered on the data channel
    (transfer ``PUSH_ID``); the relay's blob id."""
    csrf = await csrf_of(http, url)
    key = new_key()
    async with http.post(
        f"{url}/api/relay/{cid}",
        data=seal_bytes(key, PUSH_ID, body, MIN_CHUNK),
        headers={"X-CSRF-Token": csrf, "Content-Type": "application/octet-stream"},
    ) as response:
        assert response.status == 201, await response.text()
        blob: str = (await response.json())["blob"]
    adviser.send(
        channel.FileOffer(
            id=PUSH_ID, name=name, size=len(body), mime="application/pdf",
            sha256=hashlib.sha256(body).hexdigest(), purpose="document", blob=blob,
            key=key.hex(),
        )
    )  # fmt: skip
    return blob
