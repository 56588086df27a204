"""``kiosk enrol`` and ``kiosk decommission``: the technician's commands on the device.

    kiosk enrol --hub URL --code CODE [--ca-fingerprint FP] [--yes] [--config F]
                [--identity-dir DIR] [--simulate]
    kiosk enrol --uri 'branch-kiosk-enrol:?hub=...&code=...&ca=...'   (the QR code's text)
    kiosk decommission [--yes] [--config F] [--identity-dir DIR] [--vault DIR]

``enrol`` makes the device key here (or reuses the unenrolled one), fetches the tenant CA,
compares its fingerprint BEFORE the code's secret is sent (given: must match; not given: shown
for the technician to compare, y/N on a terminal, refused without one unless ``--yes``), sends
the CSR, stores the certificate, then runs ``kiosk selftest`` and prints its summary.
``decommission`` wipes the session vault (``kiosk wipe``'s code path) and removes key (after
overwriting it), certificate, CA and hub file: the kiosk needs a fresh code to serve again.

Exit status: 0 enrolled and self-test passed (decommission: done); 1 enrolled but the
self-test did not pass; 2 bad input or setup (code, URL, fingerprint, identity directory, no
terminal to confirm on); 3 the hub refused (code unknown, expired, used or wrong; CA
mismatch; request refused); 4 the hub is unreachable or throttles: try again later;
5 decommission could not wipe the vault (the identity is removed all the same).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from appliance.commands.selftest import EXIT_OK as SELFTEST_OK
from appliance.commands.selftest import run_selftest
from appliance.commands.wipe import run_wipe
from appliance.config.kiosk import ConfigError, KioskConfig, load_config
from provisioning import profile
from provisioning.challenge import BadChallenge
from provisioning.codes import (
    BadCode,
    BadEnrolmentUri,
    EnrolmentCode,
    parse_code,
    parse_enrolment_uri,
)
from provisioning.enrolment import enrol, kiosk_hub_url
from provisioning.est_client import CaMismatch, EstClient, EstError, HubUnreachable, Throttled
from provisioning.identity import Identity, IdentityError, IdentityStore

EXIT_OK, EXIT_SELFTEST, EXIT_USAGE, EXIT_REFUSED, EXIT_UNREACHABLE, EXIT_WIPE = 0, 1, 2, 3, 4, 5
# Neither command talks to the hub with the device token: it must not be needed.
_NO_TOKEN = "not-needed-for-enrolment"  # noqa: S105 - a placeholder, not a secret


def add_enrol_commands(commands: Any) -> None:
    """Register ``enrol`` and ``decommission`` on the ``kiosk`` command's subparsers."""
    enrol_cmd = commands.add_parser("enrol", help="enrol this kiosk at a hub with a one-time code")
    source = enrol_cmd.add_mutually_exclusive_group(required=True)
    source.add_argument("--hub", help="the hub's URL (https:// or wss://; http:// for tests)")
    source.add_argument("--uri", help="the enrolment QR code's text (branch-kiosk-enrol:?...)")
    enrol_cmd.add_argument("--code", help="the enrolment code, e.g. K7QX-3M9P-HT4R-2WNC")
    enrol_cmd.add_argument("--ca-fingerprint", help="the tenant CA's SHA-256 fingerprint")
    enrol_cmd.add_argument(
        "--yes", action="store_true", help="accept the hub's CA without a fingerprint to compare"
    )
    _common(enrol_cmd)
    enrol_cmd.add_argument(
        "--simulate", action="store_true", help="self-test the simulated devices afterwards"
    )
    retire = commands.add_parser(
        "decommission", help="wipe the device key, certificate and session vault"
    )
    retire.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    retire.add_argument("--vault", help="session storage directory (default from the config)")
    _common(retire)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML configuration file")
    parser.add_argument(
        "--identity-dir", help="identity directory (default from the config: /var/lib/branch-kiosk)"
    )


