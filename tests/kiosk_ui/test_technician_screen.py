"""The technician screen by touch against a real hub on loopback that enrols.

The hub runs with a hub secret and device tokens off (its production default); codes come from
its own code book, as `kiosk-hub device enrol` makes them. A scripted technician taps the drawn
fields, types on the screen's keyboard and confirms; every refusal must reach the screen in
words. Once enrolled, the kiosk `kiosk run` assembles takes the screen over, in the same window.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cryptography import x509

from appliance.commands.enrol import run_decommission
from appliance.runner.device_reports import SELFTEST_FILE
from appliance.ui.launch import ScreenOwner
from appliance.ui.technician import Service
from hub.pki.codes import CodeBook
from hub.pki.secret import HubSecret, create_secret_file
from kiosk_ui import layout as lay
from kiosk_ui import viewmodels as v
from kiosk_ui.strings import text
from provisioning import profile
from provisioning.codes import EnrolmentCode, EnrolmentUri
from provisioning.enrolment import enrol
from provisioning.est_client import EstClient, EstError
from provisioning.identity import KEY_FILE, IdentityStore
from testbed.stack import free_port
from tests.support.hub import FakeClock, RunningHub, running_hub
from tests.support.mounts import unmount
from tests.support.technician_ui import (
    TechnicianScreen,
    real_assemble,
    running_front,
    simulated_selftest,
)

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


@pytest.fixture
def vault(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "vault"
    yield path
    if os.geteuid() == 0:
        unmount(path)  # the custody's own tmpfs, inside the suite's mount namespace


async def _code(hub: RunningHub, secret: Path, clock: FakeClock, name: str) -> EnrolmentCode:
    code, _ = await CodeBook(HubSecret.load(secret)).new(
        hub.storage, name, tenant="default", now=clock()
    )
    return code


async def _ca(hub: RunningHub, code: EnrolmentCode) -> str:
    async with EstClient(hub.url) as client:
        return profile.fingerprint(await client.cacerts(code.id))


async def _check_the_hub(screen: TechnicianScreen, hub_url: str, typed_code: str) -> None:
    """Type the hub address and the code on the screen's keyboard, tap "Check the hub"."""
    await screen.type("hub_url", hub_url)
    await screen.type("code", typed_code)
    await screen.tap(lay.SubmitForm())


def _says(screen: TechnicianScreen, key: str, **values: object) -> bool:
    return text(key, screen.draw().language, **values) in screen.texts()


def _kiosks(hub: RunningHub) -> list[str]:
    """Names of the kiosks connected with a certificate."""
    return [p.name for p in hub.switchboard.connections() if p.role == "kiosk" and p.cert_serial]


async def test_enrol_by_touch_then_the_journey_takes_the_screen(
    hub: RunningHub, secret: Path, clock: FakeClock, tmp_path: Path, vault: Path
) -> None:
    code = await _code(hub, secret, clock, "branch-7")
    identity = tmp_path / "identity"
    store = IdentityStore(identity)
    async with running_front(
        identity,
        assemble=real_assemble(tmp_path, identity),
        selftest=simulated_selftest(identity),
        language="de",
    ) as screen:
        # The key the screen shows is the one that gets enrolled (made now, kept).
        key = profile.display_fingerprint(store.key_fingerprint())
        assert all(block in screen.texts() for block in key.split(" "))
        await screen.tap(v.ChooseLanguage("en"))
        await _check_the_hub(screen, hub.url, code.format().lower())
        await screen.until(lambda: screen.step == "compare", "the hub's CA to compare")
        ca = profile.display_fingerprint(await _ca(hub, code))
        assert all(block in screen.texts() for block in ca.split(" "))
        assert code.secret not in repr(screen.front.current_view())
        await screen.tap(v.TechnicianChoice("confirm_ca"))
        await screen.until(lambda: screen.step == "enrolled", "enrolment and the self-test")
        assert _says(screen, "tech.enrolled", device="branch-7", tenant="default")
        assert _says(screen, "tech.selftest.passed", count=5)  # the simulated devices
        assert (identity / SELFTEST_FILE).exists()  # kept for the hub, as `kiosk selftest` does
        enrolled = store.load()
        assert enrolled is not None and enrolled.device_name == "branch-7"
        assert profile.display_fingerprint(profile.spki_sha256(enrolled.key.public_key())) == key

        await screen.tap(v.TechnicianChoice("start"))
        await screen.until(lambda: screen.front.serving, "the kiosk to start")
        await screen.until(lambda: _kiosks(hub) == ["branch-7"], "the certificate hello")
        view = screen.draw()
        assert view.screen is v.Screen.ATTRACT  # the customer's journey, same window
        assert screen.ui.local.values == {}  # what the technician typed went with the screen
        await screen.tap(v.Start())  # and it answers to touch
        assert screen.draw().screen is v.Screen.LANGUAGE
        assert not any(code.secret in line for line in screen.said)


