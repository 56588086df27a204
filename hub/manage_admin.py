"""``kiosk-hub admin|retention|purge`` and the administrator's parts of ``adviser`` and ``device``.

What the console's administration pages do (docs/admin.md), as commands: accounts of the
``admin`` and ``dpo`` roles, disabling and enabling accounts, a kiosk's branch label and wipe
history, the tenant's retention settings and a purge run now. Every change is written to the
tenant's audit with the actor ``cli:`` and the Unix user name. The data-protection officer's
commands (requests, statistics, audit, access log) are in ``hub.manage_requests``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import time
from pathlib import Path
from typing import TextIO

from hub.governance.retention import describe
from hub.manage_enrol import when
from hub.storage import DEFAULT_TENANT, DeviceReportRecord, DeviceStatus, Storage, Tenant
from hub.storage.records import RETENTION_LIMITS, Retention

ADMIN_ROLES = ("admin", "dpo")
LIMIT_MAX = 500  # lines one ``audit`` or ``access-log`` shows, as the console's pages
# ``retention set``'s options, in the order ``retention show`` lists the settings
RETENTION_OPTIONS = {
    "consultations_days": "--consultations-days",
    "access_log_days": "--access-log-days",
    "device_history_days": "--device-history-days",
    "audit_days": "--audit-days",
    "stats_min_cell": "--stats-min-cell",
    "archive_days": "--archive-days",
}
WIPE_COLUMNS = "WHEN\tOUTCOME\tFILES\tBYTES\tPASSES\tMETHOD\tDURATION MS"


class AdminCommandFailed(Exception):
    """An administration command could not do its job (message to stderr, exit code 1)."""


def actor() -> str:
    """Who runs the command, for the audit: ``cli:`` and the Unix user name (or uid)."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):  # no name for this uid (a container): the number will do
        user = str(os.getuid())
    return f"cli:{printable(user)}"


def printable(text: str) -> str:
    """``text`` safe for a terminal and a tab-separated column: control characters, tabs and
    other unprintable ones escaped as Python does (``\\x1b``), the rest as it is."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def parse_limit(text: str) -> int:
    """argparse type of ``--limit``: 1 to ``LIMIT_MAX``."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= LIMIT_MAX:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number from 1 to {LIMIT_MAX}")
    return value


def tenant_option(parser: argparse.ArgumentParser) -> None:
    """``--tenant T`` (default: the default tenant), as the other commands have it."""
    parser.add_argument("--tenant", default=DEFAULT_TENANT, help="the tenant (default: default)")


def add_adviser_commands(
    adviser: argparse._SubParsersAction[argparse.ArgumentParser], db: argparse.ArgumentParser
) -> None:
    """``adviser disable NAME`` and ``adviser enable NAME`` (any role)."""
    for action, text in (
        ("disable", "refuse an account's logins and end its sessions (any role)"),
        ("enable", "let a disabled account log in again"),
    ):
        parser = adviser.add_parser(action, parents=[db], help=text)
        parser.add_argument("name")


