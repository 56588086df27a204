"""The device side against the real hub in-process: enrol, hello with the certificate, renew.

The hub runs with a hub secret and device tokens off (its production default); codes come
from its own code book, as `kiosk-hub device enrol` makes them. The hub's clock is a fake the
test moves; the kiosk's renewal gets the same time through its clock seam.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from appliance.runner.hub_client import Backoff, HubClient, HubRejected, HubUp
from appliance.runner.renewal import Renewal
from hub.pki.codes import CodeBook
from hub.pki.secret import HubSecret, create_secret_file
from provisioning import profile
from provisioning.codes import EnrolmentCode
from provisioning.enrolment import enrol, renew
from provisioning.est_client import (
    CaMismatch,
    CodeNotFound,
    EstClient,
    NeedsFreshCode,
    WrongCode,
)
from provisioning.identity import Identity, IdentityStore
from tests.support.hub import FakeClock, RunningHub, running_hub
from tests.support.hub_client_run import first_up

DAY = 86_400.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=time.time())


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "hub-secret"
    create_secret_file(path)
    return path


@pytest.fixture
async def hub(tmp_path: Path, clock: FakeClock, secret: Path) -> AsyncIterator[RunningHub]:
    async with running_hub(
        tmp_path, clock=clock, secret_file=secret, allow_device_tokens=False
    ) as running:
        yield running


async def _code(
    hub: RunningHub, secret: Path, clock: FakeClock, name: str, tenant: str = "default"
) -> EnrolmentCode:
    code, _ = await CodeBook(HubSecret.load(secret)).new(
        hub.storage, name, tenant=tenant, now=clock()
    )
    return code


async def _ca_fingerprint(hub: RunningHub, code: EnrolmentCode) -> str:
    async with EstClient(hub.url) as client:
        return profile.fingerprint(await client.cacerts(code.id))


async def _enrol(
    hub: RunningHub, store: IdentityStore, code: EnrolmentCode, fingerprint: str | None
) -> Identity:
    async with EstClient(hub.url) as client:
        return await enrol(client, store, code, hub.ws_url, expected_fingerprint=fingerprint)


async def _hello(hub: RunningHub, store: IdentityStore) -> HubUp:
    """Connect as the kiosk does (certificate hello, no token); the hub's welcome."""
    client = HubClient(
        f"{hub.ws_url}/ws/kiosk",
        None,
        backoff=Backoff(0.05, 0.2, random.Random(1)),
        identity=store.load,
    )
    return await first_up(client)


async def test_enrol_then_say_hello_with_the_certificate(
    hub: RunningHub, secret: Path, clock: FakeClock, tmp_path: Path
) -> None:
    code = await _code(hub, secret, clock, "branch-7")
    store = IdentityStore(tmp_path / "id")
    identity = await _enrol(hub, store, code, await _ca_fingerprint(hub, code))
    assert identity.device_name == "branch-7"
    assert identity.tenant == "default"
    up = await _hello(hub, store)
    assert up.welcome.name == "branch-7"


async def test_the_real_hubs_refusals_reach_the_technician_typed(
    hub: RunningHub, secret: Path, clock: FakeClock, tmp_path: Path
) -> None:
    code = await _code(hub, secret, clock, "branch-7")
    fingerprint = await _ca_fingerprint(hub, code)
    wrong = EnrolmentCode(code.id, "2" * 12 if code.secret != "2" * 12 else "3" * 12)
    with pytest.raises(WrongCode):
        await _enrol(hub, IdentityStore(tmp_path / "a"), wrong, fingerprint)
    await _enrol(hub, IdentityStore(tmp_path / "b"), code, fingerprint)
    with pytest.raises(CodeNotFound):  # used
        await _enrol(hub, IdentityStore(tmp_path / "c"), code, fingerprint)
    late = await _code(hub, secret, clock, "branch-8")
    clock.advance(2 * 3600)  # codes live an hour by default
    with pytest.raises(CodeNotFound):
        await _enrol(hub, IdentityStore(tmp_path / "d"), late, fingerprint)
    assert IdentityStore(tmp_path / "a").load() is None


async def test_another_tenants_code_is_refused_before_the_code_is_sent(
    hub: RunningHub, secret: Path, clock: FakeClock, tmp_path: Path
) -> None:
    hub.add_tenant("other")
    mine = await _code(hub, secret, clock, "branch-7")
    theirs = await _code(hub, secret, clock, "branch-9", tenant="other")
    # The technician holds tenant default's fingerprint but someone else's code.
    with pytest.raises(CaMismatch, match="NOT sent"):
        await _enrol(hub, IdentityStore(tmp_path / "id"), theirs, await _ca_fingerprint(hub, mine))
    # The code was not spent: its owner can still use it.
    other_fp = await _ca_fingerprint(hub, theirs)
    identity = await _enrol(hub, IdentityStore(tmp_path / "ok"), theirs, other_fp)
    assert identity.tenant == "other"


async def test_renewal_then_revocation(
    hub: RunningHub, secret: Path, clock: FakeClock, tmp_path: Path
) -> None:
    code = await _code(hub, secret, clock, "branch-7")
    store = IdentityStore(tmp_path / "id")
    first = await _enrol(hub, store, code, await _ca_fingerprint(hub, code))
    clock.advance(21 * DAY)  # past two thirds of 30 days
    sleeps: list[float] = []

    async def one_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        raise asyncio.CancelledError

    said: list[str] = []
    renewal = Renewal(
        store,
        say=said.append,
        clock=lambda: dt.datetime.fromtimestamp(clock(), dt.UTC),
        sleep=one_sleep,
    )
    with pytest.raises(asyncio.CancelledError):
        await renewal.run()
    renewed = store.load()
    assert renewed is not None
    assert renewed.certificate.serial_number != first.certificate.serial_number
    assert sleeps == [0.0]
    up = await _hello(hub, store)  # the hub takes the renewed certificate
    assert up.welcome.name == "branch-7"

    await hub.storage.revoke_device("branch-7", now=clock())
    clock.advance(21 * DAY)  # the renewed certificate is due too
    again = Renewal(
        store,
        say=said.append,
        clock=lambda: dt.datetime.fromtimestamp(clock(), dt.UTC),
        sleep=one_sleep,
    )
    await again.run()
    assert again.needs_fresh_code
    with pytest.raises(HubRejected, match="certificate"):
        await _hello(hub, store)


async def test_an_expired_certificate_is_refused_at_hello_and_renewal(
    hub: RunningHub, secret: Path, clock: FakeClock, tmp_path: Path
) -> None:
    code = await _code(hub, secret, clock, "branch-7")
    store = IdentityStore(tmp_path / "id")
    await _enrol(hub, store, code, await _ca_fingerprint(hub, code))
    clock.advance(31 * DAY)  # the kiosk was off for a month
    with pytest.raises(HubRejected, match=r"certificate.*fresh code"):
        await _hello(hub, store)
    async with EstClient(hub.url) as client:
        with pytest.raises(NeedsFreshCode, match="fresh enrolment code"):
            await renew(client, store)
    # A fresh code enrols it again (a re-imaged or long-off kiosk).
    fresh = await _code(hub, secret, clock, "branch-7")
    await _enrol(hub, store, fresh, await _ca_fingerprint(hub, fresh))
    assert (await _hello(hub, store)).welcome.name == "branch-7"
