"""The ``kiosk`` console script: ``kiosk wipe`` without the call's imports.

``kiosk.service`` runs ``kiosk wipe`` before every start, also after a watchdog restart and on a
Pi 4 reading its SD card: it must not wait for aiortc, aiohttp and the UI to import (2.3 s here
against 0.5 s, and 30 times that under emulation). Every other command goes to
``appliance.__main__``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kiosk`` console script; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["wipe"]:
        from appliance.commands.wipe import add_wipe_command, run_wipe

        parser = argparse.ArgumentParser(prog="kiosk", description="Branch Kiosk appliance")
        add_wipe_command(parser.add_subparsers(dest="command", required=True))
        return run_wipe(parser.parse_args(args))
    from appliance.__main__ import main as full

    return full(args)


if __name__ == "__main__":
    raise SystemExit(main())
