"""``kiosk wipe [--config F] [--vault DIR] [--owner USER[:GROUP]] [--verify] [--json]``.

The wipe routine on demand: for technicians, and for systemd ``ExecStartPre=`` so nothing
survives a crash or power loss. Prepares the configured location like ``kiosk run`` does
(mounting the tmpfs when root), wipes everything below it, verifies, and prints the
:class:`~appliance.wipe.WipeReport`. ``--verify`` additionally reads every overwritten file
back before unlinking it. ``--owner`` hands every tmpfs it mounts (first mount and remount) to
the service's user; without it a remount keeps the owner of the tmpfs it replaces.

Exit status: 0 wiped and verified, 2 bad configuration (or no such ``--owner``), 5 the wipe
failed (the cause is printed).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from appliance.config.kiosk import ConfigError, load_config
from appliance.custody.mount import (
    LinuxMounter,
    VaultLocationError,
    prepare_location,
    resolve_owner,
)
from appliance.custody.wipe import WipeError, wipe_location

EXIT_USAGE = 2
EXIT_WIPE_FAILED = 5
# Wiping never talks to the hub, so it must work without the device token.
_NO_TOKEN = "not-needed-for-wipe"  # noqa: S105 - a placeholder, not a secret


def add_wipe_command(commands: Any) -> None:
    """Register the ``wipe`` sub-command on an argparse sub-parsers object."""
    wipe = commands.add_parser("wipe", help="wipe the session storage and verify it is empty")
    wipe.add_argument("--config", type=Path, help="TOML configuration file")
    wipe.add_argument("--vault", help="session storage directory (default from the config)")
    wipe.add_argument(
        "--owner",
        metavar="USER[:GROUP]",
        help="owner of the tmpfs it mounts (the service's User=/Group=; default: keep)",
    )
    wipe.add_argument(
        "--verify", action="store_true", help="read every overwritten file back before unlinking"
    )
    wipe.add_argument("--json", action="store_true", help="print the report as one JSON line")


def run_wipe(args: argparse.Namespace) -> int:
    """Carry out ``kiosk wipe``; returns the exit status."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config, {"token": _NO_TOKEN, "vault.path": args.vault})
    except ConfigError as exc:
        print(f"kiosk: {exc}", file=sys.stderr)
        return EXIT_USAGE
    settings = config.vault
    try:
        owner = resolve_owner(args.owner) if args.owner else None
    except VaultLocationError as exc:
        # A missing user is a setup mistake, like a bad configuration: same exit status.
        print(f"kiosk: {exc}", file=sys.stderr)
        return EXIT_USAGE
    mounter = LinuxMounter()
    try:
        location = prepare_location(
            settings.path,
            settings.size_bytes,
            production=config.production,
            mounter=mounter,
            owner=owner,
        )
        report = wipe_location(
            location,
            mounter=mounter,
            passes=settings.overwrite_passes,
            trigger="manual",
            readback=args.verify,
        )
    except (VaultLocationError, WipeError) as exc:
        if args.json:
            print(json.dumps({"verified": False, "error": str(exc)}))
        print(f"kiosk: {exc}", file=sys.stderr)
        return EXIT_WIPE_FAILED
    if args.json:
        print(report.to_json())
    else:
        print(
            f"wiped {settings.path}: {report.files} files, {report.bytes} bytes "
            f"({report.method}) in {report.duration_s:.3f} s; verified"
        )
    return 0