@pytest.mark.parametrize(
    "case", ["wrong", "expired", "used", "burnt", "throttled", "unreachable", "rejected"]
)
async def test_every_refusal_shows_in_words_and_nothing_is_enrolled(
    case: str, hub: RunningHub, secret: Path, clock: FakeClock, tmp_path: Path
) -> None:
    code = await _code(hub, secret, clock, "branch-7")
    typed, url = code.format(), hub.url
    expected: tuple[str, dict[str, object]]
    if case == "wrong":
        typed = code.id + ("2" * 12 if code.secret != "2" * 12 else "3" * 12)
        expected = ("tech.error.code_wrong", {})
    elif case == "expired":
        clock.advance(2 * 3600)  # codes live an hour
        expected = ("tech.error.code_unknown", {})
    elif case == "used":
        async with EstClient(hub.url) as client:
            other = IdentityStore(tmp_path / "other")
            await enrol(client, other, code, hub.ws_url, expected_fingerprint=await _ca(hub, code))
        expected = ("tech.error.code_unknown", {})
    elif case == "burnt":
        wrong = EnrolmentCode(code.id, "2" * 12 if code.secret != "2" * 12 else "3" * 12)
        for attempt in range(5):
            with pytest.raises(EstError):
                async with EstClient(hub.url) as client:
                    await enrol(
                        client,
                        IdentityStore(tmp_path / f"guess{attempt}"),
                        wrong,
                        hub.ws_url,
                        expected_fingerprint=await _ca(hub, code),
                    )
        expected = ("tech.error.code_unknown", {})
    elif case == "throttled":
        async with EstClient(hub.url) as client:
            for _ in range(10):  # refused requests from this address
                with pytest.raises(EstError):
                    await client.cacerts("2222")
        expected = ("tech.error.throttled", {})
    elif case == "unreachable":
        url = f"http://127.0.0.1:{free_port()}"
        expected = ("tech.error.unreachable", {})
    else:
        expected = ("tech.error.ca_rejected", {})
    identity = tmp_path / "identity"
    async with running_front(identity, assemble=_never) as screen:
        await _check_the_hub(screen, url, typed.lower())
        await screen.until(lambda: screen.step in ("entry", "compare"), "the hub's answer")
        if screen.step == "compare":
            choice: v.TechnicianAct = "reject_ca" if case == "rejected" else "confirm_ca"
            await screen.tap(v.TechnicianChoice(choice))
            await screen.until(lambda: screen.step == "entry", "the hub's refusal")
        notice = screen.draw().technician.notice
        assert notice is not None and notice.key == expected[0]
        assert _says(screen, notice.key, **dict(notice.values))
        if case == "throttled":
            assert float(dict(notice.values)["seconds"]) > 0
        assert not IdentityStore(identity).enrolled
        # The form keeps what was typed: the technician corrects it and tries again.
        assert screen.ui.local.values["hub_url"] == url
    if case == "rejected":  # the code never left the kiosk: it still works
        async with EstClient(hub.url) as client:
            store = IdentityStore(tmp_path / "later")
            await enrol(client, store, code, hub.ws_url, expected_fingerprint=await _ca(hub, code))


async def test_a_scanned_uri_with_another_ca_is_refused_before_the_code_is_sent(
    hub: RunningHub, secret: Path, clock: FakeClock, tmp_path: Path
) -> None:
    code = await _code(hub, secret, clock, "branch-7")
    uri = EnrolmentUri(hub.url, code, "ab" * 32)  # a man in the middle's CA, say
    async with running_front(tmp_path / "identity", assemble=_never, preset=uri) as screen:
        assert code.id in screen.texts() and code.secret not in screen.texts()
        await screen.tap(lay.SubmitForm())
        await screen.until(lambda: screen.draw().technician.notice is not None, "the check")
        assert _says(screen, "tech.error.ca_mismatch")
    async with EstClient(hub.url) as client:  # the code was not spent
        store = IdentityStore(tmp_path / "later")
        await enrol(client, store, code, hub.ws_url, expected_fingerprint=await _ca(hub, code))


async def test_a_scanned_uri_enrols_without_typing(
    hub: RunningHub, secret: Path, clock: FakeClock, tmp_path: Path
) -> None:
    code = await _code(hub, secret, clock, "branch-7")
    uri = EnrolmentUri(hub.url, code, await _ca(hub, code))
    async with running_front(tmp_path / "identity", assemble=_never, preset=uri) as screen:
        await screen.tap(lay.SubmitForm())
        await screen.until(lambda: screen.step == "enrolled", "enrolment")
        assert _says(screen, "tech.enrolled", device="branch-7", tenant="default")


