"""Plot a signature's writing dynamics to a PNG: stroke shape, speed and pressure over time.

matplotlib is the optional ``verifier`` extra (the kiosk image does not carry it): it is
imported only here, lazily, with the non-interactive Agg backend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from signing import iso19794

EXTRA_HINT = "pip install 'branch-kiosk[verifier]'"


class PlotError(Exception):
    """The plot cannot be made: matplotlib missing, no samples, or the file not writable."""


def plot(record: iso19794.SignRecord, path: Path) -> None:
    """Write ``record``'s dynamics to ``path`` (PNG): shape, speed and pressure over time."""
    points = iso19794.points_from_record(record)
    if not points:
        raise PlotError("the record holds no pen samples to plot")
    pyplot = _pyplot()
    t0 = points[0].t_us
    seconds = [(p.t_us - t0) / 1e6 for p in points]
    figure, (shape, speed, pressure) = pyplot.subplots(
        3, 1, figsize=(8, 10), gridspec_kw={"height_ratios": [2, 1, 1]}
    )
    try:
        _shape(shape, points)
        speed.plot(seconds, _speeds(points), linewidth=0.8)
        speed.set(xlabel="time (s)", ylabel="speed (mm/s)", title="Pen speed")
        if is_constant_pressure(record):
            pressure.plot(seconds, [p.pressure for p in points], linewidth=0.8, color="grey")
            pressure.set_title("Pressure: constant (mouse/touch), not measured")
        else:
            pressure.plot(seconds, [p.pressure for p in points], linewidth=0.8, color="tab:red")
            pressure.set_title("Pressure")
        pressure.set(xlabel="time (s)", ylabel="pressure (0..1)", ylim=(-0.05, 1.05))
        figure.tight_layout()
        try:
            figure.savefig(path, format="png", dpi=100)
        except OSError as exc:
            raise PlotError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        pyplot.close(figure)


def is_constant_pressure(record: iso19794.SignRecord) -> bool:
    """True when the record says its pressure is not measured (mouse, touch screen).

    The record says so with the F channel's "constant" description bit (or no F channel).
    """
    force = record.descriptions.get(iso19794.Channel.F)
    return force is None or force.constant


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot
    except ImportError:
        raise PlotError(f"plotting needs matplotlib: {EXTRA_HINT}") from None
    return pyplot


def _shape(axes: Any, points: Sequence[iso19794.PenPoint]) -> None:
    """Ink where the tip is down; pen-up movements as a faint dotted line."""
    strokes: list[list[iso19794.PenPoint]] = []
    previous_down = False
    for point in points:
        if point.tip_down and not previous_down:
            strokes.append([])
        if point.tip_down:
            strokes[-1].append(point)
        previous_down = point.tip_down
    axes.plot([p.x_mm for p in points], [p.y_mm for p in points], ":", color="0.8", linewidth=0.6)
    for stroke in strokes:
        axes.plot([p.x_mm for p in stroke], [p.y_mm for p in stroke], color="navy", linewidth=1.2)
    axes.set_aspect("equal", adjustable="datalim")
    axes.invert_yaxis()  # tablets count y downwards: draw the writing upright
    axes.set(xlabel="x (mm)", ylabel="y (mm)", title=f"Stroke shape ({len(strokes)} strokes)")


def _speeds(points: Sequence[iso19794.PenPoint]) -> list[float]:
    """Speed in mm/s from each sample to the next (0 for the first and for equal times)."""
    speeds = [0.0]
    for a, b in zip(points, points[1:], strict=False):
        dt_s = (b.t_us - a.t_us) / 1e6
        distance = math.hypot(b.x_mm - a.x_mm, b.y_mm - a.y_mm)
        speeds.append(distance / dt_s if dt_s > 0 else 0.0)
    return speeds
