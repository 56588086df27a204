"""``kiosk-hub tenant set`` and ``tenant trustee-issue``: a tenant's signature settings.

``tenant set NAME`` changes the file size limit, the trustee the biometric evidence of a
signature is sealed to (``--trustee-cert FILE --trustee-name TEXT`` / ``--no-trustee``), the
timestamp authority (``--tsa-url URL`` / ``--no-tsa``) and whether its calls may use the hub's
TURN server (``--turn on|off``, audited). Everything is checked before anything is
written, so a refused command changes nothing. ``tenant trustee-issue`` has the tenant CA sign a
trustee's certificate request; the trustee keeps its key (docs/signature.md).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from cryptography.hazmat.primitives.serialization import Encoding

from hub.pki import trustee
from hub.pki.ca import ca_certificate, ensure_tenant_cas, load_authority
from hub.pki.secret import HubSecret
from hub.storage import MIB, Storage, TenantSigning, check_max_file_bytes
from hub.storage.checks import check_trustee, check_tsa_url
from provisioning import profile

DAYS_MAX = 3650


class SigningCommandFailed(Exception):
    """A signature setting was refused (message to stderr, exit code 1)."""


@dataclass(frozen=True)
class _Changes:
    """What one ``tenant set`` writes, all checked; None: left as it is."""

    max_file_bytes: int | None
    trustee: tuple[bytes | None, str | None] | None
    tsa_url: tuple[str | None] | None
    turn: bool | None = None


def add_set_command(
    tenant: argparse._SubParsersAction[argparse.ArgumentParser], db: argparse.ArgumentParser
) -> None:
    """``tenant set NAME [--max-file-mib N] [--trustee-cert FILE --trustee-name TEXT |
    --no-trustee] [--tsa-url URL | --no-tsa] [--turn on|off]`` (at least one)."""
    tenant_set = tenant.add_parser("set", parents=[db], help="change a tenant's settings")
    tenant_set.add_argument("name")
    tenant_set.add_argument("--max-file-mib", type=int, help="limit for one exchanged file, MiB")
    who = tenant_set.add_mutually_exclusive_group()
    who.add_argument(
        "--trustee-cert",
        type=Path,
        metavar="FILE",
        help="the trustee's encryption certificate (PEM or DER) the biometric evidence of a "
        "signature is sealed to; needs --trustee-name",
    )
    who.add_argument(
        "--no-trustee", action="store_true", help="remove the trustee: signing at the kiosk is off"
    )
    tenant_set.add_argument(
        "--trustee-name", metavar="TEXT", help="the trustee as the customer is shown it"
    )
    tsa = tenant_set.add_mutually_exclusive_group()
    tsa.add_argument(
        "--tsa-url",
        metavar="URL",
        help="RFC 3161 timestamp authority for PAdES B-T (a third party: off by default)",
    )
    tsa.add_argument("--no-tsa", action="store_true", help="no timestamps: PAdES B-B")
    tenant_set.add_argument(
        "--turn",
        choices=("on", "off"),
        help="whether the tenant's calls may be relayed through the hub's TURN server "
        "(kiosk-hub serve --turn-url; a third party: off by default)",
    )
    tenant_set.set_defaults(usage_error=tenant_set.error)


def add_issue_command(
    tenant: argparse._SubParsersAction[argparse.ArgumentParser],
    db: argparse.ArgumentParser,
    secret: argparse.ArgumentParser,
) -> None:
    """``tenant trustee-issue NAME --csr FILE --out FILE [--days N] --secret-file PATH``."""
    issue = tenant.add_parser(
        "trustee-issue",
        parents=[db, secret],
        help="the tenant CA signs a trustee's certificate request (encryption only)",
    )
    issue.add_argument("name")
    issue.add_argument(
        "--csr", type=Path, required=True, help="the trustee's PKCS#10 request (PEM or DER)"
    )
    issue.add_argument(
        "--out", type=Path, required=True, help="where to write the certificate (PEM)"
    )
    issue.add_argument(
        "--days",
        type=_days,
        default=trustee.TRUSTEE_DAYS,
        help=f"lifetime (1-{DAYS_MAX}; default {trustee.TRUSTEE_DAYS}, at most the CA's)",
    )


def check_set_arguments(args: argparse.Namespace) -> None:
    """Usage errors of ``tenant set`` (exit code 2), before the database is opened."""
    if args.trustee_name is not None and args.trustee_cert is None:
        args.usage_error("--trustee-name goes with --trustee-cert")
    if args.trustee_cert is not None and args.trustee_name is None:
        args.usage_error("--trustee-cert needs --trustee-name (the name the customer is shown)")
    changes = (args.max_file_mib, args.trustee_cert, args.tsa_url, args.turn)
    if all(c is None for c in changes) and not (args.no_trustee or args.no_tsa):
        args.usage_error(
            "nothing to change: give --max-file-mib, --trustee-cert/--no-trustee, "
            "--tsa-url/--no-tsa or --turn on/off"
        )


async def tenant_set(storage: Storage, args: argparse.Namespace, stderr: TextIO) -> None:
    """``tenant set``: check every change, then write them."""
    changes, checked = await _checked_changes(storage, args)
    actor = _actor()  # the audit's "who" for each change below
    if changes.turn is not None:
        tenant = await storage.tenant(args.name)
        await storage.governance.set_turn(tenant.id, changes.turn, actor=actor, now=time.time())
    if changes.max_file_bytes is not None:
        await storage.set_max_file_bytes(args.name, changes.max_file_bytes)
    if changes.trustee is not None:
        await storage.set_trustee(args.name, *changes.trustee, actor=actor)
    if changes.tsa_url is not None:
        await storage.set_tsa_url(args.name, changes.tsa_url[0], actor=actor)
    _report(args.name, changes, checked, stderr)


async def _checked_changes(
    storage: Storage, args: argparse.Namespace
) -> tuple[_Changes, trustee.CheckedTrustee | None]:
    limit = None if args.max_file_mib is None else check_max_file_bytes(args.max_file_mib * MIB)
    tenant = await storage.tenant(args.name)  # NotFound before any write
    checked = None
    who: tuple[bytes | None, str | None] | None = (None, None) if args.no_trustee else None
    if args.trustee_cert is not None:
        ca = await storage.tenant_ca(tenant.name)
        try:
            checked = trustee.check_certificate(
                _read(args.trustee_cert, trustee.FILE_MAX),
                ca=None if ca is None else ca_certificate(ca),
                now=dt.datetime.now(dt.UTC),
            )
        except trustee.TrusteeRefused as exc:
            raise SigningCommandFailed(f"--trustee-cert {args.trustee_cert}: {exc}") from None
        who = check_trustee(checked.der, args.trustee_name)
    tsa: tuple[str | None] | None = (None,) if args.no_tsa else None
    if args.tsa_url is not None:
        tsa = (check_tsa_url(args.tsa_url),)
    turn = None if args.turn is None else args.turn == "on"
    return _Changes(limit, who, tsa, turn), checked


def _report(
    name: str, changes: _Changes, checked: trustee.CheckedTrustee | None, stderr: TextIO
) -> None:
    if changes.trustee is not None and checked is None:
        print(f"tenant {name!r}: no trustee any more, signing at its kiosks is off", file=stderr)
    if checked is not None:
        print(
            f"tenant {name!r}: trustee {changes.trustee[1] if changes.trustee else ''!r}, "
            f"certificate SHA-256 {checked.fingerprint}, valid until "
            f"{checked.not_after.strftime('%Y-%m-%d %H:%M UTC')}",
            file=stderr,
        )
        if not checked.signed_by_ca:
            print(
                "kiosk-hub: warning: the tenant CA (if it has one yet) did not sign this "
                "certificate: kiosks accept "
                "it only when it is pinned in their configuration ([signature] trustee_cert); "
                "kiosk-hub tenant trustee-issue has the tenant CA sign the trustee's request",
                file=stderr,
            )
    if changes.tsa_url is not None:
        url = changes.tsa_url[0]
        text = f"timestamps from {url} (PAdES B-T)" if url else "no timestamps (PAdES B-B)"
        print(f"tenant {name!r}: {text}", file=stderr)
    if changes.turn is not None:
        text = (
            "TURN relaying on: its calls may be relayed through the hub's TURN server "
            "(kiosk-hub serve --turn-url)"
            if changes.turn
            else "TURN relaying off: its calls connect directly or not at all"
        )
        print(
            f"tenant {name!r}: {text}, from the next connection of a kiosk or console", file=stderr
        )
    if changes.trustee is not None or changes.tsa_url is not None:
        print("kiosks of the tenant get the change when they next connect", file=stderr)


async def trustee_issue(storage: Storage, args: argparse.Namespace, stderr: TextIO) -> None:
    """``tenant trustee-issue``: the tenant CA signs the request; the certificate to ``--out``."""
    request = _read(args.csr, trustee.FILE_MAX)
    secret = HubSecret.load(args.secret_file)
    await storage.tenant(args.name)  # NotFound before a CA is made
    await ensure_tenant_cas(storage, secret, now=time.time())
    ca = await load_authority(storage, secret, args.name)
    try:
        cert = trustee.issue(
            ca, trustee.read_request(request), now=dt.datetime.now(dt.UTC), days=args.days
        )
    except trustee.TrusteeRefused as exc:
        raise SigningCommandFailed(f"--csr {args.csr}: {exc}") from None
    _write_atomically(args.out, cert.public_bytes(Encoding.PEM))
    print(
        f"wrote the trustee certificate to {args.out} (SHA-256 {profile.fingerprint(cert)}, "
        f"valid until {cert.not_valid_after_utc.strftime('%Y-%m-%d %H:%M UTC')}); set it with: "
        f"kiosk-hub tenant set {args.name} --trustee-cert {args.out} --trustee-name TEXT",
        file=stderr,
    )


def describe(signing: TenantSigning) -> list[str]:
    """``tenant show``'s lines for the signature settings."""
    trustee_line = "-"
    if signing.trustee_cert is not None:
        try:
            cert = trustee.read_certificate(signing.trustee_cert)
            until = cert.not_valid_after_utc.strftime("%Y-%m-%d %H:%M UTC")
            # kiosks refuse an expired trustee: signing is off until a current one is set
            expired = cert.not_valid_after_utc < dt.datetime.now(dt.UTC)
            state = f"EXPIRED on {until}: kiosks refuse it" if expired else f"valid until {until}"
            trustee_line = f"{signing.trustee_name} (certificate {state})"
        except trustee.TrusteeRefused:
            trustee_line = f"{signing.trustee_name} (certificate unreadable: set it again)"
    return [
        f"trustee:         {trustee_line}",
        f"timestamps:      {signing.tsa_url or 'off'}",
    ]


def _actor() -> str:
    """The audit's actor for this command: ``cli:`` and the Unix user."""
    # imported here: hub.manage_admin imports hub.manage_enrol, which imports this module
    from hub.manage_admin import actor

    return actor()


def _read(path: Path, limit: int) -> bytes:
    """A small input file; more than ``limit`` bytes is refused without reading it all."""
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise SigningCommandFailed(
            f"{path}: larger than {limit // 1024} KiB, not a certificate or a request"
        )
    return data


def _write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` by a rename, so a failure leaves no half-written file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)  # a certificate is public
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _days(text: str) -> int:
    """argparse type of ``--days``: 1 to ``DAYS_MAX``."""
    try:
        days = int(text)
    except ValueError:
        days = 0
    if not 1 <= days <= DAYS_MAX:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days from 1 to {DAYS_MAX}")
    return days
