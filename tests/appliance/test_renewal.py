"""The kiosk renews its certificate at two thirds of its life, by a clock the test controls."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from appliance.runner.hub_client import Backoff
from appliance.runner.renewal import MAX_SLEEP_S, Renewal
from provisioning import profile
from provisioning.enrolment import enrol, renewal_due
from provisioning.est_client import EstClient
from provisioning.identity import Identity, IdentityStore
from tests.support.est_server import TinyEst, running_est

START = dt.datetime(2030, 1, 15, 12, 0, tzinfo=dt.UTC)


class Stop(Exception):
    """Ends a renewal run after the sleeps a test wants to see."""


class Clocks:
    """The hub's and the kiosk's clocks; sleeping advances both."""

    def __init__(self) -> None:
        self.hub = START
        self.local = START
        self.sleeps: list[float] = []
        self.max_sleeps = 3

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        if len(self.sleeps) >= self.max_sleeps:
            raise Stop
        self.hub += dt.timedelta(seconds=seconds)
        self.local += dt.timedelta(seconds=seconds)


@dataclass
class Scene:
    """A kiosk enrolled at a TinyEst that keeps the hub's clock, with the test's clocks."""

    clocks: Clocks
    said: list[str]
    server: TinyEst
    url: str
    store: IdentityStore
    first: Identity

    def renewal(
        self,
        *,
        client: Callable[[str], EstClient] = EstClient,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        backoff: Backoff | None = None,
    ) -> Renewal:
        return renewal_for(self.store, self.clocks, self.said, client, sleep=sleep, backoff=backoff)

    def renewed(self) -> Identity:
        """The identity on disk now (asserted present)."""
        now = self.store.load()
        assert now is not None
        return now


@asynccontextmanager
async def enrolled(tmp_path: Path) -> AsyncIterator[Scene]:
    """A kiosk enrolled as branch-7 at a TinyEst on loopback (served inside the block)."""
    clocks = Clocks()
    server = TinyEst(now=lambda: clocks.hub)
    async with running_est(server) as url:
        store = IdentityStore(tmp_path / "id")
        async with EstClient(url) as client:
            code = server.add_code("branch-7")
            await enrol(client, store, code, url, expected_fingerprint=server.fingerprint)
        first = store.load()
        assert first is not None
        yield Scene(clocks, [], server, url, store, first)


def renewal_for(
    store: IdentityStore,
    clocks: Clocks,
    said: list[str],
    client: Callable[[str], EstClient],
    *,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    backoff: Backoff | None = None,
) -> Renewal:
    return Renewal(
        store,
        say=said.append,
        clock=lambda: clocks.local,
        sleep=sleep or clocks.sleep,
        backoff=backoff or Backoff(30, 3600),
        client=client,
    )


def test_renewal_is_due_at_two_thirds() -> None:
    server = TinyEst(now=lambda: START)
    cert = profile.make_device_certificate(
        ca_cert=server.ca,
        ca_key=server.ca_key,
        public_key=server.ca_key.public_key(),
        device_name="d",
        now=START,
    )
    due = profile.renew_at(cert)
    assert not renewal_due(cert, due - dt.timedelta(seconds=1))
    assert renewal_due(cert, due)


async def test_the_kiosk_sleeps_until_due_then_renews(tmp_path: Path) -> None:
    async with enrolled(tmp_path) as scene:
        clocks, first = scene.clocks, scene.first
        clocks.local = clocks.hub = profile.renew_at(first.certificate) - dt.timedelta(minutes=30)
        with pytest.raises(Stop):
            await scene.renewal().run()
    renewed = scene.renewed()
    assert renewed.certificate.not_valid_after_utc > first.certificate.not_valid_after_utc
    assert clocks.sleeps[0] == pytest.approx(1800)  # until due
    assert clocks.sleeps[1] == 0  # renewed: look again at once
    assert clocks.sleeps[2] == MAX_SLEEP_S  # the new one is far from due: an hour at most
    assert any("renewed" in line for line in scene.said)


async def test_a_clock_before_the_certificate_uses_the_hubs_clock(tmp_path: Path) -> None:
    async with enrolled(tmp_path) as scene:
        clocks = scene.clocks
        clocks.local = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)  # a Pi without a real-time clock
        clocks.hub = profile.renew_at(scene.first.certificate) + dt.timedelta(minutes=1)
        clocks.max_sleeps = 1
        with pytest.raises(Stop):
            await scene.renewal().run()
    assert scene.renewed().certificate != scene.first.certificate
    assert [seen.method for seen in scene.server.seen][-2:] == ["HEAD", "POST"]


@pytest.mark.parametrize("case", ["revoked", "expired_at_start"])
async def test_a_revoked_or_expired_certificate_needs_a_fresh_code(
    tmp_path: Path, case: str
) -> None:
    async with enrolled(tmp_path) as scene:
        clocks = scene.clocks
        if case == "revoked":
            clocks.local = clocks.hub = profile.renew_at(scene.first.certificate)
            scene.server.revoke("branch-7")
        else:
            clocks.local = clocks.hub = START + dt.timedelta(days=45)  # switched off for weeks
        renewal = scene.renewal()
        await renewal.run()  # returns: nothing more to try
    assert renewal.needs_fresh_code
    if case == "revoked":
        assert clocks.sleeps == []
        assert any("fresh enrolment code" in line for line in scene.said)
    else:
        assert scene.said[0].startswith("device certificate expired")
        assert "fresh enrolment code" in scene.said[-1]


async def test_an_unreachable_hub_is_retried_with_backoff(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    async with enrolled(tmp_path) as scene:
        clocks = scene.clocks
        clocks.local = clocks.hub = profile.renew_at(scene.first.certificate)
        target = [dead]

        async def sleep(seconds: float) -> None:
            clocks.sleeps.append(seconds)
            if len(clocks.sleeps) == 2:
                target[0] = scene.url  # the hub is back
            if len(clocks.sleeps) == 3:
                raise Stop

        with pytest.raises(Stop):
            await scene.renewal(client=lambda _: EstClient(target[0]), sleep=sleep).run()
    assert 15 <= clocks.sleeps[0] <= 30 and 30 <= clocks.sleeps[1] <= 60  # backing off
    assert clocks.sleeps[2] == 0  # renewed once the hub answered
    assert scene.renewed().certificate != scene.first.certificate


async def test_a_throttling_hub_is_waited_for(tmp_path: Path) -> None:
    async with enrolled(tmp_path) as scene:
        clocks = scene.clocks
        clocks.local = clocks.hub = profile.renew_at(scene.first.certificate)
        scene.server.throttled = True
        clocks.max_sleeps = 1
        with pytest.raises(Stop):
            await scene.renewal(backoff=Backoff(1, 2)).run()
    assert clocks.sleeps == [7]  # the hub's Retry-After, longer than the backoff


async def test_a_kiosk_without_identity_does_nothing(tmp_path: Path) -> None:
    clocks, said = Clocks(), list[str]()
    await renewal_for(IdentityStore(tmp_path / "none"), clocks, said, EstClient).run()
    assert clocks.sleeps == [] and said == []
