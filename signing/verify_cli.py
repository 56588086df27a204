"""``kiosk-verify``: check a contract signed at a kiosk (docs/signature-verifier.md).

Exit 0: valid; 1: invalid (the failed step and why); 2: usage or I/O error (a file missing or
unreadable, a key that does not load, the plot not writable).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509

from signing import verify as verifying
from signing.cli_input import Parser, UsageError, private_key, read_file

VALID, INVALID, USAGE = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="kiosk-verify",
        description="Verify a contract signed at a branch kiosk: PAdES signature, trust in the "
        "tenant CA, coverage, the sealed biometric evidence and (with the trustee's key) its "
        "binding to the document and its ISO 19794-7 record.",
    )
    parser.add_argument("pdf", type=Path, help="the signed PDF")
    parser.add_argument(
        "--ca", type=Path, required=True, action="append", help="tenant CA certificate (PEM/DER)"
    )
    parser.add_argument(
        "--tsa-ca",
        type=Path,
        action="append",
        default=[],
        help="root of a B-T signature's timestamp authority, when not the tenant CA (PEM/DER)",
    )
    parser.add_argument("--trustee-key", type=Path, help="the trustee's private key (PEM/DER)")
    parser.add_argument("--password-file", type=Path, help="file holding the key's password")
    parser.add_argument("--plot", type=Path, help="write the writing dynamics to this PNG")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the verifier; returns (and, as a console script, exits with) 0, 1 or 2."""
    _silence_pyhanko()
    try:
        args = _parser().parse_args(argv)
        if args.password_file and not args.trustee_key:
            raise UsageError("--password-file needs --trustee-key")
        if args.plot and not args.trustee_key:
            raise UsageError("--plot needs --trustee-key (the record is sealed to the trustee)")
        pdf = read_file(args.pdf)
        cas = [cert for path in args.ca for cert in _certificates(path)]
        tsa_cas = [cert for path in args.tsa_ca for cert in _certificates(path)]
        key = (
            private_key(args.trustee_key, args.password_file, role="a trustee key")
            if args.trustee_key
            else None
        )
    except UsageError as exc:
        print(f"kiosk-verify: {exc}", file=sys.stderr)
        return USAGE
    try:
        result = verifying.verify(pdf, ca=cas, tsa_ca=tsa_cas, trustee_key=key)
    except verifying.VerifyError as exc:
        _report_invalid(exc, as_json=args.json)
        return INVALID
    if args.plot and result.record is not None:
        from signing import plot

        try:
            plot.plot(result.record, args.plot)
        except plot.PlotError as exc:
            print(f"kiosk-verify: {exc}", file=sys.stderr)
            return USAGE
    _report_valid(result, args.plot, as_json=args.json)
    return VALID


def _silence_pyhanko() -> None:
    """pyHanko logs a hostile file's failures with tracebacks and bytes from the file: the
    verdict (step and reason) says what failed, so its log stays off the terminal."""
    for name in ("pyhanko", "pyhanko_certvalidator"):
        logger = logging.getLogger(name)
        logger.propagate = False
        if not logger.handlers:  # without any handler, logging's last resort prints to stderr
            logger.addHandler(logging.NullHandler())


def _certificates(path: Path) -> list[x509.Certificate]:
    data = read_file(path)
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise UsageError(f"{path} holds no certificate (PEM or DER)") from None


def _report_invalid(exc: verifying.VerifyError, *, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"valid": False, "step": exc.step, "reason": exc.reason}))
    else:
        print(f"INVALID at step {exc.step}: {exc.reason}")


def _report_valid(result: verifying.Verified, plotted: Path | None, *, as_json: bool) -> None:
    facts: dict[str, object] = {
        "valid": True,
        "signer_subject": result.signer_subject,
        "device": result.device,
        "signed_at": result.signed_at.isoformat(),
        "timestamped": result.timestamped,
        "field": result.field_name,
        "original_length": result.original_length,
        "original_sha256": result.document_sha256.hex(),
        "evidence_bytes": result.evidence_length,
        "evidence_opened": result.evidence is not None,
    }
    if result.evidence is not None and result.record is not None:
        facts["evidence_signed_at"] = result.evidence.signed_at.isoformat()
        facts["record_samples"] = len(result.record.samples)
        facts["record_channels"] = [channel.name for channel in result.record.channels]
    if plotted is not None:
        facts["plot"] = str(plotted)
    if as_json:
        print(json.dumps(facts))
        return
    print(f"VALID: signed at the kiosk {result.device} at {facts['signed_at']}")
    for name, value in facts.items():
        if name != "valid":
            print(f"  {name}: {value}")


if __name__ == "__main__":
    sys.exit(main())
