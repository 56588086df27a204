"""Privacy promises 1, 2, 3, 5 and 8 (docs/privacy.md): one conversation, every canary planted.

``kiosk-hub serve`` runs as its own process (so its memory, where the relay keeps blobs, can be
read afterwards); the real ``Kiosk`` runs in this process with its vault on a tmpfs, a scanner
whose page is a canary, and the simulated customer; an aiortc adviser takes the call. One
canary is in the intake form (handed over as the touch UI does; the typing itself is
tests/e2e/test_ui_journey.py's), one said in chat each way, one in a pushed document's name
and bytes, and one is the scanned page itself. After the call and its wipe none of them
is anywhere: not in a log line or status line, not in any table of the hub's database (the
access log and audit included) nor its files, not in the hub's memory (the relay), not in the
vault, nor in what the data-protection officer exports about the conversation. Needs root
(the vault's tmpfs, reading the hub's memory) and the loopback-only namespace; the
signature's canary is tests/e2e/test_signature_browser.py's.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest

from appliance.config.vault import MIB, VaultSettings
from appliance.custody.session import SessionCustody
from appliance.runner.kiosk import Kiosk
from appliance.runner.simulated_customer import SimulatedCustomer
from drivers.camera.simulated import SimulatedCamera
from drivers.microphone.simulated import SimulatedMicrophone
from drivers.scanner import PageSink, ProgressCallback, ScannedPage, ScannerInfo, ScanSettings
from protocol import channel, messages
from protocol.sealed import Opener
from testbed.stack import BIN, Stack
from tests.support.at_rest import everything_in
from tests.support.call import PASSWORD, accept_first, from_kiosk, kiosk_config, kiosk_running
from tests.support.console_relay import csrf_of, push_document
from tests.support.hub import http_session, login
from tests.support.memory import regions
from tests.support.mounts import tmpfs
from tests.support.requirements import require

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(120),
    pytest.mark.usefixtures("loopback_only_netns"),  # media between aiortc peers: 127.0.0.1
]
PAGE_SIZE = (480, 640)  # (width, height) of the canary page, small: JPEG-encoded at the kiosk


class CanaryScanner:
    """A flatbed whose one page is random noise: its pixels are the scanned page's canary."""

    def __init__(self) -> None:
        width, height = PAGE_SIZE
        self.pixels = secrets.token_bytes(width * height)
        self.page = f"P5\n{width} {height}\n255\n".encode() + self.pixels

    async def describe(self) -> ScannerInfo:
        """One flatbed, grey, one resolution."""
        return ScannerInfo("canary scanner", ("flatbed",), ("grey",), (150,))

    async def scan(
        self, settings: ScanSettings, sink: PageSink, progress: ProgressCallback | None = None
    ) -> int:
        """Deliver the canary page at once."""
        await sink(ScannedPage(1, self.page, "image/x-portable-anymap", settings.dpi, "grey"))
        return 1

    def cancel(self) -> None:
        """Nothing runs long enough to cancel."""


def canaries_in(data: bytes, needles: dict[str, bytes]) -> list[str]:
    """The names of the needles found in ``data``."""
    return [name for name, needle in needles.items() if needle in data]


def memory_of(pid: int, needles: dict[str, bytes]) -> list[str]:
    """The needles found anywhere in ``pid``'s readable memory (one pass over it)."""
    found: set[str] = set()
    for _start, _name, data in regions(pid):
        found.update(canaries_in(data, needles))
    return sorted(found)


def database_rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the hub's database, by table."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        names = [
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        # Table names from the database's own catalogue, not from outside.
        query = 'SELECT * FROM "{}"'
        return {name: connection.execute(query.format(name)).fetchall() for name in names}


def in_rows(rows: dict[str, list[tuple[Any, ...]]], needles: dict[str, bytes]) -> list[str]:
    """``table: canary`` for every canary a table's values hold, as text or bytes."""
    hits: list[str] = []
    for table, values in rows.items():
        for row in values:
            for value in row:
                raw = value if isinstance(value, bytes) else str(value).encode()
                hits += [f"{table}: {name}" for name in canaries_in(raw, needles)]
    return hits


