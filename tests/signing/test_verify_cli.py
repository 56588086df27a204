"""kiosk-verify: exit 0 valid, 1 invalid (with the step), 2 usage or I/O error; --json, --plot.

The CLI runs in-process through ``main(argv)`` (the console script calls the same); one test runs
the installed ``kiosk-verify`` script to prove the entry point is wired.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from signing import iso19794, sealed
from signing.verify_cli import main
from tests.support import signed_pdfs, trustee_certs


@dataclass(frozen=True)
class Files:
    pdf: Path
    ca: Path
    key: Path
    encrypted_key: Path
    password: Path
    other_key: Path
    device_hex: bytes  # the device certificate as it appears in /Contents


def _record() -> bytes:
    points = tuple(
        iso19794.PenPoint(
            t_us=i * 2000, x_mm=5.0 + i * 0.3, y_mm=8.0 + (i % 7), pressure=0.5, tip_down=True
        )
        for i in range(80)
    )
    capture = iso19794.Capture(
        points=points,
        width_mm=100.0,
        height_mm=60.0,
        pressure_levels=2,
        rate_hz=500.0,
        constant_pressure=True,
    )
    return iso19794.encode(iso19794.record_from_capture(capture))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    directory = tmp_path_factory.mktemp("verify-cli")
    kit = signed_pdfs.signing_kit()
    trustee = trustee_certs.ec_trustee(kit.ca)
    evidence = sealed.Evidence(
        record=_record(),
        document_sha256=hashlib.sha256(signed_pdfs.contract()).digest(),
        device=signed_pdfs.DEVICE_NAME,
        signed_at=signed_pdfs.SIGNED_AT,
    )
    pdf = signed_pdfs.signed_contract(kit, evidence=sealed.seal(evidence, trustee.certificate))
    (directory / "signed.pdf").write_bytes(pdf)
    (directory / "ca.pem").write_bytes(kit.ca_pem)
    key, _ = trustee.write(directory)
    (directory / "trustee-enc.key").write_bytes(trustee.key_pem(b"s3cret"))
    (directory / "password").write_bytes(b"s3cret\n")
    other = trustee_certs.ec_trustee(kit.ca)
    other_key, _ = other.write(directory, "other")
    return Files(
        directory / "signed.pdf",
        directory / "ca.pem",
        key,
        directory / "trustee-enc.key",
        directory / "password",
        other_key,
        kit.device.der.hex().upper().encode(),
    )


def test_valid_prints_the_device_and_exits_0(
    files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(files.pdf), "--ca", str(files.ca)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("VALID: signed at the kiosk kiosk-7 at ")
    assert "CN=kiosk-7" in out


def test_trustee_key_and_plot_write_a_png_and_json(
    files: Files, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "dynamics.png"
    argv = [str(files.pdf), "--ca", str(files.ca), "--trustee-key", str(files.key)]
    assert main([*argv, "--plot", str(png), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["valid"] is True and facts["evidence_opened"] is True
    assert facts["record_samples"] == 80
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_encrypted_key_with_password_file(files: Files) -> None:
    argv = [str(files.pdf), "--ca", str(files.ca), "--trustee-key", str(files.encrypted_key)]
    assert main([*argv, "--password-file", str(files.password)]) == 0


def test_wrong_trustee_key_exits_1_naming_decrypt(
    files: Files, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [str(files.pdf), "--ca", str(files.ca), "--trustee-key", str(files.other_key)]
    assert main([*argv, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["step"] == "decrypt"


def test_tampered_file_exits_1_naming_the_step(
    files: Files, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = bytearray(files.pdf.read_bytes())
    data[len(data) // 3] ^= 0x01
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(data))
    assert main([str(tampered), "--ca", str(files.ca)]) == 1
    captured = capsys.readouterr()
    assert captured.out.startswith("INVALID at step ")
    assert "Traceback" not in captured.err


def test_tampered_file_run_as_a_script_prints_no_traceback(files: Files, tmp_path: Path) -> None:
    # a changed byte in the device certificate's signature: pyHanko logs the chain failure
    data = bytearray(files.pdf.read_bytes())
    device = files.device_hex
    position = data.index(device) + len(device) - 10
    data[position] = ord("0") if data[position] != ord("0") else ord("1")
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(bytes(data))
    done = _script(tampered, files.ca)
    assert done.returncode == 1
    assert done.stdout.startswith("INVALID at step ")
    assert "Traceback" not in done.stderr and "kiosk-7" not in done.stderr


def _contents_end(pdf: bytes) -> int:
    """Offset of the closing > of the last signature's /Contents (the last digit is padding)."""
    return pdf.rindex(b"/Contents <") + pdf[pdf.rindex(b"/Contents <") :].index(b">")


@pytest.mark.parametrize("change", ["padding_blank", "signer_algorithm"])
def test_contents_change_run_as_a_script_exits_1_quietly(
    files: Files, tmp_path: Path, change: str
) -> None:
    data = files.pdf.read_bytes()
    if change == "padding_blank":  # a reader skips the blank and pads the digits with 0
        position, new = _contents_end(data) - 1, b" "
    else:  # the SignerInfo's ecdsa-with-SHA256 made SHA384: pyHanko logs a traceback
        position, new = data.rindex(b"06082A8648CE3D040302") + 19, b"3"
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(data[:position] + new + data[position + 1 :])
    done = _script(tampered, files.ca)
    assert done.returncode == 1
    assert done.stdout.startswith("INVALID at step signature")
    assert done.stderr == ""


@pytest.mark.parametrize(
    "argv",
    [
        [],  # no PDF
        ["{pdf}"],  # no --ca
        ["{missing}", "--ca", "{ca}"],  # PDF not there
        ["{pdf}", "--ca", "{pdf}"],  # not a certificate
        ["{pdf}", "--ca", "{ca}", "--trustee-key", "{ca}"],  # not a key
        ["{pdf}", "--ca", "{ca}", "--trustee-key", "{encrypted}"],  # password missing
        ["{pdf}", "--ca", "{ca}", "--trustee-key", "{encrypted}", "--password-file", "{ca}"],
        ["{pdf}", "--ca", "{ca}", "--plot", "x.png"],  # plot without the key
        ["{pdf}", "--ca", "{ca}", "--bogus"],
    ],
)
def test_usage_and_io_errors_exit_2(
    files: Files, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    names = {
        "pdf": files.pdf,
        "ca": files.ca,
        "missing": files.pdf.with_name("missing.pdf"),
        "encrypted": files.encrypted_key,
    }
    assert main([arg.format(**names) for arg in argv]) == 2
    assert "kiosk-verify: " in capsys.readouterr().err


def test_unwritable_plot_exits_2(files: Files, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [str(files.pdf), "--ca", str(files.ca), "--trustee-key", str(files.key)]
    assert main([*argv, "--plot", str(files.pdf.parent / "no-dir" / "x.png")]) == 2
    assert "cannot write" in capsys.readouterr().err


def _script(pdf: Path, ca: Path, *more: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("kiosk-verify")
    return subprocess.run(
        [str(script), str(pdf), "--ca", str(ca), *more], capture_output=True, text=True, check=False
    )


def test_console_script_is_installed(files: Files) -> None:
    done = _script(files.pdf, files.ca, "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["device"] == signed_pdfs.DEVICE_NAME
