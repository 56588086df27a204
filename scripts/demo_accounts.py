"""`make demo`'s accounts: the adviser, an administrator and a data-protection officer.

Each is made once with the `kiosk-hub` commands an operator would type (`adviser add`, `admin add
--role admin|dpo`); its password lives in var/demo-NAME.password (0600) and is kept across
starts. The demo kiosk gets a branch label (`device label`), so the statistics group by it.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ADVISER = "demo"
ADMIN = "demo-admin"
DPO = "demo-dpo"
BRANCH = "Demo branch"

HubCommand = Callable[..., subprocess.CompletedProcess[str]]


class DemoAccountError(Exception):
    """A demo account or label could not be set up (the message says which and why)."""


@dataclass(frozen=True)
class DemoLogin:
    """One account the banner shows: its name, password and password file."""

    name: str
    password: str
    password_file: Path


def ensure_account(hub: HubCommand, name: str, role: str, password_file: Path) -> DemoLogin:
    """Create the account once (``role``: adviser, admin or dpo); a lost password file gets
    a new password (`adviser passwd`)."""
    listed = hub("adviser", "list")
    exists = listed.returncode == 0 and any(
        line.split("\t")[1:2] == [name] for line in listed.stdout.splitlines()
    )
    if exists and password_file.exists():
        return DemoLogin(name, password_file.read_text().strip(), password_file)
    password = secrets.token_urlsafe(12)
    _write_secret(password_file, password)
    if exists:
        command = ["adviser", "passwd", name]
    elif role == "adviser":
        command = ["adviser", "add", name]
    else:
        command = ["admin", "add", name, "--role", role]
    result = hub(*command, "--password-file", str(password_file))
    if result.returncode != 0:
        raise DemoAccountError(
            f"could not create the demo {role} {name!r}: {result.stderr.strip()}"
        )
    return DemoLogin(name, password, password_file)


def ensure_governance_accounts(hub: HubCommand, var: Path) -> tuple[DemoLogin, DemoLogin]:
    """The demo administrator and data-protection officer (passwords in ``var``)."""
    admin = ensure_account(hub, ADMIN, "admin", var / f"{ADMIN}.password")
    dpo = ensure_account(hub, DPO, "dpo", var / f"{DPO}.password")
    return admin, dpo


def label_kiosk(hub: HubCommand, device: str) -> None:
    """Give the demo kiosk its branch label (`kiosk-hub device label`)."""
    result = hub("device", "label", device, "--branch", BRANCH)
    if result.returncode != 0:
        raise DemoAccountError(f"could not label the demo kiosk: {result.stderr.strip()}")


def banner_lines(admin: DemoLogin, dpo: DemoLogin, shown: Callable[[Path], str]) -> list[str]:
    """The banner's lines for the administrator and the data-protection officer."""
    return [
        "  Administration (the same login page):",
        f"    administrator:            {admin.name}   password {admin.password}"
        f"   (also in {shown(admin.password_file)})",
        f"    data-protection officer:  {dpo.name}   password {dpo.password}"
        f"   (also in {shown(dpo.password_file)})",
        f"  The demo kiosk's branch label is {BRANCH!r}: statistics group by it.",
    ]


def _write_secret(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text + "\n")
