"""Fixtures for hub tests: a real hub on 127.0.0.1 with its database in tmp_path."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from hub.pki.secret import HubSecret
from tests.support.hub import FakeClock, RunningHub, http_session, running_hub
from tests.support.hub_enrol import hub_secret

ADVISER_PASSWORD = "correct horse battery"


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when the test says so."""
    return FakeClock()


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[RunningHub]:
    """A running hub with the real clock."""
    async with running_hub(tmp_path) as running:
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session that keeps cookies from 127.0.0.1."""
    async with http_session() as session:
        yield session


@pytest.fixture
def secret_file(tmp_path: Path) -> tuple[Path, HubSecret]:
    """A hub secret file (``--secret-file``) in tmp_path and the secret it holds."""
    return hub_secret(tmp_path)
