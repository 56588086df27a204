"""The statistics CSV: one table, and never a formula in a spreadsheet."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.governance.csv_export import FORMULA_STARTS, HEADER, figures_csv, safe_cell
from hub.governance.stats import Figures, StatsRange, compute
from hub.storage import histogram
from hub.storage.records import StatsRows

DAY = 86_400
TODAY = 20_429


def figures_for(branches: dict[str, int], *, min_cell: int = 5) -> Figures:
    """Figures with ``count`` calls per branch on one day (each waited 30 s, talked 60 s)."""
    hour = TODAY * 24 + 9
    rows = StatsRows.from_hours(
        hours=[(hour, name, n, n, 0) for name, n in branches.items()],
        days=[
            (TODAY, name, histogram.encode({30: n}), histogram.encode({60: n}))
            for name, n in branches.items()
        ],
    )
    return compute(rows, StatsRange(TODAY - 1, TODAY), min_cell=min_cell)


def read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_the_table() -> None:
    table = read(figures_csv(figures_for({"Main": 6, "Side": 7, "": 8})))
    assert tuple(table[0]) == HEADER
    assert table[1] == ["total", "2025-12-06..2025-12-07", "21", "0", "30", "30", "60", "60"]
    days = [row for row in table if row[0] == "day"]
    assert days == [
        ["day", "2025-12-06", "suppressed", "", "", "", "", ""],
        ["day", "2025-12-07", "21", "", "", "", "", ""],
    ]
    hours = [row for row in table if row[0] == "hour"]
    assert len(hours) == 24 and hours[9][1:3] == ["09", "21"]
    assert hours[0][2] == "suppressed"
    assert [row for row in table if row[0] == "branch"] == [
        ["branch", "Main", "6", "0", "30", "30", "60", "60"],
        ["branch", "Side", "7", "0", "30", "30", "60", "60"],
        ["branch", "", "8", "0", "30", "30", "60", "60"],
    ]


def test_a_suppressed_row_says_so_in_every_column() -> None:
    table = read(figures_csv(figures_for({"Main": 3, "Side": 30})))
    branches = [row for row in table if row[0] == "branch"]
    assert branches == [
        ["branch", "Main", *["suppressed"] * 6],
        ["branch", "Side", *["suppressed"] * 6],
    ]


@pytest.mark.parametrize(
    "label",
    [
        '=HYPERLINK("http://x","y")',
        "+1+1",
        "-2+3",
        "@SUM(A1)",
        "\t=1",
        "\r=1",
        "=cmd|' /C calc'!A0",
    ],
)
def test_a_label_that_a_spreadsheet_would_run_is_text(label: str) -> None:
    table = read(figures_csv(figures_for({label: 9})))
    (row,) = [row for row in table if row[0] == "branch"]
    assert row[1] == "'" + label


@pytest.mark.parametrize(
    "label", ['Say "hi"', "two\nlines", "a,b", "Zürich Hbf", " leading space", "'quoted"]
)
def test_quotes_commas_and_newlines_survive_the_round_trip(label: str) -> None:
    table = read(figures_csv(figures_for({label: 9})))
    (row,) = [row for row in table if row[0] == "branch"]
    assert row == ["branch", label, "9", "0", "30", "30", "60", "60"]


# each example merges dense numpy histograms: a loaded machine is no failure
@settings(deadline=None)
@given(st.text(min_size=1, max_size=40))
def test_no_cell_of_any_label_starts_a_formula(label: str) -> None:
    text = figures_csv(figures_for({label: 9}))
    table = read(text)
    (row,) = [row for row in table if row[0] == "branch"]
    assert row[1] == safe_cell(label)
    assert row[1] == ("'" + label if label.startswith(FORMULA_STARTS) else label)
    for cells in table:
        assert not any(cell.startswith(FORMULA_STARTS) for cell in cells)
