"""``kiosk-hub request|stats|audit|access-log``: the data-protection officer's commands.

``request show|export|erase|restrict|lift REF`` serves a data subject who gives the conversation
reference from the kiosk's goodbye screen (``show``: readable text, ``export``: the JSON the
console downloads; both are audited); ``stats`` prints the anonymised statistics (``--csv`` as
the console exports them); ``audit`` and ``access-log`` the tenant's newest entries. A reference
of another tenant answers exactly like an unknown one.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping, Sequence
from typing import TextIO

from hub.governance import subject_access
from hub.governance.csv_export import figures_csv
from hub.governance.references import BadReference, parse_reference
from hub.governance.stats import BadRange, compute, parse_range
from hub.manage_admin import AdminCommandFailed, actor, parse_limit, printable, tenant_option
from hub.manage_enrol import when
from hub.storage import Storage, Tenant

REQUEST_ACTIONS = {
    "show": "what the hub holds about the conversation, as readable text (audited)",
    "export": "the same as JSON, for the data subject (audited)",
    "erase": "delete the conversation's record (an audit entry without content remains)",
    "restrict": "keep it, but out of statistics and purges until lifted",
    "lift": "lift a restriction",
}
AUDIT_COLUMNS = "ID\tWHEN\tACTOR\tACTION\tSUBJECT\tOLD\tNEW"
ACCESS_COLUMNS = "ID\tWHEN\tCLIENT\tMETHOD\tPATH\tSTATUS\tBYTES\tDURATION MS"
_INDENT = "  "


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], db: argparse.ArgumentParser
) -> None:
    """``request ACTION REF``, ``stats``, ``audit`` and ``access-log``."""
    request = commands.add_parser(
        "request", help="data-subject requests by conversation reference"
    ).add_subparsers(dest="action", required=True, metavar="ACTION")
    for action, text in REQUEST_ACTIONS.items():
        parser = request.add_parser(action, parents=[db], help=text)
        parser.add_argument(
            "reference", metavar="REF", help="e.g. 7K3QD-M9XVB, as the kiosk showed"
        )
        tenant_option(parser)

    stats = commands.add_parser("stats", parents=[db], help="anonymised statistics")
    tenant_option(stats)
    stats.add_argument("--from", dest="from_day", metavar="YYYY-MM-DD", help="first day (UTC)")
    stats.add_argument("--to", dest="to_day", metavar="YYYY-MM-DD", help="last day (UTC)")
    stats.add_argument("--csv", action="store_true", help="as CSV (the console's export)")

    for name, text in (
        ("audit", "the tenant's audit: who changed what, newest first"),
        ("access-log", "the tenant's anonymised access-log lines, newest first"),
    ):
        parser = commands.add_parser(name, parents=[db], help=text)
        tenant_option(parser)
        parser.add_argument("--limit", type=parse_limit, default=50, metavar="N", help="1-500")
        parser.add_argument(
            "--before", type=int, metavar="ID", help="only entries older than this id (paging)"
        )


async def dispatch(storage: Storage, args: argparse.Namespace, stdout: TextIO) -> bool:
    """Run one of these commands; False when ``args`` is none of them."""
    match args.command:
        case "request":
            tenant = await storage.tenant(args.tenant)
            await _request(storage, tenant, args.action, _reference(args.reference), stdout)
        case "stats":
            await _stats(storage, args, stdout)
        case "audit":
            tenant = await storage.tenant(args.tenant)
            entries = await storage.governance.audit(
                tenant.id, limit=args.limit, before_id=args.before
            )
            _header(AUDIT_COLUMNS, stdout)
            for e in entries:
                cells = (e.actor, e.action, e.subject, e.old_value, e.new_value)
                print(_row(str(e.id), when(e.at), *cells), file=stdout)
        case "access-log":
            tenant = await storage.tenant(args.tenant)
            lines = await storage.governance.access_lines(
                tenant.id, limit=args.limit, before_id=args.before
            )
            _header(ACCESS_COLUMNS, stdout)
            for a in lines:
                cells = (a.client, a.method, a.path, str(a.status), str(a.bytes))
                print(_row(str(a.id), when(a.at), *cells, str(a.duration_ms)), file=stdout)
        case _:
            return False
    return True


def _reference(text: str) -> str:
    try:
        return parse_reference(text)
    except BadReference as exc:
        raise AdminCommandFailed(printable(str(exc))) from None


async def _request(
    storage: Storage, tenant: Tenant, action: str, reference: str, stdout: TextIO
) -> None:
    gov, now, who = storage.governance, time.time(), actor()
    missing = AdminCommandFailed(f"no conversation {reference} in tenant {tenant.name!r}")
    if action in ("show", "export"):
        conversation = await gov.conversation(tenant.id, reference)
        if conversation is None:
            raise missing
        retention = await gov.retention(tenant.id)
        document = subject_access.document(conversation, retention, now=now)
        await gov.add_audit(tenant.id, who, f"request.{action}", reference, None, None, now=now)
        if action == "export":
            print(json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False), file=stdout)
        else:
            for line in document_lines(document):
                print(line, file=stdout)
        return
    if action == "erase":
        done = await gov.erase_conversation(tenant.id, reference, actor=who, now=now)
    else:
        done = await gov.restrict_conversation(
            tenant.id, reference, action == "restrict", actor=who, now=now
        )
    if not done:
        raise missing
    text = {
        "erase": "erased; the audit keeps that it was, without content",
        "restrict": "restricted: kept, out of statistics and purges until lifted",
        "lift": "no longer restricted",
    }[action]
    print(f"conversation {reference}: {text}", file=sys.stderr)


def document_lines(value: object, depth: int = 0) -> list[str]:
    """A subject-access document (nested dicts and lists of plain values) as indented text:
    ``key: value`` lines, a nested part under its key, list items after ``- ``."""
    pad = _INDENT * depth
    lines: list[str] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            label = printable(str(key)).replace("_", " ")
            if isinstance(item, Mapping | list | tuple) and item:
                lines.append(f"{pad}{label}:")
                lines.extend(document_lines(item, depth + 1))
            else:
                lines.append(f"{pad}{label}: {_scalar(item)}")
    elif isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, Mapping | list | tuple) and item:
                nested = document_lines(item, depth + 1)
                lines.append(f"{pad}- {nested[0].lstrip()}")
                lines.extend(nested[1:])
            else:
                lines.append(f"{pad}- {_scalar(item)}")
    else:
        lines.append(f"{pad}{_scalar(value)}")
    return lines


def _scalar(value: object) -> str:
    if value is None or value == [] or value == {}:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return printable(str(value))


async def _stats(storage: Storage, args: argparse.Namespace, stdout: TextIO) -> None:
    tenant = await storage.tenant(args.tenant)
    try:
        rng = parse_range(args.from_day, args.to_day, today=int(time.time() // 86_400))
    except BadRange as exc:
        raise AdminCommandFailed(printable(str(exc))) from None
    gov = storage.governance
    rows = await gov.stats_rows(tenant.id, from_day=rng.from_day, to_day=rng.to_day)
    retention = await gov.retention(tenant.id)
    figures = compute(rows, rng, min_cell=retention.stats_min_cell)
    if args.csv:
        stdout.write(figures_csv(figures))
        return
    for line in stats_lines(tenant.name, figures.to_json()):
        print(line, file=stdout)


def stats_lines(tenant: str, figures: Mapping[str, object]) -> list[str]:
    """``stats``' text: the totals, per day, per hour of day and per branch; a cell with fewer
    consultations than the tenant's minimum shows ``suppressed``."""
    lines = [
        f"tenant {tenant}: {figures['from']} to {figures['to']} (UTC); cells with fewer than "
        f"{figures['min_cell']} consultations are suppressed ({figures['suppressed_cells']} here)"
    ]
    lines.append("total:")
    lines.extend(_INDENT + line for line in _cell_lines(figures.get("total")))
    for title, key, field in (
        ("per day", "per_day", "day"),
        ("per hour of day (UTC)", "per_hour", "hour"),
    ):
        cells = _items(figures.get(key))
        shown = [c for c in cells if c.get("consultations") is not None]
        # every cell of the range is in the figures: list the shown ones, count the rest
        lines.append(f"{title}: {len(cells) - len(shown)} of {len(cells)} suppressed")
        for cell in shown:
            label = str(cell.get(field)).zfill(2)
            lines.append(f"{_INDENT}{label}\t{cell.get('consultations')}")
    branches = _items(figures.get("branches"))
    lines.append("per branch:" if branches else "per branch: none")
    for branch in branches:
        shown_name = "(no branch)" if branch.get("branch") is None else str(branch["branch"])
        lines.append(f"{_INDENT}{printable(shown_name)}:")
        lines.extend(_INDENT * 2 + line for line in _cell_lines(branch))
    return lines


def _items(value: object) -> Sequence[Mapping[str, object]]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _cell_lines(cell: object) -> list[str]:
    if not isinstance(cell, Mapping) or cell.get("consultations") is None:
        return ["suppressed"]
    return [
        f"consultations {cell.get('consultations')}, abandoned {_count(cell.get('abandoned'))}",
        f"wait: median {_seconds(cell.get('wait_p50_s'))}, 90th percentile "
        f"{_seconds(cell.get('wait_p90_s'))}",
        f"duration: median {_seconds(cell.get('duration_p50_s'))}, 90th percentile "
        f"{_seconds(cell.get('duration_p90_s'))}",
    ]


def _count(value: object) -> str:
    return "suppressed" if value is None else str(value)


def _seconds(value: object) -> str:
    # null: too few accepted calls in the cell to describe without describing people
    return "suppressed" if value is None else f"{value} s"


def _header(columns: str, stdout: TextIO) -> None:
    if stdout.isatty():
        print(columns, file=stdout)


def _row(*cells: str | None) -> str:
    # Paths, clients and audit values may hold what a stranger typed: never raw to a terminal.
    return "\t".join("-" if cell is None else printable(cell) for cell in cells)
