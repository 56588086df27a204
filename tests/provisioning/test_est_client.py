"""The EST client and the enrolment steps against a tiny EST server on loopback.

The real hub's endpoints are exercised in tests/e2e (the technician's path); here a server
the test controls plays the hostile hub (another CA: the code must never reach it), a hub
that throttles, and a hub whose clock the test moves.
"""

from __future__ import annotations

import datetime as dt
import socket
from pathlib import Path

import pytest
from aiohttp import web

from provisioning import profile
from provisioning.codes import EnrolmentCode
from provisioning.enrolment import enrol, renew
from provisioning.est_client import (
    BadResponse,
    CaMismatch,
    CodeNotFound,
    EstClient,
    HubUnreachable,
    NeedsFreshCode,
    Throttled,
    WrongCode,
)
from provisioning.identity import IdentityStore
from tests.support.est_server import TinyEst, running_est
from tests.support.loopback_server import serving


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)

    def __call__(self) -> dt.datetime:
        return self.now


async def _enrol(url: str, store: IdentityStore, code: EnrolmentCode, fp: str | None) -> object:
    async with EstClient(url) as client:
        return await enrol(client, store, code, url, expected_fingerprint=fp)


async def test_enrolment_stores_the_identity_named_by_the_hub(tmp_path: Path) -> None:
    server = TinyEst()
    code = server.add_code("branch-7")
    store = IdentityStore(tmp_path / "id")
    key_fp = store.key_fingerprint()
    async with running_est(server) as url:
        await _enrol(url, store, code, server.fingerprint.upper())
    identity = store.load()
    assert identity is not None
    assert identity.device_name == "branch-7"
    assert identity.tenant == "Tenant A"
    assert profile.fingerprint(identity.ca_certificate) == server.fingerprint
    assert profile.spki_sha256(identity.key.public_key()) == key_fp  # the key made before
    paths = [seen.path for seen in server.seen]
    assert paths == [
        f"/.well-known/est/{code.id}/cacerts",
        f"/.well-known/est/{code.id}/simpleenroll",
    ]


async def test_a_hub_with_another_ca_never_sees_the_code(tmp_path: Path) -> None:
    server = TinyEst()
    code = server.add_code("branch-7")
    store = IdentityStore(tmp_path / "id")
    async with running_est(server) as url:
        with pytest.raises(CaMismatch, match="NOT sent"):
            await _enrol(url, store, code, "00" * 32)
    assert not server.saw(code.secret)
    assert [seen.path.rsplit("/", 1)[-1] for seen in server.seen] == ["cacerts"]
    assert store.load() is None


async def test_an_unconfirmed_ca_never_sees_the_code(tmp_path: Path) -> None:
    server = TinyEst()
    code = server.add_code("branch-7")
    shown: list[str] = []

    def decline(fingerprint: str) -> bool:
        shown.append(fingerprint)
        return False

    async with running_est(server) as url, EstClient(url) as client:
        with pytest.raises(CaMismatch, match="not confirmed"):
            await enrol(
                client,
                IdentityStore(tmp_path / "id"),
                code,
                url,
                expected_fingerprint=None,
                confirm=decline,
            )
    assert shown == [server.fingerprint]
    assert not server.saw(code.secret)


async def test_a_confirmed_ca_enrols(tmp_path: Path) -> None:
    server = TinyEst()
    code = server.add_code("branch-7")
    store = IdentityStore(tmp_path / "id")
    async with running_est(server) as url, EstClient(url) as client:
        await enrol(client, store, code, url, expected_fingerprint=None, confirm=lambda _: True)
    assert store.load() is not None


