"""``kiosk-hub archive show|set|list|get``: what a tenant keeps sealed (docs/archive.md).

Content is never kept by default. ``archive set`` gives the tenant's archive certificate (kiosks
seal signed contracts and chat transcripts to it; the tenant keeps the private key) and switches
each kind on or off; every change is audited with the actor ``cli:`` and the Unix user name.
``archive list`` shows what is kept (never content), ``archive get`` writes one sealed item to
a file (audited), which the tenant opens with ``kiosk-archive open``. How long items are kept:
``kiosk-hub retention set --archive-days N``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from hub.governance.references import BadReference, parse_reference
from hub.manage_admin import AdminCommandFailed, actor, printable, tenant_option
from hub.manage_enrol import when
from hub.pki import archive_cert
from hub.pki.ca import ca_certificate
from hub.storage import Storage
from hub.storage.records import ArchiveSettings

LIST_COLUMNS = "ID\tCREATED\tEXPIRES\tKIND\tBYTES\tREFERENCE\tSHA256"
_ON_OFF = ("on", "off")


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], db: argparse.ArgumentParser
) -> None:
    """``archive show|set|list|get``."""
    archive = commands.add_parser(
        "archive", help="signed contracts and chat transcripts kept sealed (off by default)"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    show = archive.add_parser("show", parents=[db], help="the certificate and what is kept")
    tenant_option(show)
    change = archive.add_parser("set", parents=[db], help="change what is kept (at least one)")
    tenant_option(change)
    change.set_defaults(usage_error=change.error)
    cert = change.add_mutually_exclusive_group()
    cert.add_argument(
        "--cert",
        type=Path,
        metavar="FILE",
        help="the tenant's archive certificate (PEM or DER) kiosks seal to; its key stays "
        "with the tenant",
    )
    cert.add_argument(
        "--no-cert", action="store_true", help="remove the certificate: nothing is kept any more"
    )
    for kind in ("contracts", "transcripts"):
        change.add_argument(f"--{kind}", choices=_ON_OFF, help=f"keep {kind} (sealed) or not")
    listing = archive.add_parser("list", parents=[db], help="the sealed items kept (no content)")
    tenant_option(listing)
    listing.add_argument("--reference", metavar="REF", help="only one conversation's items")
    get = archive.add_parser("get", parents=[db], help="write one sealed item to a file (audited)")
    tenant_option(get)
    get.add_argument("id", metavar="ID", help="the item's id, as archive list shows it")
    get.add_argument(
        "-o", "--out", type=Path, required=True, metavar="FILE", help="a new file to write"
    )


def check_arguments(args: argparse.Namespace) -> None:
    """Usage errors (exit code 2) before the database is opened."""
    if (args.command, getattr(args, "action", None)) != ("archive", "set"):
        return
    if (
        args.cert is None
        and not args.no_cert
        and args.contracts is None
        and args.transcripts is None
    ):
        args.usage_error("nothing to change: give --cert/--no-cert, --contracts or --transcripts")


async def dispatch(storage: Storage, args: argparse.Namespace, stdout: TextIO) -> bool:
    """Run an archive command; False when ``args`` is none of them."""
    if args.command != "archive":
        return False
    tenant = await storage.tenant(args.tenant)
    gov = storage.governance
    match args.action:
        case "show":
            settings = await gov.archive_settings(tenant.id)
            days = (await gov.retention(tenant.id)).archive_days
            _show(tenant.name, settings, days, stdout)
        case "set":
            cert_der = None
            if args.cert is not None:
                cert_der = await _checked(storage, tenant.name, args.cert)
            settings = await gov.set_archive(
                tenant.id,
                cert_der=cert_der,
                remove_cert=args.no_cert,
                contracts=None if args.contracts is None else args.contracts == "on",
                transcripts=None if args.transcripts is None else args.transcripts == "on",
                actor=actor(),
                now=time.time(),
            )
            days = (await gov.retention(tenant.id)).archive_days
            _show(tenant.name, settings, days, sys.stderr)
        case "list":
            reference = None if args.reference is None else _reference(args.reference)
            if stdout.isatty():
                print(LIST_COLUMNS, file=stdout)
            for item in await gov.archives(tenant.id, reference=reference):
                cells = (item.id, when(item.created_at), when(item.expires_at), item.kind)
                line = (*cells, str(item.size), item.reference or "-", item.sha256)
                print("\t".join(line), file=stdout)
        case "get":
            await _get(storage, tenant.id, args.id, args.out)
    return True


def _show(tenant: str, settings: ArchiveSettings, days: int, out: TextIO) -> None:
    described = archive_cert.describe(settings.cert_der)
    print(f"tenant: {tenant}", file=out)
    if described is None:
        print("certificate: none (nothing can be kept)", file=out)
    else:
        subject = printable(str(described["subject"]))
        print(f"certificate: {subject}, valid until {described['not_after']}", file=out)
        print(f"certificate SHA-256: {described['sha256']}", file=out)
    print(f"contracts: {'kept' if settings.contracts else 'not kept'}", file=out)
    print(f"transcripts: {'kept' if settings.transcripts else 'not kept'}", file=out)
    print(f"kept for: {days} days (kiosk-hub retention set --archive-days N)", file=out)


async def _checked(storage: Storage, tenant: str, path: Path) -> bytes:
    try:
        with path.open("rb") as file:
            data = file.read(archive_cert.FILE_MAX + 1)
    except OSError as exc:
        raise AdminCommandFailed(f"--cert {path}: {exc.strerror or exc}") from None
    ca = await storage.tenant_ca(tenant)
    try:
        checked = archive_cert.check_certificate(
            data, ca=None if ca is None else ca_certificate(ca), now=dt.datetime.now(dt.UTC)
        )
    except archive_cert.CertificateRefused as exc:
        raise AdminCommandFailed(f"--cert {path}: {exc}") from None
    return checked.der


def _reference(text: str) -> str:
    try:
        return parse_reference(text)
    except BadReference as exc:
        raise AdminCommandFailed(printable(str(exc))) from None


async def _get(storage: Storage, tenant_id: int, archive_id: str, out: Path) -> None:
    try:  # a new file only the user reads, never over another one; made first, so a
        # download that cannot be written is neither fetched nor audited
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise AdminCommandFailed(f"-o {out}: {exc.strerror or exc}") from None
    found = None
    try:
        with os.fdopen(fd, "wb") as file:
            found = await storage.governance.archive_data(
                tenant_id, archive_id, actor=actor(), now=time.time()
            )
            if found is not None:
                file.write(found[1])
    finally:
        if found is None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(out)  # nothing half-written is left behind
    if found is None:
        raise AdminCommandFailed(f"no archived item {printable(archive_id)!r} in this tenant")
    item = found[0]
    print(
        f"wrote the sealed {item.kind} ({item.size} bytes, SHA-256 {item.sha256}) to {out}; "
        "open it with kiosk-archive open FILE --key KEY.pem",
        file=sys.stderr,
    )
