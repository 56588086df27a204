"""Anonymised statistics from the roll-ups: counts, waits and durations, small cells suppressed.

The definitions (docs/statistics.md): a consultation counts once it has ended and is not
restricted, on the UTC day and hour it was queued; abandoned = ended without being accepted;
wait and duration in whole seconds over the accepted ones; percentiles by nearest rank.

Suppression: a cell (a day, an hour of the day, a branch row, the total) with fewer than
``min_cell`` consultations is null. So that no hidden cell can be recovered by subtracting the
shown ones from a shown total, each list also hides its smallest shown cells until what it hides
adds up to none or at least ``min_cell``. Percentiles are null where fewer than ``min_cell``
calls were accepted (they would describe too few people).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from hub.storage import histogram, hour_counts
from hub.storage.records import StatsRows

DEFAULT_DAYS = 30
MAX_DAYS = 366
HOURS = 24
_EPOCH = date(1970, 1, 1)
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class BadRange(ValueError):
    """A statistics range that is not two ISO dates, in order, at most ``MAX_DAYS`` long."""


@dataclass(frozen=True)
class StatsRange:
    """Days since 1970-01-01 (UTC), both ends included."""

    from_day: int
    to_day: int

    @property
    def days(self) -> int:
        """How many days the range spans."""
        return self.to_day - self.from_day + 1


def iso_day(day: int) -> str:
    """``YYYY-MM-DD`` of a day since the epoch."""
    return (_EPOCH + timedelta(days=day)).isoformat()


def _parse_day(text: str, which: str) -> int:
    # the message names the parameter, never the text (it may be anything a client sent)
    if not _ISO_DAY.fullmatch(text):
        raise BadRange(f"'{which}' must be a date written YYYY-MM-DD")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadRange(f"'{which}' is not a date of the calendar") from None
    if day < _EPOCH:
        raise BadRange(f"'{which}' must be 1970-01-01 or later")
    return (day - _EPOCH).days


def parse_range(from_text: str | None, to_text: str | None, *, today: int) -> StatsRange:
    """The range asked for; an empty or missing end makes it the last ``DEFAULT_DAYS`` days.

    Only ``from``: ``DEFAULT_DAYS`` from there (not past today); only ``to``: the
    ``DEFAULT_DAYS`` up to it. Raises ``BadRange`` with a message fit to show.
    """
    start = _parse_day(from_text, "from") if from_text else None
    end = _parse_day(to_text, "to") if to_text else None
    if start is None:
        end = today if end is None else end
        start = end - DEFAULT_DAYS + 1
    elif end is None:
        end = max(start, min(start + DEFAULT_DAYS - 1, today))
    if start > end:
        raise BadRange("'from' must not be after 'to'")
    rng = StatsRange(max(start, 0), end)
    if rng.days > MAX_DAYS:
        raise BadRange(f"a range spans at most {MAX_DAYS} days")
    return rng


@dataclass(frozen=True)
class Row:
    """The figures of one group of consultations (None: suppressed)."""

    consultations: int | None
    abandoned: int | None
    wait_p50_s: int | None
    wait_p90_s: int | None
    duration_p50_s: int | None
    duration_p90_s: int | None

    def to_json(self) -> dict[str, int | None]:
        """The row's keys as the API shows them."""
        return {
            "consultations": self.consultations,
            "abandoned": self.abandoned,
            "wait_p50_s": self.wait_p50_s,
            "wait_p90_s": self.wait_p90_s,
            "duration_p50_s": self.duration_p50_s,
            "duration_p90_s": self.duration_p90_s,
        }


HIDDEN_ROW = Row(None, None, None, None, None, None)


@dataclass(frozen=True)
class Figures:
    """What the statistics page and its CSV show for one range."""

    range: StatsRange
    min_cell: int
    total: Row
    per_day: tuple[tuple[int, int | None], ...]  # (day since the epoch, consultations)
    per_hour: tuple[tuple[int, int | None], ...]  # (UTC hour of the day, consultations)
    branches: tuple[tuple[str | None, Row], ...]  # (label, None: no label)
    suppressed_cells: int

    def to_json(self) -> dict[str, Any]:
        """The API's statistics document (null: suppressed)."""
        return {
            "from": iso_day(self.range.from_day),
            "to": iso_day(self.range.to_day),
            "min_cell": self.min_cell,
            "total": self.total.to_json(),
            "per_day": [{"day": iso_day(d), "consultations": n} for d, n in self.per_day],
            "per_hour": [{"hour": h, "consultations": n} for h, n in self.per_hour],
            "branches": [{"branch": b, **row.to_json()} for b, row in self.branches],
            "suppressed_cells": self.suppressed_cells,
        }


