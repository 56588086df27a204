"""The console's JSON Schema is generated from the Python message definitions, never edited."""

from __future__ import annotations

from pathlib import Path

from hub import console_schema
from protocol import schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "hub" / "web" / "protocol.schema.json"


def test_schema_file_is_current() -> None:
    assert SCHEMA_FILE == console_schema.SCHEMA_PATH
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema.render(), (
        "hub/web/protocol.schema.json is stale: run `python -m hub.console_schema`"
    )


def test_the_command_writes_what_the_console_loads(tmp_path: Path) -> None:
    target = tmp_path / "protocol.schema.json"
    assert console_schema.main([str(target)]) == 0
    assert target.read_text(encoding="utf-8") == SCHEMA_FILE.read_text(encoding="utf-8")
