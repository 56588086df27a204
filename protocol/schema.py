"""Export the JSON Schema the adviser console validates against.

``python -m protocol.schema`` writes ``hub/web/protocol.schema.json``; a test
fails when the checked-in file differs from what the Python definitions give.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from protocol.channel import CHANNEL
from protocol.messages import SIGNALLING

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "hub" / "web" / "protocol.schema.json"


def bundle() -> dict[str, Any]:
    """Both channels' schemas in one document."""
    return {
        "signalling": SIGNALLING.json_schema(),
        "channel": CHANNEL.json_schema(),
        "stringRule": "strings must not contain NUL or unpaired surrogates",
    }


def render() -> str:
    return json.dumps(bundle(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    target = Path(args[0]) if args else SCHEMA_PATH
    target.write_text(render(), encoding="utf-8")
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