def run_enrol(
    args: argparse.Namespace,
    *,
    ask: Callable[[str], str] = input,
    interactive: Callable[[], bool] = sys.stdin.isatty,
) -> int:
    """Carry out ``kiosk enrol``; returns the exit status (see the module docstring)."""
    try:
        hub_url, code_text, fingerprint = _inputs(args)
        code = parse_code(code_text)
        expected = None if fingerprint is None else profile.parse_fingerprint(fingerprint)
        hub_ws_url = _hub_ws_url(hub_url)
        # The hub being enrolled with is the kiosk's hub: production's wss:// rule applies.
        config = _config(args, hub_url=hub_ws_url)
    except (ConfigError, BadCode, BadEnrolmentUri, profile.BadFingerprint, ValueError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    if expected is None and not args.yes and not interactive():
        return _fail(
            "no --ca-fingerprint and no terminal to confirm the hub's CA on: give the "
            "fingerprint from the code's printout (or --yes to accept it unseen)",
            EXIT_USAGE,
        )

    def confirm(found: str) -> bool:
        print("The hub's tenant CA fingerprint (SHA-256):")
        print(f"  {profile.display_fingerprint(found)}")
        if args.yes:
            print("accepted without comparing (--yes)")
            return True
        answer = ask("Does it match the fingerprint you were given? [y/N] ")
        return answer.strip().lower() in ("y", "yes", "j", "ja")

    if hub_ws_url.startswith("ws://"):
        print("warning: plain http: the code crosses the network readable (tests only)")
    store = IdentityStore(config.identity_dir)
    try:
        print(f"device key fingerprint: {profile.display_fingerprint(store.key_fingerprint())}")
        identity = asyncio.run(_enrol(store, hub_url, hub_ws_url, code, expected, confirm))
    except IdentityError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except (HubUnreachable, Throttled) as exc:
        return _fail(str(exc), EXIT_UNREACHABLE)
    except (EstError, CaMismatch) as exc:
        return _fail(str(exc), EXIT_REFUSED)
    _print_enrolled(identity)
    print("self-test:", flush=True)
    selftest = run_selftest(
        argparse.Namespace(
            config=args.config,
            json=False,
            simulate=args.simulate,
            identity_dir=config.identity_dir,  # its summary is reported to the hub
        )
    )
    if selftest != SELFTEST_OK:
        print("enrolled, but the self-test did not pass: see above", flush=True)
        return EXIT_SELFTEST
    return EXIT_OK


def run_decommission(
    args: argparse.Namespace,
    *,
    ask: Callable[[str], str] = input,
    interactive: Callable[[], bool] = sys.stdin.isatty,
) -> int:
    """Carry out ``kiosk decommission``; returns the exit status."""
    try:
        config = _config(args)
    except ConfigError as exc:
        return _fail(str(exc), EXIT_USAGE)
    store = IdentityStore(config.identity_dir)
    if not args.yes:
        if not interactive():
            return _fail("decommissioning cannot be undone: confirm with --yes", EXIT_USAGE)
        answer = ask("Wipe this kiosk's key, certificate and session vault? [y/N] ")
        if answer.strip().lower() not in ("y", "yes", "j", "ja"):
            return _fail("nothing was changed", EXIT_USAGE)
    name = _device_name(store)
    wiped = run_wipe(
        argparse.Namespace(
            config=args.config, vault=args.vault, owner=None, verify=False, json=False
        )
    )
    removed = store.decommission()
    print(f"removed from {config.identity_dir}: {', '.join(removed) or 'nothing (not enrolled)'}")
    print("this kiosk needs a fresh enrolment code to serve again (`kiosk enrol`)")
    if name is not None:
        print(f"revoke its certificate at the hub too: kiosk-hub device revoke {name}")
    if wiped != 0:
        return _fail("the session vault could not be wiped: see above", EXIT_WIPE)
    return EXIT_OK


async def _enrol(
    store: IdentityStore,
    hub_url: str,
    hub_ws_url: str,
    code: EnrolmentCode,
    expected: str | None,
    confirm: Callable[[str], bool],
) -> Identity:
    async with EstClient(hub_url) as client:
        return await enrol(
            client, store, code, hub_ws_url, expected_fingerprint=expected, confirm=confirm
        )


def _config(args: argparse.Namespace, hub_url: str | None = None) -> KioskConfig:
    overrides = {"token": _NO_TOKEN, "identity_dir": args.identity_dir, "hub_url": hub_url}
    if getattr(args, "vault", None) is not None:
        overrides["vault.path"] = args.vault
    return load_config(args.config, overrides)


def _inputs(args: argparse.Namespace) -> tuple[str, str, str | None]:
    if args.uri is not None:
        if args.code is not None or args.ca_fingerprint is not None:
            raise ValueError("--uri carries the code and the fingerprint: give neither again")
        uri = parse_enrolment_uri(args.uri.strip())
        return uri.hub_url, uri.code.format(), uri.ca_fingerprint
    if args.code is None:
        raise ValueError("--code is needed with --hub")
    return args.hub, args.code, args.ca_fingerprint


def _hub_ws_url(hub_url: str) -> str:
    """``kiosk_hub_url`` with the error naming the option."""
    try:
        return kiosk_hub_url(hub_url)
    except BadChallenge as exc:
        raise ValueError(f"--hub: {exc}") from None


def _device_name(store: IdentityStore) -> str | None:
    try:
        identity = store.load()
    except IdentityError:
        return None
    return None if identity is None else identity.device_name


def _print_enrolled(identity: Identity) -> None:
    cert = identity.certificate
    renew = profile.renew_at(cert).strftime("%Y-%m-%d %H:%M UTC")
    until = cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M UTC")
    print(f"enrolled as {identity.device_name} (tenant {identity.tenant}) at {identity.hub_url}")
    print(f"certificate valid until {until}; renewed automatically from {renew}", flush=True)


def _fail(message: str, status: int) -> int:
    print(f"kiosk: {message}", file=sys.stderr)
    return status