async def fetch_offer(
    http: aiohttp.ClientSession, url: str, cid: str, offer: channel.FileOffer
) -> bytes:
    """Download and open what the kiosk offered, as the console does."""
    headers = {"X-CSRF-Token": await csrf_of(http, url)}
    async with http.get(f"{url}/api/relay/{cid}/{offer.blob}", headers=headers) as response:
        assert response.status == 200, response.status
        sealed = await response.read()
    opener = Opener(bytes.fromhex(offer.key), offer.id, size=offer.size, sha256=offer.sha256)
    data = b"".join(opener.feed(sealed))
    opener.finish()
    return data


def reference_of(db: Path, cid: str) -> str:
    """The conversation reference the hub stored for ``cid`` (the one the goodbye screen shows)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        row = connection.execute("SELECT reference FROM consultations WHERE id = ?", (cid,))
        (reference,) = row.fetchone()
    assert isinstance(reference, str)
    return reference


async def dpo_export(stack: Stack, cid: str) -> dict[str, Any]:
    """A data-protection officer (``kiosk-hub admin add``) exports the conversation as JSON."""
    password = stack.workdir / "dpo.password"
    password.write_text(stack.password + "\n")
    status, said = await run_hub_cli(
        stack, "admin", "add", "dora", "--role", "dpo", "--password-file", str(password)
    )
    assert status == 0, said
    reference = await asyncio.to_thread(reference_of, stack.db, cid)
    hub = SimpleNamespace(url=stack.url)
    async with http_session() as http:
        await login(http, hub, "dora", stack.password)  # type: ignore[arg-type]
        async with http.get(f"{stack.url}/api/admin/requests/{reference}/export") as response:
            assert response.status == 200, await response.text()
            document: dict[str, Any] = json.loads(await response.read())
    return document


async def run_hub_cli(stack: Stack, *args: str) -> tuple[int, str]:
    """``kiosk-hub ARGS --db DB`` on the stack's database; its exit status and output."""
    process = await asyncio.create_subprocess_exec(
        str(BIN / "kiosk-hub"), *args, "--db", str(stack.db),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    async with asyncio.timeout(30):
        out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    require(os.geteuid() == 0, "the vault's tmpfs and reading the hub's memory need root")
    s = Stack(tmp_path / "stack", adviser="ann", password=PASSWORD)
    s.start_hub()
    try:
        yield s
    finally:
        s.stop()


async def test_no_canary_survives_the_conversation_anywhere(
    stack: Stack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    tag = secrets.token_hex(8)  # in every textual canary: one memory pass finds them all
    intake = (("name", f"Erika Intake-{tag}"), ("topic", f"Kredit Topic-{tag}"))
    said_by_customer, said_by_adviser = f"Kundin sagt {tag}-c", f"Berater sagt {tag}-a"
    document_name = f"Vertrag-{tag}.pdf"
    document = b"%PDF-1.4\n" + f"Kontonummer {tag}-doc ".encode() * 2000 + b"\n%%EOF\n"
    scanner = CanaryScanner()
    statuses: list[str] = []
    hub = SimpleNamespace(url=stack.url, ws_url=f"ws://127.0.0.1:{stack.port}")
    token = (stack.workdir / "token").read_text().strip()
    config = kiosk_config(hub, token)  # type: ignore[arg-type]
    with tmpfs(tmp_path / "vault", "64m") as vault:
        settings = VaultSettings(
            path=vault, size_bytes=64 * MIB, max_file_bytes=8 * MIB, max_session_bytes=32 * MIB
        )
        custody = SessionCustody(settings, production=False)
        kiosk = Kiosk(
            config,
            SimulatedCamera(),
            SimulatedMicrophone(),
            custody=custody,
            scanner=scanner,
            on_status=statuses.append,
        )
        kiosk.add_observer(SimulatedCustomer(kiosk))  # starts and confirms the scan
        async with http_session() as http, kiosk_running(kiosk):
            async with asyncio.timeout(20):
                await kiosk.wait_state("queueing")
            console, adviser, cid = await accept_first(http, hub)  # type: ignore[arg-type]
            try:
                async with asyncio.timeout(20):
                    await kiosk.wait_state("in_call")
                    assert await adviser.wait_checked(10) is not None, adviser.verification_error
                    await adviser.wait_chat(1)  # the customer's greeting: the channel is up
                # The intake form, as the UI hands it over once the adviser is verified.
                kiosk.send_intake(intake)
                assert await adviser.wait_intake(10) == list(intake)
                # Chat both ways.
                kiosk.send_chat(said_by_customer)
                await adviser.send_chat(said_by_adviser, chat_id="adv-canary")
                async with asyncio.timeout(10):
                    await adviser.wait_chat(3)  # greeting, the canary, the thanks for ours
                assert said_by_customer in [m.text for m in adviser.chat_in]
                # A document for the customer: its name and bytes.
                await push_document(http, stack.url, adviser, cid, document_name, document)
                done = await from_kiosk(adviser, channel.FileDone)
                assert done.sha256 == hashlib.sha256(document).hexdigest()
                # A scanned page: the customer starts and confirms, the console opens it.
                adviser.send(channel.ScanRequest(id="scan-canary1"))
                offer = await from_kiosk(adviser, channel.FileOffer, within=30)
                assert (offer.purpose, offer.request_id) == ("scan", "scan-canary1")
                scanned = await fetch_offer(http, stack.url, cid, offer)
                assert scanned.startswith(b"%PDF-") and len(scanned) > 20_000
                during = await asyncio.to_thread(everything_in, vault)
                assert during, "the vault holds the session's content during the call"

                needles = {
                    "tag": tag.encode(),  # every textual canary: intake, chat, document
                    "scanned page": scanner.pixels[100_000:100_064],
                    "scan as delivered": scanned[len(scanned) // 2 : len(scanned) // 2 + 192],
                }
                assert canaries_in(during, needles) == [], "the vault holds content in clear"

                await console.peer.send(messages.End(consultation_id=cid, reason="hangup"))
                async with asyncio.timeout(20):
                    await kiosk.wait_for(lambda: len(custody.reports) >= 2)
                    await kiosk.wait_state("queueing")
                headers = {"X-CSRF-Token": await csrf_of(http, stack.url)}
                gone = f"{stack.url}/api/relay/{cid}/{offer.blob}"
                async with http.get(gone, headers=headers) as response:
                    assert response.status == 404, "the relay still holds the scan"
            finally:
                await adviser.close(bye=False)
                await console.close()
        report = custody.reports[1]
        assert report.verified and report.remounted and report.files >= 2
        left = await asyncio.to_thread(everything_in, vault)
    assert os.listdir(vault) == [] and left == b""

    # What the hub shows the data-protection officer about this conversation holds no content.
    exported = await dpo_export(stack, cid)
    held = exported["consultation"]
    assert (held["device"], held["adviser"], held["end_reason"]) == ("kiosk-1", "ann", "hangup")
    assert canaries_in(json.dumps(exported).encode(), needles) == []

    # The relay held only ciphertext, and nothing of it is left in the hub's memory.
    hub_process = stack.hub
    assert hub_process is not None and hub_process.poll() is None
    # The consultation id is the control: the hub holds it, so the scan reads the right place.
    control = {**needles, "control": cid.encode()}
    assert await asyncio.to_thread(memory_of, hub_process.pid, control) == ["control"]
    stack.stop()  # the hub flushes its access log and closes the database

    rows = await asyncio.to_thread(database_rows, stack.db)
    assert {"consultations", "device_reports"} <= rows.keys()
    assert {"access_log", "audit"} <= rows.keys()
    assert rows["access_log"], "the hub kept its (anonymised) access-log lines"
    assert in_rows(rows, needles) == []
    linked = in_rows(rows, control)
    assert "consultations: control" in linked  # the conversation's record, without content
    assert not [hit for hit in linked if hit.startswith("access_log")], "access log names it"
    assert b"/api/relay/-" in stack.hub_log.read_bytes()  # it logged the relay's requests
    everything = await asyncio.to_thread(everything_in, stack.workdir)  # hub log, database, WAL
    assert canaries_in(everything, control) == ["control"]
    assert canaries_in(caplog.text.encode(), needles) == []
    assert not any(tag in str(r.args) for r in caplog.records)
    assert not any(tag in line for line in statuses)
    assert any("session storage wiped" in line for line in statuses)
