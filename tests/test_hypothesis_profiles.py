"""Under CI=true hypothesis neither times examples nor fails a test for drawing them slowly."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from tests.support.hypothesis_profiles import load_profile


@pytest.fixture
def restored_profile() -> Iterator[None]:
    before = settings.get_current_profile_name()
    try:
        yield
    finally:
        settings.load_profile(before)


@pytest.mark.usefixtures("restored_profile")
def test_ci_profile_has_no_deadline_and_tolerates_slow_draws() -> None:
    assert load_profile({"CI": "true"}) == "ci"
    current = settings.default
    assert current is not None
    assert current.deadline is None
    assert HealthCheck.too_slow in current.suppress_health_check


@pytest.mark.usefixtures("restored_profile")
def test_elsewhere_hypothesis_keeps_its_defaults() -> None:
    assert load_profile({"CI": "false"}) == "default"
    current = settings.default
    assert current is not None
    assert current.deadline is not None
    assert HealthCheck.too_slow not in current.suppress_health_check


def test_the_suite_runs_under_the_profile_of_its_environment() -> None:
    # tests/conftest.py loads it before any test runs (hypothesis alone takes CI=false for CI).
    expected = "ci" if os.environ.get("CI") == "true" else "default"
    assert settings.get_current_profile_name() == expected
