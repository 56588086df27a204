"""What a test needs from the machine: missing means fail under CI=true, skip elsewhere."""

from __future__ import annotations

import os
import shutil

import pytest


def require(condition: bool, message: str) -> None:
    """Fail under CI (it must have everything), skip with ``message`` elsewhere."""
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def require_tool(name: str, package: str) -> str:
    """The path of command ``name``; the message says which Debian package brings it."""
    path = shutil.which(name)
    require(path is not None, f"{name} is missing: apt-get install {package} (make test does this)")
    assert path is not None
    return path
