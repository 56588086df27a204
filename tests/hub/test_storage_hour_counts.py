"""The roll-ups' hour counts codec: round trips, adjustments, and damaged blobs refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.storage import hour_counts
from hub.storage.hour_counts import HOURS, SIZE, HourCountsError

counts = st.lists(st.integers(0, 2**32 - 1), min_size=HOURS, max_size=HOURS)


@given(counts, counts)
def test_encode_and_decode_round_trip(accepted: list[int], abandoned: list[int]) -> None:
    blob = hour_counts.encode(accepted, abandoned)
    assert len(blob) == (SIZE if any(accepted + abandoned) else 0)
    assert hour_counts.decode(blob) == (accepted, abandoned)
    many = hour_counts.decode_many([blob, b"", blob])
    assert many.shape == (3, 2, HOURS)
    assert many[0].tolist() == many[2].tolist() == [accepted, abandoned]
    assert many[1].tolist() == [[0] * HOURS, [0] * HOURS]


@given(st.lists(st.tuples(st.integers(0, HOURS - 1), st.booleans()), max_size=30))
def test_adjust_adds_and_takes_back_to_the_empty_blob(steps: list[tuple[int, bool]]) -> None:
    blob = b""
    for hour, accepted in steps:
        blob = hour_counts.adjust(blob, hour, accepted=accepted, delta=1)
    accepted_counts, abandoned_counts = hour_counts.decode(blob)
    assert sum(accepted_counts) == sum(1 for _, a in steps if a)
    assert sum(abandoned_counts) == sum(1 for _, a in steps if not a)
    for hour, accepted in reversed(steps):
        blob = hour_counts.adjust(blob, hour, accepted=accepted, delta=-1)
    assert blob == b""


def test_a_negative_count_is_a_bug_and_refused() -> None:
    blob = hour_counts.adjust(b"", 9, accepted=True, delta=1)
    with pytest.raises(HourCountsError, match="negative"):
        hour_counts.adjust(blob, 9, accepted=False, delta=-1)


@pytest.mark.parametrize("hour", [-1, HOURS, True, 1.0])
def test_an_hour_outside_the_day_is_refused(hour: object) -> None:
    with pytest.raises(HourCountsError, match="hour of the day"):
        hour_counts.adjust(b"", hour, accepted=True, delta=1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("accepted", "abandoned"),
    [
        ([0] * 23, [0] * 24),
        ([0] * 24, [0] * 25),
        ([-1] + [0] * 23, [0] * 24),
        ([2**32] + [0] * 23, [0] * 24),
        ([True] + [0] * 23, [0] * 24),
    ],
)
def test_impossible_counts_are_refused(accepted: list[int], abandoned: list[int]) -> None:
    with pytest.raises(HourCountsError):
        hour_counts.encode(accepted, abandoned)


@given(st.binary(max_size=2 * SIZE))
def test_any_bytes_decode_or_raise_hour_counts_error(blob: bytes) -> None:
    try:
        decoded = hour_counts.decode(blob)
    except HourCountsError:
        assert len(blob) not in (0, SIZE)
        with pytest.raises(HourCountsError):
            hour_counts.decode_many([b"", blob])
        return
    # an all-zero blob of full size decodes too, but is never written (b"" is)
    assert hour_counts.encode(*decoded) in (blob, b"")
