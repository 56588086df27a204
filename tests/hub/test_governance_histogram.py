"""The roll-ups' histogram codec: round trips, merges and nearest-rank percentiles."""

from __future__ import annotations

import math
from collections import Counter
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.storage import histogram
from hub.storage.histogram import CAP_S, HistogramError

seconds = st.integers(min_value=0, max_value=CAP_S)
histograms = st.dictionaries(seconds, st.integers(min_value=1, max_value=10_000), max_size=40)
percentiles = st.one_of(
    st.integers(min_value=0, max_value=100), st.floats(min_value=0, max_value=100)
)


def sorted_list_rank(samples: list[int], p: float) -> int | None:
    """The reference: sort every sample, take the k-th, k = max(1, ⌈p·n/100⌉) in exact math."""
    if not samples:
        return None
    ordered = sorted(samples)
    n = len(ordered)
    # the decimal the percentile is written as (90, 99.9), times n, rounded up
    k = max(1, math.ceil(Decimal(repr(p)) * n / 100))
    return ordered[k - 1]


@given(histograms)
def test_encode_and_decode_round_trip(counts: dict[int, int]) -> None:
    blob = histogram.encode(counts)
    assert histogram.decode(blob) == counts
    assert (blob == b"") == (not counts)


@given(histograms, seconds, st.integers(min_value=1, max_value=50))
def test_adjust_adds_and_takes_back(counts: dict[int, int], value: int, delta: int) -> None:
    blob = histogram.encode(counts)
    raised = histogram.adjust(blob, value, delta)
    expected = dict(counts)
    expected[value] = expected.get(value, 0) + delta
    assert histogram.decode(raised) == expected
    assert histogram.adjust(raised, value, -delta) == blob


def test_adjust_to_zero_leaves_the_empty_blob_and_none_is_empty() -> None:
    one = histogram.adjust(None, 12, 1)
    assert histogram.decode(one) == {12: 1}
    assert histogram.adjust(one, 12, -1) == b""


def test_a_negative_count_is_a_bug_and_refused() -> None:
    with pytest.raises(HistogramError, match="negative"):
        histogram.adjust(histogram.encode({5: 1}), 5, -2)
    with pytest.raises(HistogramError):
        histogram.adjust(None, 5, -1)
    with pytest.raises(HistogramError):
        histogram.encode({5: -1})


@pytest.mark.parametrize("value", [-1, CAP_S + 1, True, 1.5])
def test_values_outside_a_day_are_refused(value: object) -> None:
    with pytest.raises(HistogramError):
        histogram.encode({value: 1})  # type: ignore[dict-item]
    with pytest.raises(HistogramError):
        histogram.adjust(None, value, 1)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "blob",
    [
        b"\x01",  # header only
        b"\x02" + histogram.encode({1: 1})[1:],  # unknown version
        histogram.encode({1: 1})[:-1],  # truncated
        b"\x01" + bytes.fromhex("05000000 01000000 03000000 01000000"),  # unsorted
        b"\x01" + bytes.fromhex("05000000 00000000"),  # zero count
        b"\x01" + (CAP_S + 1).to_bytes(4, "little") + (1).to_bytes(4, "little"),
    ],
)
def test_a_damaged_blob_is_refused_everywhere(blob: bytes) -> None:
    with pytest.raises(HistogramError):
        histogram.decode(blob)
    with pytest.raises(HistogramError):
        histogram.merge([blob])
    # merged with good blobs (one pass over all of them), it is still caught
    good = histogram.encode({7: 2, 9: 1})
    with pytest.raises(HistogramError):
        histogram.merge([good, blob, good])
    with pytest.raises(HistogramError):
        histogram.grouped_percentiles([good, blob, good], [1, 0, 1], 2, [50])
    with pytest.raises(HistogramError):
        histogram.adjust(blob, 1, 1)


@given(st.binary(max_size=40))
def test_any_bytes_decode_or_raise_histogram_error(blob: bytes) -> None:
    try:
        counts = histogram.decode(blob)
    except HistogramError:
        return
    assert histogram.encode(counts) == blob


# each example merges dense numpy histograms: a loaded machine is no failure
@settings(deadline=None)
@given(st.lists(histograms, max_size=8))
def test_merge_is_the_sum_of_the_parts(parts: list[dict[int, int]]) -> None:
    values, counts = histogram.merge(histogram.encode(part) for part in parts)
    total: Counter[int] = Counter()
    for part in parts:
        total.update(part)
    assert values.tolist() == sorted(total)
    assert counts.tolist() == [total[v] for v in sorted(total)]


