"""KioskConfig: TOML plus overrides, every mistake a ConfigError naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appliance.config.kiosk import (
    DEFAULT_HUB_URL,
    ConfigError,
    KioskConfig,
    config_from_mapping,
    load_config,
)

GOOD = """
hub_url = "ws://127.0.0.1:9000"
token = "tok-123"
simulate = true
ice_host_addresses = ["127.0.0.1"]

[video]
width = 320
height = 240
fps = 15

[reconnect]
min_s = 0.1
max_s = 2
"""


def write(tmp_path: Path, text: str, name: str = "kiosk.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_full_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config == KioskConfig(
        token="tok-123",
        hub_url="ws://127.0.0.1:9000",
        simulate=True,
        ice_host_addresses=("127.0.0.1",),
        video_width=320,
        video_height=240,
        video_fps=15,
        reconnect_min_s=0.1,
        reconnect_max_s=2.0,
    )
    assert config.kiosk_ws_url == "ws://127.0.0.1:9000/ws/kiosk"


def test_defaults_and_token_not_in_repr(tmp_path: Path) -> None:
    config = load_config(None, {"token": "very-secret"})
    assert config.hub_url == DEFAULT_HUB_URL
    assert (config.video_width, config.video_height, config.video_fps) == (640, 480, 30)
    assert not config.simulate and not config.production
    assert "very-secret" not in repr(config)


def test_token_file_relative_to_config(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("  abc-def\n", encoding="utf-8")
    config = load_config(write(tmp_path, 'token_file = "token"\n'))
    assert config.token == "abc-def"


def test_overrides_win(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    (tmp_path / "t2").write_text("from-file", encoding="utf-8")
    config = load_config(
        path,
        {
            "hub_url": "wss://hub.example.org/",
            "token_file": str(tmp_path / "t2"),
            "video.fps": 25,
            "simulate": None,  # argparse default: ignored
            "ice_host_addresses": ["::1"],
        },
    )
    assert config.hub_url == "wss://hub.example.org/"
    assert config.kiosk_ws_url == "wss://hub.example.org/ws/kiosk"
    assert config.token == "from-file"
    assert config.video_fps == 25 and config.video_width == 320
    assert config.simulate
    assert config.ice_host_addresses == ("::1",)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('token = "t"\nhub = "ws://x"\n', "hub"),
        ('token = "t"\n[video]\nframerate = 3\n', "video.framerate"),
        ('token = "t"\nvideo = 3\n', "video"),
        ('token = "t"\nhub_url = "http://hub"\n', "hub_url"),
        ('token = "t"\nhub_url = "ws://"\n', "hub_url"),
        ('token = "t"\nhub_url = "ws://h:99999"\n', "hub_url"),
        ('token = "t"\nhub_url = "ws://u:p@h"\n', "hub_url"),
        ('token = "t"\nhub_url = 5\n', "hub_url"),
        ("simulate = true\n", "token"),
        ('token = ""\n', "token"),
        ('token = "a b"\n', "token"),
        ("token = 7\n", "token"),
        ('token = "t"\ntoken_file = "f"\n', "token"),
        ('token_file = "missing"\n', "token_file"),
        ('token = "t"\nsimulate = "yes"\n', "simulate"),
        ('token = "t"\nice_host_addresses = "127.0.0.1"\n', "ice_host_addresses"),
        ('token = "t"\nice_host_addresses = ["localhost"]\n', "ice_host_addresses"),
        ('token = "t"\nice_host_addresses = [1]\n', "ice_host_addresses"),
        ('token = "t"\n[video]\nwidth = 650\n', "video.width"),
        ('token = "t"\n[video]\nheight = 481\n', "video.height"),
        ('token = "t"\n[video]\nfps = 0\n', "video.fps"),
        ('token = "t"\n[video]\nfps = 30.5\n', "video.fps"),
        ('token = "t"\n[video]\nfps = true\n', "video.fps"),
        ('token = "t"\n[reconnect]\nmin_s = 5\nmax_s = 1\n', "reconnect.max_s"),
        ('token = "t"\n[reconnect]\nmin_s = -1\n', "reconnect.min_s"),
        ('token = "t"\n[reconnect]\nmin_s = nan\n', "reconnect.min_s"),
        ('token = "t"\nproduction = true\n', "hub_url"),
        ('token = "t"\nproduction = true\nhub_url = "wss://h"\nsimulate = true\n', "simulate"),
        ('token = "t"\nstats_file = 3\n', "stats_file"),
        ("this is not toml", "config"),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert info.value.key == key
    assert key in str(info.value)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml")
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError):
        load_config(tmp_path / "bin.toml")
    (tmp_path / "token").write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError) as info:
        load_config(None, {"token_file": str(tmp_path / "token")})
    assert info.value.key == "token_file"


def test_token_value_never_in_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(None, {"token": "secret value with spaces"})
    assert "secret" not in str(info.value)


toml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=20),
    st.lists(st.text(max_size=10), max_size=3),
)
keys = st.sampled_from(
    [
        "hub_url",
        "token",
        "token_file",
        "simulate",
        "production",
        "ice_host_addresses",
        "stats_file",
        "video",
        "reconnect",
        "other",
    ]
)
sections = st.dictionaries(
    st.sampled_from(["width", "height", "fps", "min_s", "max_s", "x"]), toml_scalars, max_size=4
)


@given(st.dictionaries(keys, st.one_of(toml_scalars, sections), max_size=8))
def test_arbitrary_mappings_give_config_or_config_error(data: dict[str, Any]) -> None:
    data = {k: v for k, v in data.items() if v is not None}
    try:
        config = config_from_mapping(data, base_dir=Path("/nonexistent-dir-for-tests"))
    except ConfigError as exc:
        assert exc.key
        return
    assert isinstance(config, KioskConfig)
    assert config.hub_url.startswith(("ws://", "wss://"))


def test_command_line_paths_resolve_against_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "kiosk.toml").write_text('token_file = "token"\n')
    (etc / "token").write_text("from-etc\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / "my.token").write_text("from-cwd\n")
    monkeypatch.chdir(work)
    # In the file, relative paths mean the config's directory...
    assert load_config(etc / "kiosk.toml").token == "from-etc"
    # ...on the command line, the current directory.
    config = load_config(
        etc / "kiosk.toml", {"token_file": "my.token", "stats_file": "calls.jsonl"}
    )
    assert config.token == "from-cwd"
    assert config.stats_file == work / "calls.jsonl"


def test_the_image_s_shipped_file_is_a_kiosk_to_enrol(tmp_path: Path) -> None:
    """The image ships ``production = true`` with no hub and no token: enrol, not a mistake."""
    from appliance.config.kiosk import MissingCredential

    shipped = Path(__file__).parents[2] / "image/overlay/boot/firmware/branch-kiosk/kiosk.toml"
    config = tmp_path / "kiosk.toml"
    config.write_text(shipped.read_text() + f'identity_dir = "{tmp_path / "id"}"\n')
    with pytest.raises(MissingCredential) as missing:
        load_config(config)
    # The technician screen reads it for enrolment: no complaint about the hub.
    from appliance.ui.technician import unenrolled_config

    assert unenrolled_config(config, {}, missing.value).token is None
    # A device token in production still needs a real wss:// hub.
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, 'token = "t"\nproduction = true\n'))
    assert info.value.key == "hub_url"
