"""``kiosk-hub request|stats|audit|access-log`` and the demo's accounts, against a real database
in tmp_path, each with its bad input; a property test for what reaches the terminal."""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.manage_admin import parse_limit, printable
from hub.manage_requests import document_lines
from hub.storage import Storage
from hub.storage.records import NewAccessLine
from scripts import demo_accounts
from tests.support.admin_cli import (
    ended_consultation,
    hub,
    run_hub,
    usage_error,
    with_storage,
)

DAY = 86_400


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "hub.sqlite3"
    assert hub(path, "device", "add", "kiosk-1") == 0
    assert hub(path, "tenant", "add", "nordbank") == 0
    assert hub(path, "device", "add", "kiosk-n", "--tenant", "nordbank") == 0
    return path


def references(db: Path, device: str, count: int, *, tenant: str = "default") -> list[str]:
    """``count`` ended consultations of ``device`` an hour ago; their references."""

    async def make(storage: Storage) -> list[str]:
        return [
            await ended_consultation(storage, device, ended_ago_s=3600, tenant=tenant)
            for _ in range(count)
        ]

    return with_storage(db, make)


def test_request_show_export_restrict_lift_erase(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (reference,) = references(db, "kiosk-1", 1)
    typed = reference.lower().replace("-", " ")  # as a person reads it out
    capsys.readouterr()
    assert hub(db, "request", "show", typed) == 0
    shown = capsys.readouterr().out
    assert reference in shown and "kiosk-1" in shown
    assert hub(db, "request", "export", reference) == 0
    exported = json.loads(capsys.readouterr().out)
    assert reference in json.dumps(exported)
    assert hub(db, "request", "restrict", reference) == 0

    async def restricted(storage: Storage) -> bool | None:
        tenant = await storage.tenant("default")
        found = await storage.governance.conversation(tenant.id, reference)
        return None if found is None else found.restricted_at is not None

    assert with_storage(db, restricted) is True
    assert hub(db, "request", "lift", reference) == 0
    assert with_storage(db, restricted) is False
    assert hub(db, "request", "erase", reference) == 0
    assert with_storage(db, restricted) is None
    capsys.readouterr()
    assert hub(db, "audit") == 0
    actions = [line.split("\t")[3:5] for line in capsys.readouterr().out.splitlines()]
    expected = ["erase", "lift", "restrict", "export", "show"]
    assert actions[:5] == [[f"request.{a}", reference] for a in expected]


def test_request_bad_references(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (theirs,) = references(db, "kiosk-n", 1, tenant="nordbank")
    (running,) = references(db, "kiosk-1", 1)
    capsys.readouterr()
    for action in ("show", "export", "erase", "restrict", "lift"):
        for bad in ("nonsense", "", "ABCDE-FGHIJK", "\x1b[31mABCDE-12345", "ü" * 10):
            assert hub(db, "request", action, bad) == 1
            err = capsys.readouterr().err
            assert "conversation reference is ten" in err and "\x1b" not in err
        # another tenant's reference answers exactly like one that does not exist
        assert hub(db, "request", action, theirs) == 1
        other = capsys.readouterr().err
        unknown = "00000-00000"
        assert hub(db, "request", action, unknown) == 1
        assert capsys.readouterr().err == other.replace(theirs, unknown)
        assert f"no conversation {unknown} in tenant 'default'" in other.replace(theirs, unknown)
        assert hub(db, "request", action, theirs, "--tenant", "nope") == 1
        assert "no tenant named 'nope'" in capsys.readouterr().err
        usage_error(db, "request", action)
    usage_error(db, "request", "delete", running)
    assert hub(db, "request", "show", theirs, "--tenant", "nordbank") == 0


def test_erasing_a_running_conversation_is_refused(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def running(storage: Storage) -> str:
        device = next(d for d in await storage.devices() if d.name == "kiosk-1")
        await storage.consultation_queued(
            "running-1", device, now=time.time(), reference="7K3QD-M9X2A"
        )
        return "7K3QD-M9X2A"

    reference = with_storage(db, running)
    capsys.readouterr()
    assert hub(db, "request", "erase", reference) == 1
    err = capsys.readouterr().err
    assert err.startswith("kiosk-hub: ") and "Traceback" not in err
    assert hub(db, "request", "show", reference) == 0  # still there


def test_stats_text_and_csv(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert hub(db, "device", "label", "kiosk-1", "--branch", '=HYPERLINK("x")') == 0
    assert hub(db, "retention", "set", "--stats-min-cell", "2") == 0
    references(db, "kiosk-1", 3)
    references(db, "kiosk-n", 4, tenant="nordbank")
    today = time.strftime("%Y-%m-%d", time.gmtime())
    capsys.readouterr()
    assert hub(db, "stats", "--to", today) == 0
    text = capsys.readouterr().out
    assert text.startswith("tenant default: ") and "consultations 3, abandoned 0" in text
    assert "=HYPERLINK" in text
    # the days without consultations are counted, the shown one listed with its figure
    assert f"per day: 29 of 30 suppressed\n  {today}\t3\n" in text
    assert hub(db, "stats", "--csv", "--from", today, "--to", today) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    cells = [cell for row in rows for cell in row]
    assert '\'=HYPERLINK("x")' in cells  # no formula for a spreadsheet
    assert not any(cell.startswith("=") for cell in cells)
    assert hub(db, "stats", "--tenant", "nordbank") == 0
    assert "consultations 4," not in capsys.readouterr().out  # its own min_cell: 5


@pytest.mark.parametrize(
    "argv",
    [
        ["--from", "2026-13-01"],
        ["--from", "yesterday"],
        ["--to", "2026-02-30"],
        ["--from", "2026-05-02", "--to", "2026-05-01"],
        ["--from", "2024-01-01", "--to", "2026-01-01"],
        ["--from", "1969-12-31"],
        ["--from", "\x1b[31m"],
    ],
)
def test_stats_bad_ranges(db: Path, argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert hub(db, "stats", *argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("kiosk-hub: ") and "Traceback" not in err and "\x1b" not in err


def test_stats_usage_errors(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    usage_error(db, "stats", "--from")
    usage_error(db, "stats", "--json")
    assert hub(db, "stats", "--tenant", "nope") == 1
    assert "no tenant named 'nope'" in capsys.readouterr().err


def test_audit_and_access_log_are_per_tenant_and_defused(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def lines(storage: Storage) -> None:
        default = await storage.tenant("default")
        nordbank = await storage.tenant("nordbank")
        now = time.time()
        await storage.governance.add_access_lines(
            [
                NewAccessLine(now - 2, default.id, "192.0.2.0", "GET", "/x\x1b[2J", 404, 10, 1.5),
                NewAccessLine(now - 1, default.id, "192.0.2.0", "GET", "/api/csrf", 200, 20, 1.0),
                NewAccessLine(now, nordbank.id, "198.51.100.0", "GET", "/nord", 200, 30, 1.0),
                NewAccessLine(now, None, "203.0.113.0", "GET", "/none", 200, 30, 1.0),
            ]
        )

    with_storage(db, lines)
    assert hub(db, "retention", "set", "--audit-days", "400", "--tenant", "nordbank") == 0
    capsys.readouterr()
    assert hub(db, "access-log") == 0
    out = capsys.readouterr().out
    rows = [line.split("\t") for line in out.splitlines()]
    assert [row[4] for row in rows] == ["/api/csrf", "/x\\x1b[2J"]  # newest first, defused
    assert "\x1b" not in out
    assert hub(db, "access-log", "--limit", "1") == 0
    assert capsys.readouterr().out.count("\n") == 1
    assert hub(db, "access-log", "--before", rows[0][0]) == 0
    assert capsys.readouterr().out.splitlines()[0].split("\t")[4] == "/x\\x1b[2J"
    assert hub(db, "audit") == 0
    assert capsys.readouterr().out == ""  # nordbank's change is nordbank's
    assert hub(db, "audit", "--tenant", "nordbank") == 0
    assert "retention.audit_days" in capsys.readouterr().out
    for command in ("audit", "access-log"):
        for limit in ("0", "501", "x", "-1"):
            usage_error(db, command, "--limit", limit)
        usage_error(db, command, "--before", "x")
        assert hub(db, command, "--tenant", "nope") == 1
        assert "no tenant named 'nope'" in capsys.readouterr().err


def test_the_real_command_serves_a_request(db: Path) -> None:
    (reference,) = references(db, "kiosk-1", 1)
    shown = run_hub("request", "show", reference, "--db", str(db))
    assert shown.returncode == 0, shown.stderr
    assert reference in shown.stdout and shown.stderr == ""


@given(st.text())
def test_printable_never_lets_a_control_character_through(text: str) -> None:
    shown = printable(text)
    assert shown.isprintable() and "\t" not in shown
    if text.isprintable():
        assert shown == text


@given(st.one_of(st.text(), st.integers().map(str)))
def test_a_limit_is_a_number_in_range_or_a_usage_error(text: str) -> None:
    try:
        value = parse_limit(text)
    except argparse.ArgumentTypeError as exc:
        assert "from 1 to 500" in str(exc)
    else:
        assert 1 <= value <= 500 and value == int(text)


def test_document_lines_render_nested_documents() -> None:
    document = {
        "reference": "7K3QD-M9X2A",
        "times": {"queued_at": "2026-12-07T10:00:00Z", "ended_at": None},
        "not_included": ["access-log lines", {"what": "content\x1b", "why": "never kept"}],
        "restricted": False,
    }
    assert document_lines(document) == [
        "reference: 7K3QD-M9X2A",
        "times:",
        "  queued at: 2026-12-07T10:00:00Z",
        "  ended at: -",
        "not included:",
        "  - access-log lines",
        "  - what: content\\x1b",
        "    why: never kept",
        "restricted: no",
    ]


def test_demo_accounts_are_made_once(db: Path, tmp_path: Path) -> None:
    def kiosk_hub(*args: str) -> subprocess.CompletedProcess[str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = hub(db, *args)
        return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())

    admin, dpo = demo_accounts.ensure_governance_accounts(kiosk_hub, tmp_path)
    assert (admin.name, dpo.name) == (demo_accounts.ADMIN, demo_accounts.DPO)
    assert (tmp_path / "demo-admin.password").stat().st_mode & 0o777 == 0o600
    # a second start finds them and keeps their passwords
    assert demo_accounts.ensure_governance_accounts(kiosk_hub, tmp_path) == (admin, dpo)

    async def roles(storage: Storage) -> dict[str, str]:
        tenant = await storage.tenant("default")
        return {a.name: a.role for a in await storage.governance.accounts(tenant.id)}

    assert with_storage(db, roles) == {"demo-admin": "admin", "demo-dpo": "dpo"}
    demo_accounts.label_kiosk(kiosk_hub, "kiosk-1")
    lines = demo_accounts.banner_lines(admin, dpo, str)
    assert any(admin.password in line and "administrator" in line for line in lines)
    assert any(dpo.password in line and "data-protection officer" in line for line in lines)
    with pytest.raises(demo_accounts.DemoAccountError, match="label"):
        demo_accounts.label_kiosk(kiosk_hub, "no-such-kiosk")
