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

Every key is optional; without the section the kiosk shows our template. msgspec checks the
shape (:class:`UiTable`); :func:`settings` checks values, contrast and the files named.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from msgspec import Meta, Struct

from appliance.config.schema import NO_NUL, ConfigError, decode
from kiosk_ui.colours import WCAG_AA, contrast
from kiosk_ui.viewmodels import DEFAULT_FIELDS, LANGUAGES, RGB, Branding, FieldSpec
from protocol.channel import INTAKE_FIELDS_MAX, INTAKE_KEY_PATTERN, INTAKE_VALUE_MAX

NAME_MAX = 40  # the header shows it in one line
LABEL_MAX = 40
CONSENT_MAX_CHARS = 20_000
LOGO_MAX_BYTES = 1024 * 1024
UI_CONTRAST_MIN = 3.0  # WCAG 1.4.11: buttons must stand out from the background
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_DEFAULT = Branding()
_NAME_PROBLEM = f"must be one line of 1 to {NAME_MAX} printable characters"
_LABEL_PROBLEM = f"must give a label in each of {', '.join(LANGUAGES)}"

# The types of the keys: each description is the problem a technician reads for a wrong value.
Colour = Annotated[
    str,
    Meta(
        pattern=r"^#[0-9A-Fa-f]{6}\Z",
        description='must be a colour written "#RRGGBB", e.g. "#00549F"',
    ),
]
TenantName = Annotated[str, Meta(description=_NAME_PROBLEM)]
LogoFile = Annotated[
    str, Meta(min_length=1, pattern=NO_NUL, description="must be the path of a PNG file")
]
Language = Annotated[str, Meta(description=f"must be one of {', '.join(LANGUAGES)}")]
ConsentFile = Annotated[str, Meta(description="must be the path of a UTF-8 text file")]
ConsentFiles = Annotated[
    dict[str, ConsentFile],
    Meta(min_length=1, description='must be a table of files per language, e.g. { de = "a.txt" }'),
]
FieldKey = Annotated[
    str,
    Meta(
        pattern=rf"^(?:{INTAKE_KEY_PATTERN})\Z",
        description="must be 1 to 32 of a-z, 0-9 and _, starting with a letter",
    ),
]
Label = Annotated[str, Meta(description=f"must be 1 to {LABEL_MAX} characters")]
Labels = Annotated[dict[str, Label], Meta(description=_LABEL_PROBLEM)]


def _hex(colour: RGB) -> str:
    return "#{:02X}{:02X}{:02X}".format(*colour)


class FieldTable(Struct, frozen=True, forbid_unknown_fields=True):
    """One ``[[ui.fields]]`` table as written in the file."""

    key: FieldKey
    label: Labels
    required: bool = False
    max_length: Annotated[int, Meta(ge=1, le=INTAKE_VALUE_MAX)] = 60


Fields = Annotated[
    list[Annotated[FieldTable, Meta(description="must be a table with key and label")]],
    Meta(
        max_length=INTAKE_FIELDS_MAX,
        description=f"must be a list of at most {INTAKE_FIELDS_MAX} [[ui.fields]] tables",
    ),
]


class UiTable(Struct, frozen=True, forbid_unknown_fields=True):
    """The ``[ui]`` table as written in the file."""

    tenant_name: TenantName = _DEFAULT.name
    logo: LogoFile | None = None
    primary: Colour = _hex(_DEFAULT.primary)
    background: Colour = _hex(_DEFAULT.background)
    text: Colour = _hex(_DEFAULT.text)
    default_language: Language = "de"
    consent: ConsentFiles | None = None
    fields: Fields | None = None


KEYS = frozenset(UiTable.__struct_fields__)
FIELD_KEYS = frozenset(FieldTable.__struct_fields__)


@dataclass(frozen=True)
class UiSettings:
    """The tenant's look and texts, validated."""

    branding: Branding = Branding()
    default_language: str = "de"
    consent_text: dict[str, str] | None = field(default=None, hash=False, compare=False)
    fields: tuple[FieldSpec, ...] = DEFAULT_FIELDS


def parse_colour(value: object, key: str) -> RGB:
    """``"#RRGGBB"`` as an RGB tuple, or :class:`ConfigError` naming ``key``."""
    text: str = decode(value, Colour, at=key)
    return (int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16))


