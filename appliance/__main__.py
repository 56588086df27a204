"""``kiosk``: the kiosk process and its composition root.

It wires the parts together; the drivers come from the one device factory,
:func:`appliance.runner.devices.build_call_devices`.

    kiosk run --simulate [--hub URL] [--token T | --token-file F] [--config F]
              [--ice-host ADDR ...] [--stats-file F] [--vault DIR] [--identity-dir DIR]
              [--enrol-uri URI]   (no token and not enrolled: the technician screen enrols)
    kiosk wipe [--config F] [--vault DIR] [--verify] [--json]
    kiosk selftest [--config F] [--json] [--simulate] [--identity-dir DIR]
    kiosk enrol --hub URL --code CODE [--ca-fingerprint FP] [--yes] [--config F]
    kiosk decommission [--yes] [--config F]
"""

from __future__ import annotations

import os

# pygame greets on stdout when first imported, and the UI modules below import it even with
# --no-ui: hide that before anything can load it (the kiosk's console is for status lines).
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from appliance.call.aiortc_tuning import tune_aiortc
from appliance.call.ice import use_host_addresses
from appliance.commands.enrol import add_enrol_commands, run_decommission, run_enrol
from appliance.commands.selftest import add_selftest_command, run_selftest
from appliance.commands.wipe import add_wipe_command, run_wipe
from appliance.config.kiosk import ConfigError, KioskConfig, load_config
from appliance.custody.session import SessionCustody
from appliance.runner.code_announcer import CodeAnnouncer
from appliance.runner.devices import CallDevices, build_call_devices, build_signature_tablet
from appliance.runner.hub_client import HubRejected
from appliance.runner.kiosk import Kiosk
from appliance.runner.service_manager import ServiceStatus, start_watchdog, stop_watchdog
from appliance.runner.simulated_customer import SimulatedCustomer
from appliance.ui.bridge import UiBridge
from appliance.ui.launch import (
    add_ui_arguments,
    base_view,
    journey_for,
    run_with_ui,
    ui_mode,
    window_size,
)
from appliance.ui.out_of_service import show_out_of_service
from appliance.ui.technician import run_without_token, unenrolled_config
from drivers.errors import DriverError
from provisioning.identity import IdentityError, IdentityStore

EXIT_USAGE = 2
EXIT_REJECTED = 3
EXIT_DRIVER = 4

log = logging.getLogger("appliance")


def build_parser() -> argparse.ArgumentParser:
    """The command line."""
    parser = argparse.ArgumentParser(prog="kiosk", description="Branch Kiosk appliance")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="connect to the hub and serve customers")
    run.add_argument("--config", type=Path, help="TOML configuration file")
    run.add_argument("--hub", dest="hub_url", help="hub URL (ws:// or wss://)")
    token = run.add_mutually_exclusive_group()
    token.add_argument("--token", help="device token (prefer --token-file)")
    token.add_argument("--token-file", help="file holding the device token")
    run.add_argument(
        "--simulate",
        action="store_const",
        const=True,
        default=None,
        help="use the simulated camera and microphone",
    )
    run.add_argument(
        "--ice-host",
        dest="ice_host_addresses",
        action="append",
        metavar="ADDR",
        help="gather ICE host candidates on exactly this address (repeatable)",
    )
    run.add_argument("--stats-file", help="append one JSON line per ended call")
    run.add_argument("--vault", help="session storage directory (default /run/kiosk/session)")
    run.add_argument("--identity-dir", help="device key and certificate (`kiosk enrol`)")
    run.add_argument(
        "--enrol-uri",
        help="not enrolled yet: enrol with this QR code text (branch-kiosk-enrol:?...)",
    )
    run.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    add_ui_arguments(run)
    shots = commands.add_parser("screenshots", help="render every UI screen to PNG files")
    shots.add_argument("--out", type=Path, required=True, help="directory for the PNG files")
    add_wipe_command(commands)
    add_selftest_command(commands)
    add_enrol_commands(commands)
    return parser


