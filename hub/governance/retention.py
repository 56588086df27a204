"""The retention settings explained: what each keeps, its default and its limits.

The values live in storage (``Retention``, ``RETENTION_LIMITS``); this module gives the
console pages and ``kiosk-hub`` the same words for them, and checks changes typed by people.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from hub.storage.records import RETENTION_LIMITS, Retention


class BadSetting(ValueError):
    """A retention change with an unknown key or a value that is not a whole number in range."""


@dataclass(frozen=True)
class Setting:
    """One retention setting as the pages and the CLI describe it."""

    key: str
    label: str
    meaning: str
    unit: str  # "days" or "consultations"
    default: int
    minimum: int
    maximum: int

    def to_json(self) -> dict[str, object]:
        """The setting for the API and ``--json`` output."""
        return dataclasses.asdict(self)


_WORDS: dict[str, tuple[str, str, str]] = {
    "consultations_days": (
        "Consultation records",
        "Ids, times, outcome, device, branch and adviser of each conversation (never its "
        "content), counted from its end. Restricted conversations are kept until lifted.",
        "days",
    ),
    "access_log_days": (
        "Access-log lines",
        "Anonymised lines of requests to the hub (shortened IP address, method, path, status, "
        "bytes, time), for security and load statistics.",
        "days",
    ),
    "device_history_days": (
        "Wipe and self-test history",
        "The reports each kiosk sends after a wipe or a self-test (figures only), for the "
        "wipe audit.",
        "days",
    ),
    "audit_days": (
        "Audit entries",
        "Who changed which setting, account or device, and which data-subject requests were "
        "served (no content).",
        "days",
    ),
    "stats_min_cell": (
        "Smallest statistics cell",
        "Statistics cells with fewer consultations than this are shown as suppressed.",
        "consultations",
    ),
    "archive_days": (
        "Archived contracts and transcripts",
        "Signed contracts and chat transcripts the tenant chose to keep, sealed at the kiosk "
        "to its archive certificate (the hub cannot open them), counted from their upload. "
        "Those of a restricted conversation are kept until lifted.",
        "days",
    ),
}

DEFAULTS = Retention()
SETTINGS: tuple[Setting, ...] = tuple(
    Setting(
        key=key,
        label=_WORDS[key][0],
        meaning=_WORDS[key][1],
        unit=_WORDS[key][2],
        default=getattr(DEFAULTS, key),
        minimum=low,
        maximum=high,
    )
    for key, (low, high) in RETENTION_LIMITS.items()
)
_BY_KEY = {setting.key: setting for setting in SETTINGS}


def describe() -> list[Setting]:
    """Every retention setting, in the order the pages show them."""
    return list(SETTINGS)


def defaults() -> dict[str, int]:
    """The default of each setting."""
    return {s.key: s.default for s in SETTINGS}


def limits() -> dict[str, list[int]]:
    """``[minimum, maximum]`` of each setting (as the API shows them)."""
    return {s.key: [s.minimum, s.maximum] for s in SETTINGS}


def values(retention: Retention) -> dict[str, int]:
    """A tenant's settings as ``{key: value}``."""
    return {s.key: getattr(retention, s.key) for s in SETTINGS}


def check_changes(changes: Mapping[str, object]) -> dict[str, int]:
    """Changes as sent by a page or typed on the command line, checked: ``{key: whole number}``.

    Accepts ints and decimal digit strings; raises ``BadSetting`` naming the key (never echoing
    the value) for an unknown key, another type, or a value outside the limits.
    """
    if not changes:
        raise BadSetting("no retention setting to change; known: " + ", ".join(_BY_KEY))
    checked: dict[str, int] = {}
    for key, raw in changes.items():
        setting = _BY_KEY.get(key)
        if setting is None:
            raise BadSetting("unknown retention setting; known: " + ", ".join(_BY_KEY))
        if isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 9:
            raw = int(raw)
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise BadSetting(f"{key} must be a whole number of {setting.unit}")
        if not setting.minimum <= raw <= setting.maximum:
            raise BadSetting(
                f"{key} must be between {setting.minimum} and {setting.maximum} {setting.unit}"
            )
        checked[key] = raw
    return checked
