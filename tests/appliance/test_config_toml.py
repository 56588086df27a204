"""Any TOML file gives a KioskConfig or a ConfigError that names a place in that file.

The documents are generated from the config's own msgspec schema (so they reach every section,
backend and constraint) and written as real TOML files for ``load_config`` to read.
"""

from __future__ import annotations

import copy
import json
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from msgspec import inspect as mi

from appliance.config.kiosk import ConfigError, KioskConfig, KioskFile, load_config

JUNK_KEY = "zz"
EXAMPLES = {  # strings the schema cannot describe, so that some documents are valid
    "hub_url": ["ws://127.0.0.1:9000", "wss://hub.example.org", "http://x"],
    "token": ["t0ken", ""],
}
scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(),
    st.text(max_size=12),
)
anything = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=8,
)


def near(node: mi.Type, name: str = "") -> st.SearchStrategy[Any]:
    """Values that are often right for ``node`` and sometimes anything at all."""
    return st.one_of(_fitting(node, name), anything)


def _fitting(node: mi.Type, name: str = "") -> st.SearchStrategy[Any]:
    if isinstance(node, mi.Metadata):
        return _fitting(node.type, name)
    if isinstance(node, mi.UnionType):
        options = [t for t in node.types if not isinstance(t, mi.NoneType)]
        return st.one_of([_fitting(t, name) for t in options])
    if isinstance(node, mi.StructType):
        optional = {f.encode_name: near(f.type, f.encode_name) for f in node.fields}
        optional[JUNK_KEY] = anything
        required: dict[str, st.SearchStrategy[Any]] = {}
        if node.tag_field is not None:
            required[node.tag_field] = st.just(node.tag)
        return st.fixed_dictionaries(required, optional=optional)
    if isinstance(node, mi.ListType):
        return st.lists(near(node.item_type), max_size=node.max_length or 3)
    if isinstance(node, mi.DictType):
        return st.dictionaries(st.sampled_from(["de", "en", "fr"]), near(node.value_type))
    if isinstance(node, mi.LiteralType):
        return st.sampled_from(node.values)
    if isinstance(node, mi.BoolType):
        return st.booleans()
    if isinstance(node, mi.IntType | mi.FloatType):
        low = -5 if node.ge is None else int(node.ge) - 1
        high = 5000 if node.le is None else int(node.le) + 1
        return st.integers(low, high)
    if isinstance(node, mi.StrType):
        text = st.text(max_size=10) if node.pattern is None else st.from_regex(node.pattern)
        return st.sampled_from(EXAMPLES[name]) | text if name in EXAMPLES else text
    return anything


def to_toml(document: dict[str, Any]) -> str:
    """``document`` as a TOML file: one ``key = value`` line per top-level key."""
    return "".join(f"{_string(k)} = {_value(v)}\n" for k, v in document.items())


def _string(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\' or ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)  # TOML writes nan, inf and -inf as Python does
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{_string(k)} = {_value(v)}" for k, v in value.items()) + "}"


documents = _fitting(mi.type_info(KioskFile))


def _load(text: str) -> KioskConfig:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kiosk.toml"
        path.write_text(text, encoding="utf-8")
        return load_config(path)


# One step of an error's key: a bare name, a quoted one (TOML/JSON escapes), or [index].
_KEY_STEP = re.compile(r'([A-Za-z0-9_-]+)|("(?:[^"\\]|\\.)*")|\[(\d+)\]')


def _names_a_place(document: dict[str, Any], key: str) -> bool:
    """``key`` leads through ``document``; only its last step may be missing (a missing key)."""
    steps: list[str | int] = []
    for match in _KEY_STEP.finditer(key):
        bare, quoted, index = match.groups()
        if index is not None:
            steps.append(int(index))
        else:
            steps.append(bare if bare is not None else json.loads(quoted))
    value: Any = document
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        if isinstance(step, str) and isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(step, int) and isinstance(value, list) and step < len(value):
            value = value[step]
        elif not last or not isinstance(value, dict):
            return False
    return True


@settings(max_examples=300, deadline=None)
@given(documents)
def test_any_toml_document_gives_a_config_or_an_error_naming_a_place_in_it(
    document: dict[str, Any],
) -> None:
    text = to_toml(document)
    assert tomllib.loads(text) is not None  # the generator writes real TOML
    try:
        config = _load(text)
    except ConfigError as exc:
        assert exc.key != "config", exc  # the file itself was readable TOML
        assert _names_a_place(document, exc.key), (exc, document)
        assert exc.problem
        return
    assert isinstance(config, KioskConfig)
    assert config.hub_url.startswith(("ws://", "wss://"))


