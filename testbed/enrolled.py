"""A kiosk of the process stack enrolled as a technician does it (docs/enrolment.md).

``kiosk-hub secret create``, ``kiosk-hub serve --secret-file``, ``kiosk-hub device enrol`` (a
one-time code and the tenant CA's fingerprint, read from what it prints), then ``kiosk enrol``
with both into an identity directory of its own; ``kiosk run --identity-dir`` then says hello
with its certificate and signs its calls.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from testbed.stack import BIN, HarnessError, Stack


@dataclass(frozen=True)
class EnrolledKiosk:
    """What the technician ends up with: the identity directory and the CA fingerprint."""

    name: str
    identity_dir: Path
    ca_fingerprint: str  # 64 lower-case hex digits, as `kiosk-hub device enrol` printed it


def _run(*args: str) -> str:
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=60)
    if done.returncode != 0:
        raise HarnessError(f"{Path(args[0]).name} {args[1]} failed: {done.stderr}")
    return done.stdout


def start_hub_with_secret(stack: Stack) -> Path:
    """Start the stack's hub with a fresh hub secret (tenant CAs, enrolment); return its path."""
    stack.workdir.mkdir(parents=True, exist_ok=True)
    secret = stack.workdir / "hub-secret"
    if not secret.exists():
        _run(str(BIN / "kiosk-hub"), "secret", "create", str(secret))
    stack.start_hub("--secret-file", str(secret))
    return secret


def enrol(stack: Stack, secret: Path, name: str = "kiosk-7") -> EnrolledKiosk:
    """A code from the hub for ``name``, and ``kiosk enrol`` with it; the hub must be running."""
    printed = _run(
        str(BIN / "kiosk-hub"), "device", "enrol", name, "--db", str(stack.db),
        "--secret-file", str(secret), "--hub-url", stack.url, "--ttl", "10m",
    )  # fmt: skip
    code = re.search(r"^\s*code:\s+(\S+)$", printed, re.MULTILINE)
    fingerprint = re.search(r"--ca-fingerprint ([0-9a-f]{64})", printed)
    if code is None or fingerprint is None:
        raise HarnessError(f"no code in what `kiosk-hub device enrol` printed: {printed}")
    identity_dir = stack.workdir / f"identity-{name}"
    _run(
        str(BIN / "kiosk"), "enrol", "--hub", stack.url, "--code", code.group(1),
        "--ca-fingerprint", fingerprint.group(1), "--identity-dir", str(identity_dir),
        "--simulate",
    )  # fmt: skip
    return EnrolledKiosk(name, identity_dir, fingerprint.group(1))
