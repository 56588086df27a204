"""EST enrolment against a real hub on loopback: codes, CSRs, renewal, CRL, throttling."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hub.forwarded import parse_trusted_proxy
from hub.pki.codes import MAX_FAILURES
from hub.pki.est import IN_FLIGHT_PER_ADDRESS
from hub.pki.secret import HubSecret
from hub.storage import EnrolmentCodeRecord, SqliteStorage
from provisioning import profile
from provisioning.codes import EnrolmentCode
from tests.support.hub import FakeClock, RunningHub, running_hub
from tests.support.hub_enrol import (
    csr_der,
    device_key,
    enrol,
    est,
    new_code,
    openssl,
    pem,
    simpleenroll,
    simplereenroll,
    with_bad_signature,
    wrong_secret,
)

DAY = 86_400.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=time.time())  # real time: openssl checks validity by the real clock


@pytest.fixture
async def hub(
    tmp_path: Path, clock: FakeClock, secret_file: tuple[Path, HubSecret]
) -> AsyncIterator[RunningHub]:
    async with running_hub(
        tmp_path,
        clock=clock,
        open_storage=MeetingStorage.open,  # holds nothing until a test sets a meeting
        secret_file=secret_file[0],
        trusted_proxies=(parse_trusted_proxy("127.0.0.1"),),
    ) as running:
        yield running


@pytest.fixture
def secret(secret_file: tuple[Path, HubSecret]) -> HubSecret:
    return secret_file[1]


@pytest.fixture
async def code(hub: RunningHub, secret: HubSecret, clock: FakeClock) -> EnrolmentCode:
    """A fresh code for kiosk-1 (tenant default)."""
    return await new_code(hub.storage, secret, "kiosk-1", now=clock())


async def tenant_ca(hub: RunningHub, tenant: str = "default") -> x509.Certificate:
    ca = await hub.storage.tenant_ca(tenant)
    assert ca is not None
    return x509.load_der_x509_certificate(ca.cert_der)


async def test_cacerts_gives_the_code_tenants_ca(
    hub: RunningHub, http: aiohttp.ClientSession, code: EnrolmentCode
) -> None:
    answer = await est(http, hub.url, f"{code.id}/cacerts")
    (ca,) = answer.certificates
    assert answer.headers["Content-Transfer-Encoding"] == "base64"
    assert profile.fingerprint(ca) == profile.fingerprint(await tenant_ca(hub))


async def test_a_kiosk_enrols_once_and_openssl_verifies_its_certificate(
    hub: RunningHub,
    http: aiohttp.ClientSession,
    code: EnrolmentCode,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    key, cert = await enrol(http, hub.url, code)
    assert profile.device_name(cert) == "kiosk-1" and profile.tenant_of(cert) == "default"
    assert profile.spki_sha256(cert.public_key()) == profile.spki_sha256(key.public_key())  # type: ignore[arg-type]
    ca_pem = pem(await tenant_ca(hub), tmp_path / "ca.pem")
    verified = openssl("verify", "-CAfile", str(ca_pem), str(pem(cert, tmp_path / "dev.pem")))
    assert verified.stdout.strip().endswith(": OK")
    (status,) = await hub.storage.device_statuses(now=clock())
    assert (status.device.name, status.state) == ("kiosk-1", "enrolled")
    # single use: the code is gone for cacerts and for a second enrolment
    again = await simpleenroll(http, hub.url, code)
    assert again.status == 404 and again.error[0] == "not_found"
    assert (await est(http, hub.url, f"{code.id}/cacerts")).status == 404


async def test_the_device_name_is_accepted_as_the_subject_too(
    hub: RunningHub, http: aiohttp.ClientSession, code: EnrolmentCode
) -> None:
    key = device_key()
    answer = await est(
        http,
        hub.url,
        f"{code.id}/simpleenroll",
        csr_der(key, "kiosk-1", password=code.secret, organization="another-bank"),
    )
    (cert,) = answer.certificates
    assert profile.tenant_of(cert) == "default"  # the CA sets the tenant, not the request


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("rsa", "ECDSA P-256"),
        ("p384", "ECDSA P-256"),
        ("bad_signature", "self-signature"),
        ("wrong_cn", "subject"),
        ("no_password", "secret"),
        ("not_base64", "base64"),
        ("not_a_csr", "PKCS#10"),
    ],
)
async def test_a_bad_request_is_400_and_leaves_the_code_usable(
    hub: RunningHub,
    http: aiohttp.ClientSession,
    code: EnrolmentCode,
    clock: FakeClock,
    case: str,
    reason: str,
) -> None:
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey = device_key()
    if case == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif case == "p384":
        key = ec.generate_private_key(ec.SECP384R1())
    name = "kiosk-2" if case == "wrong_cn" else code.id
    password = None if case == "no_password" else code.secret
    der = csr_der(key, name, password=password)
    raw = None
    if case == "bad_signature":
        der = with_bad_signature(der)
    elif case == "not_base64":
        raw = b"%%% not base64 %%%"
    elif case == "not_a_csr":
        raw = b"aGVsbG8gd29ybGQ="
    answer = await est(http, hub.url, f"{code.id}/simpleenroll", der, raw=raw)
    assert answer.status == 400
    error, message = answer.error
    assert error == "bad_csr" and reason in message
    assert [s.state for s in await hub.storage.device_statuses(now=clock())] == ["pending"]
    left = await hub.storage.enrolment_code(code.id)
    assert left is not None and left.used_at is None and left.failures == 0
    await enrol(http, hub.url, code)  # nothing half-enrolled: the code still works


async def test_wrong_secrets_are_401_and_five_burn_the_code(
    hub: RunningHub, http: aiohttp.ClientSession, code: EnrolmentCode, clock: FakeClock
) -> None:
    wrong = wrong_secret(code)
    messages = set()
    for _ in range(MAX_FAILURES):
        answer = await simpleenroll(http, hub.url, code, secret=wrong)
        assert answer.status == 401
        messages.add(answer.error)
    assert messages == {("unauthorized", "wrong enrolment code; check it, or ask for a new one")}
    burnt = await simpleenroll(http, hub.url, code)
    assert burnt.status == 404 and "ask for a new code" in burnt.error[1]
    assert await hub.storage.device_certificate("0") is None
    assert [s.state for s in await hub.storage.device_statuses(now=clock())] == ["pending"]


async def test_an_expired_code_is_refused_like_an_unknown_one(
    hub: RunningHub, http: aiohttp.ClientSession, code: EnrolmentCode, clock: FakeClock
) -> None:
    clock.advance(3601)
    expired = await simpleenroll(http, hub.url, code)
    unknown = await est(http, hub.url, "ZZZZ/cacerts")
    assert (expired.status, unknown.status) == (404, 404)
    assert expired.error == unknown.error
    assert (await est(http, hub.url, "not-a-code/cacerts")).status == 404


async def test_another_tenants_code_gives_that_tenants_ca_only(
    hub: RunningHub,
    http: aiohttp.ClientSession,
    secret: HubSecret,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    hub.add_tenant("bank-b")
    code = await new_code(hub.storage, secret, "kiosk-1", tenant="bank-b", now=clock())
    (ca,) = (await est(http, hub.url, f"{code.id}/cacerts")).certificates
    assert profile.tenant_of(ca) == "bank-b"  # made on demand: the tenant came after the start
    assert profile.fingerprint(ca) != profile.fingerprint(await tenant_ca(hub))
    _key, cert = await enrol(http, hub.url, code)
    assert profile.tenant_of(cert) == "bank-b"
    default_pem = pem(await tenant_ca(hub), tmp_path / "default.pem")
    refused = openssl(
        "verify", "-CAfile", str(default_pem), str(pem(cert, tmp_path / "dev.pem")), check=False
    )
    assert refused.returncode != 0


async def test_guessing_is_throttled_per_address_without_naming_it_in_the_log(
    hub: RunningHub,
    http: aiohttp.ClientSession,
    code: EnrolmentCode,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    guesser = {"X-Forwarded-For": "192.0.2.77"}
    limit = hub.config.enrol_failures_per_address
    statuses = [
        (await est(http, hub.url, f"{guess}/cacerts", headers=guesser)).status
        for guess in ("ZZZZ", "YYYY", "XXXX", "WWWW", "VVVV", "TTTT", "SSSS", "RRRR")
        + ("QQQQ", "PPPP", "NNNN", "MMMM")
    ]
    assert statuses == [404] * limit + [429] * (12 - limit)
    # the right code from the same address is throttled too; another address is not
    throttled = await est(http, hub.url, f"{code.id}/cacerts", headers=guesser)
    assert throttled.status == 429 and int(throttled.headers["Retry-After"]) >= 1
    assert throttled.error[0] == "rate_limited"
    other = await est(http, hub.url, f"{code.id}/cacerts", headers={"X-Forwarded-For": "192.0.2.8"})
    assert other.status == 200
    clock.advance(hub.config.enrol_window_s + 1)
    assert (await est(http, hub.url, f"{code.id}/cacerts", headers=guesser)).status == 200
    # the hub's own lines (the access log is hub/access_log.py's: anonymised, no bodies)
    logged = " ".join(r.getMessage() for r in caplog.records if r.name.startswith("hub."))
    assert "192.0.2" not in logged and "ZZZZ" not in logged and code.id not in logged
    assert "enrolment" in logged


class Meeting:
    """Holds whoever arrives until ``expected`` requests have arrived or been answered.

    A request answered without arriving was refused before the code lookup: it must not
    keep the others waiting, so the test ends whatever the hub does.
    """

    def __init__(self, expected: int) -> None:
        self._expected = expected
        self._seen = 0
        self._everyone = asyncio.Event()

    def _count(self) -> None:
        self._seen += 1
        if self._seen >= self._expected:
            self._everyone.set()

    async def arrive(self) -> None:
        """Wait here until everyone is in flight at once."""
        self._count()
        await self._everyone.wait()

    def answered(self) -> None:
        """One request was answered (if it never arrived, it was refused early)."""
        if not self._everyone.is_set():
            self._count()


class MeetingStorage(SqliteStorage):
    """The hub's storage, holding each code lookup (or attempt, before it is counted) at
    ``meeting`` (when one is set)."""

    meeting: Meeting | None = None

    async def enrolment_code(self, code_id: str) -> EnrolmentCodeRecord | None:
        if self.meeting is not None:
            await self.meeting.arrive()
        return await super().enrolment_code(code_id)

    async def take_enrolment_attempt(
        self, code_id: str, *, now: float, max_failures: int
    ) -> EnrolmentCodeRecord | None:
        if self.meeting is not None:
            await self.meeting.arrive()
        return await super().take_enrolment_attempt(code_id, now=now, max_failures=max_failures)


def meeting_storage(hub: RunningHub) -> MeetingStorage:
    storage = hub.storage
    assert isinstance(storage, MeetingStorage)
    return storage


async def test_enrolments_in_flight_never_count_only_refusals_do(
    hub: RunningHub, http: aiohttp.ClientSession, secret: HubSecret, clock: FakeClock
) -> None:
    # several kiosks behind one NAT enrol at once: all in flight together, none refused
    branch = {"X-Forwarded-For": "192.0.2.60"}
    limit = hub.config.enrol_failures_per_address
    kiosks = limit + 2
    codes = [await new_code(hub.storage, secret, f"kiosk-{i}", now=clock()) for i in range(kiosks)]
    meeting = meeting_storage(hub).meeting = Meeting(kiosks)

    async def enrol_one(code: EnrolmentCode) -> int:
        try:
            return (await simpleenroll(http, hub.url, code, headers=branch)).status
        finally:
            meeting.answered()

    assert await asyncio.gather(*(enrol_one(code) for code in codes)) == [200] * kiosks
    meeting_storage(hub).meeting = None
    # refusals do count: wrong secrets (each for a live code) until the address is throttled
    refused = []
    for i in range(11):
        code = await new_code(hub.storage, secret, f"guess-{i}", now=clock())
        answer = await simpleenroll(http, hub.url, code, secret=wrong_secret(code), headers=branch)
        refused.append(answer.status)
    assert refused == [401] * limit + [429] * (11 - limit)
    valid = await new_code(hub.storage, secret, "kiosk-late", now=clock())
    key = device_key()
    throttled = await simpleenroll(http, hub.url, valid, key=key, headers=branch)
    assert throttled.status == 429 and throttled.error[0] == "rate_limited"
    clock.advance(hub.config.enrol_window_s + 1)
    late = await simpleenroll(http, hub.url, valid, key=key, headers=branch)
    assert late.status == 200 and profile.device_name(late.certificates[0]) == "kiosk-late"


async def test_requests_over_the_in_flight_cap_wait_without_counting(
    hub: RunningHub, http: aiohttp.ClientSession, code: EnrolmentCode
) -> None:
    branch = {"X-Forwarded-For": "192.0.2.61"}
    meeting = meeting_storage(hub).meeting = Meeting(IN_FLIGHT_PER_ADDRESS + 1)

    async def fetch() -> int:
        try:
            return (await est(http, hub.url, f"{code.id}/cacerts", headers=branch)).status
        finally:
            meeting.answered()

    statuses = await asyncio.gather(*(fetch() for _ in range(IN_FLIGHT_PER_ADDRESS + 1)))
    assert sorted(statuses) == [200] * IN_FLIGHT_PER_ADDRESS + [429]
    meeting_storage(hub).meeting = None
    # the one sent away did not count: the address still has all its refusals
    limit = hub.config.enrol_failures_per_address
    guesses = [
        (await est(http, hub.url, "ZZZZ/cacerts", headers=branch)).status for _ in range(limit)
    ]
    assert guesses == [404] * limit


async def test_parallel_wrong_secrets_at_one_code_burn_it_after_exactly_five(
    hub: RunningHub, http: aiohttp.ClientSession, code: EnrolmentCode, clock: FakeClock
) -> None:
    # guesses from several addresses, all in flight before any is answered: only five may be
    # compared; the rest find the code burnt, whatever the per-address limits
    guesses, addresses = 20, 4
    meeting = meeting_storage(hub).meeting = Meeting(guesses)
    wrong = wrong_secret(code)

    async def guess(i: int) -> int:
        source = {"X-Forwarded-For": f"192.0.2.{70 + i % addresses}"}
        try:
            return (await simpleenroll(http, hub.url, code, secret=wrong, headers=source)).status
        finally:
            meeting.answered()

    statuses = await asyncio.gather(*(guess(i) for i in range(guesses)))
    meeting_storage(hub).meeting = None
    assert sorted(statuses) == [401] * MAX_FAILURES + [404] * (guesses - MAX_FAILURES)
    left = await hub.storage.enrolment_code(code.id)
    assert left is not None and left.failures == MAX_FAILURES and left.used_at is None
    right = await simpleenroll(http, hub.url, code, headers={"X-Forwarded-For": "192.0.2.99"})
    assert right.status == 404 and right.error[0] == "not_found"
    assert [s.state for s in await hub.storage.device_statuses(now=clock())] == ["pending"]


async def test_enrolling_a_replacement_revokes_the_old_certificate_in_the_crl(
    hub: RunningHub,
    http: aiohttp.ClientSession,
    secret: HubSecret,
    clock: FakeClock,
    tmp_path: Path,
) -> None:
    _key, old = await enrol(http, hub.url, await new_code(hub.storage, secret, "k", now=clock()))
    _key, new = await enrol(http, hub.url, await new_code(hub.storage, secret, "k", now=clock()))
    crl_path = tmp_path / "crl.der"
    async with http.get(f"{hub.url}/.well-known/est/default/crl") as response:
        assert response.status == 200 and response.content_type == "application/pkix-crl"
        crl_path.write_bytes(await response.read())
    crl = x509.load_der_x509_crl(crl_path.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(old.serial_number) is not None
    assert crl.get_revoked_certificate_by_serial_number(new.serial_number) is None
    ca_pem = pem(await tenant_ca(hub), tmp_path / "ca.pem")
    checked = openssl("crl", "-in", str(crl_path), "-inform", "DER", "-CAfile", str(ca_pem))
    assert "verify OK" in checked.stdout + checked.stderr
    async with http.get(f"{hub.url}/.well-known/est/nobody/crl") as response:
        assert response.status == 404


async def test_renewal_with_the_current_key_and_its_refusals(
    hub: RunningHub, http: aiohttp.ClientSession, code: EnrolmentCode, clock: FakeClock
) -> None:
    key, first = await enrol(http, hub.url, code)
    clock.advance(20 * DAY)
    renewed = await simplereenroll(http, hub.url, key, "kiosk-1")
    (second,) = renewed.certificates
    assert second.serial_number != first.serial_number
    assert second.not_valid_after_utc > first.not_valid_after_utc
    assert await hub.storage.certificate_valid(format(first.serial_number, "x"), now=clock())
    wrong_subject = await simplereenroll(http, hub.url, key, "kiosk-2")
    assert wrong_subject.status == 400 and wrong_subject.error[0] == "bad_csr"
    stranger = await simplereenroll(http, hub.url, device_key(), "kiosk-1")
    assert stranger.status == 403 and stranger.error[0] == "unknown_certificate"
    clock.advance(41 * DAY)  # past the renewed certificate's end: a fresh code is needed
    expired = await simplereenroll(http, hub.url, key, "kiosk-1")
    assert expired.status == 403 and expired.error[0] == "certificate_expired"
    assert "fresh enrolment code" in expired.error[1]


async def test_renewal_with_a_revoked_certificate_is_refused(
    hub: RunningHub, http: aiohttp.ClientSession, secret: HubSecret, clock: FakeClock
) -> None:
    key, _cert = await enrol(http, hub.url, await new_code(hub.storage, secret, "k", now=clock()))
    await hub.storage.revoke_device("k", now=clock())
    refused = await simplereenroll(http, hub.url, key, "k")
    assert refused.status == 403 and refused.error[0] == "certificate_revoked"


async def test_a_hub_without_a_secret_file_enrols_nobody(
    tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    async with running_hub(tmp_path) as hub:
        answer = await est(http, hub.url, "ZZZZ/cacerts")
        assert answer.status == 503 and "--secret-file" in answer.error[1]
        async with http.get(f"{hub.url}/.well-known/est/default/crl") as response:
            assert response.status == 503
