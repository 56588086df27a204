"""``kiosk-hub`` commands against a database in tmp_path."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from hub.__main__ import main
from hub.storage import Storage
from tests.support import admin_cli
from tests.support.admin_cli import PASSWORD, ROOT, run_hub, with_storage

db = admin_cli.db
password_file = admin_cli.password_file


def test_adviser_add_and_list(
    db: Path, password_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["adviser", "add", "alice", "--db", str(db), "--password-file", str(password_file)])
        == 0
    )
    capsys.readouterr()
    assert main(["adviser", "list", "--db", str(db)]) == 0
    # tenant and name first (as before roles existed), then the role, whether it may log in
    # and whether a console of it is connected to a hub
    assert capsys.readouterr().out == "default\talice\tadviser\tenabled\toffline\n"

    async def check(storage: Storage) -> None:
        login = await storage.adviser_login("alice")
        assert login is not None
        # trailing newline stripped
        assert await storage.verify_password(login.password_hash, PASSWORD)

    with_storage(db, check)


def test_adviser_add_duplicate_fails(
    db: Path, password_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["adviser", "add", "alice", "--db", str(db), "--password-file", str(password_file)]
    assert main(argv) == 0
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "already exists" in err and "Traceback" not in err


def test_adviser_password_from_stdin(db: Path) -> None:
    result = run_hub("adviser", "add", "bob", "--db", str(db), stdin=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout + result.stderr


@pytest.mark.parametrize("password", ["", "short", "123456789"])
def test_short_password_is_refused(db: Path, password: str) -> None:
    result = run_hub("adviser", "add", "bob", "--db", str(db), stdin=password + "\n")
    assert result.returncode == 1
    assert "at least 10 characters" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_tenant_and_missing_password_file(
    db: Path, tmp_path: Path, password_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["adviser", "add", "a", "--db", str(db), "--password-file", str(password_file)]
    assert main([*argv, "--tenant", "nope"]) == 1
    assert "no tenant named 'nope'" in capsys.readouterr().err
    missing = tmp_path / "missing"
    assert main(["adviser", "add", "a", "--db", str(db), "--password-file", str(missing)]) == 1
    assert "missing" in capsys.readouterr().err


def test_device_add_prints_only_the_token(db: Path, tmp_path: Path) -> None:
    result = run_hub("device", "add", "kiosk-1", "--db", str(db))
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert result.stdout == token + "\n" and len(token) >= 43 and " " not in token
    assert token.startswith("bkd_")  # never "-...", which a command line takes for an option
    device = with_storage(db, lambda storage: storage.device_for_token(token))
    assert device is not None and device.name == "kiosk-1"
    for file in tmp_path.iterdir():  # stored only as a hash
        if file.is_file():
            assert token.encode() not in file.read_bytes()


def test_device_duplicate_replace_list_revoke(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["device", "add", "kiosk-1", "--db", str(db)]) == 0
    first = capsys.readouterr().out.strip()
    assert main(["device", "add", "kiosk-1", "--db", str(db)]) == 1
    assert "--replace" in capsys.readouterr().err
    assert main(["device", "add", "kiosk-1", "--replace", "--db", str(db)]) == 0
    second = capsys.readouterr().out.strip()
    assert second != first
    assert main(["device", "list", "--db", str(db)]) == 0
    line = capsys.readouterr().out
    assert line.startswith("default\tkiosk-1\tactive\t") and first not in line
    assert main(["device", "revoke", "kiosk-1", "--db", str(db)]) == 0
    assert main(["device", "list", "--db", str(db)]) == 0
    assert "\trevoked\t" in capsys.readouterr().out
    assert main(["device", "add", "nope", "--replace", "--db", str(db)]) == 1


def test_tenant_add(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tenant", "add", "other-bank", "--db", str(db)]) == 0
    assert main(["device", "add", "kiosk-1", "--tenant", "other-bank", "--db", str(db)]) == 0
    capsys.readouterr()
    assert main(["tenant", "add", "other-bank", "--db", str(db)]) == 1
    assert main(["device", "add", "bad\nname", "--db", str(db)]) == 1
    assert "control characters" in capsys.readouterr().err


def test_tenant_file_size_limit(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tenant", "add", "big-bank", "--max-file-mib", "100", "--db", str(db)]) == 0
    assert main(["tenant", "list", "--db", str(db)]) == 0
    assert capsys.readouterr().out == "big-bank\t100 MiB\ndefault\t25 MiB\n"
    assert main(["tenant", "set", "default", "--max-file-mib", "5", "--db", str(db)]) == 0

    async def limit(storage: Storage) -> int:
        return await storage.max_file_bytes((await storage.tenant("default")).id)

    assert with_storage(db, limit) == 5 * 1024 * 1024
    for argv in (
        ["tenant", "set", "default", "--max-file-mib", "-1"],
        ["tenant", "set", "default", "--max-file-mib", "1025"],
        ["tenant", "add", "x", "--max-file-mib", "2000"],
        ["tenant", "set", "nobody", "--max-file-mib", "1"],
    ):
        assert main([*argv, "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert "between 0 and 1024 MiB" in err and "no tenant named 'nobody'" in err
    for argv in (["tenant", "set", "default"], ["tenant", "set", "default", "--max-file-mib", "x"]):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2


def test_serve_refuses_bad_grace_and_relay_sizes(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--db", str(db), "--grace-s", "0"]) == 1
    assert "grace_s" in capsys.readouterr().err
    assert main(["serve", "--db", str(db), "--relay-max-mib", "0"]) == 1
    assert "relay_max_bytes" in capsys.readouterr().err
    assert main(["serve", "--db", str(db), "--relay-files-per-consultation", "0"]) == 1
    assert "relay_files_per_consultation" in capsys.readouterr().err
    for timeout in ("0", "-1", "3601", "nan"):
        assert main(["serve", "--db", str(db), "--relay-timeout-s", timeout]) == 1
        assert "relay_chunk_timeout_s" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([], ["nonsense"], ["device"], ["serve", "--port", "eighty"]):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_bad_database_file_is_a_clean_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.sqlite3"
    bad.write_bytes(b"garbage" * 1000)
    assert main(["device", "list", "--db", str(bad)]) == 1
    assert "not a usable hub database" in capsys.readouterr().err
    result = run_hub("serve", "--port", "0", "--db", str(bad))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "not a usable hub database" in result.stderr


async def test_serve_and_sigterm(db: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub",
        "serve",
        "--port",
        "0",
        "--db",
        str(db),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None and process.stderr is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
        assert line.startswith("hub listening on http://127.0.0.1:"), line
        url = line.split()[-1]
        async with aiohttp.ClientSession() as http, http.get(f"{url}/api/csrf") as response:
            assert response.status == 200
        process.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(process.communicate(), 20)
        assert process.returncode == 0
        assert b"Traceback" not in err
        assert b"/api/csrf" in err  # access log
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_adviser_passwd_replaces_password_and_ends_sessions(
    db: Path, password_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        main(["adviser", "add", "bob", "--db", str(db), "--password-file", str(password_file)]) == 0
    )

    async def log_in(storage: Storage) -> str:
        login = await storage.adviser_login("bob")
        assert login is not None
        session_id, _csrf = await storage.create_session(login.adviser, now=0.0, lifetime_s=1e12)
        assert await storage.session(session_id, now=1.0) is not None
        return session_id

    session_id = with_storage(db, log_in)
    new = tmp_path / "new-password"
    new.write_text("another long password\n")
    assert main(["adviser", "passwd", "bob", "--db", str(db), "--password-file", str(new)]) == 0

    async def check(storage: Storage) -> None:
        login = await storage.adviser_login("bob")
        assert login is not None
        assert await storage.verify_password(login.password_hash, "another long password")
        assert not await storage.verify_password(login.password_hash, PASSWORD)
        # a new password ends old sessions
        assert await storage.session(session_id, now=1.0) is None

    with_storage(db, check)
    capsys.readouterr()
    assert main(["adviser", "passwd", "nobody", "--db", str(db), "--password-file", str(new)]) == 1
    assert "no adviser 'nobody'" in capsys.readouterr().err


def test_serve_refuses_a_bad_hello_timeout(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--db", str(db), "--hello-timeout", "0"]) == 1
    assert "hello_timeout_s" in capsys.readouterr().err


def test_adviser_passwd_finds_the_adviser_in_any_tenant(
    db: Path, password_file: Path, tmp_path: Path
) -> None:
    assert main(["tenant", "add", "nordbank", "--db", str(db)]) == 0
    add = ["adviser", "add", "carla", "--tenant", "nordbank", "--db", str(db)]
    assert main([*add, "--password-file", str(password_file)]) == 0
    new = tmp_path / "new-password"
    new.write_text("a fresh long password\n")
    assert main(["adviser", "passwd", "carla", "--db", str(db), "--password-file", str(new)]) == 0

    async def check(storage: Storage) -> None:
        login = await storage.adviser_login("carla")
        assert login is not None and login.adviser.tenant.name == "nordbank"
        assert await storage.verify_password(login.password_hash, "a fresh long password")

    with_storage(db, check)
