"""``kiosk-hub``: run the hub (``serve``); the management commands are in ``hub.manage``.

Exit codes: 0 success, 1 the operation failed (message on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from hub.admission import HubSite, fit_file_limit, make_runner
from hub.app import create_app
from hub.config import HubConfig
from hub.forwarded import InvalidTrustedProxy, IPNetwork, parse_trusted_proxy
from hub.manage import CommandFailed, add_commands
from hub.manage import run as run_command
from hub.manage_admin import AdminCommandFailed
from hub.manage_enrol import EnrolCommandFailed
from hub.manage_signing import SigningCommandFailed
from hub.pki.ca import CaError
from hub.pki.secret import HubSecret, SecretFileError
from hub.storage import MIB, StorageError
from hub.turn import TurnSettings


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="kiosk-hub", description="Branch Kiosk hub")
    db = argparse.ArgumentParser(add_help=False)
    db.add_argument("--db", type=Path, default=Path("var/hub.sqlite3"), help="SQLite database file")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", parents=[db], help="run the hub")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    serve.add_argument("--heartbeat", type=int, default=10, help="seconds (1-300)")
    serve.add_argument(
        "--trusted-proxy",
        action="append",
        default=[],
        type=_trusted_proxy,
        metavar="CIDR",
        help="reverse proxy address or network (repeatable); only requests from these have "
        "X-Forwarded-For and X-Forwarded-Proto believed",
    )
    # Removed: it believed forwarded headers from anyone. Refused unless --trusted-proxy is given.
    serve.add_argument("--trust-proxy", action="store_true", help=argparse.SUPPRESS)
    serve.add_argument(
        "--turn-url",
        action="append",
        default=[],
        metavar="URL",
        help="TURN server (turn:HOST:PORT); repeatable; needs --turn-secret-file",
    )
    serve.add_argument(
        "--turn-secret-file", type=Path, help="coturn's static-auth-secret, first line of a file"
    )
    serve.add_argument("--turn-ttl", type=int, default=3600, help="credential lifetime, seconds")
    serve.add_argument(
        "--hello-timeout",
        type=float,
        default=5.0,
        help="seconds a new WebSocket has to authenticate (1-300)",
    )
    serve.add_argument(
        "--relay-only", action="store_true", help="peers must use only TURN-relayed candidates"
    )
    serve.add_argument(
        "--grace-s",
        type=int,
        default=60,
        help="seconds a consultation waits for a dropped party to resume (1-3600)",
    )
    serve.add_argument(
        "--relay-max-mib",
        type=int,
        default=512,
        help="RAM for all sealed file blobs together, MiB",
    )
    serve.add_argument(
        "--relay-files-per-consultation",
        type=int,
        default=4,
        help="one consultation's blobs together: at most this many of the tenant's largest file",
    )
    serve.add_argument(
        "--relay-timeout-s",
        type=float,
        default=30.0,
        help="seconds each 256 KiB of a relay upload or download may take (0-3600)",
    )
    serve.add_argument(
        "--max-pending-connections",
        type=int,
        default=4096,
        metavar="N",
        help="connections without a complete request or WebSocket hello yet, in all; more get "
        "503 (README: Connection limits)",
    )
    serve.add_argument(
        "--max-pending-per-address",
        type=int,
        default=128,
        metavar="N",
        help="the same from one source address (IPv6: per /64; trusted proxies are exempt)",
    )
    serve.add_argument(
        "--first-request-timeout",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds a new connection has to send a complete request before it is closed (0-300)",
    )

    serve.add_argument(
        "--secret-file",
        type=Path,
        help="the hub secret (kiosk-hub secret create PATH): needed for enrolment, renewal and "
        "the CRL (docs/enrolment.md)",
    )
    serve.add_argument(
        "--allow-device-tokens",
        action="store_true",
        help="also accept kiosks' device tokens (the migration path; off by default)",
    )
    serve.add_argument(
        "--public-url",
        metavar="URL",
        help="the URL kiosks reach the hub at (https://HOST[:PORT]); their signed hello names "
        "it. Default: the request's scheme and Host header",
    )
    serve.add_argument(
        "--device-cert-days",
        type=int,
        default=30,
        metavar="DAYS",
        help="lifetime of a device certificate; kiosks renew at two thirds (1-3650)",
    )
    serve.add_argument(
        "--purge-interval-s",
        type=float,
        default=3600.0,
        metavar="S",
        help="delete records past their tenant's retention at start and then every S seconds "
        "(0 = never; README: Retention)",
    )

    add_commands(commands, db)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``kiosk-hub``; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "serve":
            return _serve(args)
        return run_command(args, sys.stdin, sys.stdout)
    except (
        CommandFailed,
        StorageError,
        OSError,
        SecretFileError,
        CaError,
        EnrolCommandFailed,
        SigningCommandFailed,
        AdminCommandFailed,
    ) as exc:
        print(f"kiosk-hub: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("kiosk-hub: interrupted", file=sys.stderr)
        return 1


def _trusted_proxy(text: str) -> IPNetwork:
    """argparse type of ``--trusted-proxy``: its message is shown as is (exit code 2)."""
    try:
        return parse_trusted_proxy(text)
    except InvalidTrustedProxy as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _trusted_proxies(args: argparse.Namespace) -> tuple[IPNetwork, ...]:
    if args.trust_proxy and not args.trusted_proxy:
        raise CommandFailed(
            "--trust-proxy is gone: it believed X-Forwarded-For from any client. Name your "
            "reverse proxy instead: --trusted-proxy ADDRESS or --trusted-proxy NETWORK/PREFIX "
            "(repeatable; e.g. --trusted-proxy 127.0.0.1)"
        )
    if args.trust_proxy:
        print("kiosk-hub: --trust-proxy is ignored; --trusted-proxy decides", file=sys.stderr)
    return tuple(args.trusted_proxy)


def _turn_settings(args: argparse.Namespace) -> TurnSettings | None:
    if not args.turn_url and args.turn_secret_file is None:
        if args.relay_only:
            raise CommandFailed("--relay-only needs a TURN server (--turn-url, --turn-secret-file)")
        return None
    if not args.turn_url or args.turn_secret_file is None:
        raise CommandFailed("--turn-url and --turn-secret-file go together")
    return TurnSettings.from_secret_file(
        tuple(args.turn_url),
        args.turn_secret_file,
        ttl_s=args.turn_ttl,
        relay_only=args.relay_only,
    )


def _serve(args: argparse.Namespace) -> int:
    try:
        config = HubConfig(
            host=args.host,
            port=args.port,
            db_path=args.db,
            heartbeat_s=args.heartbeat,
            trusted_proxies=_trusted_proxies(args),
            turn=_turn_settings(args),
            hello_timeout_s=args.hello_timeout,
            grace_s=args.grace_s,
            relay_max_bytes=args.relay_max_mib * MIB,
            relay_files_per_consultation=args.relay_files_per_consultation,
            relay_chunk_timeout_s=args.relay_timeout_s,
            max_pending_connections=args.max_pending_connections,
            max_pending_per_address=args.max_pending_per_address,
            first_request_timeout_s=args.first_request_timeout,
            secret_file=args.secret_file,
            allow_device_tokens=args.allow_device_tokens,
            public_url=args.public_url,
            device_cert_days=args.device_cert_days,
            purge_interval_s=args.purge_interval_s,
        )
    except ValueError as exc:
        raise CommandFailed(str(exc)) from None
    if config.secret_file is not None:
        HubSecret.load(config.secret_file)  # a bad file fails here, before the port is bound
    logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
    asyncio.run(serve(fit_file_limit(config)))
    return 0


async def serve(config: HubConfig) -> None:
    """Run the hub until SIGTERM or SIGINT, then shut down cleanly (WebSockets get 1001)."""
    runner = make_runner(create_app(config), access_log=logging.getLogger("hub.access"))
    await runner.setup()
    try:
        site = HubSite(runner, config.host, config.port)
        await site.start()
        port = _bound_port(runner, config.port)
        print(f"hub listening on http://{config.host}:{port}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def _bound_port(runner: web.AppRunner, requested: int) -> int:
    for address in runner.addresses:
        with contextlib.suppress(TypeError, IndexError):
            return int(address[1])
    return requested


if __name__ == "__main__":
    sys.exit(main())
