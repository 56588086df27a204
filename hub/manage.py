"""``kiosk-hub tenant|adviser|device|secret ...``: the management commands and their arguments.

The enrolment commands (``secret create``, ``tenant show|crl``, ``device enrol``) live in
``hub.manage_enrol``; a tenant's settings (``tenant set``, ``tenant trustee-issue``) in
``hub.manage_signing``; the administrator's (``admin``, ``retention``, ``purge``, ``adviser
disable|enable``, ``device label|wipes``) in ``hub.manage_admin``; the data-protection officer's
(``request``, ``stats``, ``audit``, ``access-log``) in ``hub.manage_requests``.

Each command opens the hub's database, does one thing and closes it again, on an event loop of
its own (``asyncio.run``): the storage is asynchronous only. Safe beside a running hub (SQLite
in WAL mode; a write waits for the hub's for up to the busy timeout).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
import time
from pathlib import Path
from typing import TextIO

from hub import manage_admin as admin
from hub import manage_archive as archive
from hub import manage_enrol as enrol
from hub import manage_requests as requests
from hub import manage_signing as signing
from hub.pki.ca import ensure_tenant_cas
from hub.pki.secret import HubSecret
from hub.storage import (
    DEFAULT_TENANT,
    MIB,
    DeviceReportRecord,
    SqliteStorage,
    Storage,
    check_max_file_bytes,
    check_password,
)

DEVICE_COLUMNS = (
    "TENANT\tNAME\tSTATE\tCREATED\tLAST SEEN\tCERT EXPIRES\tVERSION\tLAST SELFTEST\tLAST WIPE"
    "\tWIPE ALARM"
)
ACCOUNT_COLUMNS = "TENANT\tNAME\tROLE\tSTATE\tONLINE"
# a report's outcome in `device list`: (ok, not ok) per kind
_OUTCOMES = {"selftest": ("passed", "FAILED"), "wipe": ("verified", "NOT VERIFIED")}


class CommandFailed(Exception):
    """A command could not do its job; the message goes to stderr, exit code 1."""


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], db: argparse.ArgumentParser
) -> None:
    """Add the ``adviser``, ``device`` and ``tenant`` commands (``db``: the --db parent)."""
    adviser = commands.add_parser("adviser", help="manage advisers").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    add = adviser.add_parser("add", parents=[db], help="add an adviser")
    add.add_argument("name")
    add.add_argument("--tenant", default=DEFAULT_TENANT)
    add.add_argument("--password-file", type=Path, help="read the password from this file")
    passwd = adviser.add_parser("passwd", parents=[db], help="set an adviser's password")
    passwd.add_argument("name")
    passwd.add_argument("--password-file", type=Path, help="read the password from this file")
    adviser.add_parser("list", parents=[db], help="list accounts of every role")
    admin.add_adviser_commands(adviser, db)

    device = commands.add_parser("device", help="manage kiosks").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    dev_add = device.add_parser("add", parents=[db], help="register a kiosk, print its token")
    dev_add.add_argument("name")
    dev_add.add_argument("--tenant", default=DEFAULT_TENANT)
    dev_add.add_argument(
        "--replace", action="store_true", help="issue a new token for an existing device"
    )
    device.add_parser(
        "list", parents=[db], help="list kiosks: state, last seen, certificate expiry, version"
    )
    dev_revoke = device.add_parser(
        "revoke", parents=[db], help="stop accepting a kiosk's token and certificates at once"
    )
    dev_revoke.add_argument("name")
    dev_revoke.add_argument("--tenant", default=DEFAULT_TENANT)
    enrol.add_device_commands(device, db)
    admin.add_device_commands(device, db)

    tenant = commands.add_parser("tenant", help="manage tenants").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    tenant_add = tenant.add_parser(
        "add", parents=[db, enrol.secret_option(False)], help="add a tenant (and its CA)"
    )
    tenant_add.add_argument("name")
    tenant_add.add_argument(
        "--max-file-mib", type=int, default=25, help="limit for one exchanged file, MiB"
    )
    signing.add_set_command(tenant, db)
    tenant.add_parser("list", parents=[db], help="list tenants and their file size limits")
    enrol.add_tenant_commands(tenant, db)
    signing.add_issue_command(tenant, db, enrol.secret_option(True))
    enrol.add_secret_command(commands)
    admin.add_commands(commands, db)
    requests.add_commands(commands, db)
    archive.add_commands(commands, db)


def run(args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    """Run one management command on an event loop of its own; returns the exit code (0)."""
    return asyncio.run(_run(args, stdin, stdout))


async def _run(args: argparse.Namespace, stdin: TextIO, stdout: TextIO) -> int:
    if args.command == "secret":  # the one command without a database
        enrol.create_secret(args)
        print(f"wrote a new hub secret to {args.path} (mode 0600); back it up", file=sys.stderr)
        return 0
    if (args.command, getattr(args, "action", None)) == ("tenant", "set"):
        signing.check_set_arguments(args)  # usage errors before the database is touched
    admin.check_arguments(args)
    archive.check_arguments(args)
    storage = await SqliteStorage.open(args.db)
    try:
        await _dispatch(storage, args, stdin, stdout)
    finally:
        await storage.close()
    return 0


async def _dispatch(
    storage: Storage, args: argparse.Namespace, stdin: TextIO, stdout: TextIO
) -> None:
    match (args.command, getattr(args, "action", None)):
        case ("adviser", "add"):
            password = _read_password(args.password_file, stdin)
            adviser = await storage.add_adviser(
                args.name, password, tenant=args.tenant, now=time.time()
            )
            print(
                f"adviser {adviser.name!r} added to tenant {adviser.tenant.name!r}",
                file=sys.stderr,
            )
        case ("adviser", "passwd"):
            # Login names are unique across tenants: the name alone finds the adviser.
            login = await storage.adviser_login(args.name)
            if login is None:
                raise CommandFailed(f"no adviser {args.name!r}")
            password = _read_password(args.password_file, stdin)
            await storage.governance.reset_password(
                login.adviser.tenant.id, args.name, password, actor=admin.actor(), now=time.time()
            )
            print(f"password of adviser {args.name!r} changed", file=sys.stderr)
        case ("adviser", "list"):
            # The first two columns as before this listed every role, so scripts keep working.
            # online: a console of it is connected to a hub (its lease, renewed by the hub)
            if stdout.isatty():
                print(ACCOUNT_COLUMNS, file=stdout)
            now = time.time()
            for t in await storage.tenants():
                for a in await storage.governance.accounts(t.tenant.id):
                    state = "enabled" if a.disabled_at is None else "disabled"
                    online = "online" if a.online(now) else "offline"
                    print(f"{t.tenant.name}\t{a.name}\t{a.role}\t{state}\t{online}", file=stdout)
        case ("admin", "add"):
            await admin.add_account(storage, args, _read_password(args.password_file, stdin))
        case ("device", "add"):
            _device, token = await storage.add_device(
                args.name, tenant=args.tenant, replace=args.replace, now=time.time()
            )
            print(token, file=stdout)  # only the token, so scripts can capture it
        case ("device", "list"):
            if stdout.isatty():
                print(DEVICE_COLUMNS, file=stdout)
            for s in await storage.device_statuses(now=time.time()):
                d = s.device
                created = time.strftime("%Y-%m-%d", time.gmtime(d.created_at))
                seen, expiry = enrol.when(s.last_seen), enrol.when(s.cert_not_after)
                print(
                    f"{d.tenant.name}\t{d.name}\t{s.state}\t{created}\t{seen}\t{expiry}\t"
                    f"{s.version or '-'}\t{_report(s.last_selftest)}\t{_report(s.last_wipe)}\t"
                    f"{admin.wipe_alarm(s)}",
                    file=stdout,
                )
        case ("device", "revoke"):
            await storage.revoke_device(
                args.name, tenant=args.tenant, now=time.time(), actor=admin.actor()
            )
            print(
                f"revoked {args.name!r}: its token and certificates are refused; a running hub "
                "closes its connection at its next heartbeat check",
                file=sys.stderr,
            )
        case ("tenant", "add"):
            await storage.add_tenant(
                args.name, now=time.time(), max_file_bytes=_mib(args.max_file_mib)
            )
            if args.secret_file is not None:
                await ensure_tenant_cas(storage, HubSecret.load(args.secret_file), now=time.time())
        case ("tenant", "set"):
            await signing.tenant_set(storage, args, sys.stderr)
        case ("tenant", "trustee-issue"):
            await signing.trustee_issue(storage, args, sys.stderr)
        case ("tenant", "list"):
            for t in await storage.tenants():
                print(f"{t.tenant.name}\t{t.max_file_bytes // MIB} MiB", file=stdout)
        case _:
            handled = (
                await enrol.dispatch(storage, args, stdout)
                or await admin.dispatch(storage, args, stdout)
                or await requests.dispatch(storage, args, stdout)
                or await archive.dispatch(storage, args, stdout)
            )
            if not handled:  # argparse: unreachable
                raise CommandFailed(f"unknown command {args.command}")


def _report(report: DeviceReportRecord | None) -> str:
    """A device's latest self-test or wipe: ``passed 2026-05-04 09:12 UTC``, or ``-``."""
    if report is None:
        return "-"
    passed, failed = _OUTCOMES[report.kind]
    return f"{passed if report.ok else failed} {enrol.when(report.at)}"


def _mib(value: int) -> int:
    """MiB from the command line as bytes, range-checked (``InvalidLimit``, exit code 1)."""
    return check_max_file_bytes(value * MIB)


def _read_password(password_file: Path | None, stdin: TextIO) -> str:
    if password_file is not None:
        text = password_file.read_text(encoding="utf-8")
        password = text.splitlines()[0] if text else ""
    elif stdin.isatty():
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            raise CommandFailed("the passwords do not match")
    else:
        password = stdin.readline().rstrip("\r\n")
    check_password(password)
    return password
