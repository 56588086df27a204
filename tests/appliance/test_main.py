"""The ``kiosk`` command: exit codes, clear errors, and a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from appliance.__main__ import EXIT_REJECTED, EXIT_USAGE, assemble, main
from appliance.config.kiosk import load_config
from appliance.runner.devices import build_call_devices
from kiosk_ui import viewmodels as v
from protocol import messages
from tests.support.hub import connect_adviser, http_session, running_hub

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery staple"


def test_without_simulate_real_devices_must_be_configured(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # --no-ui: without a screen (with one the kiosk shows out of service: test_out_of_service_boot)
    assert main(["run", "--token", "t", "--no-ui"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "[devices.camera]" in err and "--simulate" in err


def test_real_devices_come_from_the_config(tmp_path: Path) -> None:
    config_file = tmp_path / "kiosk.toml"
    config_file.write_text(
        'token = "t"\n'
        "[devices.camera]\n"
        'backend = "pyav"\n'
        'device = "testsrc=size=640x480:rate=30"\n'
        'format = "lavfi"\n'
        "[devices.microphone]\n"
        'backend = "pyav"\n'
        'device = "sine=frequency=440:sample_rate=48000"\n'
        'format = "lavfi"\n'
        "[devices.speaker]\n"
        'backend = "simulated"\n'
    )
    camera, microphone, speaker, _scanner = build_call_devices(load_config(config_file))
    assert type(camera).__name__ == "PyAVCamera"
    assert type(microphone).__name__ == "PyAVMicrophone"
    assert type(speaker).__name__ == "SimulatedSpeaker"


async def test_a_journey_assembled_on_the_loop_takes_a_tap_before_its_ticker_runs(
    tmp_path: Path,
) -> None:
    # The technician screen hands the window over by assembling the kiosk on the running loop;
    # a tap in that moment must reach the journey, not wait for (or be lost before) bridge.run().
    config = load_config(
        None,
        {
            "token": "t",
            "simulate": True,
            "vault.path": str(tmp_path / "vault"),
            "identity_dir": str(tmp_path / "identity"),
        },
    )
    _kiosk, bridge = assemble(config, "headless")
    assert bridge is not None and bridge.loop is asyncio.get_running_loop()
    assert bridge.current_view().screen is v.Screen.ATTRACT
    bridge.report(v.Start())  # as the UI thread posts it
    await asyncio.sleep(0)
    assert bridge.current_view().screen is v.Screen.LANGUAGE


@pytest.mark.parametrize(
    ("argv", "key"),
    [
        (["run", "--simulate"], "token"),
        (["run", "--simulate", "--token", "t", "--hub", "http://x"], "hub_url"),
        (["run", "--simulate", "--token", "t", "--ice-host", "nope"], "ice_host_addresses"),
        (["run", "--simulate", "--token-file", "/nonexistent/token"], "token_file"),
        (["run", "--simulate", "--token", "t", "--config", "/nonexistent.toml"], "config"),
    ],
)
def test_bad_settings_exit_2_naming_the_key(
    argv: list[str], key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*argv, "--no-ui"]) == EXIT_USAGE  # without a screen
    assert f"'{key}'" in capsys.readouterr().err


def test_usage_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as info:
        main(["run", "--token", "a", "--token-file", "b"])
    assert info.value.code == 2


async def start_kiosk(tmp_path: Path, *args: str) -> asyncio.subprocess.Process:
    # The vault in tmp_path: as root the kiosk would otherwise mount its tmpfs on the real
    # /run/kiosk/session and leave it there for every later test of the run.
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "appliance",
        "run",
        "--simulate",
        "--ice-host",
        "127.0.0.1",
        "--vault",
        str(tmp_path / "vault"),
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_refused_token_exits_3_without_retrying(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub:
        process = await start_kiosk(tmp_path, "--hub", hub.ws_url, "--token", "wrong-token-value")
        async with asyncio.timeout(30):
            out, err = await process.communicate()
    assert process.returncode == EXIT_REJECTED
    assert b"enrol" in err
    assert b"wrong-token-value" not in out + err


async def test_sigterm_leaves_the_queue_and_exits_0(tmp_path: Path) -> None:
    async with running_hub(tmp_path) as hub, http_session() as http:
        token = hub.add_device("kiosk-1")
        hub.add_adviser("ann", PASSWORD)
        token_file = tmp_path / "token"
        token_file.write_text(token + "\n", encoding="utf-8")
        process = await start_kiosk(
            tmp_path,
            "--hub",
            hub.ws_url,
            "--token-file",
            str(token_file),
            "--stats-file",
            str(tmp_path / "s.jsonl"),
        )
        assert process.stdout is not None and process.stderr is not None
        head = b""
        async with asyncio.timeout(30):
            while b"kiosk ready" not in head:
                head += await process.stdout.readline()
        peer = await connect_adviser(http, hub, "ann", PASSWORD)
        async with asyncio.timeout(10):
            while True:
                queue = await peer.receive()
                if isinstance(queue, messages.Queue) and queue.entries:
                    break
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            while True:
                queue = await peer.receive()
                if isinstance(queue, messages.Queue) and not queue.entries:
                    break
            rest_out, err = await process.communicate()
        await peer.close()
    assert process.returncode == 0
    assert b"kiosk stopped" in rest_out
    assert token.encode() not in rest_out + err
    # A normal stop is no problem (no WARNING), and pygame's greeting stays off the console.
    assert b" WARNING " not in err and b" ERROR " not in err, err.decode()
    assert b"pygame" not in head + rest_out + err
