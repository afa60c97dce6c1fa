"""The learning-curve chart: error against training-set size on a log axis, the measured
points with their intervals, the fitted power laws carried past the largest size to the
forecast, and human-level error drawn across. Built like the other charts (evaluation/charts.py:
object API, fixed style, deterministic PNG)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from evaluation.charts import (
    DPI,
    STAGE_COLOURS,
    STAGE_MARKERS,
    PointStyle,
    _percent_axis,
    _png,
    _short,
    _style,
    _whiskers,
)
from evaluation.diagnosis import STAGE_NAMES
from evaluation.power_law import PowerLaw
from evaluation.rows_learning_curves import CurveName, CurveStage
from evaluation.rows_stored import StoredRow
from warehouse.slice_names import OVERALL, SliceKey

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

CURVE_STAGES: tuple[CurveStage, ...] = ("train", "train_dev", "dev")
MAX_SLICES = 6  # dev curves of flagged slices beside the overall ones; more would be a tangle
#: Okabe-Ito colours the stages do not use, for the slices' dev curves.
SLICE_COLOURS = ("#009E73", "#CC79A7", "#D55E00", "#0072B2", "#F0E442", "#999999")
MAX_EXTRAPOLATION = 100  # the fitted line goes at most this many times past the largest size


def learning_curve_chart(
    points: Sequence[StoredRow], forecasts: Sequence[StoredRow], title: str
) -> bytes:
    """PNG of the learning curves (LEARNING_CURVE_COLUMNS and _FORECAST_COLUMNS rows, built
    by evaluation/curve_forecasts.py or read back from the lake)."""
    with _style():
        return _png(learning_curve_figure(points, forecasts, title))


def learning_curve_figure(
    points: Sequence[StoredRow], forecasts: Sequence[StoredRow], title: str
) -> Figure:
    """The figure behind `learning_curve_chart`, for inspection."""
    from matplotlib.figure import Figure

    slices = _slices_with_dev_curves(forecasts)[:MAX_SLICES]
    with _style():
        fig = Figure(figsize=(12, 5) if slices else (7, 5), dpi=DPI, layout="constrained")
        axes = fig.subplots(1, 2 if slices else 1, squeeze=False)[0]
        overall = axes[0]
        for stage in CURVE_STAGES:
            style = PointStyle(STAGE_COLOURS[stage], STAGE_MARKERS[stage])
            _draw_curve(overall, points, forecasts, OVERALL, stage, STAGE_NAMES[stage], style)
        _human_line(overall, forecasts, OVERALL)
        _finish(overall, "Overall", points, [OVERALL])
        if slices:
            for key, colour in zip(slices, SLICE_COLOURS, strict=False):
                style = PointStyle(colour, "^")
                label = _short(f"{key[0]} = {key[1]}")
                _draw_curve(axes[1], points, forecasts, key, "dev", label, style)
            _human_line(axes[1], forecasts, OVERALL)
            _finish(axes[1], "Dev error of the flagged slices", points, slices)
        fig.suptitle(
            f"{title}\nLines: fitted c + a·n^-b, carried on; whiskers: 95% intervals",
            x=0.01,
            ha="left",
        )
    return fig


def _slices_with_dev_curves(forecasts: Sequence[StoredRow]) -> list[SliceKey]:
    keys: list[SliceKey] = [
        (r["slice_column"], r["slice_value"]) for r in forecasts if r["curve"] == "dev"
    ]
    return [k for k in dict.fromkeys(keys) if k != OVERALL]


def _draw_curve(
    ax: Axes,
    points: Sequence[StoredRow],
    forecasts: Sequence[StoredRow],
    key: SliceKey,
    stage: CurveStage,
    label: str,
    style: PointStyle,
) -> None:
    """One stage's measured points with 95% whiskers and its fitted curve, extended."""
    measured = sorted(
        (r for r in points if (r["slice_column"], r["slice_value"]) == key and r["stage"] == stage),
        key=lambda r: r["n_train"],
    )
    if not measured:
        return
    xs = [r["n_train"] for r in measured]
    ys = [100 * r["error_rate"] for r in measured]
    whiskers = _whiskers(ys, [(r["ci_low"], r["ci_high"]) for r in measured])
    ax.errorbar(
        xs,
        ys,
        yerr=whiskers,
        linestyle="none",
        capsize=2,
        label=label,
        color=style.color,
        marker=style.marker,
    )
    fit = _forecast(forecasts, key, stage)
    if fit is not None:
        law = PowerLaw(fit["floor"], fit["scale_a"], fit["exponent_b"], fit["n_largest"])
        end = fit["n_largest"] * 4
        if fit.get("n_needed"):
            end = max(end, min(fit["n_needed"] * 1.5, fit["n_largest"] * MAX_EXTRAPOLATION))
        line = np.geomspace(min(xs), end, 100)
        ax.plot(line, 100 * law(line), color=style.color, linewidth=1.2, gid=f"fit-{stage}")


def _forecast(forecasts: Sequence[StoredRow], key: SliceKey, curve: CurveName) -> StoredRow | None:
    for row in forecasts:
        if (row["slice_column"], row["slice_value"]) == key and row["curve"] == curve:
            return row
    return None


def _human_line(ax: Axes, forecasts: Sequence[StoredRow], key: SliceKey) -> None:
    dev = _forecast(forecasts, key, "dev")
    if dev is not None and dev["target_error"] is not None:
        ax.axhline(
            100 * dev["target_error"],
            color=STAGE_COLOURS["human_level"],
            linestyle="--",
            linewidth=1,
            label=STAGE_NAMES["human_level"],
            gid="human_level",
        )


def _finish(ax: Axes, subtitle: str, points: Sequence[StoredRow], keys: list[SliceKey]) -> None:
    from matplotlib.ticker import FuncFormatter, NullFormatter

    ax.set_xscale("log")
    # Plain numbers: the style turns mathtext off, so the log axis's 10^k labels would show
    # as source text.
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    _percent_axis(ax.yaxis, ax.set_ylim)
    shown = [r["ci_high"] for r in points if (r["slice_column"], r["slice_value"]) in keys]
    ax.set_ylim(0, 105 * max(shown, default=0.01))  # the slices' widest whiskers set the top
    ax.set_xlabel("training examples (log scale)")
    ax.set_ylabel("error")
    ax.grid(color="#dddddd", linewidth=0.6, which="both")
    ax.set_axisbelow(True)
    ax.set_title(subtitle, loc="left", color="#555555")
    ax.legend(loc="upper right", frameon=False)
