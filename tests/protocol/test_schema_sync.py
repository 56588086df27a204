"""The console's JSON Schema is generated from the Python message definitions, never edited."""

from __future__ import annotations

from pathlib import Path

from protocol import schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "hub" / "web" / "protocol.schema.json"


def test_schema_file_is_current() -> None:
    assert SCHEMA_FILE == schema.SCHEMA_PATH
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema.render(), (
        "hub/web/protocol.schema.json is stale: run `python -m protocol.schema`"
    )