def hidden_cells(counts: Sequence[int], *, total_shown: bool, min_cell: int) -> list[bool]:
    """Which cells of one list to hide: the small ones, and enough others to cover them.

    With the total shown, the hidden cells add up to 0 or at least ``min_cell`` afterwards.
    """
    hidden = [n < min_cell for n in counts]
    if not total_shown:
        return [True] * len(counts)
    hidden_sum = sum(n for n, h in zip(counts, hidden, strict=True) if h)
    shown = sorted((n, i) for i, (n, h) in enumerate(zip(counts, hidden, strict=True)) if not h)
    for n, i in shown:
        if not 0 < hidden_sum < min_cell:
            break
        hidden[i] = True
        hidden_sum += n
    return hidden


_PERCENTILES = (50, 90)


def _row(
    consultations: int,
    abandoned: int,
    waits: histogram.Percentiles,
    durations: histogram.Percentiles,
    min_cell: int,
) -> Row:
    """A shown row; its percentiles only when at least ``min_cell`` calls were accepted."""
    wait_p50, wait_p90 = waits.ranks if waits.n >= min_cell else (None, None)
    duration_p50, duration_p90 = durations.ranks if durations.n >= min_cell else (None, None)
    return Row(consultations, abandoned, wait_p50, wait_p90, duration_p50, duration_p90)


def _sums(keys: npt.NDArray[np.int64], weights: npt.NDArray[np.int64], size: int) -> list[int]:
    # float weights are exact far beyond any count of consultations
    return [int(n) for n in np.bincount(keys, weights=weights, minlength=size)]


def compute(rows: StatsRows, rng: StatsRange, *, min_cell: int) -> Figures:
    """The figures of ``rng`` from the roll-ups, suppressed for ``min_cell`` (≥ 1).

    Vectorised over the rows (one per day and branch): a year of a large tenant is thousands.
    """
    if min_cell < 1:
        raise ValueError("min_cell must be at least 1")
    inside = [row for row in rows.days if rng.from_day <= row[0] <= rng.to_day]
    # labelled branches by name, then the consultations of kiosks without a label
    names = sorted({row[1] for row in inside}, key=lambda name: (name == "", name))
    index = {name: i for i, name in enumerate(names)}
    inside.sort(key=lambda row: index[row[1]])  # by branch: one slice of histograms each
    group = [index[row[1]] for row in inside]
    day = np.array([row[0] - rng.from_day for row in inside], dtype=np.int64)
    counts = hour_counts.decode_many([row[2] for row in inside])  # (rows, 2, 24)
    queued = counts[:, 0, :] + counts[:, 1, :]
    queued_per_row = queued.sum(axis=1)
    abandoned_per_row = counts[:, 1, :].sum(axis=1)
    codes = np.array(group, dtype=np.int64)
    by_queued = _sums(codes, queued_per_row, len(names))
    by_abandoned = _sums(codes, abandoned_per_row, len(names))
    waits, total_waits = histogram.grouped_percentiles(
        [row[3] for row in inside], group, len(names), _PERCENTILES
    )
    durations, total_durations = histogram.grouped_percentiles(
        [row[4] for row in inside], group, len(names), _PERCENTILES
    )
    day_counts = _sums(day, queued_per_row, rng.days)
    by_hour = [int(n) for n in queued.sum(axis=0)]
    total_consultations, total_abandoned = sum(by_queued), sum(by_abandoned)

    total_shown = total_consultations >= min_cell
    day_hidden = hidden_cells(day_counts, total_shown=total_shown, min_cell=min_cell)
    hour_hidden = hidden_cells(by_hour, total_shown=total_shown, min_cell=min_cell)
    branch_hidden = hidden_cells(by_queued, total_shown=total_shown, min_cell=min_cell)
    total = (
        _row(total_consultations, total_abandoned, total_waits, total_durations, min_cell)
        if total_shown
        else HIDDEN_ROW
    )
    return Figures(
        range=rng,
        min_cell=min_cell,
        total=total,
        per_day=tuple(
            (rng.from_day + d, None if hide else n)
            for d, (n, hide) in enumerate(zip(day_counts, day_hidden, strict=True))
        ),
        per_hour=tuple(
            (hour, None if hide else n)
            for hour, (n, hide) in enumerate(zip(by_hour, hour_hidden, strict=True))
        ),
        branches=tuple(
            (
                name or None,
                HIDDEN_ROW
                if hide
                else _row(by_queued[i], by_abandoned[i], waits[i], durations[i], min_cell),
            )
            for i, (name, hide) in enumerate(zip(names, branch_hidden, strict=True))
        ),
        suppressed_cells=sum(day_hidden + hour_hidden + branch_hidden) + (not total_shown),
    )