# each example merges dense numpy histograms: a loaded machine is no failure
@settings(deadline=None)
@given(st.lists(seconds, max_size=200), percentiles)
def test_nearest_rank_equals_the_sorted_list(samples: list[int], p: float) -> None:
    values, counts = histogram.merge([histogram.encode(Counter(samples))])
    assert histogram.nearest_rank(values, counts, p) == sorted_list_rank(samples, p)


def test_nearest_rank_by_hand() -> None:
    # ten waits of 1..10 s: the median is the 5th, the 90th percentile the 9th (not the 10th)
    values, counts = list(range(1, 11)), [1] * 10
    assert histogram.nearest_rank(values, counts, 50) == 5
    assert histogram.nearest_rank(values, counts, 90) == 9
    assert histogram.nearest_rank(values, counts, 0) == 1
    assert histogram.nearest_rank(values, counts, 100) == 10
    assert histogram.nearest_rank([], [], 50) is None


def test_nearest_rank_counts_in_exact_arithmetic() -> None:
    # in floats 7 / 100 · 100 is 7.000000000000001, which rounds up to the 8th
    values, counts = list(range(1, 101)), [1] * 100
    assert histogram.nearest_rank(values, counts, 7) == 7
    assert histogram.nearest_rank(values, counts, 3.5) == 4
    assert histogram.nearest_rank(list(range(1, 201)), [1] * 200, 3.5) == 7


@pytest.mark.parametrize("p", [-1, 101, math.nan])
def test_a_percentile_out_of_range_is_refused(p: float) -> None:
    with pytest.raises(HistogramError):
        histogram.nearest_rank([1], [1], p)


@given(st.floats(allow_nan=False))
def test_bucket_floors_and_clamps(seconds_: float) -> None:
    got = histogram.bucket(seconds_)
    # the reference: below zero counts as 0, past the cap as the cap, else whole seconds down
    if seconds_ < 0:
        assert got == 0
    elif seconds_ >= CAP_S:
        assert got == CAP_S
    else:
        assert got == math.floor(seconds_)


def test_bucket_refuses_nan() -> None:
    with pytest.raises(HistogramError):
        histogram.bucket(math.nan)


# each example fills a numpy table of every second per group: a loaded machine is no failure
@settings(deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), histograms), max_size=12),
    st.lists(percentiles, min_size=1, max_size=3),
)
def test_grouped_percentiles_equal_each_group_merged_alone(
    parts: list[tuple[int, dict[int, int]]], ps: list[float]
) -> None:
    blobs = [histogram.encode(counts) for _, counts in parts]
    groups = [group for group, _ in parts]
    found, whole = histogram.grouped_percentiles(blobs, groups, 4, ps)
    assert len(found) == 4
    for group, got in enumerate(found):
        values, counts = histogram.merge(
            b for b, g in zip(blobs, groups, strict=True) if g == group
        )
        assert got.n == int(counts.sum())
        assert got.ranks == tuple(histogram.nearest_rank(values, counts, p) for p in ps)
    values, counts = histogram.merge(blobs)
    assert whole.n == int(counts.sum())
    assert whole.ranks == tuple(histogram.nearest_rank(values, counts, p) for p in ps)


def test_grouped_percentiles_bound_their_table_for_many_groups() -> None:
    # more groups than one table chunk holds, handed over out of group order
    n_groups = 60
    blobs = [histogram.encode({i: 1, CAP_S: 1}) for i in range(n_groups)]
    groups = [n_groups - 1 - i for i in range(n_groups)]
    found, whole = histogram.grouped_percentiles(blobs, groups, n_groups, [50, 100])
    assert [p.ranks for p in found] == [(n_groups - 1 - g, CAP_S) for g in range(n_groups)]
    assert whole.n == 2 * n_groups and whole.ranks == (n_groups - 1, CAP_S)


@pytest.mark.parametrize(
    ("n_blobs", "groups", "n_groups", "ps"),
    [
        (2, [0, 2], 2, [50]),  # a group past the last
        (2, [0, -1], 2, [50]),
        (2, [0], 2, [50]),  # a blob without a group
        (2, [0, 1], 2, [101]),
        (0, [], 0, [-1]),  # a bad percentile also with nothing to rank
    ],
)
def test_grouped_percentiles_refuse_bad_groups_and_percentiles(
    n_blobs: int, groups: list[int], n_groups: int, ps: list[float]
) -> None:
    blobs = [histogram.encode({5: 1})] * n_blobs
    with pytest.raises(ValueError, match="group|percentile"):
        histogram.grouped_percentiles(blobs, groups, n_groups, ps)
