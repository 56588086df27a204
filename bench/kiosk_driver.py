"""A simulated kiosk process that a benchmark can tell to send a file to the adviser.

`python -m bench.kiosk_driver KIOSK-RUN-ARGS...` builds the kiosk exactly as
`kiosk run --simulate --no-ui` does (same config loading, devices, session custody), and also
reads commands from stdin, one per line:

    send PATH      the kiosk sends the file at PATH to the adviser (purpose "file")

and prints one JSON line per outcome on stdout: ``{"event": "sent", "id": ..., "bytes": N}``
or ``{"event": "send_failed", "error": ...}``. Only for benchmarks: a real kiosk sends what
the customer scanned or photographed, never a file named on a command line.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from appliance.__main__ import build_parser, configure_logging
from appliance.call.ice import use_host_addresses
from appliance.config.kiosk import load_config
from appliance.custody.session import SessionCustody
from appliance.custody.vault import ArtifactKind
from appliance.runner.devices import build_call_devices
from appliance.runner.kiosk import Kiosk
from appliance.runner.simulated_customer import SimulatedCustomer


def _emit(**fields: object) -> None:
    print(json.dumps(fields), flush=True)


async def _commands(kiosk: Kiosk) -> None:
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            return
        verb, _, arg = line.strip().partition(" ")
        if verb != "send":
            _emit(event="unknown_command")
            continue
        exchange = kiosk.exchange
        if exchange is None:
            _emit(event="send_failed", error="no verified consultation")
            continue
        data = await loop.run_in_executor(None, Path(arg).read_bytes)
        try:
            transfer_id = await exchange.send_file(
                ArtifactKind.FILE_SENT, Path(arg).name, "application/pdf", data, purpose="file"
            )
        except Exception as exc:  # reported to the benchmark, which fails
            _emit(event="send_failed", error=type(exc).__name__)
            continue
        _emit(event="sent", id=transfer_id, bytes=len(data))


async def _main(argv: list[str]) -> int:
    args = build_parser().parse_args(["run", *argv])
    overrides = {
        "hub_url": args.hub_url,
        "token": args.token,
        "token_file": args.token_file,
        "simulate": True,
        "ice_host_addresses": args.ice_host_addresses,
        "stats_file": args.stats_file,
        "vault.path": args.vault,
    }
    config = load_config(args.config, overrides)
    camera, microphone, speaker, scanner = build_call_devices(config)
    configure_logging(verbose=args.verbose)
    if config.ice_host_addresses:
        use_host_addresses(config.ice_host_addresses)
    custody = SessionCustody(config.vault, production=config.production)
    kiosk = Kiosk(
        config,
        camera,
        microphone,
        on_status=lambda line: print(line, file=sys.stderr, flush=True),
        custody=custody,
        speaker=speaker,
        scanner=scanner,
    )
    kiosk.add_observer(SimulatedCustomer(kiosk))
    commands = asyncio.create_task(_commands(kiosk))
    try:
        await kiosk.run()
    finally:
        commands.cancel()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(_main(sys.argv[1:])))
