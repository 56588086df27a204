"""The ``[vault]`` section of the kiosk configuration: where session content lives and its limits.

    [vault]
    path = "/run/kiosk/session"   # a dedicated tmpfs (mounted by the unit, or by us as root)
    size_mb = 512                 # size of the tmpfs we mount
    max_file_mb = 64              # one scan, photo or received file
    max_session_mb = 256          # everything one consultation stores
    overwrite_passes = 1          # random passes over every file before it is unlinked

Validation raises :class:`appliance.config.ConfigError`-compatible errors through the callback
``error(key, problem)`` so this module does not import the config module (no cycle).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

DEFAULT_VAULT_PATH = Path("/run/kiosk/session")
MIB = 1024 * 1024
KEYS = {"path", "size_mb", "max_file_mb", "max_session_mb", "overwrite_passes"}


@dataclass(frozen=True)
class VaultSettings:
    """Where the session vault lives and how much it may hold."""

    path: Path = DEFAULT_VAULT_PATH
    size_bytes: int = 512 * MIB
    max_file_bytes: int = 64 * MIB
    max_session_bytes: int = 256 * MIB
    overwrite_passes: int = 1


def vault_settings(
    section: Mapping[str, Any],
    *,
    base_dir: Path,
    error: Callable[[str, str], NoReturn],
) -> VaultSettings:
    """Validate the ``[vault]`` table; ``error(key, problem)`` must raise."""
    for key in section:
        if key not in KEYS:
            error(f"vault.{key}", "unknown key (check the spelling)")
    path = DEFAULT_VAULT_PATH
    if "path" in section:
        raw = section["path"]
        if not isinstance(raw, str) or not raw or "\x00" in raw:
            error("vault.path", "must be a directory path")
        path = base_dir / raw
        if path == Path(path.anchor):
            error("vault.path", "must not be a file system root")

    def mib(name: str, default: int, lo: int, hi: int) -> int:
        value = section.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            error(f"vault.{name}", "must be a whole number of MiB")
        if not lo <= value <= hi:
            error(f"vault.{name}", f"{value} must be between {lo} and {hi}")
        return value * MIB

    size = mib("size_mb", 512, 1, 65536)
    max_file = mib("max_file_mb", 64, 1, 65536)
    max_session = mib("max_session_mb", 256, 1, 65536)
    if max_file > max_session:
        error("vault.max_file_mb", "must not exceed max_session_mb")
    if max_session > size:
        error("vault.max_session_mb", "must not exceed size_mb (the tmpfs would fill first)")
    passes = section.get("overwrite_passes", 1)
    if isinstance(passes, bool) or not isinstance(passes, int) or not 0 <= passes <= 7:
        error("vault.overwrite_passes", "must be a whole number between 0 and 7")
    return VaultSettings(
        path=path,
        size_bytes=size,
        max_file_bytes=max_file,
        max_session_bytes=max_session,
        overwrite_passes=passes,
    )