def add_device_commands(
    device: argparse._SubParsersAction[argparse.ArgumentParser], db: argparse.ArgumentParser
) -> None:
    """``device label NAME (--branch LABEL | --no-branch)`` and ``device wipes NAME``."""
    label = device.add_parser(
        "label", parents=[db], help="set a kiosk's branch label (groups the statistics)"
    )
    label.add_argument("name")
    tenant_option(label)
    branch = label.add_mutually_exclusive_group(required=True)
    branch.add_argument("--branch", metavar="LABEL", help="1-64 printable characters")
    branch.add_argument("--no-branch", action="store_true", help="remove the label")
    wipes = device.add_parser("wipes", parents=[db], help="a kiosk's wipe reports, newest first")
    wipes.add_argument("name")
    tenant_option(wipes)


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], db: argparse.ArgumentParser
) -> None:
    """``admin add``, ``retention show|set`` and ``purge``."""
    admin = commands.add_parser(
        "admin", help="administrator and data-protection officer accounts"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    add = admin.add_parser("add", parents=[db], help="add an administrator or a DPO")
    add.add_argument("name")
    tenant_option(add)
    add.add_argument(
        "--role",
        required=True,
        choices=ADMIN_ROLES,
        help="admin: everything in the tenant; dpo: read everything, serve requests",
    )
    add.add_argument("--password-file", type=Path, help="read the password from this file")

    retention = commands.add_parser(
        "retention", help="how long the tenant's records are kept"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    show = retention.add_parser("show", parents=[db], help="the settings, limits and defaults")
    tenant_option(show)
    change = retention.add_parser("set", parents=[db], help="change settings (at least one)")
    tenant_option(change)
    for key, option in RETENTION_OPTIONS.items():
        low, high = RETENTION_LIMITS[key]
        change.add_argument(option, type=int, dest=key, metavar="N", help=f"{low}-{high}")
    change.set_defaults(usage_error=change.error)

    commands.add_parser(
        "purge", parents=[db], help="delete what is past its retention now (the hub does hourly)"
    )


def check_arguments(args: argparse.Namespace) -> None:
    """Usage errors (exit code 2) before the database is opened."""
    if (args.command, getattr(args, "action", None)) == ("retention", "set") and not _changes(args):
        options = ", ".join(RETENTION_OPTIONS.values())
        args.usage_error(f"nothing to change: give at least one of {options}")


async def add_account(storage: Storage, args: argparse.Namespace, password: str) -> None:
    """``admin add``: the account, with the password already read and checked."""
    account = await storage.governance.add_account(
        args.name, password, tenant=args.tenant, role=args.role, actor=actor(), now=time.time()
    )
    print(
        f"{account.role} {account.name!r} added to tenant {account.tenant.name!r}; "
        "they log in on the console's login page",
        file=sys.stderr,
    )


async def dispatch(storage: Storage, args: argparse.Namespace, stdout: TextIO) -> bool:
    """Run an administration command; False when ``args`` is none of them."""
    match (args.command, getattr(args, "action", None)):
        case ("adviser", "disable" | "enable"):
            await _set_disabled(storage, args.name, args.action == "disable")
        case ("device", "label"):
            tenant = await storage.tenant(args.tenant)
            branch = None if args.no_branch else args.branch
            await storage.governance.set_branch(
                tenant.id, args.name, branch, actor=actor(), now=time.time()
            )
            text = "no branch label" if branch is None else f"branch {printable(branch)!r}"
            print(f"kiosk {args.name!r}: {text}", file=sys.stderr)
        case ("device", "wipes"):
            tenant = await storage.tenant(args.tenant)
            reports = await storage.governance.wipe_history(tenant.id, args.name)
            if stdout.isatty():
                print(WIPE_COLUMNS, file=stdout)
            for report in reports:
                print(wipe_line(report), file=stdout)
        case ("retention", "show"):
            tenant = await storage.tenant(args.tenant)
            show_retention(tenant, await storage.governance.retention(tenant.id), stdout)
        case ("retention", "set"):
            await _set_retention(storage, args)
        case ("purge", _):
            counts = await storage.governance.purge_expired(now=time.time())
            print(
                f"purged {counts.consultations} consultations, {counts.access_lines} "
                f"access-log lines, {counts.device_reports} device reports, {counts.audit} "
                f"audit entries, {counts.sessions} expired web sessions, {counts.archives} "
                "archived items",
                file=stdout,
            )
        case _:
            return False
    return True


async def _set_disabled(storage: Storage, name: str, disabled: bool) -> None:
    # Login names are unique across tenants and roles: the name alone finds the account.
    login = await storage.adviser_login(name)
    if login is None:
        raise AdminCommandFailed(f"no account {name!r}")
    await storage.governance.set_disabled(
        login.adviser.tenant.id, name, disabled, actor=actor(), now=time.time()
    )
    text = "disabled: it cannot log in, its open sessions ended" if disabled else "enabled"
    print(f"account {name!r} {text}", file=sys.stderr)


async def _set_retention(storage: Storage, args: argparse.Namespace) -> None:
    tenant = await storage.tenant(args.tenant)
    before = await storage.governance.retention(tenant.id)
    after = await storage.governance.set_retention(
        tenant.id, _changes(args), actor=actor(), now=time.time()
    )
    for key in RETENTION_OPTIONS:
        old, new = getattr(before, key), getattr(after, key)
        if old != new:
            print(f"tenant {tenant.name!r}: {key} {old} -> {new}", file=sys.stderr)
    if before == after:
        print(f"tenant {tenant.name!r}: nothing changed (already so)", file=sys.stderr)


def _changes(args: argparse.Namespace) -> dict[str, int]:
    return {key: getattr(args, key) for key in RETENTION_OPTIONS if getattr(args, key) is not None}


def show_retention(tenant: Tenant, retention: Retention, stdout: TextIO) -> None:
    """``retention show``: each setting with its value, limits, default and meaning."""
    print(f"tenant: {tenant.name}", file=stdout)
    for s in describe():
        print(
            f"{s.key}\t{getattr(retention, s.key)}\t(limits {s.minimum}-{s.maximum}, "
            f"default {s.default})\t{s.unit}\t{s.label}: {s.meaning}",
            file=stdout,
        )


def wipe_alarm(status: DeviceStatus) -> str:
    """``device list``'s WIPE ALARM column: ``-``, or e.g. ``2 failed, 1 missing``."""
    parts = [
        f"{count} {what}"
        for count, what in ((status.wipes_failed, "failed"), (status.wipes_missing, "missing"))
        if count
    ]
    return ", ".join(parts) or "-"


def wipe_line(report: DeviceReportRecord) -> str:
    """One line of ``device wipes``: when, outcome and the report's figures."""
    try:
        summary = json.loads(report.summary)
    except ValueError:
        summary = {}
    if not isinstance(summary, dict):
        summary = {}
    figures = [summary.get(key) for key in ("files", "bytes", "passes", "method", "duration_ms")]
    shown = ["-" if value is None else printable(str(value)) for value in figures]
    outcome = "verified" if report.ok else "NOT VERIFIED"
    return "\t".join([when(report.at), outcome, *shown])
