"""The ``[ui]`` section: tenant branding, consent text and intake fields; every bad input named."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.config import ui as us
from appliance.config.kiosk import ConfigError, config_from_mapping, load_config
from appliance.ui.launch import base_view, journey_for
from kiosk_ui import viewmodels as v
from kiosk_ui.colours import WCAG_AA, contrast

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def test_a_whole_ui_section_from_the_toml_file(tmp_path: Path) -> None:
    (tmp_path / "logo.png").write_bytes(PNG)
    (tmp_path / "de.txt").write_text("Wir verarbeiten Ihre Daten …\r\nNur für dieses Gespräch.\n")
    (tmp_path / "en.txt").write_text("We process your data only for this conversation.")
    (tmp_path / "kiosk.toml").write_text(
        """
token = "t0ken"
[ui]
tenant_name = "Nordbank Filiale Süd"
logo = "logo.png"
primary = "#00549F"
background = "#FFFFFF"
text = "#1A1A1A"
default_language = "en"
consent = { de = "de.txt", en = "en.txt" }

[[ui.fields]]
key = "name"
label = { de = "Name", en = "Name" }
required = true
max_length = 50

[[ui.fields]]
key = "customer_no"
label = { de = "Kundennummer", en = "Customer number" }
""",
        encoding="utf-8",
    )
    ui = load_config(tmp_path / "kiosk.toml").ui
    assert ui.branding.name == "Nordbank Filiale Süd"
    assert ui.branding.primary == (0, 84, 159) and ui.branding.text == (26, 26, 26)
    assert ui.branding.logo_path == str(tmp_path / "logo.png")
    assert ui.default_language == "en"
    assert ui.consent_text == {
        "de": "Wir verarbeiten Ihre Daten …\nNur für dieses Gespräch.",
        "en": "We process your data only for this conversation.",
    }
    assert [(f.key, f.required, f.max_length) for f in ui.fields] == [
        ("name", True, 50),
        ("customer_no", False, 60),
    ]
    view = base_view(ui)
    assert view.branding == ui.branding and view.fields == ui.fields
    assert view.consent_text == ui.consent_text and view.language == "en"
    journey = journey_for(ui)
    assert journey.fields == ui.fields and journey.state.language == "en"


def test_without_a_ui_section_our_template_shows(tmp_path: Path) -> None:
    ui = config_from_mapping({"token": "t0ken"}, base_dir=tmp_path).ui
    assert ui == us.UiSettings() and ui.consent_text is None
    assert ui.fields == v.DEFAULT_FIELDS


LONG = "x" * 41
BAD: list[tuple[dict[str, Any], str, str]] = [
    ({"colour": "#000000"}, "ui.colour", "unknown key"),
    ({"tenant_name": ""}, "ui.tenant_name", "1 to 40"),
    ({"tenant_name": LONG}, "ui.tenant_name", "1 to 40"),
    ({"tenant_name": "two\nlines"}, "ui.tenant_name", "one line"),
    ({"tenant_name": 7}, "ui.tenant_name", "printable"),
    ({"primary": "blue"}, "ui.primary", "#RRGGBB"),
    ({"primary": "#12345"}, "ui.primary", "#RRGGBB"),
    ({"background": [255, 255, 255]}, "ui.background", "#RRGGBB"),
    ({"text": "#AAAAAA", "background": "#FFFFFF"}, "ui.text", "WCAG AA"),
    ({"primary": "#F0F0F0", "background": "#FFFFFF"}, "ui.primary", "3:1"),
    ({"default_language": "fr"}, "ui.default_language", "de, en"),
    ({"logo": "missing.png"}, "ui.logo", "cannot read"),
    ({"logo": "not-a.png"}, "ui.logo", "not a PNG"),
    ({"logo": 3}, "ui.logo", "PNG file"),
    ({"consent": "consent.txt"}, "ui.consent", "table of files"),
    ({"consent": {}}, "ui.consent", "table of files"),
    ({"consent": {"fr": "de.txt"}}, "ui.consent.fr", "unknown language"),
    ({"consent": {"de": "missing.txt"}}, "ui.consent.de", "cannot read"),
    ({"consent": {"de": "de.txt", "en": 7}}, "ui.consent.en", "path of a UTF-8 text file"),
    ({"consent": {"de": "latin1.txt"}}, "ui.consent.de", "not UTF-8"),
    ({"consent": {"de": "empty.txt"}}, "ui.consent.de", "empty"),
    ({"consent": {"de": "control.txt"}}, "ui.consent.de", "control characters"),
    ({"consent": {"de": "huge.txt"}}, "ui.consent.de", "longer than"),
    ({"fields": {"key": "name"}}, "ui.fields", "list"),
    (
        {"fields": [{"key": f"k{i}", "label": {"de": "a", "en": "a"}} for i in range(9)]},
        "ui.fields",
        "at most 8",
    ),
    ({"fields": ["name"]}, "ui.fields[0]", "table"),
    ({"fields": [{"key": "Name", "label": {"de": "a", "en": "a"}}]}, "ui.fields[0].key", "a-z"),
    ({"fields": [{"label": {"de": "a", "en": "a"}}]}, "ui.fields[0].key", "a-z"),
    (
        {"fields": [{"key": "a", "label": {"de": "a", "en": "a"}}] * 2},
        "ui.fields[1].key",
        "used twice",
    ),
    ({"fields": [{"key": "a", "label": {"de": "a"}}]}, "ui.fields[0].label", "each of"),
    ({"fields": [{"key": "a", "label": "Name"}]}, "ui.fields[0].label", "each of"),
    ({"fields": [{"key": "a", "label": {"de": "", "en": "a"}}]}, "ui.fields[0].label.de", "1 to"),
    ({"fields": [{"key": "a", "label": {"de": LONG, "en": "a"}}]}, "ui.fields[0].label.de", "40"),
    ({"fields": [{"key": "a", "label": {"de": "a", "en": 5}}]}, "ui.fields[0].label.en", "1 to"),
    (
        {"fields": [{"key": "a", "label": {"de": "a", "en": "a"}, "required": "yes"}]},
        "ui.fields[0].required",
        "true or false",
    ),
    (
        {"fields": [{"key": "a", "label": {"de": "a", "en": "a"}, "max_length": 201}]},
        "ui.fields[0].max_length",
        "between 1 and 200",
    ),
    (
        {"fields": [{"key": "a", "label": {"de": "a", "en": "a"}, "max_length": 1.5}]},
        "ui.fields[0].max_length",
        "whole number",
    ),
    (
        {"fields": [{"key": "a", "label": {"de": "a", "en": "a"}, "hint": "x"}]},
        "ui.fields[0].hint",
        "unknown key",
    ),
]


@pytest.mark.parametrize(("section", "key", "words"), BAD, ids=[b[1] + ":" + b[2] for b in BAD])
def test_bad_ui_settings_name_the_key(
    tmp_path: Path, section: dict[str, Any], key: str, words: str
) -> None:
    (tmp_path / "not-a.png").write_bytes(b"GIF89a" + b"\x00" * 20)
    (tmp_path / "latin1.txt").write_bytes("Datenschutzerklärung".encode("latin-1"))
    (tmp_path / "empty.txt").write_text(" \n")
    (tmp_path / "control.txt").write_text("Text\x1b[31m")
    (tmp_path / "huge.txt").write_text("a" * (us.CONSENT_MAX_CHARS + 1))
    with pytest.raises(ConfigError) as caught:
        config_from_mapping({"token": "t0ken", "ui": section}, base_dir=tmp_path)
    assert caught.value.key == key
    assert words in caught.value.problem


def test_ui_must_be_a_table(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must be a table"):
        config_from_mapping({"token": "t0ken", "ui": "Nordbank"}, base_dir=tmp_path)


@given(st.text(max_size=12) | st.integers() | st.none())
def test_colour_parser_accepts_exactly_hex_triplets(value: Any) -> None:
    try:
        rgb = us.parse_colour(value, "ui.primary")
    except ConfigError as exc:
        assert exc.key == "ui.primary"
        return
    assert isinstance(value, str) and len(value) == 7 and value[0] == "#"
    assert set(value[1:]) <= set(string.hexdigits)
    assert us.parse_colour("#{:02x}{:02x}{:02x}".format(*rgb), "k") == rgb


colours = st.tuples(*[st.integers(0, 255)] * 3).map(lambda c: "#{:02X}{:02X}{:02X}".format(*c))


@settings(max_examples=150)
@given(text=colours, background=colours, primary=colours)
def test_accepted_colours_always_meet_the_contrast_rules(
    text: str, background: str, primary: str
) -> None:
    try:
        ui = us.ui_settings(
            {"text": text, "background": background, "primary": primary},
            base_dir=Path("."),
        )
    except ConfigError as exc:
        assert exc.key in ("ui.text", "ui.primary") and ":1" in exc.problem
        return
    b = ui.branding
    assert contrast(b.text, b.background) >= WCAG_AA
    assert contrast(b.primary, b.background) >= us.UI_CONTRAST_MIN


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
section_keys = st.sampled_from(sorted(us.KEYS | {"extra"}))
field_tables = st.dictionaries(
    st.sampled_from(sorted(us.FIELD_KEYS)), json_values | st.just({"de": "a", "en": "b"})
)


@settings(max_examples=300)
@given(st.dictionaries(section_keys, json_values | st.lists(field_tables, max_size=3), max_size=4))
def test_any_ui_table_is_accepted_or_refused_with_a_config_error(section: dict[str, Any]) -> None:
    try:
        ui = us.ui_settings(section, base_dir=Path("/nonexistent"))
    except ConfigError as exc:
        assert exc.key.startswith("ui")
        return
    assert all(1 <= f.max_length <= 200 for f in ui.fields)
