"""The console's JS checks (`make lint`): eslint and tsc pass on the tree, and each one bites.

Each check also runs on a temporary copy of the console with one injected mistake, so a config
that silently checks nothing (wrong include, rules off, checkJs lost) fails here.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.requirements import require

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "node_modules" / ".bin"
CONFIGS = ("package.json", "tsconfig.json", "eslint.config.mjs")


@pytest.fixture(scope="module")
def tools() -> Path:
    """The directory holding eslint and tsc, installed from package-lock.json."""
    require(
        (BIN / "eslint").exists() and (BIN / "tsc").exists() and shutil.which("node") is not None,
        "the console's JS tools are missing: run make test (npm ci)",
    )
    return BIN


def run(tool: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run one check in ``cwd``; its output is kept for the assertion messages."""
    return subprocess.run(
        [str(tool), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def eslint(tools: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run(tools / "eslint", ["hub/web"], cwd)


def tsc(tools: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run(tools / "tsc", ["-p", "tsconfig.json"], cwd)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of the console and its check configs, sharing the installed node_modules."""
    shutil.copytree(ROOT / "hub" / "web", tmp_path / "hub" / "web")
    for name in CONFIGS:
        shutil.copy2(ROOT / name, tmp_path / name)
    (tmp_path / "node_modules").symlink_to(ROOT / "node_modules", target_is_directory=True)
    return tmp_path


def inject(copy: Path, name: str, code: str) -> None:
    """Append ``code`` to the copy's hub/web/``name``."""
    path = copy / "hub" / "web" / name
    path.write_text(path.read_text(encoding="utf-8") + "\n" + code + "\n", encoding="utf-8")


def test_eslint_passes_on_the_console(tools: Path) -> None:
    result = eslint(tools, ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_tsc_passes_on_the_console(tools: Path) -> None:
    result = tsc(tools, ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_eslint_fails_on_an_undefined_variable(tools: Path, copy: Path) -> None:
    assert eslint(tools, copy).returncode == 0  # the copy is clean before the injection
    inject(copy, "app.js", "export const injected = notDefinedAnywhere + 1;")
    result = eslint(tools, copy)
    assert result.returncode != 0
    assert "'notDefinedAnywhere' is not defined" in result.stdout
    assert "no-undef" in result.stdout


def test_tsc_fails_on_a_wrong_argument_type(tools: Path, copy: Path) -> None:
    assert tsc(tools, copy).returncode == 0  # the copy is clean before the injection
    # formatBytes takes a number of bytes; a string must not pass.
    code = 'import { formatBytes as injected } from "./views.js";\ninjected("many");'
    inject(copy, "app.js", code)
    result = tsc(tools, copy)
    assert result.returncode != 0
    assert "hub/web/app.js" in result.stdout
    assert "error TS2345" in result.stdout  # Argument of type 'string' is not assignable ...
