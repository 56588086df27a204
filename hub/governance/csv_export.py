"""The statistics as CSV, safe to open in a spreadsheet.

A cell that begins with ``= + - @``, a tab or a carriage return would be read by Excel or
LibreOffice as a formula (branch labels are typed by people): such a cell gets a leading
apostrophe, which spreadsheets show as text. Quoting is left to the ``csv`` module.
"""

from __future__ import annotations

import csv
import io

from hub.governance.stats import Figures, Row, iso_day

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
SUPPRESSED = "suppressed"
HEADER = (
    "section",
    "key",
    "consultations",
    "abandoned",
    "wait_p50_s",
    "wait_p90_s",
    "duration_p50_s",
    "duration_p90_s",
)


def safe_cell(value: str) -> str:
    """``value`` as a spreadsheet shows it as text, never as a formula."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def _figures(row: Row) -> list[str]:
    if row.consultations is None:
        return [SUPPRESSED] * 6
    # a shown row's percentiles are empty when too few calls were accepted
    return ["" if v is None else str(v) for v in row.to_json().values()]


def figures_csv(figures: Figures) -> str:
    """One table: the total, then per day, per UTC hour and per branch ("suppressed": hidden)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(HEADER)
    span = f"{iso_day(figures.range.from_day)}..{iso_day(figures.range.to_day)}"
    writer.writerow(["total", span, *_figures(figures.total)])
    for day, n in figures.per_day:
        writer.writerow(["day", iso_day(day), SUPPRESSED if n is None else n, *[""] * 5])
    for hour, n in figures.per_hour:
        writer.writerow(["hour", f"{hour:02d}", SUPPRESSED if n is None else n, *[""] * 5])
    for branch, row in figures.branches:
        writer.writerow(["branch", safe_cell(branch or ""), *_figures(row)])
    return out.getvalue()
