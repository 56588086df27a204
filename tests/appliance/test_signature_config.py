"""The kiosk's ``[signature]`` section, the simulated tablet's recording and which tablet
signs (the UI's pointer on a developer machine, the replayed recording without a UI)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appliance.config.kiosk import ConfigError, config_from_mapping
from appliance.runner.devices import build_signature_tablet
from drivers.errors import DeviceProtocolError
from drivers.tablet.pointer import PointerTablet
from drivers.tablet.simulated import SimulatedTablet

RECORDING = Path(__file__).resolve().parents[1] / "fixtures" / "pen" / "signature_3s.jsonl"


def _config(tmp_path: Path, **data: Any) -> Any:
    return config_from_mapping({"token": "t" * 32, **data}, base_dir=tmp_path)


def test_the_signature_section_pins_a_trustee_and_caps_the_input(tmp_path: Path) -> None:
    assert _config(tmp_path).signature.trustee_cert is None
    assert _config(tmp_path).signature.max_seconds == 120
    config = _config(tmp_path, signature={"trustee_cert": "trustee.pem", "max_seconds": 30})
    assert config.signature.trustee_cert == tmp_path / "trustee.pem"
    assert config.signature.max_seconds == 30


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ({"max_seconds": 0}, "signature.max_seconds"),
        ({"max_seconds": 100000}, "signature.max_seconds"),
        ({"trustee_cert": ""}, "signature.trustee_cert"),
        ({"pin": "x"}, "signature"),
    ],
)
def test_a_bad_signature_section_names_its_key(
    tmp_path: Path, section: dict[str, Any], key: str
) -> None:
    with pytest.raises(ConfigError) as info:
        _config(tmp_path, signature=section)
    assert key in str(info.value)


def test_with_a_ui_the_simulated_tablet_is_the_pointer_without_one_the_recording(
    tmp_path: Path,
) -> None:
    tablet = {"tablet": {"backend": "simulated", "recording": str(RECORDING)}}
    config = _config(tmp_path, simulate=True, devices=tablet)
    assert isinstance(build_signature_tablet(config, pointer=True), PointerTablet)
    replay = build_signature_tablet(config, pointer=False)
    assert isinstance(replay, SimulatedTablet)
    assert replay.info.has_tilt  # the recording's, not the built-in stroke (which has none)
    built_in = build_signature_tablet(_config(tmp_path, simulate=True), pointer=False)
    assert isinstance(built_in, SimulatedTablet) and not built_in.info.has_tilt
    assert build_signature_tablet(_config(tmp_path), pointer=False) is None


def test_a_missing_recording_is_a_device_problem_naming_the_file(tmp_path: Path) -> None:
    tablet = {"tablet": {"backend": "simulated", "recording": str(tmp_path / "none.jsonl")}}
    config = _config(tmp_path, simulate=True, devices=tablet)
    with pytest.raises(DeviceProtocolError, match="none.jsonl"):
        build_signature_tablet(config, pointer=False)


async def test_the_replay_is_one_pass_of_the_recording() -> None:
    recording = SimulatedTablet([s for s in _short()]).one_pass()
    await recording.start()
    got = [s async for s in recording.samples()]
    assert [s.x_mm for s in got] == [s.x_mm for s in _short()]


def _short() -> list[Any]:
    from drivers.tablet.simulated import load_recording

    return load_recording(RECORDING)[:20]
