"""The technician's path with real processes: code at the hub, `kiosk enrol`, run, revoke,
decommission, enrol again with a fresh code.

`kiosk-hub serve` runs with a hub secret and device tokens off (the production default); the
code comes from `kiosk-hub device enrol` and reaches the kiosk through its QR code, read back
by an independent decoder (zbarimg). The enrolled kiosk needs no token and no hub URL.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.stack import BIN, Stack, wait_until
from tests.support.requirements import require_tool

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(180)]


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path / "stack", device_tokens=False)  # the production default
    s.workdir.mkdir(parents=True)
    secret = s.workdir / "hub-secret"
    _run("kiosk-hub", "secret", "create", str(secret))
    # A short heartbeat: a revocation reaches the live kiosk at its next heartbeat.
    s.start_hub("--secret-file", str(secret), "--heartbeat", "1")
    yield s
    s.stop()


def _run(name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(BIN / name), *args], capture_output=True, text=True, timeout=90, check=False
    )
    if check:
        assert result.returncode == 0, f"{name} {args[:2]}: {result.stdout}{result.stderr}"
    return result


def _code(stack: Stack, name: str, qr: Path | None = None) -> str:
    """`kiosk-hub device enrol`'s output."""
    extra = ["--qr-png", str(qr)] if qr is not None else []
    return _run(
        "kiosk-hub",
        "device",
        "enrol",
        name,
        "--hub-url",
        stack.url,
        "--secret-file",
        str(stack.workdir / "hub-secret"),
        "--db",
        str(stack.db),
        *extra,
    ).stdout


def _decode_qr(zbarimg: str, png: Path) -> str:
    """The QR code's text as an independent decoder reads it."""
    return subprocess.run(
        [zbarimg, "--quiet", "--raw", str(png)], capture_output=True, text=True, check=True
    ).stdout.strip()


def _start_kiosk(stack: Stack, identity: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [
                str(BIN / "kiosk"),
                "run",
                "--simulate",
                "--no-ui",
                "--identity-dir",
                str(identity),  # no --hub, no token: the identity has both
                "--ice-host",
                "127.0.0.1",
                "--vault",
                str(stack.workdir / "vault"),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def test_enrol_run_revoke_decommission_and_enrol_again(stack: Stack, tmp_path: Path) -> None:
    zbarimg = require_tool("zbarimg", "zbar-tools")
    identity = tmp_path / "identity"
    qr = tmp_path / "code.png"
    printed = _code(stack, "branch-7", qr)
    code = re.search(r"code:\s+(\S+)", printed)
    assert code is not None
    uri = _decode_qr(zbarimg, qr)
    assert uri.startswith("branch-kiosk-enrol:?")

    # The technician scans the QR code on the device.
    enrolled = _run("kiosk", "enrol", "--uri", uri, "--identity-dir", str(identity), "--simulate")
    assert "enrolled as branch-7 (tenant default)" in enrolled.stdout
    assert "0 failed" in enrolled.stdout  # the self-test's summary
    assert code.group(1) not in enrolled.stdout + enrolled.stderr

    log = tmp_path / "kiosk.log"
    kiosk = _start_kiosk(stack, identity, log)
    try:
        await wait_until(
            lambda: "connected to the hub as branch-7" in log.read_text(errors="replace"),
            30,
            "the enrolled kiosk's certificate hello",
        )
        # The administrator retires the device: the live connection is closed, the kiosk
        # stops for good (exit 3: systemd does not restart it) and says what to do.
        _run("kiosk-hub", "device", "revoke", "branch-7", "--db", str(stack.db))
        await wait_until(lambda: kiosk.poll() is not None, 30, "the revoked kiosk to stop")
        assert kiosk.returncode == 3
        assert "revoked this kiosk's certificate" in log.read_text(errors="replace")
    finally:
        stack.stop_process(kiosk)

    retired = _run(
        "kiosk",
        "decommission",
        "--yes",
        "--identity-dir",
        str(identity),
        "--vault",
        str(stack.workdir / "vault"),
    )
    assert "needs a fresh enrolment code" in retired.stdout
    assert not (identity / "device.key").exists()

    # A fresh code enrols it again (the same name: a replacement device works the same way).
    printed = _code(stack, "branch-7")
    line = re.search(r"kiosk enrol (--hub \S+ --code \S+ --ca-fingerprint \S+)", printed)
    assert line is not None
    again = _run(
        "kiosk", "enrol", *line.group(1).split(), "--identity-dir", str(identity), "--simulate"
    )
    assert "enrolled as branch-7" in again.stdout
    log2 = tmp_path / "kiosk2.log"
    kiosk = _start_kiosk(stack, identity, log2)
    try:
        await wait_until(
            lambda: "connected to the hub as branch-7" in log2.read_text(errors="replace"),
            30,
            "the re-enrolled kiosk's hello",
        )
    finally:
        assert stack.stop_process(kiosk) == 0
