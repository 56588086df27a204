"""``kiosk-hub secret|tenant|device ...``: the enrolment commands (docs/enrolment.md).

``secret create`` writes a hub secret; ``tenant show`` and ``tenant crl`` give a tenant CA's
certificate (``show`` also the trustee and timestamp authority) and revocation list; ``device
enrol`` makes a one-time code and prints it with the hub URL, the CA fingerprint and a QR code
of all three (``--qr-png`` writes it as a PNG). Commands that make or read a code or sign need
``--secret-file``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import time
from pathlib import Path
from typing import TextIO

import segno
from cryptography.hazmat.primitives.serialization import Encoding

from hub.manage_signing import describe
from hub.pki.authorities import Authorities
from hub.pki.ca import NoTenantCa, ca_certificate, ensure_tenant_cas
from hub.pki.codes import DEFAULT_TTL_S, TTL_MAX_S, CodeBook
from hub.pki.secret import HubSecret, create_secret_file
from hub.storage import DEFAULT_TENANT, Storage
from provisioning import profile
from provisioning.codes import BadEnrolmentUri, enrolment_uri

_TTL = re.compile(r"(\d+)\s*([smhd]?)")
_TTL_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400}


class EnrolCommandFailed(Exception):
    """An enrolment command could not do its job (message to stderr, exit code 1)."""


def add_secret_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``kiosk-hub secret create PATH``."""
    secret = commands.add_parser("secret", help="the hub secret file").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    create = secret.add_parser("create", help="write a new hub secret (mode 0600, no overwrite)")
    create.add_argument("path", type=Path)


def secret_option(required: bool) -> argparse.ArgumentParser:
    """A parent parser with ``--secret-file``."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--secret-file",
        type=Path,
        required=required,
        help="the hub secret (kiosk-hub secret create); the CA keys and codes derive from it",
    )
    return parent


def add_tenant_commands(
    tenant: argparse._SubParsersAction[argparse.ArgumentParser], db: argparse.ArgumentParser
) -> None:
    """``tenant show NAME`` and ``tenant crl NAME --out FILE``."""
    show = tenant.add_parser(
        "show", parents=[db, secret_option(False)], help="a tenant's CA certificate (PEM)"
    )
    show.add_argument("name")
    crl = tenant.add_parser(
        "crl", parents=[db, secret_option(True)], help="write a tenant's CRL (DER)"
    )
    crl.add_argument("name")
    crl.add_argument("--out", type=Path, required=True, help="file to write the CRL to")


def add_device_commands(
    device: argparse._SubParsersAction[argparse.ArgumentParser], db: argparse.ArgumentParser
) -> None:
    """``device enrol NAME --hub-url URL --secret-file PATH [--tenant] [--ttl] [--qr-png]``."""
    enrol = device.add_parser(
        "enrol",
        parents=[db, secret_option(True)],
        help="make a one-time enrolment code for a kiosk (new or replacing one)",
    )
    enrol.add_argument("name")
    enrol.add_argument("--tenant", default=DEFAULT_TENANT)
    enrol.add_argument(
        "--ttl", type=parse_ttl, default=DEFAULT_TTL_S, help="lifetime: 90s, 30m, 1h, 2d"
    )
    enrol.add_argument(
        "--hub-url", required=True, help="the URL kiosks reach the hub at (https://...)"
    )
    enrol.add_argument("--qr-png", type=Path, help="also write the QR code to this PNG file")


def parse_ttl(text: str) -> float:
    """``90s``, ``30m``, ``1h``, ``2d`` or seconds, at most 30 days (argparse type)."""
    match = _TTL.fullmatch(text.strip().lower())
    seconds = int(match.group(1)) * _TTL_UNITS[match.group(2)] if match else 0
    if not 0 < seconds <= TTL_MAX_S:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a lifetime between 1 s and 30 days (write e.g. 30m, 1h or 2d)"
        )
    return float(seconds)


def create_secret(args: argparse.Namespace) -> None:
    """``secret create PATH``."""
    create_secret_file(args.path)


async def dispatch(storage: Storage, args: argparse.Namespace, stdout: TextIO) -> bool:
    """Run an enrolment command; False when ``args`` is none of them."""
    match (args.command, getattr(args, "action", None)):
        case ("tenant", "show"):
            await _tenant_show(storage, args, stdout)
        case ("tenant", "crl"):
            authorities = Authorities(storage, HubSecret.load(args.secret_file), time.time)
            await authorities.start()
            args.out.write_bytes(await authorities.crl(args.name))
        case ("device", "enrol"):
            await _device_enrol(storage, args, stdout)
        case _:
            return False
    return True


async def _tenant_show(storage: Storage, args: argparse.Namespace, stdout: TextIO) -> None:
    if args.secret_file is not None:
        await ensure_tenant_cas(storage, HubSecret.load(args.secret_file), now=time.time())
    ca = await storage.tenant_ca(args.name)
    if ca is None:
        raise NoTenantCa(
            f"tenant {args.name!r} has no CA yet: run this with --secret-file to make it"
        )
    cert = ca_certificate(ca)
    fingerprint = profile.fingerprint(cert)
    print(f"tenant:          {args.name}", file=stdout)
    print(f"CA SHA-256:      {profile.display_fingerprint(fingerprint)}", file=stdout)
    print(f"valid until:     {when(cert.not_valid_after_utc.timestamp())}", file=stdout)
    for line in describe(await storage.tenant_signing(ca.tenant.id)):
        print(line, file=stdout)
    turn = await storage.governance.turn_enabled(ca.tenant.id)  # a third party: off by default
    print(f"TURN relay:      {'on' if turn else 'off'}", file=stdout)
    stdout.write(cert.public_bytes(Encoding.PEM).decode("ascii"))


async def _device_enrol(storage: Storage, args: argparse.Namespace, stdout: TextIO) -> None:
    secret = HubSecret.load(args.secret_file)
    authorities = Authorities(storage, secret, time.time)
    signer = await authorities.signer(args.tenant)  # makes the tenant's CA if it has none
    fingerprint = signer.fingerprint
    now = time.time()
    code, record = await CodeBook(secret).new(
        storage, args.name, tenant=args.tenant, now=now, ttl_s=args.ttl
    )
    try:
        uri = enrolment_uri(args.hub_url, code, fingerprint)
    except BadEnrolmentUri as exc:
        raise EnrolCommandFailed(f"--hub-url: {exc}") from None
    qr = segno.make_qr(uri, error="m")
    if args.qr_png is not None:
        qr.save(str(args.qr_png), kind="png", scale=6, border=4)
    code_text = code.format()
    print(f"Enrolment code for kiosk {record.device_name!r} (tenant {args.tenant!r})", file=stdout)
    print(f"  code:        {code_text}", file=stdout)
    print(f"  expires:     {when(record.expires_at)} (single use)", file=stdout)
    print(f"  hub:         {args.hub_url}", file=stdout)
    print(f"  CA SHA-256:  {profile.display_fingerprint(fingerprint)}", file=stdout)
    print("On the kiosk (or scan the QR code):", file=stdout)
    print(
        f"  kiosk enrol --hub {args.hub_url} --code {code_text} --ca-fingerprint {fingerprint}",
        file=stdout,
    )
    qr.terminal(out=stdout, compact=True)
    if args.qr_png is not None:
        print(f"QR code written to {args.qr_png}", file=stdout)


def when(timestamp: float | None) -> str:
    """A time for the command output: ``YYYY-MM-DD HH:MM UTC`` or ``-``."""
    if timestamp is None:
        return "-"
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
