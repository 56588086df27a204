"""``kiosk-hub archive show|set|list|get`` and ``retention set --archive-days`` against a real
database in tmp_path, with their bad input (exit 1 with a clear message, 2 for usage)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from hub.__main__ import main
from hub.storage import Storage
from signing import sealed
from tests.support import trustee_certs
from tests.support.admin_cli import ended_consultation, hub, usage_error, with_storage
from tests.support.hub_enrol import csr_der

KEY = trustee_certs.new_key("rsa")  # the tenant's archive key (the hub never sees it)
SELF_SIGNED = trustee_certs.trustee(None, name="Self-signed archive", key=KEY)
SEALED = sealed.seal_bytes(b"the chat, both ways", SELF_SIGNED.certificate)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "hub.sqlite3"
    assert hub(path, "device", "add", "kiosk-1") == 0
    return path


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "hub-secret"
    assert main(["secret", "create", str(path)]) == 0
    return path


@pytest.fixture
def cert(db: Path, secret: Path, tmp_path: Path) -> Path:
    """The archive certificate the tenant CA issued for KEY, as the docs tell a tenant to get it."""
    assert hub(db, "tenant", "show", "default", "--secret-file", str(secret)) == 0  # makes the CA
    csr = tmp_path / "archive.csr"
    csr.write_bytes(csr_der(KEY, "Default Bank archive"))
    path = tmp_path / "archive.pem"
    issue = ["--csr", str(csr), "--out", str(path), "--secret-file", str(secret)]
    assert hub(db, "tenant", "trustee-issue", "default", *issue) == 0
    return path


def test_set_show_and_remove(db: Path, cert: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert hub(db, "archive", "show") == 0
    assert "certificate: none" in capsys.readouterr().out
    assert hub(db, "archive", "set", "--transcripts", "on") == 1  # no certificate yet
    assert "needs the tenant's archive certificate" in capsys.readouterr().err
    assert hub(db, "archive", "set", "--cert", str(cert), "--transcripts", "on") == 0
    err = capsys.readouterr().err
    assert "Default Bank archive" in err and "transcripts: kept" in err
    assert "contracts: not kept" in err and "kept for: 3650 days" in err
    assert hub(db, "retention", "set", "--archive-days", "30") == 0
    assert hub(db, "archive", "show") == 0
    assert "kept for: 30 days" in capsys.readouterr().out
    assert hub(db, "archive", "set", "--no-cert") == 0
    assert "transcripts: not kept" in capsys.readouterr().err

    async def audited(storage: Storage) -> set[str]:
        return {e.action for e in await storage.governance.audit(1) if e.actor.startswith("cli:")}

    assert {"archive.certificate", "archive.transcripts", "retention.archive_days"} <= (
        with_storage(db, audited)
    )


def test_bad_certificates_and_usage(
    db: Path, secret: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    usage_error(db, "archive", "set")
    usage_error(db, "archive", "set", "--cert", "x.pem", "--no-cert")
    usage_error(db, "archive", "set", "--contracts", "maybe")
    assert hub(db, "retention", "set", "--archive-days", "0") == 1
    assert "archive_days must be a whole number from 1 to 3650" in capsys.readouterr().err
    key = tmp_path / "key.pem"
    key.write_bytes(
        KEY.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"not a certificate")
    self_signed = tmp_path / "self-signed.pem"
    self_signed.write_bytes(SELF_SIGNED.pem)
    cases = [
        (self_signed, "has no CA yet"),  # no hub secret has made the tenant CA
        (key, "private key"),
        (junk, "not"),
        (tmp_path / "nope", "No such"),
    ]
    for path, words in cases:
        assert hub(db, "archive", "set", "--cert", str(path)) == 1
        assert words in capsys.readouterr().err
    assert hub(db, "tenant", "show", "default", "--secret-file", str(secret)) == 0
    assert hub(db, "archive", "set", "--cert", str(self_signed)) == 1
    assert "the tenant CA did not issue this certificate" in capsys.readouterr().err
    assert hub(db, "archive", "show") == 0
    assert "certificate: none" in capsys.readouterr().out  # nothing changed
    assert hub(db, "archive", "show", "--tenant", "nowhere") == 1


def test_list_and_get(
    db: Path, cert: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert hub(db, "archive", "set", "--cert", str(cert), "--contracts", "on") == 0

    async def keep(storage: Storage) -> tuple[str, str]:
        reference = await ended_consultation(storage, "kiosk-1", ended_ago_s=10)
        held = await storage.governance.conversation(1, reference)
        assert held is not None
        cid = "c" + reference.replace("-", "")
        item = await storage.governance.add_archive(1, cid, "contract", SEALED, now=time.time())
        return reference, item.id

    reference, item_id = with_storage(db, keep)
    capsys.readouterr()
    assert hub(db, "archive", "list", "--reference", reference.lower()) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(item_id) and f"\tcontract\t{len(SEALED)}\t{reference}\t" in line
    assert hub(db, "archive", "list", "--reference", "7K3QD-M9XVB") == 0
    assert capsys.readouterr().out == ""
    assert hub(db, "archive", "list", "--reference", "nonsense") == 1
    out = tmp_path / "item.p7m"
    assert hub(db, "archive", "get", item_id, "-o", str(out)) == 0
    assert out.read_bytes() == SEALED
    assert out.stat().st_mode & 0o777 == 0o600
    assert hub(db, "archive", "get", item_id, "-o", str(out)) == 1  # never over a file
    assert "exists" in capsys.readouterr().err
    assert hub(db, "archive", "get", "A" * 24, "-o", str(tmp_path / "x")) == 1
    assert not (tmp_path / "x").exists()  # nothing left behind
    assert hub(db, "tenant", "add", "other") == 0
    other = ["--tenant", "other", "-o", str(tmp_path / "y")]
    assert hub(db, "archive", "get", item_id, *other) == 1  # another tenant's: unknown
    assert "no archived item" in capsys.readouterr().err

    async def downloads(storage: Storage) -> int:
        entries = await storage.governance.audit(1)
        return sum(e.action == "archive.download" for e in entries)

    assert with_storage(db, downloads) == 1
