"""``kiosk-hub secret|tenant|device`` enrolment commands against a database in tmp_path."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from pathlib import Path

import pytest

from hub.__main__ import main
from hub.pki import ca as pki
from hub.pki.codes import MAX_FAILURES, CodeBook
from hub.pki.secret import HubSecret
from hub.storage import SqliteStorage
from provisioning import profile
from provisioning.codes import EnrolmentCode, parse_code, parse_enrolment_uri
from tests.support.hub_enrol import csr_der, device_key, openssl
from tests.support.requirements import require_tool

HUB_URL = "https://hub.example.org"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "hub.sqlite3"


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "hub-secret"
    assert main(["secret", "create", str(path)]) == 0
    return path


def enrol_code(db: Path, secret: Path, code: EnrolmentCode) -> None:
    """What the EST endpoint does with a good request, straight on the database."""

    async def run() -> None:
        storage = await SqliteStorage.open(db)
        try:
            hub_secret = HubSecret.load(secret)
            record = await CodeBook(hub_secret).check(
                storage, code.id, code.secret, now=time.time()
            )
            signer = await pki.load_authority(storage, hub_secret, record.tenant.name)
            csr = pki.load_csr(csr_der(device_key(), code.id, password=code.secret))
            _cert, row = pki.issue(
                signer, pki.check_csr(csr, (code.id,)), record.device_name, now=time.time()
            )
            await storage.enrol_device(
                code.id, record.secret_hmac, row, now=time.time(), max_failures=MAX_FAILURES
            )
        finally:
            await storage.close()

    asyncio.run(run())


def device_enrol(db: Path, secret: Path, *extra: str) -> None:
    argv = ["device", "enrol", "kiosk-1", "--db", str(db), "--secret-file", str(secret)]
    assert main([*argv, "--hub-url", HUB_URL, *extra]) == 0


def printed_code(out: str) -> EnrolmentCode:
    found = re.search(r"code:\s+(\S+)", out)
    assert found is not None, out
    return parse_code(found.group(1))


def test_secret_create_writes_a_private_file_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "hub-secret"
    assert main(["secret", "create", str(path)]) == 0
    assert path.stat().st_mode & 0o777 == 0o600
    before = path.read_bytes()
    assert main(["secret", "create", str(path)]) == 1
    assert "already exists" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_serve_refuses_an_unusable_secret_file(
    tmp_path: Path, db: Path, secret: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret.chmod(0o644)
    assert main(["serve", "--db", str(db), "--secret-file", str(secret)]) == 1
    assert "chmod 600" in capsys.readouterr().err
    missing = tmp_path / "nowhere"
    assert main(["serve", "--db", str(db), "--secret-file", str(missing)]) == 1
    assert "kiosk-hub secret create" in capsys.readouterr().err
    assert main(["serve", "--db", str(db), "--device-cert-days", "0"]) == 1
    assert main(["serve", "--db", str(db), "--public-url", "ftp://x"]) == 1
    assert "--public-url" in capsys.readouterr().err


def test_tenant_show_prints_the_ca_and_its_fingerprint(
    tmp_path: Path, db: Path, secret: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tenant", "show", "default", "--db", str(db)]) == 1
    assert "--secret-file" in capsys.readouterr().err
    assert main(["tenant", "show", "default", "--db", str(db), "--secret-file", str(secret)]) == 0
    out = capsys.readouterr().out
    pem_text = out[out.index("-----BEGIN CERTIFICATE-----") :]
    (tmp_path / "ca.pem").write_text(pem_text)
    shown = re.search(r"CA SHA-256:\s+([0-9a-f ]+)\n", out)
    assert shown is not None
    by_openssl = openssl(
        "x509", "-in", str(tmp_path / "ca.pem"), "-noout", "-fingerprint", "-sha256"
    )
    assert profile.parse_fingerprint(shown.group(1)) == profile.parse_fingerprint(
        by_openssl.stdout.strip().split("=", 1)[1]
    )
    # the CA stays the same; no secret is needed to show it once made
    assert main(["tenant", "show", "default", "--db", str(db)]) == 0
    assert shown.group(1) in capsys.readouterr().out
    # a tenant added with the secret gets its CA at once
    assert main(["tenant", "add", "bank-b", "--db", str(db), "--secret-file", str(secret)]) == 0
    assert main(["tenant", "show", "bank-b", "--db", str(db)]) == 0
    shown_b = capsys.readouterr().out
    pem_b = shown_b[shown_b.index("-----BEGIN") :]
    assert "O = bank-b" in openssl("x509", "-noout", "-subject", input_text=pem_b).stdout


def test_device_enrol_prints_the_code_and_a_qr_code_a_scanner_reads(
    tmp_path: Path, db: Path, secret: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zbarimg = require_tool("zbarimg", "zbar-tools")
    png = tmp_path / "code.png"
    device_enrol(db, secret, "--ttl", "30m", "--qr-png", str(png))
    out = capsys.readouterr().out
    code_text = re.search(r"code:\s+(\S+)", out)
    fingerprint = re.search(r"--ca-fingerprint ([0-9a-f]{64})", out)
    assert code_text is not None and fingerprint is not None
    code = parse_code(code_text.group(1))
    assert re.fullmatch(r"[2-9A-Z]{4}(-[2-9A-Z]{4}){3}", code_text.group(1))
    assert f"hub:         {HUB_URL}" in out and "expires:" in out and "UTC" in out
    assert "▀" in out or "▄" in out or "█" in out  # the QR code as terminal text
    scanned = subprocess.run(
        [zbarimg, "--quiet", "--raw", str(png)], capture_output=True, text=True, check=True
    ).stdout.strip()
    uri = parse_enrolment_uri(scanned)
    assert (uri.hub_url, uri.code, uri.ca_fingerprint) == (HUB_URL, code, fingerprint.group(1))
    assert main(["device", "list", "--db", str(db)]) == 0
    assert capsys.readouterr().out.startswith("default\tkiosk-1\tpending\t")


def test_device_enrol_refuses_bad_options(
    tmp_path: Path, db: Path, secret: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["device", "enrol", "kiosk-1", "--db", str(db), "--hub-url", HUB_URL]
    with pytest.raises(SystemExit) as usage:
        main(base)  # no --secret-file
    assert usage.value.code == 2
    with pytest.raises(SystemExit):
        main([*base, "--secret-file", str(secret), "--ttl", "31d"])
    assert "30 days" in capsys.readouterr().err
    assert (
        main(
            [
                "device",
                "enrol",
                "k",
                "--db",
                str(db),
                "--secret-file",
                str(secret),
                "--hub-url",
                "not a url",
            ]
        )
        == 1
    )
    assert "--hub-url" in capsys.readouterr().err
    other = tmp_path / "other-secret"
    assert main(["secret", "create", str(other)]) == 0
    assert main([*base, "--secret-file", str(other)]) == 1
    assert "does not open with this hub secret" in capsys.readouterr().err


def test_list_revoke_and_crl_follow_a_device_through_its_life(
    tmp_path: Path, db: Path, secret: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    device_enrol(db, secret)
    code = printed_code(capsys.readouterr().out)
    enrol_code(db, secret, code)
    assert main(["device", "list", "--db", str(db)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    tenant, name, state, _created, seen, expiry, version, selftest, wipe, alarm = line.split("\t")
    assert (tenant, name, state, seen, version) == ("default", "kiosk-1", "enrolled", "-", "-")
    assert (selftest, wipe, alarm) == ("-", "-", "-")  # nothing reported yet
    assert expiry.endswith("UTC")
    assert main(["device", "revoke", "kiosk-1", "--db", str(db)]) == 0
    assert "certificates are refused" in capsys.readouterr().err
    assert main(["device", "list", "--db", str(db)]) == 0
    assert "\trevoked\t" in capsys.readouterr().out
    crl = tmp_path / "crl.der"
    argv = ["tenant", "crl", "default", "--out", str(crl), "--db", str(db)]
    assert main([*argv, "--secret-file", str(secret)]) == 0
    listed = openssl("crl", "-in", str(crl), "-inform", "DER", "-noout", "-text").stdout
    assert listed.count("Serial Number:") == 1