async def test_a_certificate_that_expired_while_off_needs_a_fresh_code(
    hub: RunningHub, secret: Path, clock: FakeClock, tmp_path: Path, vault: Path
) -> None:
    identity = tmp_path / "identity"
    store = IdentityStore(identity)
    first = await _code(hub, secret, clock, "branch-7")
    async with EstClient(hub.url) as client:
        await enrol(client, store, first, hub.ws_url, expected_fingerprint=await _ca(hub, first))
    clock.advance(31 * DAY)  # the kiosk was switched off for a month
    async with running_front(
        identity, assemble=real_assemble(tmp_path, identity), enrolled=True
    ) as screen:
        # It starts serving; the hub refuses the certificate; the screen comes back.
        await screen.until(
            lambda: screen.step == "entry" and screen.draw().technician.key_fingerprint is not None,
            "the technician screen after the hub's refusal",
        )
        assert _says(screen, "tech.reason.fresh_code")
        fresh = await _code(hub, secret, clock, "branch-7")
        await _check_the_hub(screen, hub.url, fresh.format().lower())
        await screen.until(lambda: screen.step == "compare", "the CA")
        await screen.tap(v.TechnicianChoice("confirm_ca"))
        await screen.until(lambda: screen.step == "enrolled", "enrolment")
        await screen.tap(v.TechnicianChoice("start"))
        await screen.until(lambda: _kiosks(hub) == ["branch-7"], "the new certificate's hello")


async def test_a_broken_identity_directory_says_what_to_do(tmp_path: Path) -> None:
    identity = tmp_path / "identity"
    identity.mkdir()
    os.chmod(identity, 0o755)  # noqa: S103 - the mistake under test: open to other users
    async with running_front(identity, assemble=_never) as screen:
        assert screen.step == "blocked"
        assert _says(screen, "tech.error.identity")
        assert "open to other users" in screen.texts()
        os.chmod(identity, 0o700)  # the technician fixes it from a shell
        await screen.tap(v.TechnicianChoice("check_again"))
        assert screen.step == "entry"
        assert screen.draw().technician.key_fingerprint is not None
    (identity / "device.crt").write_text("not a certificate")
    (identity / KEY_FILE).write_text("not a key")
    async with running_front(identity, assemble=_never, language="de") as screen:
        assert screen.step == "blocked"
        assert _says(screen, "tech.error.identity")
        assert "corrupt" in screen.texts() and "kiosk decommission" in screen.texts()


async def test_after_decommission_the_technician_screen_shows_again(
    hub: RunningHub, secret: Path, clock: FakeClock, tmp_path: Path
) -> None:
    identity = tmp_path / "identity"
    store = IdentityStore(identity)
    code = await _code(hub, secret, clock, "branch-7")
    async with EstClient(hub.url) as client:
        old = await enrol(
            client, store, code, hub.ws_url, expected_fingerprint=await _ca(hub, code)
        )
    async with running_front(identity, assemble=_never) as screen:
        assert screen.step == "selftest" or screen.step == "enrolled"  # enrolled: no form
    vault = tmp_path / "vault"
    args = argparse.Namespace(identity_dir=str(identity), vault=str(vault), yes=True, config=None)
    try:
        assert await asyncio.to_thread(run_decommission, args) == 0
    finally:
        if os.geteuid() == 0:
            unmount(vault)
    async with running_front(identity, assemble=_never) as screen:
        view = screen.draw()
        assert view.screen is v.Screen.TECHNICIAN and view.technician.step == "entry"
        fresh = profile.display_fingerprint(store.key_fingerprint())
        assert view.technician.key_fingerprint == fresh
        old_key = profile.display_fingerprint(profile.spki_sha256(old.key.public_key()))
        assert fresh != old_key  # a new key, made on the device


async def test_an_unexpected_failure_does_not_leave_the_screen_waiting(
    hub: RunningHub, secret: Path, clock: FakeClock, tmp_path: Path
) -> None:
    class Faulty(EstClient):
        async def cacerts(self, code_id: str) -> x509.Certificate:
            raise RuntimeError("a bug")

    code = await _code(hub, secret, clock, "branch-7")
    async with running_front(tmp_path / "identity", assemble=_never, est=Faulty) as screen:
        await _check_the_hub(screen, hub.url, code.format().lower())
        await screen.until(lambda: screen.step == "entry", "the failure")
        assert _says(screen, "tech.error.refused")
        assert "RuntimeError" in screen.texts()


def _never() -> tuple[Service, ScreenOwner | None]:
    raise AssertionError("the kiosk must not start in this test")
