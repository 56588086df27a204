"""Bad input at boot (issue 18): with a screen the kiosk shows out of service with the reason,
tells systemd READY and ``STATUS=out of service: <reason>`` and keeps running (no crash loop);
without one it exits with its usual status and tells systemd nothing.

Each case runs the real ``kiosk run --headless`` (SDL's dummy driver) as a process, with
``NOTIFY_SOCKET`` naming a datagram socket the test binds. The hub unreachable at boot:
tests/appliance/test_service_manager.py.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.support.mounts import tmpfs
from tests.support.notify_socket import NotifySocket, notify_socket

ROOT = Path(__file__).resolve().parents[2]
UNREACHABLE_HUB = "ws://127.0.0.1:9/kiosk"  # the discard port on loopback: nobody answers


async def _kiosk(tmp_path: Path, listener: NotifySocket, *args: str) -> asyncio.subprocess.Process:
    # WatchdogSec=0.2s: a ping every 0.1 s, so the test sees the loop's (and UI's) pings soon.
    env = {**os.environ, "NOTIFY_SOCKET": listener.address, "WATCHDOG_USEC": "200000"}
    env.pop("WATCHDOG_PID", None)
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "appliance",
        "run",
        "--vault",
        str(tmp_path / "vault"),
        *args,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _said_or_exited(
    listener: NotifySocket, process: asyncio.subprocess.Process, status: str
) -> dict[str, str]:
    """The kiosk's datagram with ``status``; fails at once (with its stderr) if it exits first."""
    said = asyncio.ensure_future(listener.until("STATUS", status))
    exited = asyncio.ensure_future(process.wait())
    try:
        async with asyncio.timeout(60):
            await asyncio.wait({said, exited}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        exited.cancel()
        if not said.done():
            said.cancel()
    if not said.done() or said.cancelled():
        assert process.stderr is not None
        err = (await process.stderr.read()).decode()
        pytest.fail(f"the kiosk exited ({process.returncode}) before saying {status!r}: {err}")
    return said.result()


async def _terminate(process: asyncio.subprocess.Process) -> bytes:
    """SIGTERM, as systemd stops the unit; the kiosk's stderr once it exited."""
    process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(30):
        _, err = await process.communicate()
    return err


async def _kill(process: asyncio.subprocess.Process) -> None:
    """Nothing left running, whatever failed."""
    if process.returncode is None:
        process.kill()
        await process.wait()


async def _out_of_service(
    tmp_path: Path, *args: str, status: str = "out of service: "
) -> tuple[str, dict[str, str], str]:
    """Run the kiosk until it says ``status``; stop it; its STATUS, last word and stderr."""
    with notify_socket(tmp_path) as listener:
        process = await _kiosk(tmp_path, listener, "--headless", *args)
        try:
            said = await _said_or_exited(listener, process, status)
            assert said.get("READY") == "1"  # READY too: systemd does not time the start out
            async with asyncio.timeout(30):  # the screen's loop and its UI thread both run
                await listener.until("WATCHDOG", "1")
            assert process.returncode is None  # still running: no exit, no restart
            err = await _terminate(process)
        finally:
            await _kill(process)
        last = listener.pending()
    assert process.returncode == 0, err.decode()
    assert {"STOPPING": "1", "STATUS": "stopping"} in last
    return said["STATUS"], said, err.decode()


async def test_a_corrupt_configuration_shows_out_of_service(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text('token = "t"\nhub_url = = "nowhere"\n')
    status, _, err = await _out_of_service(tmp_path, "--config", str(config))
    assert status.startswith("out of service: configuration: ")
    assert str(config) in status and "\n" not in status
    assert "configuration" in err


async def test_a_missing_configuration_shows_out_of_service(tmp_path: Path) -> None:
    missing = tmp_path / "boot" / "kiosk.toml"
    status, _, _ = await _out_of_service(tmp_path, "--config", str(missing))
    assert status.startswith("out of service: configuration: ")
    assert "'config'" in status  # names the key, as on stderr


async def test_a_missing_camera_shows_out_of_service(tmp_path: Path) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text(
        f'token = "t"\nhub_url = "{UNREACHABLE_HUB}"\n'
        "[devices.camera]\n"
        'backend = "pyav"\n'
        f'device = "{tmp_path / "video-missing"}"\n'
        'format = "v4l2"\n'
        "[devices.microphone]\n"
        'backend = "simulated"\n'
        "[devices.speaker]\n"
        'backend = "simulated"\n'
    )
    args = ("--config", str(config), "--identity-dir", str(tmp_path / "identity"))
    status, _, _ = await _out_of_service(tmp_path, *args)
    assert status.startswith("out of service: device problem: ")


async def test_a_full_identity_directory_shows_out_of_service(tmp_path: Path) -> None:
    # Not enrolled, and the device key cannot be written: the technician screen is blocked.
    with tmpfs(tmp_path / "identity", "64k") as identity:
        fd = os.open(identity / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            with pytest.raises(OSError):  # until the tmpfs is full (ENOSPC)
                while True:
                    os.write(fd, b"\0" * 4096)
        finally:
            os.close(fd)
        args = ("--simulate", "--identity-dir", str(identity), "--hub", UNREACHABLE_HUB)
        status, _, _ = await _out_of_service(tmp_path, *args)
    assert status.startswith("out of service: identity directory: ")
    assert "No space left on device" in status


async def test_without_a_screen_bad_configuration_exits_2_and_says_nothing(
    tmp_path: Path,
) -> None:
    config = tmp_path / "kiosk.toml"
    config.write_text("not = = toml\n")
    with notify_socket(tmp_path) as listener:
        process = await _kiosk(tmp_path, listener, "--no-ui", "--config", str(config))
        async with asyncio.timeout(60):
            _, err = await process.communicate()
        assert listener.pending() == []
    assert process.returncode == 2, err.decode()
    assert "configuration" in err.decode()


async def test_without_a_screen_the_kiosk_says_ready_pings_and_stops(tmp_path: Path) -> None:
    """``kiosk run --no-ui``: READY after the start-up wipe, the watchdog from its loop, and
    STOPPING on SIGTERM (the hub unreachable: it keeps retrying meanwhile)."""
    with notify_socket(tmp_path) as listener:
        args = ("--no-ui", "--simulate", "--token", "t", "--hub", UNREACHABLE_HUB)
        process = await _kiosk(tmp_path, listener, *args, "--identity-dir", str(tmp_path / "id"))
        try:
            async with asyncio.timeout(60):
                ready = await listener.until("READY", "1")
                await listener.until("WATCHDOG", "1")
            err = await _terminate(process)
        finally:
            await _kill(process)
        last = listener.pending()
    assert ready == {"READY": "1", "STATUS": "connecting to the hub"}
    assert process.returncode == 0, err.decode()
    assert {"STOPPING": "1", "STATUS": "stopping"} in last


async def test_not_enrolled_the_technician_screen_is_ready(tmp_path: Path) -> None:
    """Not enrolled (a writable identity directory): READY with the enrolment screen's line."""
    args = ("--simulate", "--identity-dir", str(tmp_path / "id"), "--hub", UNREACHABLE_HUB)
    status, _, _ = await _out_of_service(tmp_path, *args, status="not enrolled")
    assert status == "not enrolled: enrolment screen"
