"""``kiosk-hub admin|adviser disable|device label|device wipes|retention|purge`` against a real
database in tmp_path, each with its bad input (exit 1 with a clear message, 2 for usage)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from hub.manage_admin import printable
from hub.storage import Storage
from tests.support import admin_cli
from tests.support.admin_cli import (
    PASSWORD,
    ended_consultation,
    hub,
    run_hub,
    usage_error,
    with_storage,
)

db = admin_cli.db
password_file = admin_cli.password_file


def test_admin_add_and_list_every_role(
    db: Path, password_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pw = ["--password-file", str(password_file)]
    assert hub(db, "adviser", "add", "alice", *pw) == 0
    assert hub(db, "admin", "add", "boss", "--role", "admin", *pw) == 0
    assert hub(db, "admin", "add", "privacy", "--role", "dpo", *pw) == 0
    assert hub(db, "tenant", "add", "nordbank") == 0
    assert hub(db, "admin", "add", "nordboss", "--role", "admin", "--tenant", "nordbank", *pw) == 0
    capsys.readouterr()
    assert hub(db, "adviser", "list") == 0
    # tenant and name first, as before the roles: scripts that read them keep working
    assert capsys.readouterr().out == (
        "default\talice\tadviser\tenabled\toffline\n"
        "default\tboss\tadmin\tenabled\toffline\n"
        "default\tprivacy\tdpo\tenabled\toffline\n"
        "nordbank\tnordboss\tadmin\tenabled\toffline\n"
    )

    async def check(storage: Storage) -> None:
        login = await storage.adviser_login("boss")
        assert login is not None and login.adviser.role == "admin"
        assert await storage.verify_password(login.password_hash, PASSWORD)
        audit = await storage.governance.audit(login.adviser.tenant.id)
        assert any(e.actor.startswith("cli:") and e.subject == "boss" for e in audit)

    with_storage(db, check)


def test_admin_add_bad_input(
    db: Path, password_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pw = ["--password-file", str(password_file)]
    assert hub(db, "adviser", "add", "alice", *pw) == 0
    usage_error(db, "admin", "add", "x", *pw)  # no --role
    usage_error(db, "admin", "add", "x", "--role", "adviser", *pw)  # adviser add makes those
    usage_error(db, "admin", "add", "x", "--role", "root", *pw)
    usage_error(db, "admin")
    capsys.readouterr()
    assert hub(db, "admin", "add", "alice", "--role", "admin", *pw) == 1
    assert "already exists" in capsys.readouterr().err  # names are unique across roles
    assert hub(db, "admin", "add", "x", "--role", "dpo", "--tenant", "nope", *pw) == 1
    assert "no tenant named 'nope'" in capsys.readouterr().err
    assert hub(db, "admin", "add", "bad\nname", "--role", "dpo", *pw) == 1
    assert "control characters" in capsys.readouterr().err
    weak = tmp_path / "weak"
    weak.write_text("short\n")
    assert hub(db, "admin", "add", "x", "--role", "dpo", "--password-file", str(weak)) == 1
    assert "at least 10 characters" in capsys.readouterr().err
    missing = str(tmp_path / "missing")
    assert hub(db, "admin", "add", "x", "--role", "dpo", "--password-file", missing) == 1
    err = capsys.readouterr().err
    assert "missing" in err and "Traceback" not in err
    assert hub(db, "adviser", "list") == 0
    # nothing left behind
    assert capsys.readouterr().out == "default\talice\tadviser\tenabled\toffline\n"


def test_admin_password_from_stdin_of_the_real_command(db: Path) -> None:
    result = run_hub("admin", "add", "boss", "--role", "admin", "--db", str(db), stdin=PASSWORD)
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    assert "admin 'boss' added to tenant 'default'" in result.stderr


def test_disable_and_enable_end_sessions_and_are_audited(
    db: Path, password_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hub(db, "adviser", "add", "alice", "--password-file", str(password_file)) == 0

    async def log_in(storage: Storage) -> str:
        login = await storage.adviser_login("alice")
        assert login is not None
        session_id, _csrf = await storage.create_session(login.adviser, now=0.0, lifetime_s=1e12)
        return session_id

    session_id = with_storage(db, log_in)
    assert hub(db, "adviser", "disable", "alice") == 0
    capsys.readouterr()
    assert hub(db, "adviser", "list") == 0
    assert capsys.readouterr().out == "default\talice\tadviser\tdisabled\toffline\n"

    async def disabled(storage: Storage) -> tuple[bool, bool]:
        login = await storage.adviser_login("alice")
        assert login is not None
        return login.disabled, await storage.session(session_id, now=1.0) is None

    assert with_storage(db, disabled) == (True, True)
    assert hub(db, "adviser", "enable", "alice") == 0
    assert with_storage(db, disabled) == (False, True)  # enabling brings no session back
    assert hub(db, "audit") == 0
    out = capsys.readouterr().out
    assert out.count("\tcli:") >= 2 and "alice" in out
    assert hub(db, "adviser", "disable", "nobody") == 1
    assert "no account 'nobody'" in capsys.readouterr().err
    usage_error(db, "adviser", "disable")


def test_passwd_is_audited(
    db: Path, password_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pw = ["--password-file", str(password_file)]
    assert hub(db, "admin", "add", "boss", "--role", "admin", *pw) == 0
    assert hub(db, "adviser", "passwd", "boss", *pw) == 0
    capsys.readouterr()
    assert hub(db, "audit", "--limit", "1") == 0
    line = capsys.readouterr().out
    assert line.count("\n") == 1 and "\tcli:" in line and "boss" in line


def test_device_label(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert hub(db, "device", "add", "kiosk-1") == 0
    assert hub(db, "tenant", "add", "nordbank") == 0
    assert hub(db, "device", "add", "kiosk-n", "--tenant", "nordbank") == 0
    assert hub(db, "device", "label", "kiosk-1", "--branch", "Zürich HB") == 0

    async def branches(storage: Storage) -> dict[str, str | None]:
        statuses = await storage.device_statuses(now=time.time())
        return {s.device.name: s.device.branch for s in statuses}

    assert with_storage(db, branches) == {"kiosk-1": "Zürich HB", "kiosk-n": None}
    capsys.readouterr()
    for bad in ("", "a\x1b[31mb", "x" * 65, "tab\there"):
        assert hub(db, "device", "label", "kiosk-1", "--branch", bad) == 1
        err = capsys.readouterr().err
        assert "Traceback" not in err and "\x1b" not in err
    # another tenant's kiosk answers like an unknown one
    assert hub(db, "device", "label", "kiosk-n", "--branch", "X") == 1
    other = capsys.readouterr().err
    assert hub(db, "device", "label", "nope", "--branch", "X") == 1
    assert capsys.readouterr().err == other.replace("kiosk-n", "nope")
    assert hub(db, "device", "label", "kiosk-1", "--branch", "X", "--tenant", "nope") == 1
    assert "no tenant named 'nope'" in capsys.readouterr().err
    usage_error(db, "device", "label", "kiosk-1")  # neither --branch nor --no-branch
    usage_error(db, "device", "label", "kiosk-1", "--branch", "X", "--no-branch")
    assert with_storage(db, branches) == {"kiosk-1": "Zürich HB", "kiosk-n": None}
    assert hub(db, "device", "label", "kiosk-1", "--no-branch") == 0
    assert with_storage(db, branches) == {"kiosk-1": None, "kiosk-n": None}
    assert hub(db, "device", "revoke", "kiosk-1") == 0
    capsys.readouterr()
    assert hub(db, "audit") == 0
    newest, *older = capsys.readouterr().out.splitlines()
    assert "\tcli:" in newest and "\tkiosk-1\t" in newest and len(older) == 2  # two labels


def test_device_wipes_and_the_wipe_alarm(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert hub(db, "device", "add", "kiosk-1") == 0
    assert hub(db, "device", "add", "kiosk-2") == 0
    assert hub(db, "tenant", "add", "nordbank") == 0
    assert hub(db, "device", "add", "kiosk-n", "--tenant", "nordbank") == 0

    async def history(storage: Storage) -> None:
        kiosk_1 = next(d for d in await storage.devices() if d.name == "kiosk-1")
        await ended_consultation(storage, "kiosk-1", ended_ago_s=7200)  # failed wipe
        await ended_consultation(storage, "kiosk-1", ended_ago_s=3600)  # no report: missing
        summary: dict[str, object] = {"verified": False, "files": 3, "bytes": 4096}
        summary |= {"passes": 1, "method": "overwrite\x1b[2J", "duration_ms": 12}
        at = time.time() - 7200 + 1
        await storage.add_device_report(
            kiosk_1.id, "wipe", ok=False, summary=json.dumps(summary), at=at, now=at
        )
        await ended_consultation(storage, "kiosk-2", ended_ago_s=1)  # pending, not missing yet

    with_storage(db, history)
    capsys.readouterr()
    assert hub(db, "device", "list") == 0
    alarms = {
        line.split("\t")[1]: line.split("\t")[-1]
        for line in capsys.readouterr().out.split("\n")
        if line
    }
    assert alarms == {"kiosk-1": "1 failed, 1 missing", "kiosk-2": "-", "kiosk-n": "-"}
    assert hub(db, "device", "wipes", "kiosk-1") == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 1 and "\tNOT VERIFIED\t3\t4096\t1\t" in lines[0]
    assert "\x1b" not in out and "overwrite\\x1b[2J" in out  # the kiosk's text, defused
    assert hub(db, "device", "wipes", "kiosk-2") == 0
    assert capsys.readouterr().out == ""
    assert hub(db, "device", "wipes", "kiosk-n") == 1  # another tenant's: as unknown
    other = capsys.readouterr().err
    assert hub(db, "device", "wipes", "nope") == 1
    assert capsys.readouterr().err == other.replace("kiosk-n", "nope")
    assert hub(db, "device", "wipes", "kiosk-n", "--tenant", "nordbank") == 0
    usage_error(db, "device", "wipes")


def test_retention_show_and_set(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert hub(db, "retention", "show") == 0
    out = capsys.readouterr().out
    assert "consultations_days\t90\t" in out and "access_log_days\t7\t" in out
    assert "stats_min_cell\t5\t(limits 2-100, default 5)" in out
    assert hub(db, "retention", "set", "--consultations-days", "30", "--stats-min-cell", "10") == 0
    assert "consultations_days 90 -> 30" in capsys.readouterr().err
    assert hub(db, "retention", "show") == 0
    out = capsys.readouterr().out
    assert "consultations_days\t30\t" in out and "stats_min_cell\t10\t" in out
    assert hub(db, "audit") == 0
    audit = capsys.readouterr().out
    assert "\tretention.consultations_days\t" in audit and "\t90\t30" in audit


@pytest.mark.parametrize(
    "argv",
    [
        ["--consultations-days", "6"],
        ["--consultations-days", "3651"],
        ["--access-log-days", "0"],
        ["--access-log-days", "91"],
        ["--device-history-days", "29"],
        ["--audit-days", "364"],
        ["--stats-min-cell", "1"],
        ["--stats-min-cell", "101"],
        ["--consultations-days", "30", "--audit-days", "1"],  # one bad: nothing changes
    ],
)
def test_retention_out_of_range_changes_nothing(
    db: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert hub(db, "retention", "set", *argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("kiosk-hub: ") and "Traceback" not in err

    async def unchanged(storage: Storage) -> None:
        tenant = await storage.tenant("default")
        retention = await storage.governance.retention(tenant.id)
        assert retention.consultations_days == 90 and retention.audit_days == 730
        assert await storage.governance.audit(tenant.id) == []

    with_storage(db, unchanged)


def test_retention_usage_errors(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    usage_error(db, "retention", "set")
    assert "nothing to change" in capsys.readouterr().err
    usage_error(db, "retention", "set", "--consultations-days", "ninety")
    usage_error(db, "retention", "set", "--purge-everything", "1")
    usage_error(db, "retention")
    assert not db.exists()  # usage errors come before the database
    assert hub(db, "retention", "show", "--tenant", "nope") == 1
    assert hub(db, "retention", "set", "--audit-days", "400", "--tenant", "nope") == 1
    assert capsys.readouterr().err.count("no tenant named 'nope'") == 2


def test_purge_deletes_what_is_past_retention(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert hub(db, "device", "add", "kiosk-1") == 0

    async def consultations(storage: Storage) -> tuple[str, str, str]:
        old = await ended_consultation(storage, "kiosk-1", ended_ago_s=100 * 86_400)
        kept = await ended_consultation(storage, "kiosk-1", ended_ago_s=100 * 86_400)
        new = await ended_consultation(storage, "kiosk-1", ended_ago_s=86_400)
        return old, kept, new

    old, kept, new = with_storage(db, consultations)
    assert hub(db, "request", "restrict", kept) == 0
    capsys.readouterr()
    assert hub(db, "purge") == 0
    out = capsys.readouterr().out
    assert out.startswith("purged 1 consultations, ") and "web sessions" in out

    async def left(storage: Storage) -> list[bool]:
        tenant = await storage.tenant("default")
        found = [await storage.governance.conversation(tenant.id, r) for r in (old, kept, new)]
        return [c is not None for c in found]

    assert with_storage(db, left) == [False, True, True]
    assert hub(db, "purge") == 0
    assert capsys.readouterr().out.startswith("purged 0 consultations, ")
    usage_error(db, "purge", "--now")


@pytest.mark.parametrize("text", ["plain", "Zürich HB", "", "a\tb", "\x1b[31m", "\x00\x7f\u2028"])
def test_printable_examples(text: str) -> None:
    shown = printable(text)
    assert shown.isprintable() and "\t" not in shown
    assert (shown == text) == text.isprintable()