def configure_logging(*, verbose: bool) -> None:
    """Log to stderr (journald adds time and unit); our messages carry no personal data."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # aioice and aiortc log candidate addresses and SDP at debug level; keep them quieter.
    for noisy in ("aioice", "aiortc"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def status(line: str) -> None:
    """Status lines for the person watching the console (no personal data)."""
    print(line, flush=True)


async def serve(kiosk: Kiosk) -> None:
    """Run ``kiosk`` until SIGINT or SIGTERM, then stop it politely."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, kiosk.request_stop)
    watchdog = start_watchdog()  # WATCHDOG=1 from this loop while systemd asks for it
    try:
        await kiosk.run()
    finally:
        await stop_watchdog(watchdog)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``kiosk`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.command == "wipe":
        return run_wipe(args)
    if args.command == "selftest":
        return run_selftest(args)
    if args.command == "enrol":
        return run_enrol(args)
    if args.command == "decommission":
        return run_decommission(args)
    if args.command == "screenshots":
        from kiosk_ui.screenshots import render_all  # SDL loads only for this command

        print(f"wrote {len(render_all(args.out))} screenshots to {args.out}")
        return 0
    overrides = {
        "hub_url": args.hub_url,
        "token": args.token,
        "token_file": args.token_file,
        "simulate": args.simulate,
        "ice_host_addresses": args.ice_host_addresses,
        "stats_file": args.stats_file,
        "vault.path": args.vault,
        "identity_dir": args.identity_dir,
    }
    try:
        config = load_config(args.config, overrides)
    except ConfigError as exc:
        try:  # neither enrolled nor given a token: the technician screen enrols it
            config = unenrolled_config(args.config, overrides, exc)
        except ConfigError as error:
            return cannot_start(args, f"configuration: {error}", EXIT_USAGE)
    try:
        devices = build_call_devices(config)
    except DriverError as exc:
        return cannot_start(args, f"devices: {exc}", EXIT_USAGE, config)
    if config.token is not None:
        try:
            enrolled = IdentityStore(config.identity_dir).load()
        except IdentityError as exc:
            return cannot_start(args, f"identity directory: {exc}", EXIT_USAGE, config)
        if enrolled is not None:
            status(f"enrolled as {enrolled.device_name} (tenant {enrolled.tenant})")
    configure_logging(verbose=args.verbose)
    tune_aiortc()
    if config.ice_host_addresses:
        use_host_addresses(config.ice_host_addresses)
    mode = ui_mode(args, simulate=config.simulate)
    try:
        size = window_size(args.window)
    except ValueError as exc:
        print(f"kiosk: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if config.token is None:
            # No device token: the certificate, or the technician screen to get one (docs/ui.md).
            return run_without_token(
                args,
                config,
                mode=mode,
                size=size,
                say=status,
                assemble=lambda: assemble(load_config(args.config, overrides), mode),
            )
        kiosk, bridge = assemble(config, mode, devices)
        if mode is None or bridge is None:
            asyncio.run(serve(kiosk))
        else:
            run_with_ui(kiosk, bridge, mode=mode, size=size)
    except ConfigError as exc:  # read again once enrolled
        return cannot_start(args, f"configuration: {exc}", EXIT_USAGE, config)
    except HubRejected as exc:
        print(f"kiosk: {exc}", file=sys.stderr)
        return EXIT_REJECTED
    except DriverError as exc:  # a camera missing at boot: out of service with a screen
        return cannot_start(args, f"device problem: {exc}", EXIT_DRIVER, config)
    except KeyboardInterrupt:
        pass
    return 0


def cannot_start(
    args: argparse.Namespace, reason: str, status: int, config: KioskConfig | None = None
) -> int:
    """Bad input at boot: say ``reason``; with a screen show it there and keep running (READY,
    ``STATUS=out of service: reason``: no crash loop), else return ``status`` as always."""
    print(f"kiosk: {reason}", file=sys.stderr)
    mode = ui_mode(args, simulate=bool(args.simulate) if config is None else config.simulate)
    if mode is None:
        return status
    try:
        size = window_size(args.window)
    except ValueError:
        return status
    configure_logging(verbose=args.verbose)
    base = None if config is None else base_view(config.ui)
    return 0 if show_out_of_service(reason, mode=mode, size=size, base=base) else status


def assemble(
    config: KioskConfig,
    mode: str | None,
    devices: CallDevices | None = None,
    service: ServiceStatus | None = None,
) -> tuple[Kiosk, UiBridge | None]:
    """The kiosk for ``config`` and, with a UI (``mode``), the bridge to its journey;
    ``service`` tells systemd READY and its status (a fresh ``ServiceStatus`` by default)."""
    camera, microphone, speaker, scanner = devices or build_call_devices(config)
    custody = SessionCustody(config.vault, production=config.production)
    service = service if service is not None else ServiceStatus()
    kiosk = Kiosk(
        config,
        camera,
        microphone,
        on_status=status,
        custody=custody,
        queue_on_request=mode is not None,  # with a UI, the customer decides when to queue
        speaker=speaker,
        scanner=scanner,
        identity=IdentityStore(config.identity_dir),
        tablet=build_signature_tablet(config, pointer=mode is not None),
        service=service,
    )
    service.watch(kiosk)
    kiosk.add_observer(service)
    kiosk.add_observer(CodeAnnouncer(kiosk, status))
    if mode is None and config.simulate:  # with a UI, a person answers
        kiosk.add_observer(SimulatedCustomer(kiosk))
    if mode is None:
        return kiosk, None
    journey = journey_for(config.ui)
    try:  # assembled on the loop (the technician screen hands over): taps count at once
        loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
    except RuntimeError:  # before run_with_ui starts the loop: the bridge's run() sets it
        loop = None
    bridge = UiBridge(kiosk, journey, base_view=base_view(config.ui), custody=custody, loop=loop)
    return kiosk, bridge


if __name__ == "__main__":
    raise SystemExit(main())