async def test_wrong_expired_and_reused_codes(tmp_path: Path) -> None:
    clock = Clock()
    server = TinyEst(now=clock)
    code = server.add_code("branch-7")
    wrong = EnrolmentCode(code.id, "2" * 12 if code.secret != "2" * 12 else "3" * 12)
    async with running_est(server) as url:
        with pytest.raises(WrongCode, match="typed right"):
            await _enrol(url, IdentityStore(tmp_path / "a"), wrong, server.fingerprint)
        await _enrol(url, IdentityStore(tmp_path / "b"), code, server.fingerprint)
        with pytest.raises(CodeNotFound, match="already used"):
            await _enrol(url, IdentityStore(tmp_path / "c"), code, server.fingerprint)
        late = server.add_code("branch-8", ttl=dt.timedelta(minutes=10))
        clock.now += dt.timedelta(minutes=11)
        with pytest.raises(CodeNotFound, match="expired"):
            await _enrol(url, IdentityStore(tmp_path / "d"), late, server.fingerprint)
    assert IdentityStore(tmp_path / "a").load() is None  # nothing half-enrolled


async def test_five_wrong_secrets_burn_the_code(tmp_path: Path) -> None:
    server = TinyEst()
    code = server.add_code("branch-7")
    wrong = EnrolmentCode(code.id, "2" * 12 if code.secret != "2" * 12 else "3" * 12)
    async with running_est(server) as url:
        for _ in range(5):
            with pytest.raises(WrongCode):
                await _enrol(url, IdentityStore(tmp_path / "a"), wrong, server.fingerprint)
        with pytest.raises(CodeNotFound, match="burnt"):
            await _enrol(url, IdentityStore(tmp_path / "a"), code, server.fingerprint)


async def test_throttled(tmp_path: Path) -> None:
    server = TinyEst(throttled=True)
    code = server.add_code("branch-7")
    async with running_est(server) as url:
        with pytest.raises(Throttled, match="wait 7 s") as caught:
            await _enrol(url, IdentityStore(tmp_path / "a"), code, server.fingerprint)
    assert caught.value.retry_after == 7


async def test_an_unreachable_hub(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = EnrolmentCode.new()
    with pytest.raises(HubUnreachable, match="cannot reach the hub at 127.0.0.1"):
        await _enrol(f"http://127.0.0.1:{port}", IdentityStore(tmp_path / "a"), code, None)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"A" * (70 * 1024), "exceeds"),
        (b"not base64 at all!", "not a base64 PKCS#7"),
        (b"", "not a base64 PKCS#7|no certificate"),
    ],
)
async def test_a_garbled_answer(tmp_path: Path, body: bytes, says: str) -> None:
    async def cacerts(request: web.Request) -> web.Response:
        return web.Response(body=body)

    app = web.Application()
    app.router.add_get("/.well-known/est/{label}/cacerts", cacerts)
    async with serving(app, access_log=None) as port:
        url = f"http://127.0.0.1:{port}"
        with pytest.raises(BadResponse, match=says):
            await _enrol(url, IdentityStore(tmp_path / "a"), EnrolmentCode.new(), None)


async def test_renewal_keeps_the_key_and_refusals_need_a_fresh_code(tmp_path: Path) -> None:
    clock = Clock()
    server = TinyEst(now=clock)
    code = server.add_code("branch-7")
    store = IdentityStore(tmp_path / "id")
    async with running_est(server) as url:
        await _enrol(url, store, code, server.fingerprint)
        first = store.load()
        assert first is not None
        clock.now += dt.timedelta(days=21)
        async with EstClient(url) as client:
            renewed = await renew(client, store)
            assert renewed.certificate.serial_number != first.certificate.serial_number
            assert renewed.certificate.not_valid_after_utc > first.certificate.not_valid_after_utc
            assert profile.spki_sha256(renewed.key.public_key()) == profile.spki_sha256(
                first.key.public_key()
            )
            assert await client.hub_time() == clock.now
            server.revoke("branch-7")
            with pytest.raises(NeedsFreshCode, match="revoked.*fresh enrolment code"):
                await renew(client, store)
    loaded = store.load()
    assert loaded is not None and loaded.certificate == renewed.certificate


async def test_an_expired_certificate_cannot_be_renewed(tmp_path: Path) -> None:
    clock = Clock()
    server = TinyEst(now=clock)
    store = IdentityStore(tmp_path / "id")
    async with running_est(server) as url:
        await _enrol(url, store, server.add_code("branch-7"), server.fingerprint)
        clock.now += dt.timedelta(days=31)
        async with EstClient(url) as client:
            with pytest.raises(NeedsFreshCode, match="expired"):
                await renew(client, store)
