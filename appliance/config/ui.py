"""The ``[ui]`` section of the kiosk configuration: the tenant's branding, texts and intake form.

    [ui]
    tenant_name = "Nordbank"
    logo = "nordbank.png"                 # PNG, at most 1 MiB, relative to the config file
    primary = "#00549F"                   # buttons and header; must stand out (3:1) from
    background = "#F7F8FA"                # the background, whose text colour must meet
    text = "#191C21"                      # WCAG AA (4.5:1) on it
    default_language = "de"
    consent = { de = "consent-de.txt", en = "consent-en.txt" }   # UTF-8 text files

    [[ui.fields]]                         # the intake form, in order (at most 8 fields)
    key = "name"                          # a-z, 0-9, _; sent to the adviser with the value
    label = { de = "Ihr Name", en = "Your name" }
    required = true
    max_length = 40                       # at most 200 characters

Every key is optional; without the section the kiosk shows our template. Validation raises
through ``error(key, problem)`` (see ``appliance.config.vault``) so no import cycle arises.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from kiosk_ui.colours import WCAG_AA, contrast
from kiosk_ui.viewmodels import DEFAULT_FIELDS, LANGUAGES, RGB, Branding, FieldSpec
from protocol.channel import INTAKE_FIELDS_MAX, INTAKE_KEY_PATTERN, INTAKE_VALUE_MAX

KEYS = {
    "tenant_name",
    "logo",
    "primary",
    "background",
    "text",
    "default_language",
    "consent",
    "fields",
}
FIELD_KEYS = {"key", "label", "required", "max_length"}
NAME_MAX = 40  # the header shows it in one line
LABEL_MAX = 40
CONSENT_MAX_CHARS = 20_000
LOGO_MAX_BYTES = 1024 * 1024
UI_CONTRAST_MIN = 3.0  # WCAG 1.4.11: buttons must stand out from the background
_COLOUR = re.compile(r"#[0-9A-Fa-f]{6}")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

Error = Callable[[str, str], NoReturn]


@dataclass(frozen=True)
class UiSettings:
    """The tenant's look and texts, validated."""

    branding: Branding = Branding()
    default_language: str = "de"
    consent_text: dict[str, str] | None = field(default=None, hash=False, compare=False)
    fields: tuple[FieldSpec, ...] = DEFAULT_FIELDS


def parse_colour(value: Any, key: str, error: Error) -> RGB:
    """``"#RRGGBB"`` as an RGB tuple."""
    if not isinstance(value, str) or not _COLOUR.fullmatch(value):
        error(key, 'must be a colour written "#RRGGBB", e.g. "#00549F"')
    return (int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16))


def ui_settings(section: Any, *, base_dir: Path, error: Error) -> UiSettings:
    """Validate the ``[ui]`` table (``None`` when absent); ``error(key, problem)`` must raise."""
    if section is None:
        return UiSettings()
    if not isinstance(section, Mapping):
        error("ui", "must be a table ([ui])")
    for key in section:
        if key not in KEYS:
            error(f"ui.{key}", "unknown key (check the spelling)")
    default = Branding()
    name = section.get("tenant_name", default.name)
    if not _one_line(name, NAME_MAX):
        error("ui.tenant_name", f"must be one line of 1 to {NAME_MAX} printable characters")
    primary = parse_colour(section.get("primary", _hex(default.primary)), "ui.primary", error)
    background = parse_colour(
        section.get("background", _hex(default.background)), "ui.background", error
    )
    text = parse_colour(section.get("text", _hex(default.text)), "ui.text", error)
    ratio = contrast(text, background)
    if ratio < WCAG_AA:
        error("ui.text", f"contrast with ui.background is {ratio:.2f}:1; WCAG AA needs 4.5:1")
    ratio = contrast(primary, background)
    if ratio < UI_CONTRAST_MIN:
        error(
            "ui.primary",
            f"contrast with ui.background is {ratio:.2f}:1; buttons need 3:1 (WCAG 1.4.11)",
        )
    logo = _logo(section.get("logo"), base_dir, error)
    language = section.get("default_language", "de")
    if language not in LANGUAGES:
        error("ui.default_language", f"must be one of {', '.join(LANGUAGES)}")
    return UiSettings(
        branding=Branding(
            name=name, primary=primary, background=background, text=text, logo_path=logo
        ),
        default_language=language,
        consent_text=_consent(section.get("consent"), base_dir, error),
        fields=_fields(section.get("fields"), error),
    )


