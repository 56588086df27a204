"""The wheel carries the product only; the tooling runs from the source tree."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from setuptools import find_namespace_packages

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = {"protocol", "appliance", "drivers", "kiosk_ui", "provisioning", "hub", "signing"}


def test_the_wheel_holds_the_product_packages_and_no_tooling() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = find_namespace_packages(str(ROOT), include=include)
    assert {name.split(".")[0] for name in packages} == PRODUCT  # no bench, testbed, tests


def test_the_benchmarks_run_from_the_source_tree() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "reconnect" in result.stdout
