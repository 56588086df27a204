"""The retention settings explained, and changes typed by people checked."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.governance import retention
from hub.governance.retention import BadSetting, check_changes
from hub.storage.records import RETENTION_LIMITS, Retention
from tests.support.admin_api import RETENTION_DEFAULTS


def test_every_setting_is_described_with_its_default_and_limits() -> None:
    keys = [f.name for f in dataclasses.fields(Retention)]
    assert [s.key for s in retention.describe()] == keys == list(RETENTION_LIMITS)
    for setting in retention.describe():
        assert setting.minimum <= setting.default <= setting.maximum
        assert setting.label and setting.meaning and setting.unit in ("days", "consultations")
    assert retention.defaults() == RETENTION_DEFAULTS
    assert retention.limits()["access_log_days"] == [1, 90]
    json.dumps([s.to_json() for s in retention.describe()])


def test_values_of_a_tenant() -> None:
    assert retention.values(Retention(consultations_days=30))["consultations_days"] == 30


def test_good_changes() -> None:
    assert check_changes({"consultations_days": 30, "stats_min_cell": "10"}) == {
        "consultations_days": 30,
        "stats_min_cell": 10,
    }
    assert check_changes({"audit_days": 365}) == {"audit_days": 365}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({}, "no retention setting"),
        ({"forever": 1}, "unknown retention setting; known: consultations_days"),
        ({"consultations_days": 6}, "between 7 and 3650 days"),
        ({"consultations_days": 3651}, "between 7 and 3650 days"),
        ({"access_log_days": 0}, "between 1 and 90 days"),
        ({"stats_min_cell": 1}, "between 2 and 100 consultations"),
        ({"consultations_days": True}, "whole number of days"),
        ({"consultations_days": 30.0}, "whole number of days"),
        ({"consultations_days": "30 days"}, "whole number of days"),
        ({"consultations_days": "٣٠"}, "whole number of days"),  # Arabic-Indic digits
        ({"consultations_days": None}, "whole number of days"),
        ({"consultations_days": "9" * 400}, "whole number of days"),
    ],
)
def test_bad_changes_are_refused_naming_the_key(changes: dict[str, object], message: str) -> None:
    with pytest.raises(BadSetting, match=message):
        check_changes(changes)


@given(st.dictionaries(st.sampled_from(list(RETENTION_LIMITS)), st.integers(-10, 5000), min_size=1))
def test_a_change_is_accepted_exactly_when_within_its_limits(changes: dict[str, int]) -> None:
    within = all(RETENTION_LIMITS[k][0] <= v <= RETENTION_LIMITS[k][1] for k, v in changes.items())
    try:
        checked = check_changes(changes)
    except BadSetting:
        assert not within
        return
    assert within and checked == changes
