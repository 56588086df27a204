"""Statistics from the roll-ups: the definitions, exact against the raw rows, and suppression."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.governance.stats import (
    MAX_DAYS,
    BadRange,
    StatsRange,
    compute,
    hidden_cells,
    iso_day,
    parse_range,
)
from hub.storage import histogram
from hub.storage.records import StatsRows

DAY = 86_400
TODAY = 20_429  # 2025-12-07
START = TODAY * DAY


@dataclass(frozen=True)
class Raw:
    """An ended consultation as the database row holds it."""

    queued_at: float
    accepted_at: float | None
    ended_at: float
    branch: str = ""


def roll_up(rows: list[Raw]) -> StatsRows:
    """The roll-ups as the contract defines them, straight from the rows."""
    hours: defaultdict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    waits: defaultdict[tuple[int, str], Counter[int]] = defaultdict(Counter)
    durations: defaultdict[tuple[int, str], Counter[int]] = defaultdict(Counter)
    for row in rows:
        cell = hours[int(row.queued_at // 3600), row.branch]
        cell[0] += 1
        day = (int(row.queued_at // DAY), row.branch)
        if row.accepted_at is None:
            cell[2] += 1
            waits[day].update()
            durations[day].update()
        else:
            cell[1] += 1
            waits[day][histogram.bucket(row.accepted_at - row.queued_at)] += 1
            durations[day][histogram.bucket(row.ended_at - row.accepted_at)] += 1
    return StatsRows.from_hours(
        hours=[(h, b, c[0], c[1], c[2]) for (h, b), c in hours.items()],
        days=[
            (d, b, histogram.encode(waits[d, b]), histogram.encode(durations[d, b]))
            for (d, b) in waits
        ],
    )


def rank(samples: list[int], p: int) -> int | None:
    """Nearest rank on a sorted list (the reference the roll-ups must agree with)."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(p * len(ordered) / 100)) - 1]


# -- parse_range ---------------------------------------------------------------


def test_the_default_range_is_the_last_thirty_days() -> None:
    assert parse_range(None, None, today=TODAY) == StatsRange(TODAY - 29, TODAY)
    assert parse_range("", "", today=TODAY) == StatsRange(TODAY - 29, TODAY)


def test_one_end_given() -> None:
    assert parse_range(None, "2025-01-31", today=TODAY) == StatsRange(20_090, 20_119)
    assert parse_range("2025-01-01", None, today=TODAY) == StatsRange(20_089, 20_118)
    # from near today: up to today, not into the future
    assert parse_range(iso_day(TODAY - 2), None, today=TODAY) == StatsRange(TODAY - 2, TODAY)


def test_a_year_and_a_leap_day_fit_and_one_more_day_does_not() -> None:
    assert parse_range("2024-01-01", "2024-12-31", today=TODAY).days == MAX_DAYS
    with pytest.raises(BadRange, match="at most 366 days"):
        parse_range("2024-01-01", "2025-01-01", today=TODAY)


@pytest.mark.parametrize(
    ("from_text", "to_text", "message"),
    [
        ("2025-02-01", "2025-01-01", "not be after"),
        ("2025-1-1", None, "YYYY-MM-DD"),
        ("20250101", None, "YYYY-MM-DD"),
        ("2025-02-30", None, "not a date"),
        (None, "2025-13-01", "not a date"),
        ("1969-12-31", None, "1970-01-01 or later"),
        ("2025-01-01T00:00", None, "YYYY-MM-DD"),
        ("２０２５-01-01", None, "YYYY-MM-DD"),  # full-width digits: \d would take them
        ("' OR 1=1 --", None, "YYYY-MM-DD"),
    ],
)
def test_a_bad_range_is_refused_without_repeating_it(
    from_text: str | None, to_text: str | None, message: str
) -> None:
    with pytest.raises(BadRange, match=message) as caught:
        parse_range(from_text, to_text, today=TODAY)
    for text in (from_text, to_text):
        assert not text or text not in str(caught.value)


@given(st.dates(date(1970, 1, 1), date(2100, 1, 1)), st.dates(date(1970, 1, 1), date(2100, 1, 1)))
def test_any_two_dates_give_their_range_or_a_bad_range(a: date, b: date) -> None:
    allowed = a <= b and (b - a).days + 1 <= MAX_DAYS  # both ends count
    try:
        rng = parse_range(a.isoformat(), b.isoformat(), today=TODAY)
    except BadRange:
        assert not allowed
        return
    assert allowed
    assert (iso_day(rng.from_day), iso_day(rng.to_day)) == (a.isoformat(), b.isoformat())
    assert rng.days == (b - a).days + 1