def _hex(colour: RGB) -> str:
    return "#{:02X}{:02X}{:02X}".format(*colour)


def _one_line(value: Any, limit: int) -> bool:
    return isinstance(value, str) and 0 < len(value.strip()) <= limit and value.isprintable()


def _logo(value: Any, base_dir: Path, error: Error) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value or "\x00" in value:
        error("ui.logo", "must be the path of a PNG file")
    path = base_dir / value
    try:
        with path.open("rb") as f:
            head = f.read(LOGO_MAX_BYTES + 1)
    except OSError as exc:
        error("ui.logo", f"cannot read {path}: {exc.strerror}")
    if not head.startswith(_PNG_MAGIC):
        error("ui.logo", f"{path} is not a PNG file")
    if len(head) > LOGO_MAX_BYTES:
        error("ui.logo", f"{path} is larger than 1 MiB")
    return str(path)


def _consent(value: Any, base_dir: Path, error: Error) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not value:
        error("ui.consent", 'must be a table of files per language, e.g. { de = "consent.txt" }')
    texts: dict[str, str] = {}
    for language, name in value.items():
        key = f"ui.consent.{language}"
        if language not in LANGUAGES:
            error(key, f"unknown language (one of {', '.join(LANGUAGES)})")
        if not isinstance(name, str) or not name or "\x00" in name:
            error(key, "must be the path of a UTF-8 text file")
        path = base_dir / name
        try:
            raw = path.read_bytes()[: CONSENT_MAX_CHARS * 4 + 1]
            body = raw.decode("utf-8")
        except OSError as exc:
            error(key, f"cannot read {path}: {exc.strerror}")
        except UnicodeDecodeError:
            error(key, f"{path} is not UTF-8 text")
        body = body.replace("\r\n", "\n").strip()
        if not body:
            error(key, f"{path} is empty")
        if len(body) > CONSENT_MAX_CHARS:
            error(key, f"{path} is longer than {CONSENT_MAX_CHARS} characters")
        if any(not (ch.isprintable() or ch == "\n") for ch in body):
            error(key, f"{path} contains control characters")
        texts[language] = body
    return texts


def _fields(value: Any, error: Error) -> tuple[FieldSpec, ...]:
    if value is None:
        return DEFAULT_FIELDS
    if not isinstance(value, list) or len(value) > INTAKE_FIELDS_MAX:
        error("ui.fields", f"must be a list of at most {INTAKE_FIELDS_MAX} [[ui.fields]] tables")
    specs: list[FieldSpec] = []
    for i, item in enumerate(value):
        where = f"ui.fields[{i}]"
        if not isinstance(item, Mapping):
            error(where, "must be a table with key and label")
        for name in item:
            if name not in FIELD_KEYS:
                error(f"{where}.{name}", "unknown key (check the spelling)")
        key = item.get("key")
        if not isinstance(key, str) or not re.fullmatch(INTAKE_KEY_PATTERN, key):
            error(f"{where}.key", "must be 1 to 32 of a-z, 0-9 and _, starting with a letter")
        if any(spec.key == key for spec in specs):
            error(f"{where}.key", f"{key!r} is used twice")
        label = item.get("label")
        if not isinstance(label, Mapping) or set(label) != set(LANGUAGES):
            error(f"{where}.label", f"must give a label in each of {', '.join(LANGUAGES)}")
        for language, words in label.items():
            if not _one_line(words, LABEL_MAX):
                error(f"{where}.label.{language}", f"must be 1 to {LABEL_MAX} characters")
        required = item.get("required", False)
        if not isinstance(required, bool):
            error(f"{where}.required", "must be true or false")
        limit = item.get("max_length", 60)
        if isinstance(limit, bool) or not isinstance(limit, int):
            error(f"{where}.max_length", "must be a whole number")
        if not 1 <= limit <= INTAKE_VALUE_MAX:
            error(f"{where}.max_length", f"must be between 1 and {INTAKE_VALUE_MAX}")
        specs.append(FieldSpec(key, dict(label), required, limit))
    return tuple(specs)
