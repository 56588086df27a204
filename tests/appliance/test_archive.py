"""The kiosk's side of the archive (appliance.custody.archive, docs/archive.md).

A small aiohttp server on 127.0.0.1 stands in for the hub's ``POST /api/archive/{id}`` and keeps
what it is sent: the shape of each upload (bearer relay token, ``application/cms``, the kind),
that the body is CMS AuthEnvelopedData and never the plaintext, that the tenant's key opens it
to the exact signed PDF or transcript; what is kept only when the tenant switched it on and the
tenant CA signed the certificate; one retry, then given up; no content in any log line.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from asn1crypto import cms
from hypothesis import given
from hypothesis import strategies as st

from appliance.custody.archive import (
    ArchiveClient,
    ArchiveError,
    Archiver,
    archive_certificate,
    collect,
    transcript,
)
from appliance.custody.ledger import ArtifactKind
from appliance.custody.vault import SessionVault
from protocol.channel import HistoryChat
from signing.sealed import open_bytes
from tests.support import device_certs
from tests.support import trustee_certs as tc

MIB = 1024 * 1024
RELAY_TOKEN = "r" * 43
CID = "consultation-1"
PDF = b"%PDF-1.7\n% CANARY-CONTRACT-7f3a signed by the customer\n" + bytes(range(256)) * 8
CHAT = (
    HistoryChat(
        id="m1", text="Guten Tag, CANARY-CHAT-91c2 hier", ts=1_796_000_000_000, author="kiosk"
    ),
    HistoryChat(id="m2", text="Gern.\nZweite Zeile", ts=1_796_000_061_500, author="adviser"),
)


@dataclass
class FakeArchiveHub:
    """What the stand-in hub was sent, and how it answers the next uploads."""

    url: str = ""
    received: list[tuple[str, str | None, str | None, str | None, bytes]] = field(
        default_factory=list
    )
    answers: list[tuple[int, object]] = field(default_factory=list)  # (status, JSON) in turn
    stalled: bool = False  # take the body, answer only once the test is over
    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append(
            (
                request.match_info["cid"],
                request.query.get("kind"),
                request.headers.get("Authorization"),
                request.headers.get("Content-Type"),
                body,
            )
        )
        if self.stalled:
            await self.release.wait()
        status, answer = self.answers.pop(0) if self.answers else (201, {"id": "a" * 22})
        if isinstance(answer, bytes):
            return web.Response(status=status, body=answer)
        return web.json_response(answer, status=status)


@pytest.fixture(scope="module")
def ca() -> device_certs.Authority:
    return device_certs.tenant_ca()


@pytest.fixture(scope="module")
def archive_key(ca: device_certs.Authority) -> tc.Trustee:
    return tc.ec_trustee(ca, "p256")


@pytest.fixture
async def hub() -> AsyncIterator[FakeArchiveHub]:
    fake = FakeArchiveHub()
    app = web.Application()
    app.router.add_post("/api/archive/{cid}", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    fake.url = f"ws://127.0.0.1:{port}/ws/kiosk"
    try:
        yield fake
    finally:
        fake.release.set()  # a stalled handler ends, so the server stops at once
        await runner.cleanup()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def _no_pause(_seconds: float) -> None:
    return None


@pytest.fixture
def archiver(
    hub: FakeArchiveHub, http: aiohttp.ClientSession, ca: device_certs.Authority
) -> Archiver:
    """An archiver that trusts the tenant CA ``ca`` and uploads to the fake hub at once."""
    client = ArchiveClient(lambda: http, hub_url=hub.url, token=lambda: RELAY_TOKEN)
    return Archiver(client, anchors=lambda: (ca.certificate,), sleep=_no_pause)


def _vault(root: Path) -> SessionVault:
    vault = SessionVault(root, max_file_bytes=MIB, max_session_bytes=4 * MIB)
    vault.store(ArtifactKind.SCAN, "scan.jpg", b"\xff\xd8\xff not kept")
    vault.store(ArtifactKind.SIGNATURE, "contract-signed.pdf", PDF)
    return vault


def _b64(trustee: tc.Trustee) -> str:
    return base64.b64encode(trustee.der).decode()


# -- what is sent ---------------------------------------------------------------------------


async def test_contract_and_transcript_are_sealed_and_uploaded(
    hub: FakeArchiveHub,
    archiver: Archiver,
    archive_key: tc.Trustee,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    archiver.welcomed(_b64(archive_key), ("contract", "transcript"))
    outcome = await archiver.archive(CID, _vault(tmp_path), CHAT)
    assert (outcome.uploaded, outcome.failed, outcome.skipped) == (2, 0, None)
    kinds = [kind for _cid, kind, *_ in hub.received]
    assert kinds == ["contract", "transcript"]  # the scan is not the tenant's to keep
    plain = {"contract": PDF, "transcript": transcript(CHAT)}
    for cid, kind, authorization, content_type, body in hub.received:
        assert cid == CID
        assert authorization == f"Bearer {RELAY_TOKEN}"
        assert content_type == "application/cms"
        info = cms.ContentInfo.load(body)
        assert info["content_type"].native == "authenticated_enveloped_data"
        assert plain[str(kind)] not in body and b"CANARY" not in body  # sealed, not plaintext
        assert open_bytes(body, archive_key.key, max_bytes=4 * MIB) == plain[str(kind)]
    # no content in any log line: not the chat, not the contract's bytes
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "CANARY" not in logged and "Zweite" not in logged and RELAY_TOKEN not in logged


def test_transcript_is_both_directions_with_times() -> None:
    assert transcript(CHAT).decode("utf-8") == (
        "2026-11-30 00:53:20 UTC customer: Guten Tag, CANARY-CHAT-91c2 hier\n"
        "2026-11-30 00:54:21 UTC adviser: Gern.\n"
        "    Zweite Zeile\n"
    )


@given(texts=st.lists(st.text(min_size=1, max_size=40), min_size=1, max_size=5))
def test_transcript_keeps_one_message_per_unindented_line(texts: list[str]) -> None:
    lines = tuple(
        HistoryChat(id=f"m{i}", text=text, ts=i * 1000, author="kiosk")
        for i, text in enumerate(texts)
    )
    rendered = transcript(lines).decode("utf-8")
    starts = [line for line in rendered.split("\n") if line and not line.startswith("    ")]
    assert len(starts) == len(texts)


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [((), []), (("contract",), ["contract"]), (("transcript",), ["transcript"])],
)
async def test_only_the_kinds_the_tenant_switched_on(
    kinds: tuple[str, ...],
    expected: list[str],
    hub: FakeArchiveHub,
    archiver: Archiver,
    archive_key: tc.Trustee,
    tmp_path: Path,
) -> None:
    archiver.welcomed(_b64(archive_key), kinds)  # type: ignore[arg-type]
    await archiver.archive(CID, _vault(tmp_path), CHAT)
    assert [kind for _cid, kind, *_ in hub.received] == expected


async def test_nothing_to_keep_sends_nothing(
    hub: FakeArchiveHub,
    archiver: Archiver,
    archive_key: tc.Trustee,
    tmp_path: Path,
) -> None:
    archiver.welcomed(_b64(archive_key), ("contract", "transcript"))
    empty = SessionVault(tmp_path, max_file_bytes=MIB, max_session_bytes=MIB)
    outcome = await archiver.archive(CID, empty, ())
    assert (outcome.uploaded, outcome.failed) == (0, 0)
    assert hub.received == []


# -- whom it is sealed to -------------------------------------------------------------------


@pytest.mark.parametrize("case", ["self_signed", "other_ca", "expired", "none", "not_base64"])
async def test_a_certificate_the_tenant_ca_did_not_sign_gets_nothing(
    case: str,
    hub: FakeArchiveHub,
    archiver: Archiver,
    ca: device_certs.Authority,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    certs: dict[str, Callable[[], str | None]] = {
        "self_signed": lambda: _b64(tc.self_signed_trustee("p256")),
        "other_ca": lambda: _b64(tc.ec_trustee(device_certs.tenant_ca("Other Bank"))),
        "expired": lambda: _b64(tc.expired_trustee(ca, "p256")),
        "none": lambda: None,
        "not_base64": lambda: "not base64!",
    }
    archiver.welcomed(certs[case](), ("contract", "transcript"))
    outcome = await archiver.archive(CID, _vault(tmp_path), CHAT)
    assert hub.received == []
    assert outcome.failed == 2
    assert outcome.skipped == ("no_certificate" if case == "none" else "untrusted")
    assert "2 item(s) not kept" in caplog.text


async def test_not_enrolled_means_no_anchor_and_nothing_sent(
    hub: FakeArchiveHub,
    http: aiohttp.ClientSession,
    archive_key: tc.Trustee,
    tmp_path: Path,
) -> None:
    client = ArchiveClient(lambda: http, hub_url=hub.url, token=lambda: RELAY_TOKEN)
    archiver = Archiver(client, anchors=lambda: (), sleep=_no_pause)
    archiver.welcomed(_b64(archive_key), ("transcript",))
    assert (await archiver.archive(CID, None, CHAT)).skipped == "untrusted"
    assert hub.received == []


def test_archive_certificate_checks_like_the_trustee(
    ca: device_certs.Authority, archive_key: tc.Trustee
) -> None:
    now = tc.NOW
    assert archive_certificate(_b64(archive_key), anchors=(ca.certificate,), now=now) == (
        archive_key.certificate
    )
    signing_only = _b64(tc.signing_only_trustee(ca, "p256"))
    with pytest.raises(ArchiveError) as refused:
        archive_certificate(signing_only, anchors=(ca.certificate,), now=now)
    assert refused.value.code == "untrusted" and "not_for_encryption" in str(refused.value)


# -- when the hub fails ---------------------------------------------------------------------


async def test_one_retry_then_it_goes_through(
    hub: FakeArchiveHub,
    archiver: Archiver,
    archive_key: tc.Trustee,
) -> None:
    hub.answers = [(503, {"error": "busy"})]
    archiver.welcomed(_b64(archive_key), ("transcript",))
    outcome = await archiver.archive(CID, None, CHAT)
    assert (outcome.uploaded, outcome.failed) == (1, 0)
    assert len(hub.received) == 2 and hub.received[0][4] == hub.received[1][4]


@pytest.mark.parametrize(
    "answer",
    [
        (403, {"error": "forbidden"}),
        (500, b"oops"),
        (201, {"no": "id"}),
        (201, b"not json"),
        (201, {"id": 7}),
    ],
)
async def test_given_up_after_the_retry(
    answer: tuple[int, object],
    hub: FakeArchiveHub,
    archiver: Archiver,
    archive_key: tc.Trustee,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub.answers = [answer, answer, answer]
    archiver.welcomed(_b64(archive_key), ("transcript",))
    outcome = await archiver.archive(CID, None, CHAT)
    assert (outcome.uploaded, outcome.failed) == (0, 1)
    assert len(hub.received) == 2  # retried once, then given up
    assert "upload of a transcript failed" in caplog.text
    assert "oops" not in caplog.text and "not json" not in caplog.text  # none of the hub's bytes


@pytest.mark.timeout(10)  # without the budget it would wait 2 x 2 x 20 s of silence
async def test_a_hub_that_never_answers_is_given_up_in_time_for_the_wipe(
    hub: FakeArchiveHub,
    http: aiohttp.ClientSession,
    ca: device_certs.Authority,
    archive_key: tc.Trustee,
    tmp_path: Path,
) -> None:
    hub.stalled = True
    client = ArchiveClient(lambda: http, hub_url=hub.url, token=lambda: RELAY_TOKEN)
    archiver = Archiver(client, anchors=lambda: (ca.certificate,), sleep=_no_pause, budget_s=0.5)
    archiver.welcomed(_b64(archive_key), ("contract", "transcript"))
    outcome = await archiver.archive(CID, _vault(tmp_path), CHAT)
    assert (outcome.uploaded, outcome.failed) == (0, 2)


async def test_an_unreachable_hub_is_given_up(
    http: aiohttp.ClientSession, ca: device_certs.Authority, archive_key: tc.Trustee
) -> None:
    closed = aiohttp.ClientSession()
    await closed.close()
    client = ArchiveClient(lambda: closed, hub_url="ws://127.0.0.1:9/ws/kiosk", token=lambda: "t")
    archiver = Archiver(client, anchors=lambda: (ca.certificate,), sleep=_no_pause)
    archiver.welcomed(_b64(archive_key), ("transcript",))
    assert (await archiver.archive(CID, None, CHAT)).failed == 1  # not even the wipe's problem
    refused_port = ArchiveClient(lambda: http, hub_url="ws://127.0.0.1:9/ws/kiosk", token=str)
    with pytest.raises(ArchiveError) as unreachable:
        await refused_port.upload(CID, "transcript", b"x")
    assert unreachable.value.code == "unreachable"
    bad_url = ArchiveClient(lambda: http, hub_url="ftp://hub", token=lambda: "t")
    with pytest.raises(ArchiveError) as refused:
        await bad_url.upload(CID, "contract", b"x")
    assert refused.value.code == "unreachable"


def test_collect_reads_signed_pdfs_only_when_contracts_are_kept(tmp_path: Path) -> None:
    vault = _vault(tmp_path)
    assert [i.kind for i in collect(frozenset({"contract"}), vault, CHAT)] == ["contract"]
    assert collect(frozenset({"transcript"}), vault, ()) == []
    assert "CANARY" not in repr(collect(frozenset({"contract"}), vault, CHAT))
