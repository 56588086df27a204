"""The kiosk renews its certificate at two thirds of its life, by a clock the test controls."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from appliance.runner.hub_client import Backoff
from appliance.runner.renewal import MAX_SLEEP_S, Renewal
from provisioning import profile
from provisioning.enrolment import enrol, renewal_due
from provisioning.est_client import EstClient
from provisioning.identity import IdentityStore
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


async def _enrolled(tmp_path: Path, server: TinyEst, url: str) -> IdentityStore:
    store = IdentityStore(tmp_path / "id")
    async with EstClient(url) as client:
        await enrol(
            client,
            store,
            server.add_code("branch-7"),
            url,
            expected_fingerprint=server.fingerprint,
        )
    return store


def _renewal(
    store: IdentityStore, clocks: Clocks, said: list[str], client: Callable[[str], EstClient]
) -> Renewal:
    return Renewal(
        store,
        say=said.append,
        clock=lambda: clocks.local,
        sleep=clocks.sleep,
        backoff=Backoff(30, 3600),
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
    clocks, said = Clocks(), list[str]()
    server = TinyEst(now=lambda: clocks.hub)
    async with running_est(server) as url:
        store = await _enrolled(tmp_path, server, url)
        first = store.load()
        assert first is not None
        clocks.local = clocks.hub = profile.renew_at(first.certificate) - dt.timedelta(minutes=30)
        with pytest.raises(Stop):
            await _renewal(store, clocks, said, EstClient).run()
    renewed = store.load()
    assert renewed is not None
    assert renewed.certificate.not_valid_after_utc > first.certificate.not_valid_after_utc
    assert clocks.sleeps[0] == pytest.approx(1800)  # until due
    assert clocks.sleeps[1] == 0  # renewed: look again at once
    assert clocks.sleeps[2] == MAX_SLEEP_S  # the new one is far from due: an hour at most
    assert any("renewed" in line for line in said)


async def test_a_clock_before_the_certificate_uses_the_hubs_clock(tmp_path: Path) -> None:
    clocks, said = Clocks(), list[str]()
    server = TinyEst(now=lambda: clocks.hub)
    async with running_est(server) as url:
        store = await _enrolled(tmp_path, server, url)
        first = store.load()
        assert first is not None
        clocks.local = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)  # a Pi without a real-time clock
        clocks.hub = profile.renew_at(first.certificate) + dt.timedelta(minutes=1)
        clocks.max_sleeps = 1
        with pytest.raises(Stop):
            await _renewal(store, clocks, said, EstClient).run()
    renewed = store.load()
    assert renewed is not None and renewed.certificate != first.certificate
    assert [seen.method for seen in server.seen][-2:] == ["HEAD", "POST"]


async def test_a_revoked_certificate_needs_a_fresh_code(tmp_path: Path) -> None:
    clocks, said = Clocks(), list[str]()
    server = TinyEst(now=lambda: clocks.hub)
    async with running_est(server) as url:
        store = await _enrolled(tmp_path, server, url)
        first = store.load()
        assert first is not None
        clocks.local = clocks.hub = profile.renew_at(first.certificate)
        server.revoke("branch-7")
        renewal = _renewal(store, clocks, said, EstClient)
        await renewal.run()  # returns: nothing more to try
    assert renewal.needs_fresh_code
    assert clocks.sleeps == []
    assert any("fresh enrolment code" in line for line in said)


async def test_an_expired_certificate_at_start_is_reported(tmp_path: Path) -> None:
    clocks, said = Clocks(), list[str]()
    server = TinyEst(now=lambda: clocks.hub)
    async with running_est(server) as url:
        store = await _enrolled(tmp_path, server, url)
        clocks.local = clocks.hub = START + dt.timedelta(days=45)  # switched off for weeks
        renewal = _renewal(store, clocks, said, EstClient)
        await renewal.run()
    assert renewal.needs_fresh_code
    assert said[0].startswith("device certificate expired")
    assert "fresh enrolment code" in said[-1]


async def test_an_unreachable_hub_is_retried_with_backoff(tmp_path: Path) -> None:
    clocks, said = Clocks(), list[str]()
    server = TinyEst(now=lambda: clocks.hub)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    async with running_est(server) as url:
        store = await _enrolled(tmp_path, server, url)
        first = store.load()
        assert first is not None
        clocks.local = clocks.hub = profile.renew_at(first.certificate)
        target = [dead]

        async def sleep(seconds: float) -> None:
            clocks.sleeps.append(seconds)
            if len(clocks.sleeps) == 2:
                target[0] = url  # the hub is back
            if len(clocks.sleeps) == 3:
                raise Stop

        renewal = Renewal(
            store,
            say=said.append,
            clock=lambda: clocks.local,
            sleep=sleep,
            backoff=Backoff(30, 3600),
            client=lambda _: EstClient(target[0]),
        )
        with pytest.raises(Stop):
            await renewal.run()
    assert 15 <= clocks.sleeps[0] <= 30 and 30 <= clocks.sleeps[1] <= 60  # backing off
    assert clocks.sleeps[2] == 0  # renewed once the hub answered
    renewed = store.load()
    assert renewed is not None and renewed.certificate != first.certificate


async def test_a_throttling_hub_is_waited_for(tmp_path: Path) -> None:
    clocks, said = Clocks(), list[str]()
    server = TinyEst(now=lambda: clocks.hub)
    async with running_est(server) as url:
        store = await _enrolled(tmp_path, server, url)
        first = store.load()
        assert first is not None
        clocks.local = clocks.hub = profile.renew_at(first.certificate)
        server.throttled = True
        clocks.max_sleeps = 1
        with pytest.raises(Stop):
            await Renewal(
                store,
                say=said.append,
                clock=lambda: clocks.local,
                sleep=clocks.sleep,
                backoff=Backoff(1, 2),
                client=EstClient,
            ).run()
    assert clocks.sleeps == [7]  # the hub's Retry-After, longer than the backoff


async def test_a_kiosk_without_identity_does_nothing(tmp_path: Path) -> None:
    clocks, said = Clocks(), list[str]()
    await _renewal(IdentityStore(tmp_path / "none"), clocks, said, EstClient).run()
    assert clocks.sleeps == [] and said == []