@given(st.text(max_size=30), st.text(max_size=30))
def test_any_text_gives_a_range_or_a_bad_range(a: str, b: str) -> None:
    try:
        rng = parse_range(a, b, today=TODAY)
    except BadRange:
        return
    # what was accepted is a range the dates of its own ends give again, and not too long
    assert parse_range(iso_day(rng.from_day), iso_day(rng.to_day), today=TODAY) == rng
    assert rng.days in range(1, MAX_DAYS + 1)


# -- compute -------------------------------------------------------------------


def at(day: int, hour: int, second: float = 0.0) -> float:
    return (TODAY - 29 + day) * DAY + hour * 3600 + second


def test_a_hand_worked_month() -> None:
    rows = [
        # five calls at the main branch on day 0, 09:00: waits 10..50 s, durations 100..500 s
        *(Raw(at(0, 9), at(0, 9, 10 * i), at(0, 9, 110 * i), "Main") for i in range(1, 6)),
        # one abandoned wait there, the same hour
        Raw(at(0, 9, 5), None, at(0, 9, 65), "Main"),
        # two calls at a kiosk without a label on day 3, 14:00
        *(Raw(at(3, 14), at(3, 14, 2), at(3, 14, 62)) for _ in range(2)),
    ]
    figures = compute(roll_up(rows), StatsRange(TODAY - 29, TODAY), min_cell=3).to_json()
    assert figures["from"] == iso_day(TODAY - 29) and figures["to"] == iso_day(TODAY)
    assert figures["min_cell"] == 3
    assert figures["total"] == {
        "consultations": 8,
        "abandoned": 1,
        "wait_p50_s": 20,  # 2, 2, 10, 20, 30, 40, 50: the 4th of 7
        "wait_p90_s": 50,  # the 7th: ⌈0.9 · 7⌉
        "duration_p50_s": 200,  # 60, 60, 100, 200, 300, 400, 500
        "duration_p90_s": 500,
    }
    days = {d["day"]: d["consultations"] for d in figures["per_day"]}
    assert len(days) == 30
    # day 3 (2 < 3) is hidden; so that 8 - 6 does not give it away, the smallest shown goes too
    assert days[iso_day(TODAY - 29)] is None and days[iso_day(TODAY - 26)] is None
    hours = {h["hour"]: h["consultations"] for h in figures["per_hour"]}
    assert list(hours) == list(range(24))
    assert hours[9] is None and hours[14] is None
    main, unlabelled = figures["branches"]
    assert main["branch"] == "Main" and unlabelled["branch"] is None
    # labelled rows by name, the unlabelled last; both small, so both hidden
    assert all(v is None for b in (main, unlabelled) for k, v in b.items() if k != "branch")
    assert figures["suppressed_cells"] == 30 + 24 + 2


def test_a_cell_of_min_cell_is_shown_and_one_less_is_suppressed() -> None:
    def month(n_main: int) -> dict[str, object]:
        rows = [Raw(at(0, 9), at(0, 9, 30), at(0, 9, 90), "Main") for _ in range(n_main)]
        rows += [Raw(at(1, 10), at(1, 10, 20), at(1, 10, 80), "Side") for _ in range(40)]
        return compute(roll_up(rows), StatsRange(TODAY - 29, TODAY), min_cell=5).to_json()

    shown = month(5)
    branches = {b["branch"]: b for b in shown["branches"]}  # type: ignore[attr-defined]
    assert branches["Main"]["consultations"] == 5
    assert branches["Main"]["wait_p50_s"] == 30
    hidden = month(4)
    branches = {b["branch"]: b for b in hidden["branches"]}  # type: ignore[attr-defined]
    assert all(v is None for k, v in branches["Main"].items() if k != "branch")
    # with Main hidden, Side (the only other row) must go too: 44 - 40 would give Main away
    assert branches["Side"]["consultations"] is None
    assert hidden["total"]["consultations"] == 44  # type: ignore[index]


def test_too_few_accepted_calls_hide_the_percentiles_of_a_shown_row() -> None:
    rows = [Raw(at(0, 9), None, at(0, 9, 60)) for _ in range(9)]
    rows.append(Raw(at(0, 9), at(0, 9, 42), at(0, 9, 99)))
    total = compute(roll_up(rows), StatsRange(TODAY - 29, TODAY), min_cell=5).total
    assert (total.consultations, total.abandoned) == (10, 9)
    # one accepted call: its wait would be one person's wait
    assert total.wait_p50_s is None and total.duration_p90_s is None


