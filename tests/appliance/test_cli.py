"""The ``kiosk`` console script: ``kiosk wipe`` starts without the call's imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PROBE = """
import json, sys
from appliance.cli import main
status = main(sys.argv[1:])
names = ("aiortc", "aiohttp", "av", "pygame", "appliance.__main__")
heavy = sorted(m for m in names if m in sys.modules)
print(json.dumps({"status": status, "heavy": heavy}))
"""


def _run(*args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True
    )
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_wipe_imports_only_the_custody_code(tmp_path: Path) -> None:
    """ExecStartPre's wipe runs before every start: it must not wait for aiortc and the UI."""
    vault = tmp_path / "vault"
    vault.mkdir(mode=0o700)
    (vault / "leftover").write_bytes(b"x" * 100)
    result = _run("wipe", "--vault", str(vault), "--verify")
    assert result == {"status": 0, "heavy": []}
    assert not (vault / "leftover").exists()


def test_other_commands_go_to_the_full_kiosk() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, "run", "--window", "1x1", "--no-ui", "--simulate"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "--window '1x1': size out of range" in done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["status"] == 2
