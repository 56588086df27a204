"""The JSON Schema of both channels, as the adviser console validates against it.

Pure: ``bundle()`` builds the document from the Python message definitions and ``render()``
gives its canonical text. Writing it into the console's files is the hub's business
(``python -m hub.console_schema``); a test fails when the checked-in copy differs.
"""

from __future__ import annotations

import json
from typing import Any

from protocol.channel import CHANNEL
from protocol.messages import SIGNALLING


def bundle() -> dict[str, Any]:
    """Both channels' schemas in one document."""
    return {
        "signalling": SIGNALLING.json_schema(),
        "channel": CHANNEL.json_schema(),
        "stringRule": "strings must not contain NUL or unpaired surrogates",
    }


def render() -> str:
    """``bundle()`` as canonical JSON text (sorted keys, two-space indent, final newline)."""
    return json.dumps(bundle(), indent=2, sort_keys=True) + "\n"