def ui_settings(section: object, *, base_dir: Path) -> UiSettings:
    """The ``[ui]`` table (``None`` when absent) checked; files resolve from ``base_dir``."""
    if section is None:
        return UiSettings()
    table: UiTable = decode(section, UiTable, at="ui")
    return settings(table, base_dir=base_dir)


def settings(table: UiTable, *, base_dir: Path) -> UiSettings:
    """Check the decoded ``[ui]`` table's values: contrast, languages, the files it names."""
    if not _one_line(table.tenant_name, NAME_MAX):
        raise ConfigError("ui.tenant_name", _NAME_PROBLEM)
    primary = parse_colour(table.primary, "ui.primary")
    background = parse_colour(table.background, "ui.background")
    text = parse_colour(table.text, "ui.text")
    ratio = contrast(text, background)
    if ratio < WCAG_AA:
        raise ConfigError(
            "ui.text", f"contrast with ui.background is {ratio:.2f}:1; WCAG AA needs 4.5:1"
        )
    ratio = contrast(primary, background)
    if ratio < UI_CONTRAST_MIN:
        raise ConfigError(
            "ui.primary",
            f"contrast with ui.background is {ratio:.2f}:1; buttons need 3:1 (WCAG 1.4.11)",
        )
    logo = None if table.logo is None else _logo(base_dir / table.logo)
    if table.default_language not in LANGUAGES:
        raise ConfigError("ui.default_language", f"must be one of {', '.join(LANGUAGES)}")
    return UiSettings(
        branding=Branding(
            name=table.tenant_name,
            primary=primary,
            background=background,
            text=text,
            logo_path=logo,
        ),
        default_language=table.default_language,
        consent_text=None if table.consent is None else _consent(table.consent, base_dir),
        fields=DEFAULT_FIELDS if table.fields is None else _fields(table.fields),
    )


def _one_line(value: str, limit: int) -> bool:
    return 0 < len(value.strip()) <= limit and value.isprintable()


def _logo(path: Path) -> str:
    try:
        with path.open("rb") as f:
            head = f.read(LOGO_MAX_BYTES + 1)
    except OSError as exc:
        raise ConfigError("ui.logo", f"cannot read {path}: {exc.strerror}") from None
    if not head.startswith(_PNG_MAGIC):
        raise ConfigError("ui.logo", f"{path} is not a PNG file")
    if len(head) > LOGO_MAX_BYTES:
        raise ConfigError("ui.logo", f"{path} is larger than 1 MiB")
    return str(path)


def _consent(files: dict[str, str], base_dir: Path) -> dict[str, str]:
    texts: dict[str, str] = {}
    for language, name in files.items():
        key = f"ui.consent.{language}"
        if language not in LANGUAGES:
            raise ConfigError(key, f"unknown language (one of {', '.join(LANGUAGES)})")
        if not name or "\x00" in name:
            raise ConfigError(key, "must be the path of a UTF-8 text file")
        path = base_dir / name
        try:
            body = path.read_bytes()[: CONSENT_MAX_CHARS * 4 + 1].decode("utf-8")
        except OSError as exc:
            raise ConfigError(key, f"cannot read {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise ConfigError(key, f"{path} is not UTF-8 text") from None
        body = body.replace("\r\n", "\n").strip()
        if not body:
            raise ConfigError(key, f"{path} is empty")
        if len(body) > CONSENT_MAX_CHARS:
            raise ConfigError(key, f"{path} is longer than {CONSENT_MAX_CHARS} characters")
        if any(not (ch.isprintable() or ch == "\n") for ch in body):
            raise ConfigError(key, f"{path} contains control characters")
        texts[language] = body
    return texts


def _fields(tables: list[FieldTable]) -> tuple[FieldSpec, ...]:
    specs: list[FieldSpec] = []
    for i, table in enumerate(tables):
        where = f"ui.fields[{i}]"
        if any(spec.key == table.key for spec in specs):
            raise ConfigError(f"{where}.key", f"{table.key!r} is used twice")
        if set(table.label) != set(LANGUAGES):
            raise ConfigError(f"{where}.label", _LABEL_PROBLEM)
        for language, words in table.label.items():
            if not _one_line(words, LABEL_MAX):
                raise ConfigError(
                    f"{where}.label.{language}", f"must be 1 to {LABEL_MAX} characters"
                )
        specs.append(FieldSpec(table.key, dict(table.label), table.required, table.max_length))
    return tuple(specs)
