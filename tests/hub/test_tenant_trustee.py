"""A tenant's trustee and timestamp settings at the hub: ``kiosk-hub tenant set`` (and its
usage errors), the storage and its migration (docs/signature.md)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from hub.pki import trustee as pki
from hub.storage import MIGRATIONS, InvalidName, InvalidSetting, NotFound, Storage, TenantSigning
from hub.storage.sqlite_schema import migrate
from tests.support import hub_trustee
from tests.support import trustee_certs as tc
from tests.support.hub_trustee import NAME, hub, signing_of, with_storage, write

# the shared fixtures, re-exported by name so pytest finds them in this module
ca, trustees = hub_trustee.ca, hub_trustee.trustees
db, secret = hub_trustee.db, hub_trustee.secret


def corrupted(der: bytes, at: int, value: int) -> bytes:
    return der[:at] + bytes([value]) + der[at + 1 :]


@pytest.mark.parametrize("case", ["version", "negative_serial"])
def test_tenant_set_refuses_a_corrupted_certificate_with_a_reason(
    db: Path, tmp_path: Path, trustees: dict[str, tc.Trustee],
    capsys: pytest.CaptureFixture[str], case: str,
) -> None:  # fmt: skip
    der = trustees["rsa"].der
    # SEQUENCE(4) SEQUENCE(4) [0](2) INTEGER(2): the version's value at 12, the serial's at 15
    assert der[8:12] == b"\xa0\x03\x02\x01" and der[13] == 0x02
    bad = corrupted(der, 12, 3) if case == "version" else corrupted(der, 15, der[15] | 0x80)
    cert = write(tmp_path / "t.crt", bad)
    assert hub(db, "tenant", "set", "default", "--trustee-cert", cert, "--trustee-name", "X") == 1
    assert "not an X.509 certificate" in capsys.readouterr().err
    assert signing_of(db) == TenantSigning(None, None)


# -- storage --------------------------------------------------------------


def test_storage_keeps_trustee_and_timestamps_and_clears_them(
    tmp_path: Path, trustees: dict[str, tc.Trustee]
) -> None:
    der = trustees["rsa"].der

    async def run(storage: Storage) -> None:
        tenant = await storage.tenant("default")
        assert await storage.tenant_signing(tenant.id) == TenantSigning()
        await storage.set_trustee("default", der, f" {NAME} ")
        await storage.set_tsa_url("default", "https://tsa.example.org/rfc3161")
        expected = TenantSigning(der, NAME, "https://tsa.example.org/rfc3161")
        assert await storage.tenant_signing(tenant.id) == expected
        (listed,) = await storage.tenants()
        assert listed.signing == expected
        await storage.set_trustee("default", None, None)
        await storage.set_tsa_url("default", None)
        assert await storage.tenant_signing(tenant.id) == TenantSigning()
        with pytest.raises(NotFound):
            await storage.tenant_signing(tenant.id + 100)

    with_storage(tmp_path / "hub.sqlite3", run)


@pytest.mark.parametrize(
    ("cert", "name", "error"),
    [
        (b"\x30", None, InvalidSetting),
        (None, "x", InvalidSetting),
        (b"", "x", InvalidSetting),
        (b"\x30" * 8193, "x", InvalidSetting),
        (b"\x30", "", InvalidName),
        (b"\x30", "x" * 101, InvalidName),
        (b"\x30", "a\nb", InvalidName),
        (b"\x30", "a\u202eb", InvalidName),
    ],
)
def test_storage_refuses_a_bad_trustee_and_keeps_the_old_one(
    tmp_path: Path, cert: bytes | None, name: str | None, error: type[Exception]
) -> None:
    async def run(storage: Storage) -> None:
        await storage.set_trustee("default", b"\x30\x00", "old")
        with pytest.raises(error):
            await storage.set_trustee("default", cert, name)
        with pytest.raises(NotFound):
            await storage.set_trustee("nobody", b"\x30\x00", "x")
        tenant = await storage.tenant("default")
        assert await storage.tenant_signing(tenant.id) == TenantSigning(b"\x30\x00", "old")

    with_storage(tmp_path / "hub.sqlite3", run)


def test_a_database_of_the_previous_schema_keeps_its_tenants(tmp_path: Path) -> None:
    path = tmp_path / "hub.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at REAL)")
    for version, script in enumerate(MIGRATIONS[:5], start=1):
        for statement in (s for s in script.split(";") if s.strip()):
            conn.execute(statement)
        conn.execute("INSERT INTO schema_version VALUES (?, 0)", (version,))
    conn.execute(
        "INSERT INTO tenants (name, created_at, max_file_bytes) VALUES ('big-bank', 0, 1048576)"
    )
    migrate(conn)  # as the engine does on open
    conn.close()

    async def run(storage: Storage) -> None:
        listed = {t.tenant.name: t for t in await storage.tenants()}
        assert set(listed) == {"default", "big-bank"}
        assert listed["big-bank"].max_file_bytes == 1048576
        assert listed["big-bank"].signing == TenantSigning()
        await storage.set_tsa_url("big-bank", "http://tsa.example.org")
        assert (await storage.tenant_signing(listed["big-bank"].tenant.id)).tsa_url

    with_storage(path, run)


# -- the commands ---------------------------------------------------------


def test_a_certificate_of_another_issuer_is_set_with_a_warning(
    db: Path, secret: Path, tmp_path: Path, trustees: dict[str, tc.Trustee],
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    assert hub(db, "tenant", "show", "default", "--secret-file", str(secret)) == 0  # makes the CA
    capsys.readouterr()
    t = trustees["self_signed"]
    for data in (t.der, t.pem):
        cert = write(tmp_path / "t.crt", data)
        assert (
            hub(db, "tenant", "set", "default", "--trustee-cert", cert, "--trustee-name", "X") == 0
        )
        err = capsys.readouterr().err
        assert "warning: the tenant CA (if it has one yet) did not sign this" in err
        assert "pinned" in err
        assert signing_of(db) == TenantSigning(t.der, "X")


@pytest.mark.parametrize(
    ("case", "text"),
    [
        ("expired", "expired on"),
        ("future", "valid only from"),
        ("signing_only", "not an encryption certificate"),
        ("garbage", "not an X.509 certificate"),
        ("key", "holds a private key"),
        ("large", "larger than 64 KiB"),
        ("bad_name", "control characters"),
        ("bad_url", "timestamp authority URL"),
        ("bad_limit", "between 0 and 1024 MiB"),
        ("no_tenant", "no tenant named 'nobody'"),
        ("missing_file", "No such file"),
    ],
)
def test_a_refused_setting_changes_nothing(
    db: Path, tmp_path: Path, trustees: dict[str, tc.Trustee],
    capsys: pytest.CaptureFixture[str], case: str, text: str,
) -> None:  # fmt: skip
    good = write(tmp_path / "good.pem", trustees["rsa"].pem)
    assert hub(db, "tenant", "set", "default", "--trustee-cert", good, "--trustee-name", "Old") == 0
    assert hub(db, "tenant", "set", "default", "--tsa-url", "https://old.example.org") == 0
    before = signing_of(db)
    cert, name, url, limit, tenant = good, "New", "https://new.example.org", "3", "default"
    match case:
        case "expired" | "future" | "signing_only":
            cert = write(tmp_path / "t.pem", trustees[case].pem)
        case "garbage":
            cert = write(tmp_path / "t.pem", b"hello")
        case "key":
            cert = write(tmp_path / "t.pem", trustees["rsa"].key_pem())
        case "large":
            cert = write(tmp_path / "t.pem", b"0" * (pki.FILE_MAX + 1))
        case "bad_name":
            name = "Evil\x1b[2J"
        case "bad_url":
            url = "ftp://tsa"
        case "bad_limit":
            limit = "5000"
        case "no_tenant":
            tenant = "nobody"
        case "missing_file":
            cert = str(tmp_path / "missing.pem")
    capsys.readouterr()
    argv = ("tenant", "set", tenant, "--trustee-cert", cert, "--trustee-name", name)
    assert hub(db, *argv, "--tsa-url", url, "--max-file-mib", limit) == 1
    assert text in capsys.readouterr().err
    assert signing_of(db) == before
    assert hub(db, "tenant", "list") == 0
    assert capsys.readouterr().out == "default\t25 MiB\n"


@pytest.mark.parametrize(
    "argv",
    [
        ["tenant", "set", "default"],
        ["tenant", "set", "default", "--trustee-cert", "x.pem"],
        ["tenant", "set", "default", "--trustee-name", "X"],
        ["tenant", "set", "default", "--trustee-cert", "x", "--trustee-name", "X", "--no-trustee"],
        ["tenant", "set", "default", "--tsa-url", "https://a.example", "--no-tsa"],
        ["tenant", "trustee-issue", "default", "--csr", "x", "--out", "y"],  # no --secret-file
        [
            "tenant",
            "trustee-issue",
            "default",
            "--csr",
            "x",
            "--out",
            "y",
            "--secret-file",
            "s",
            "--days",
            "0",
        ],
    ],  # fmt: skip
)
def test_usage_errors_exit_2_before_the_database_is_made(
    db: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        hub(db, *argv)
    assert exited.value.code == 2
    assert "kiosk-hub tenant" in capsys.readouterr().err
    assert not db.exists()
