"""`python -m bench NAME [--json]`: run one benchmark; the last stdout line is a JSON object."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any


def _call(args: argparse.Namespace) -> Coroutine[Any, Any, dict[str, Any]]:
    from bench import call

    return call.main(
        calls=args.calls,
        call_seconds=args.seconds,
        resolution=args.resolution,
        profile=args.profile,
        hw=args.hw,
        tree=args.tree,
        codec=args.codec.upper(),
    )


def _pen(args: argparse.Namespace) -> Coroutine[Any, Any, dict[str, Any]]:
    from bench import pen

    return pen.main(seconds=args.seconds if args.seconds_given else 10.0)


def _wipe(args: argparse.Namespace) -> Coroutine[Any, Any, dict[str, Any]]:
    from bench import wipe

    return wipe.main()


def _transfer(args: argparse.Namespace) -> Coroutine[Any, Any, dict[str, Any]]:
    from bench import transfer

    return transfer.main()


def _reconnect(args: argparse.Namespace) -> Coroutine[Any, Any, dict[str, Any]]:
    from bench import reconnect

    return reconnect.main(outages=args.calls if args.calls_given else 5)


def _enrol(args: argparse.Namespace) -> Coroutine[Any, Any, dict[str, Any]]:
    from bench import enrol

    return enrol.main()


def _storage(args: argparse.Namespace) -> Coroutine[Any, Any, dict[str, Any]]:
    from bench import storage

    return storage.main()


async def _ui(args: argparse.Namespace) -> dict[str, Any]:
    from bench import ui

    return ui.main()


def _signature(args: argparse.Namespace) -> Coroutine[Any, Any, dict[str, Any]]:
    from bench import signature

    return signature.main(keep=args.keep)


def _stats(args: argparse.Namespace) -> Coroutine[Any, Any, dict[str, Any]]:
    from bench import stats

    return stats.main(records=args.records)


def _boot(args: argparse.Namespace) -> Coroutine[Any, Any, dict[str, Any]]:
    from bench import boot

    return boot.main(boots=args.boots)


BENCHES: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, dict[str, Any]]]] = {
    "call": _call,
    "pen": _pen,
    "wipe": _wipe,
    "ui": _ui,
    "transfer": _transfer,
    "reconnect": _reconnect,
    "storage": _storage,
    "enrol": _enrol,
    "signature": _signature,
    "stats": _stats,
    "boot": _boot,
}


def _resolution(text: str) -> str:
    from bench.call_proc import ResolutionError, parse_resolution

    try:
        parse_resolution(text)
    except ResolutionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r:.20}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("name", choices=sorted(BENCHES))
    parser.add_argument("--json", action="store_true", help="print only the JSON result line")
    parser.add_argument(
        "--calls", type=int, default=10, help="calls (call) or outages (reconnect) to run"
    )
    parser.add_argument("--seconds", type=float, help="seconds per call (call) or of pen input")
    parser.add_argument(
        "--keep", type=Path, help="signature: leave the last signed PDF and its keys here"
    )
    parser.add_argument(
        "--resolution",
        type=_resolution,
        default="640x480",
        help="call: the kiosk camera's WIDTHxHEIGHT (default 640x480)",
    )
    parser.add_argument(
        "--profile", type=Path, help="call: one more call per variant under py-spy; files here"
    )
    parser.add_argument(
        "--hw",
        choices=("auto", "on", "off"),
        default="auto",
        help="call: the stand-in hardware encoder variant (auto: if the tree has it)",
    )
    parser.add_argument(
        "--tree", type=Path, help="call: run hub and kiosk from this source tree (before/after)"
    )
    parser.add_argument(
        "--codec",
        choices=("vp8", "h264"),
        default="vp8",
        help="call: the kiosk's software video codec ([video] codec); the baseline uses it too",
    )
    parser.add_argument(
        "--records",
        type=int,
        default=1_000_000,
        help="stats: consultation records (and five times as many access-log lines)",
    )
    parser.add_argument(
        "--boots",
        type=_positive,
        default=5,
        help="boot: boots of each image, kiosk and baseline alternated (default 5)",
    )
    args = parser.parse_args(argv)
    args.seconds_given = args.seconds is not None
    args.calls_given = "--calls" in (argv if argv is not None else sys.argv)
    if args.seconds is None:
        args.seconds = 5.0
    result = asyncio.run(BENCHES[args.name](args))
    if not args.json:
        for key, value in result.items():
            print(f"{key:>28}: {value}")
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
