"""The ``[vault]`` section of the kiosk configuration: where session content lives and its limits.

[vault]
path = "/run/kiosk/session"   # a dedicated tmpfs (mounted by the unit, or by us as root)
size_mb = 512                 # size of the tmpfs we mount
max_file_mb = 64              # one scan, photo or received file
max_session_mb = 256          # everything one consultation stores
overwrite_passes = 1          # random passes over every file before it is unlinked
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from msgspec import Meta, Struct

from appliance.config.schema import NO_NUL, ConfigError

DEFAULT_VAULT_PATH = Path("/run/kiosk/session")
MIB = 1024 * 1024
Mib = Annotated[int, Meta(ge=1, le=65536, description="must be a whole number of MiB (1..65536)")]
DirectoryPath = Annotated[
    str, Meta(min_length=1, pattern=NO_NUL, description="must be a directory path")
]


class VaultTable(Struct, frozen=True, forbid_unknown_fields=True):
    """The ``[vault]`` table as written in the file."""

    path: DirectoryPath | None = None
    size_mb: Mib = 512
    max_file_mb: Mib = 64
    max_session_mb: Mib = 256
    overwrite_passes: Annotated[int, Meta(ge=0, le=7)] = 1


@dataclass(frozen=True)
class VaultSettings:
    """Where the session vault lives and how much it may hold."""

    path: Path = DEFAULT_VAULT_PATH
    size_bytes: int = 512 * MIB
    max_file_bytes: int = 64 * MIB
    max_session_bytes: int = 256 * MIB
    overwrite_passes: int = 1


def vault_settings(table: VaultTable, *, base_dir: Path) -> VaultSettings:
    """Check the ``[vault]`` table's values (relative paths resolve from ``base_dir``)."""
    path = DEFAULT_VAULT_PATH if table.path is None else base_dir / table.path
    if path == Path(path.anchor):
        raise ConfigError("vault.path", "must not be a file system root")
    if table.max_file_mb > table.max_session_mb:
        raise ConfigError("vault.max_file_mb", "must not exceed max_session_mb")
    if table.max_session_mb > table.size_mb:
        raise ConfigError(
            "vault.max_session_mb", "must not exceed size_mb (the tmpfs would fill first)"
        )
    return VaultSettings(
        path=path,
        size_bytes=table.size_mb * MIB,
        max_file_bytes=table.max_file_mb * MIB,
        max_session_bytes=table.max_session_mb * MIB,
        overwrite_passes=table.overwrite_passes,
    )
