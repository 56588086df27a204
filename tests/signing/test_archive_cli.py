"""kiosk-archive open: exit 0 written, 1 not an archived item or the wrong key, 2 usage or I/O.

What the kiosk seals (``signing.sealed.seal_bytes``) OpenSSL opens too (the independent check);
what OpenSSL seals with AES-256-GCM we open. The CLI runs in-process through ``main(argv)``.
"""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signing import archive_cli, sealed
from signing.archive_cli import main
from tests.support import device_certs
from tests.support import trustee_certs as tc
from tests.support.requirements import require_tool

ROOT = Path(__file__).resolve().parents[2]
PDF = b"%PDF-1.7\n% the signed contract\n" + bytes(range(256)) * 40 + b"\n%%EOF\n"
TRANSCRIPT = "2026-12-07 10:11:12 UTC Kundin: Grüß Gott, Frau Berg\n".encode()


@pytest.fixture(scope="module")
def archive() -> dict[str, tc.Trustee]:
    ca = device_certs.tenant_ca()
    return {"rsa": tc.rsa_trustee(ca), "p256": tc.ec_trustee(ca, "p256")}


@pytest.mark.parametrize("kind", ["rsa", "p256"])
def test_opens_a_sealed_contract_and_openssl_agrees(
    kind: str, archive: dict[str, tc.Trustee], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, cert = archive[kind].write(tmp_path)
    item = tmp_path / "item.cms"
    item.write_bytes(sealed.seal_bytes(PDF, archive[kind].certificate))
    assert main(["open", str(item), "--key", str(key)]) == 0
    out = tmp_path / "item.pdf"
    assert out.read_bytes() == PDF
    assert out.stat().st_mode & 0o077 == 0  # a customer's contract: owner only
    assert "%PDF" not in capsys.readouterr().out  # the content is never printed
    openssl = require_tool("openssl", "openssl")
    done = subprocess.run(
        [openssl, "cms", "-decrypt", "-inform", "DER", "-in", str(item)]
        + ["-inkey", str(key), "-recip", str(cert)],
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    assert done.stdout == PDF


def test_transcript_goes_to_txt_or_out(archive: dict[str, tc.Trustee], tmp_path: Path) -> None:
    key, cert = archive["p256"].write(tmp_path)
    item = tmp_path / "chat.cms"
    item.write_bytes(sealed.seal_bytes(TRANSCRIPT, archive["p256"].certificate))
    assert main(["open", str(item), "--key", str(key)]) == 0
    assert (tmp_path / "chat.txt").read_bytes() == TRANSCRIPT
    chosen = tmp_path / "chosen"
    assert (
        main(["open", str(item), "--key", str(key), "--cert", str(cert), "--out", str(chosen)]) == 0
    )
    assert chosen.read_bytes() == TRANSCRIPT


def test_opens_what_openssl_seals(archive: dict[str, tc.Trustee], tmp_path: Path) -> None:
    openssl = require_tool("openssl", "openssl")
    key, cert = archive["rsa"].write(tmp_path)
    (tmp_path / "plain").write_bytes(PDF)
    sealed_by_openssl = tmp_path / "openssl.cms"
    done = subprocess.run(
        [openssl, "cms", "-encrypt", "-aes-256-gcm", "-binary", "-outform", "DER"]
        + ["-in", str(tmp_path / "plain"), "-out", str(sealed_by_openssl), "-recip", str(cert)]
        + ["-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"]
        + ["-keyopt", "rsa_mgf1_md:sha256"],
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    out = tmp_path / "out.pdf"
    assert main(["open", str(sealed_by_openssl), "--key", str(key), "--out", str(out)]) == 0
    assert out.read_bytes() == PDF


def test_wrong_key_exits_1_and_writes_nothing(
    archive: dict[str, tc.Trustee], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    item = tmp_path / "item.cms"
    item.write_bytes(sealed.seal_bytes(PDF, archive["rsa"].certificate))
    other = tc.rsa_trustee(device_certs.tenant_ca())
    key, _ = other.write(tmp_path / "other")
    assert main(["open", str(item), "--key", str(key)]) == 1
    assert "no_recipient" in capsys.readouterr().err
    assert not (tmp_path / "item.pdf").exists()


def test_tampered_item_exits_1(
    archive: dict[str, tc.Trustee], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, _ = archive["p256"].write(tmp_path)
    blob = bytearray(sealed.seal_bytes(PDF, archive["p256"].certificate))
    blob[-40] ^= 0x01  # inside the ciphertext
    item = tmp_path / "item.cms"
    item.write_bytes(bytes(blob))
    assert main(["open", str(item), "--key", str(key)]) == 1
    assert "tampered" in capsys.readouterr().err
    assert not (tmp_path / "item.pdf").exists()


@given(garbage=st.binary(max_size=512))
def test_garbage_exits_1_with_a_reason(
    garbage: bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    directory = tmp_path_factory.mktemp("garbage")
    key = directory / "k.pem"
    key.write_bytes(_P256_KEY_PEM)
    item = directory / "item.cms"
    item.write_bytes(garbage)
    assert main(["open", str(item), "--key", str(key), "--out", str(directory / "o")]) == 1
    assert not (directory / "o").exists()


_P256_KEY_PEM = tc.ec_trustee(device_certs.tenant_ca(), "p256").key_pem()


def test_usage_errors_exit_2(
    archive: dict[str, tc.Trustee], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, cert = archive["rsa"].write(tmp_path)
    item = tmp_path / "item.cms"
    item.write_bytes(sealed.seal_bytes(PDF, archive["rsa"].certificate))
    assert main(["open", str(tmp_path / "missing.cms"), "--key", str(key)]) == 2
    assert main(["open", str(item), "--key", str(cert)]) == 2  # a certificate is no key
    assert main(["open", str(item)]) == 2  # --key is required
    assert main(["shut", str(item)]) == 2
    encrypted = tmp_path / "enc.key"
    encrypted.write_bytes(archive["rsa"].key_pem(b"pw"))
    assert main(["open", str(item), "--key", str(encrypted)]) == 2
    err = capsys.readouterr().err
    assert "cannot read" in err and "needs --password-file" in err
    password = tmp_path / "pw"
    password.write_bytes(b"pw\n")
    assert main(["open", str(item), "--key", str(encrypted), "--password-file", str(password)]) == 0
    unwritable = tmp_path / "no-such-dir" / "out.pdf"
    assert main(["open", str(item), "--key", str(key), "--out", str(unwritable)]) == 2


def test_console_script_is_declared() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["kiosk-archive"].partition(":")
    assert (module, function) == ("signing.archive_cli", "main")
    assert archive_cli.main is main