@settings(deadline=None)
@given(st.binary(max_size=200) | st.text(max_size=200).map(lambda t: t.encode("utf-8", "replace")))
def test_any_bytes_give_a_config_or_a_config_error(raw: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kiosk.toml"
        path.write_bytes(raw)
        try:
            load_config(path)
        except ConfigError as exc:
            assert exc.key


# A valid file with every section; each leaf below gets a value of the wrong type in turn.
VALID = {
    "hub_url": "wss://hub.example.org",
    "token": "t0ken",
    "simulate": False,
    "production": True,
    "ice_host_addresses": ["127.0.0.1"],
    "stats_file": "calls.jsonl",
    "video": {"width": 320, "height": 240, "fps": 15},
    "reconnect": {"min_s": 0.5, "max_s": 2.5},
    "vault": {"path": "vault", "size_mb": 64, "max_file_mb": 8, "max_session_mb": 32},
    "exchange": {"allowed_types": ["pdf"], "scan_mode": "grey", "scan_dpi": 150},
    "devices": {
        "camera": {"backend": "pyav", "device": "/dev/video0", "options": {"a": "b"}},
        "tablet": {"backend": "isdv4", "device": "/dev/ttyS0", "report_rate_hz": 133.5},
        "scanner": {"backend": "escl", "url": "http://192.0.2.7/eSCL"},
    },
    "ui": {
        "tenant_name": "Nordbank",
        "primary": "#00549F",
        "fields": [{"key": "name", "label": {"de": "Name", "en": "Name"}, "required": True}],
    },
}
# (where in VALID, the key the error must name: a list or table of plain values is one key)
LEAVES: list[tuple[tuple[str | int, ...], str]] = [
    (("hub_url",), "hub_url"),
    (("token",), "token"),
    (("simulate",), "simulate"),
    (("production",), "production"),
    (("ice_host_addresses",), "ice_host_addresses"),
    (("ice_host_addresses", 0), "ice_host_addresses"),
    (("stats_file",), "stats_file"),
    (("video",), "video"),
    (("video", "fps"), "video.fps"),
    (("reconnect", "max_s"), "reconnect.max_s"),
    (("vault", "path"), "vault.path"),
    (("vault", "size_mb"), "vault.size_mb"),
    (("exchange", "allowed_types", 0), "exchange.allowed_types"),
    (("exchange", "scan_mode"), "exchange.scan_mode"),
    (("devices",), "devices"),
    (("devices", "camera"), "devices.camera"),
    (("devices", "camera", "backend"), "devices.camera.backend"),
    (("devices", "camera", "device"), "devices.camera.device"),
    (("devices", "camera", "options"), "devices.camera.options"),
    (("devices", "camera", "options", "a"), "devices.camera.options.a"),
    (("devices", "tablet", "report_rate_hz"), "devices.tablet.report_rate_hz"),
    (("devices", "scanner", "url"), "devices.scanner.url"),
    (("ui",), "ui"),
    (("ui", "tenant_name"), "ui.tenant_name"),
    (("ui", "primary"), "ui.primary"),
    (("ui", "fields"), "ui.fields"),
    (("ui", "fields", 0), "ui.fields[0]"),
    (("ui", "fields", 0, "key"), "ui.fields[0].key"),
    (("ui", "fields", 0, "label"), "ui.fields[0].label"),
    (("ui", "fields", 0, "label", "en"), "ui.fields[0].label.en"),
    (("ui", "fields", 0, "required"), "ui.fields[0].required"),
]
# Per kind of value, values of every other kind (an integer is a fine float).
WRONG: dict[type, list[Any]] = {
    str: [7, True, 1.5, ["x"], {"x": 1}],
    bool: [1, "true", 1.5, [True], {"x": 1}],
    int: ["7", True, 7.5, [7], {"x": 1}],
    float: ["7", True, [7.5], {"x": 1}],
    list: ["x", 7, True, {"x": 1}],
    dict: ["x", 7, True, [1]],
}


@pytest.mark.parametrize(
    ("name", "key"), [(".", 'video."."'), ("a.b", 'video."a.b"'), ("x y", 'video."x y"')]
)
def test_an_unknown_key_that_is_not_a_bare_name_is_quoted_in_the_error(name: str, key: str) -> None:
    # Found by the property test above: {"video": {".": false}} was reported as "video..".
    document = copy.deepcopy(VALID)
    document["video"] = {name: False}
    with pytest.raises(ConfigError) as caught:
        _load(to_toml(document))
    assert caught.value.key == key


def test_the_valid_file_is_valid(tmp_path: Path) -> None:
    path = tmp_path / "kiosk.toml"
    path.write_text(to_toml(VALID), encoding="utf-8")
    config = load_config(path)
    assert config.devices.scanner is not None and config.devices.scanner.backend == "escl"
    assert [f.key for f in config.ui.fields] == ["name"]


@settings(deadline=None)
@given(st.sampled_from(LEAVES), st.data())
def test_a_value_of_the_wrong_type_is_named_by_its_key(
    leaf: tuple[tuple[str | int, ...], str], data: st.DataObject
) -> None:
    where, key = leaf
    document = copy.deepcopy(VALID)
    parent: Any = document
    for step in where[:-1]:
        parent = parent[step]
    value = data.draw(st.sampled_from(WRONG[type(parent[where[-1]])]))
    parent[where[-1]] = value
    with pytest.raises(ConfigError) as caught:
        _load(to_toml(document))
    assert caught.value.key == key, (where, value, caught.value)
