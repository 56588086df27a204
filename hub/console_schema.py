"""Write the protocol's JSON Schema into the console's static files.

``python -m hub.console_schema [PATH]`` writes ``protocol.schema.render()`` to
hub/web/protocol.schema.json (or PATH), which hub/web/protocol.js loads to validate every
message; tests/protocol/test_schema_sync.py fails when the checked-in file is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from protocol import schema

SCHEMA_PATH = Path(__file__).resolve().parent / "web" / "protocol.schema.json"


def write(target: Path = SCHEMA_PATH) -> Path:
    """Write the current schema to ``target``; return it."""
    target.write_text(schema.render(), encoding="utf-8")
    return target


def main(argv: list[str] | None = None) -> int:
    """The command: an optional target path, the console's copy by default."""
    args = sys.argv[1:] if argv is None else argv
    print(f"wrote {write(Path(args[0]) if args else SCHEMA_PATH)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