def test_nothing_at_all_is_all_suppressed() -> None:
    figures = compute(StatsRows([]), StatsRange(TODAY, TODAY), min_cell=5).to_json()
    assert figures["total"]["consultations"] is None
    assert figures["per_day"] == [{"day": iso_day(TODAY), "consultations": None}]
    assert figures["branches"] == []
    assert figures["suppressed_cells"] == 1 + 24 + 1


def test_rows_outside_the_range_are_not_counted() -> None:
    rows = [Raw(at(d, 12), at(d, 12, 1), at(d, 12, 2)) for d in (-1, 0, 29, 30) for _ in range(5)]
    figures = compute(roll_up(rows), StatsRange(TODAY - 29, TODAY), min_cell=5)
    assert figures.total.consultations == 10


raws = st.builds(
    lambda day, second, wait, talk, accepted, branch: Raw(
        (TODAY - 9 + day) * DAY + second,
        (TODAY - 9 + day) * DAY + second + wait if accepted else None,
        (TODAY - 9 + day) * DAY + second + wait + talk,
        branch,
    ),
    st.integers(0, 9),
    st.floats(0, DAY - 1, allow_nan=False),
    st.floats(0, 2 * DAY, allow_nan=False),
    st.floats(0, 2 * DAY, allow_nan=False),
    st.booleans(),
    st.sampled_from(["", "Main", "Side", "=1+1"]),
)


# each example merges dense numpy histograms: a loaded machine is no failure
@settings(deadline=None)
@given(st.lists(raws, max_size=60))
def test_figures_equal_the_same_aggregation_over_the_raw_rows(rows: list[Raw]) -> None:
    figures = compute(roll_up(rows), StatsRange(TODAY - 9, TODAY), min_cell=1)
    accepted = [r for r in rows if r.accepted_at is not None]
    waits = [histogram.bucket(r.accepted_at - r.queued_at) for r in accepted]  # type: ignore[operator]
    talks = [histogram.bucket(r.ended_at - r.accepted_at) for r in accepted]  # type: ignore[operator]
    if rows:
        assert figures.total.consultations == len(rows)
        assert figures.total.abandoned == len(rows) - len(accepted)
        assert (figures.total.wait_p50_s, figures.total.wait_p90_s) == (
            rank(waits, 50),
            rank(waits, 90),
        )
        assert (figures.total.duration_p50_s, figures.total.duration_p90_s) == (
            rank(talks, 50),
            rank(talks, 90),
        )
    per_day = Counter(int(r.queued_at // DAY) for r in rows)
    # with min_cell 1 only empty cells are null
    assert dict(figures.per_day) == {d: per_day.get(d) for d in range(TODAY - 9, TODAY + 1)}
    per_hour = Counter(int(r.queued_at // 3600) % 24 for r in rows)
    assert dict(figures.per_hour) == {h: per_hour.get(h) for h in range(24)}
    by_branch = Counter(r.branch for r in rows)
    assert {b or "": row.consultations for b, row in figures.branches} == dict(by_branch)


@given(
    st.lists(st.integers(0, 30), max_size=40),
    st.integers(2, 10),
)
def test_hidden_cells_never_add_up_to_a_small_number(counts: list[int], min_cell: int) -> None:
    total_shown = sum(counts) >= min_cell
    hidden = hidden_cells(counts, total_shown=total_shown, min_cell=min_cell)
    assert all(h for n, h in zip(counts, hidden, strict=True) if n < min_cell)
    if total_shown:
        hidden_sum = sum(n for n, h in zip(counts, hidden, strict=True) if h)
        # what a reader can get by subtracting: nothing, or a group of at least min_cell
        assert hidden_sum == 0 or hidden_sum >= min_cell
        # and no more than needed: one cell of min_cell or more covers the small ones
        big = [n for n, h in zip(counts, hidden, strict=True) if h and n >= min_cell]
        assert len(big) <= 1
    else:
        assert all(hidden)


def test_min_cell_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        compute(StatsRows([]), StatsRange(TODAY, TODAY), min_cell=0)


def test_dates_before_the_epoch_day_zero_are_clamped() -> None:
    assert parse_range(None, None, today=3) == StatsRange(0, 3)
    assert iso_day(0) == "1970-01-01"
    assert iso_day(TODAY) == (date(1970, 1, 1) + timedelta(days=TODAY)).isoformat()
