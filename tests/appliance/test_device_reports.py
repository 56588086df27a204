"""The kiosk's self-test and wipe reports reach the hub, and nothing personal with them
(docs/enrolment.md, "Reports and relay")."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import stat
import time
from pathlib import Path

import pytest
from cryptography import x509

from appliance.__main__ import main as kiosk_main
from appliance.config.kiosk import KioskConfig
from appliance.config.vault import VaultSettings
from appliance.custody.session import SessionCustody
from appliance.custody.vault import ArtifactKind
from appliance.runner.device_reports import SELFTEST_FILE, save_selftest, selftest_report
from appliance.runner.kiosk import Kiosk
from drivers.camera.simulated import SimulatedCamera
from drivers.microphone.simulated import SimulatedMicrophone
from hub.storage import DeviceReportRecord
from protocol.messages import DeviceReport, SelftestCheck
from provisioning import profile
from provisioning.identity import IdentityStore
from tests.support.hub import RunningHub, running_hub, until
from tests.support.hub_enrol import hub_secret, new_code

MIB = 1024 * 1024
# What must never leave the session: a customer's name, a file name, its content.
CANARIES = ("Erika Mustermann", "Erika-Mustermann-Kontoauszug", "DE89370400440532013000")


def identity_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "identity"
    directory.mkdir(mode=0o700)
    return directory


# -- kiosk selftest keeps a summary -------------------------------------------------------


def test_selftest_keeps_a_summary_without_details(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = identity_dir(tmp_path)
    assert kiosk_main(["selftest", "--simulate", "--identity-dir", str(directory)]) == 0
    assert "not kept" not in capsys.readouterr().err
    kept = directory / SELFTEST_FILE
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    summary = json.loads(kept.read_text())
    assert set(summary) == {"at", "checks"}
    assert [c["device"] for c in summary["checks"]] == [
        "camera",
        "microphone",
        "speaker",
        "tablet",
        "scanner",
    ]
    assert all(set(c) == {"device", "backend", "ok"} and c["ok"] for c in summary["checks"])
    report = selftest_report(directory, now=summary["at"] + 90)
    assert report is not None and report.ok and report.age_s == 90 and len(report.checks) == 5


def test_selftest_takes_the_identity_dir_from_the_config(tmp_path: Path) -> None:
    directory = identity_dir(tmp_path)
    config = tmp_path / "kiosk.toml"
    config.write_text('simulate = true\nidentity_dir = "identity"\n')
    assert kiosk_main(["selftest", "--config", str(config)]) == 0
    assert (directory / SELFTEST_FILE).is_file()


async def test_kiosk_enrol_keeps_its_selftest_in_the_new_identity(tmp_path: Path) -> None:
    # `kiosk enrol` runs the self-test right away: the hub hears it at the first connection.
    secret_file, secret = hub_secret(tmp_path)
    directory = tmp_path / "identity"
    async with running_hub(tmp_path, secret_file=secret_file, allow_device_tokens=False) as hub:
        code = await new_code(hub.storage, secret, "kiosk-1", now=time.time())
        ca = await hub.storage.tenant_ca("default")
        assert ca is not None
        fingerprint = profile.fingerprint(x509.load_der_x509_certificate(ca.cert_der))
        argv = ["enrol", "--hub", hub.url, "--code", code.format()]
        argv += ["--ca-fingerprint", fingerprint, "--identity-dir", str(directory), "--simulate"]
        assert await asyncio.to_thread(kiosk_main, argv) == 0
    report = selftest_report(directory, now=time.time())
    assert report is not None and report.ok and len(report.checks) == 5


def test_no_identity_dir_keeps_nothing_quietly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "not-enrolled"
    assert kiosk_main(["selftest", "--simulate", "--identity-dir", str(missing)]) == 0
    assert not missing.exists() and "not kept" not in capsys.readouterr().err


def test_a_directory_of_another_user_is_not_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The kiosk could not read what root left there: say so instead.
    if os.geteuid() == 0:
        directory = identity_dir(tmp_path)
        os.chown(directory, 65534, 65534)
    else:
        directory = Path("/")  # root's, not ours
    assert kiosk_main(["selftest", "--simulate", "--identity-dir", str(directory)]) == 0
    assert "belongs to another user" in capsys.readouterr().err
    assert not (directory / SELFTEST_FILE).exists()


@pytest.mark.parametrize(
    "content",
    [
        b"not json",
        b"[]",
        b'{"at": 1, "checks": []}',
        b'{"at": 1, "checks": [{"device": "printer", "backend": "cups", "ok": true}]}',
        b'{"at": 1, "checks": [{"device": "camera", "backend": "V4L2 /dev/video0", "ok": true}]}',
        b'{"at": 1, "checks": [{"device": "camera", "backend": "v4l2", "ok": "yes"}]}',
        b'{"at": "x", "checks": [{"device": "camera", "backend": "v4l2", "ok": true}]}',
    ],
)
def test_a_bad_kept_summary_is_not_reported(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    directory = identity_dir(tmp_path)
    (directory / SELFTEST_FILE).write_bytes(content)
    assert selftest_report(directory, now=10) is None
    assert "not reported" in caplog.text


def test_a_summary_from_the_future_has_no_negative_age(tmp_path: Path) -> None:
    directory = identity_dir(tmp_path)
    check = SelftestCheck(device="camera", backend="v4l2", ok=False)
    assert save_selftest(directory, [check], now=1000.0) is None
    assert selftest_report(directory, now=10.0) == DeviceReport(
        kind="selftest", ok=False, age_s=0, checks=(check,)
    )


# -- the running kiosk reports ---------------------------------------------------------


async def reports_of(hub: RunningHub, kind: str) -> list[DeviceReportRecord]:
    devices = await hub.storage.devices()
    if not devices:
        return []
    return await hub.storage.device_reports(devices[0].id, kind=kind)


async def test_the_hub_hears_the_selftest_and_each_wipe_and_nothing_personal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    directory = identity_dir(tmp_path)
    await asyncio.to_thread(
        kiosk_main, ["selftest", "--simulate", "--identity-dir", str(directory)]
    )
    lines: list[str] = []
    async with running_hub(tmp_path) as hub:
        config = KioskConfig(token=hub.add_device("kiosk-1"), hub_url=hub.ws_url, simulate=True)
        custody = SessionCustody(
            VaultSettings(path=tmp_path / "vault", size_bytes=16 * MIB), production=False
        )
        kiosk = Kiosk(
            config,
            SimulatedCamera(),
            SimulatedMicrophone(),
            custody=custody,
            identity=IdentityStore(directory),  # not enrolled: the token kiosk's directory
            on_status=lines.append,
        )
        task = asyncio.create_task(kiosk.run())
        try:
            # at connect: the kept self-test, and the start-up wipe made before the hub was there
            await until(lambda: _has(hub, "selftest", 1), "the self-test report")
            await until(lambda: _has(hub, "wipe", 1), "the start-up wipe's report")
            # a customer's session: a named file with personal content, then its wipe
            kiosk.vault.store(
                ArtifactKind.SCAN,
                "Erika-Mustermann-Kontoauszug.pdf",
                b"%PDF-1.4 Erika Mustermann IBAN DE89370400440532013000",
            )
            kiosk.end_session("customer_abort")
            await until(lambda: _has(hub, "wipe", 2), "the session wipe's report")
        finally:
            kiosk.request_stop()
            async with asyncio.timeout(10):
                await task
        (selftest,) = await reports_of(hub, "selftest")
        session, startup = await reports_of(hub, "wipe")
        assert selftest.ok and json.loads(selftest.summary)["passed"] == 5
        figures = json.loads(session.summary)
        assert session.ok and figures["files"] >= 1 and figures["bytes"] > 0
        assert set(figures) == {"verified", "files", "bytes", "passes", "method", "duration_ms"}
        assert startup.ok and json.loads(startup.summary)["files"] == 0
        stored = " ".join(r.summary for r in (selftest, session, startup))
        assert "customer_abort" not in stored  # not even why the session ended
        database = database_bytes(tmp_path)
    for canary in CANARIES:
        assert canary not in stored and canary.encode() not in database
        assert canary not in caplog.text, canary
        assert not any(canary in line for line in lines)


def database_bytes(directory: Path) -> bytes:
    """The hub's database files as they are on disk (with WAL and journal)."""
    return b"".join(p.read_bytes() for p in sorted(directory.glob("hub.sqlite3*")))


async def _has(hub: RunningHub, kind: str, count: int) -> bool:
    return len(await reports_of(hub, kind)) >= count


async def test_a_wipe_that_cannot_verify_is_reported_as_such(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub:
        config = KioskConfig(token=hub.add_device("kiosk-1"), hub_url=hub.ws_url, simulate=True)
        # Production refuses a plain directory as the vault: the start-up wipe cannot verify.
        settings = VaultSettings(path=tmp_path / "vault", size_bytes=16 * MIB)
        custody = SessionCustody(settings, production=True, privileged=False)
        kiosk = Kiosk(config, SimulatedCamera(), SimulatedMicrophone(), custody=custody)
        task = asyncio.create_task(kiosk.run())
        try:
            await until(lambda: _has(hub, "wipe", 1), "the failed wipe's report")
        finally:
            kiosk.request_stop()
            async with asyncio.timeout(10):
                await task
        (wipe, *_) = await reports_of(hub, "wipe")
        assert not wipe.ok and json.loads(wipe.summary)["verified"] is False
        assert await reports_of(hub, "selftest") == []  # no identity directory: none kept
