"""The archive over real HTTP (docs/archive.md): the administrator's settings, a kiosk's upload
with its relay token (and every way it is refused), downloads scoped to the tenant, the welcome
telling kiosks what to keep."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from cryptography.hazmat.primitives import serialization

from hub.archive import ARCHIVE, CMS_OVERHEAD
from hub.storage import Device
from protocol.messages import ConsultationReference, QueuePosition, QueueRequest
from signing import sealed
from tests.support import trustee_certs
from tests.support.admin_api import AdminWorld, admin_world
from tests.support.archive_certs import issued_archive_key
from tests.support.hub import SignallingPeer, connect_kiosk, http_session
from tests.support.hub_enrol import hub_secret

pytestmark = pytest.mark.asyncio(loop_scope="module")

UNTRUSTED = trustee_certs.trustee(None, name="Self-signed archive")  # no tenant CA issued it
CONTRACT = b"%PDF-1.7 the signed contract"
SEALED = sealed.seal_bytes(CONTRACT, UNTRUSTED.certificate)  # the hub cannot tell: CMS is CMS
CMS = {"Content-Type": "application/cms"}


@dataclass
class Kiosk:
    """A kiosk of the world with a live connection and one queued consultation."""

    device: Device
    peer: SignallingPeer
    consultation_id: str
    reference: str

    @property
    def bearer(self) -> dict[str, str]:
        assert self.peer.welcome is not None and self.peer.welcome.relay_token is not None
        return {"Authorization": f"Bearer {self.peer.welcome.relay_token}", **CMS}


@dataclass
class ArchiveWorld:
    world: AdminWorld
    kiosks: dict[str, Kiosk]
    cert_der: bytes  # alpha's archive certificate, issued by alpha's tenant CA


async def _kiosk(world: AdminWorld, tenant: str, stack: AsyncExitStack) -> Kiosk:
    device, token = await world.storage.add_device(
        f"{tenant}-archiver", tenant=tenant, now=world.clock()
    )
    http = await stack.enter_async_context(http_session())
    peer = await connect_kiosk(http, world.hub, token)
    await peer.send(QueueRequest())
    position = await peer.expect(QueuePosition)
    reference = await peer.expect(ConsultationReference)  # recorded as queued by now
    return Kiosk(device, peer, position.consultation_id, reference.reference)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def aw(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ArchiveWorld]:
    """One hub for the module; alpha keeps contracts (not transcripts), beta keeps nothing."""
    directory = tmp_path_factory.mktemp("archive")
    secret_file, _secret = hub_secret(directory)
    async with (
        admin_world(directory, secret_file=secret_file) as world,
        AsyncExitStack() as stack,
    ):
        key = await issued_archive_key(
            world.api.authorities, "alpha", now=world.clock(), name="Alpha Bank archive"
        )
        pem = key.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")
        admin = world.client("alpha", "admin")
        reply = await admin.put("/api/admin/archive", {"certificate_pem": pem, "contracts": True})
        assert reply.status == 200, reply.text
        kiosks = {tenant: await _kiosk(world, tenant, stack) for tenant in ("alpha", "beta")}
        cert_der = key.certificate.public_bytes(serialization.Encoding.DER)
        yield ArchiveWorld(world, kiosks, cert_der)


async def _upload(
    aw: ArchiveWorld,
    kiosk: Kiosk,
    data: bytes = SEALED,
    *,
    kind: str = "contract",
    headers: dict[str, str] | None = None,
    consultation_id: str | None = None,
) -> tuple[int, dict[str, object]]:
    client = aw.world.anonymous
    cid = consultation_id or kiosk.consultation_id
    url = f"{aw.world.hub.url}/api/archive/{cid}?kind={kind}"
    sent = kiosk.bearer if headers is None else headers
    async with client.http.post(url, data=data, headers=sent) as response:
        return response.status, await response.json()


async def _items(aw: ArchiveWorld, tenant: str) -> list[str]:
    tenant_id = aw.world.devices[tenant].tenant.id
    return [i.id for i in await aw.world.storage.governance.archives(tenant_id)]


# -- settings ---------------------------------------------------------------


async def test_settings_show_the_certificate_and_only_an_admin_changes_them(
    aw: ArchiveWorld,
) -> None:
    world = aw.world
    shown = await world.client("alpha", "dpo").get("/api/admin/archive")
    assert shown.status == 200
    certificate = shown.body["certificate"]
    assert "Alpha Bank archive" in certificate["subject"]
    assert len(certificate["sha256"]) == 64
    assert (shown.body["contracts"], shown.body["transcripts"]) == (True, False)
    refused = await world.client("alpha", "dpo").put("/api/admin/archive", {"transcripts": True})
    assert (refused.status, refused.error) == (403, "forbidden")
    adviser = await world.client("alpha", "adviser").get("/api/admin/archive")
    assert adviser.status == 403
    beta = await world.client("beta", "admin").get("/api/admin/archive")
    assert beta.body == {"certificate": None, "contracts": False, "transcripts": False}


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"contracts": True}, 400, "invalid_setting"),  # beta has no certificate
        ({"certificate_pem": "not a certificate"}, 400, "bad_certificate"),
        ({"certificate_pem": "-----BEGIN PRIVATE KEY-----\nAA\n"}, 400, "bad_certificate"),
        ({"certificate_pem": UNTRUSTED.pem.decode("ascii")}, 400, "bad_certificate"),
        ({"contracts": "yes"}, 400, "invalid_request"),
        ({"video": True}, 400, "invalid_request"),
        ({}, 400, "invalid_request"),
    ],
)
async def test_bad_settings_change_nothing(
    aw: ArchiveWorld, body: dict[str, object], status: int, error: str
) -> None:
    beta = aw.world.client("beta", "admin")
    reply = await beta.put("/api/admin/archive", body)
    assert (reply.status, reply.error) == (status, error)
    after = await beta.get("/api/admin/archive")
    assert after.body == {"certificate": None, "contracts": False, "transcripts": False}
    too_large = await beta.call("PUT", "/api/admin/archive", data=b"{" + b" " * 20_000 + b"}")
    assert too_large.status == 413


async def test_a_changed_setting_is_audited(aw: ArchiveWorld) -> None:
    entries = (await aw.world.client("alpha", "admin").get("/api/admin/audit")).body["entries"]
    actions = {(e["action"], e["actor"], e["new_value"]) for e in entries}
    assert ("archive.contracts", "admin:alpha-admin", "on") in actions


async def test_the_welcome_tells_the_kiosk_what_to_keep(aw: ArchiveWorld) -> None:
    alpha, beta = aw.kiosks["alpha"].peer.welcome, aw.kiosks["beta"].peer.welcome
    assert alpha is not None and beta is not None
    assert alpha.archive_cert is not None
    assert base64.b64decode(alpha.archive_cert) == aw.cert_der
    assert alpha.archive_kinds == ("contract",)
    assert (beta.archive_cert, beta.archive_kinds) == (None, ())


# -- upload and download ----------------------------------------------------


async def test_an_upload_is_kept_listed_and_downloaded_by_its_tenant_only(
    aw: ArchiveWorld,
) -> None:
    world, kiosk = aw.world, aw.kiosks["alpha"]
    status, body = await _upload(aw, kiosk)
    assert status == 201, body
    archive_id = str(body["id"])
    shown = await world.client("alpha", "dpo").get(f"/api/admin/requests/{kiosk.reference}")
    [listed] = shown.body["archived_content"]
    assert (listed["id"], listed["kind"], listed["size"]) == (archive_id, "contract", len(SEALED))
    for role in ("adviser", "admin", "dpo"):
        client = world.client("alpha", role)
        async with client.http.get(f"{world.hub.url}/api/archive/{archive_id}") as response:
            assert response.status == 200
            assert response.content_type == "application/cms"
            assert await response.read() == SEALED
    other = await world.client("beta", "admin").get(f"/api/archive/{archive_id}")
    assert (other.status, other.error) == (404, "not_found")
    unknown = await world.client("alpha", "dpo").get("/api/archive/" + "A" * 24)
    assert unknown.status == 404
    anonymous = await world.anonymous.get(f"/api/archive/{archive_id}")
    assert anonymous.status == 401
    entries = (await world.client("alpha", "dpo").get("/api/admin/audit")).body["entries"]
    downloads = [e["actor"] for e in entries if e["action"] == "archive.download"]
    assert sorted(downloads) == ["admin:alpha-admin", "adviser:alpha-adviser", "dpo:alpha-dpo"]


async def test_a_recently_ended_consultation_takes_uploads_an_old_one_not(
    aw: ArchiveWorld,
) -> None:
    world, kiosk = aw.world, aw.kiosks["alpha"]
    for age_s, expected in ((700.0, 201), (3600.0, 404)):  # ended 100 s / 3000 s ago
        reference = await world.conversation("alpha", age_s=age_s, device=kiosk.device)
        tenant_id = kiosk.device.tenant.id
        held = await world.storage.governance.conversation(tenant_id, reference)
        assert held is not None
        cid = reference.replace("-", "").lower() + "x" * 12  # as AdminWorld.conversation makes it
        status, _ = await _upload(aw, kiosk, consultation_id=cid)
        assert status == expected


BAD_UPLOADS = [
    ("wrong token", {"headers": {"Authorization": "Bearer " + "x" * 43, **CMS}}, 401),
    ("no token", {"headers": CMS}, 401),
    ("a kind not switched on", {"kind": "transcript"}, 403),
    ("no such kind", {"kind": "video"}, 400),
    ("not CMS", {"data": CONTRACT}, 400),
    ("trailing bytes", {"data": SEALED + b"\x00"}, 400),
    ("cut short", {"data": SEALED[:-10]}, 400),
    ("signed, not sealed", {"data": bytes.fromhex("300d06092a864886f70d010702a000")}, 400),
]


@pytest.mark.parametrize(("what", "kwargs", "status"), BAD_UPLOADS, ids=[b[0] for b in BAD_UPLOADS])
async def test_bad_uploads_are_refused_and_nothing_is_kept(
    aw: ArchiveWorld, what: str, kwargs: dict[str, object], status: int
) -> None:
    before = await _items(aw, "alpha")
    got, body = await _upload(aw, aw.kiosks["alpha"], **kwargs)  # type: ignore[arg-type]
    assert got == status, (what, body)
    assert "error" in body
    assert await _items(aw, "alpha") == before


async def test_another_kiosks_consultation_answers_like_an_unknown_one(aw: ArchiveWorld) -> None:
    alpha, beta = aw.kiosks["alpha"], aw.kiosks["beta"]
    before = await _items(aw, "alpha")
    status, body = await _upload(aw, beta, consultation_id=alpha.consultation_id)
    assert (status, body["error"]) == (404, "not_found")
    status, body = await _upload(aw, alpha, consultation_id="nonsense")
    assert (status, body["error"]) == (404, "not_found")
    assert await _items(aw, "alpha") == before


async def test_a_tenant_that_keeps_nothing_refuses_uploads(aw: ArchiveWorld) -> None:
    status, body = await _upload(aw, aw.kiosks["beta"])
    assert (status, body["error"]) == (403, "archive_off")
    assert await _items(aw, "beta") == []


async def test_wrong_content_type_and_too_large(aw: ArchiveWorld) -> None:
    kiosk = aw.kiosks["alpha"]
    before = await _items(aw, "alpha")
    octets = {**kiosk.bearer, "Content-Type": "application/octet-stream"}
    status, _ = await _upload(aw, kiosk, headers=octets)
    assert status == 415
    limit = 25 * 1024 * 1024 + CMS_OVERHEAD  # the default file size limit + CMS overhead
    reader, writer = await _raw_upload(aw, kiosk, length=limit + 1, body=b"")
    try:  # refused before a byte of the body is read
        assert int((await asyncio.wait_for(reader.readline(), 5)).split()[1]) == 413
    finally:
        writer.close()
    assert await _items(aw, "alpha") == before


async def test_a_body_cut_short_leaves_nothing(aw: ArchiveWorld) -> None:
    kiosk, archive = aw.kiosks["alpha"], aw.world.hub.app[ARCHIVE]
    before = await _items(aw, "alpha")
    _reader, writer = await _raw_upload(aw, kiosk, length=len(SEALED), body=SEALED[:100])
    await _until(lambda: archive.receiving == 1)  # the hub is reading the body
    writer.close()  # the kiosk goes away mid-body
    await writer.wait_closed()
    await _until(lambda: archive.receiving == 0)
    assert await _items(aw, "alpha") == before


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(250):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the hub did not get there")


async def _raw_upload(
    aw: ArchiveWorld, kiosk: Kiosk, *, length: int, body: bytes
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    address = urlsplit(aw.world.hub.url)
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    head = (
        f"POST /api/archive/{kiosk.consultation_id}?kind=contract HTTP/1.1\r\n"
        f"Host: {address.netloc}\r\nAuthorization: {kiosk.bearer['Authorization']}\r\n"
        f"Content-Type: application/cms\r\nContent-Length: {length}\r\n\r\n"
    ).encode()
    writer.write(head + body)
    await writer.drain()
    return reader, writer
