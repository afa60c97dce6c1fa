"""PNG charts for the evaluation report (error per stage per slice, error per slice, calibration,
model comparison) and for the split versions (configured and realised split fractions).

matplotlib is imported inside the functions: the Dagster code location imports this module and
loading matplotlib there would slow every start. Figures use the object API (no pyplot), so no
GUI backend or global figure registry is involved; PNGs are rendered by Agg.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from evaluation.diagnosis import STAGE_NAMES
from evaluation.rows_stored import StoredRow, StoredRowT
from evaluation.stats import wilson_interval
from warehouse.slice_bins import slice_label as reading
from warehouse.slice_names import OVERALL_COLUMN

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.axis import Axis
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

#: (distribution, split, configured share, realised share, examples) of one split.
FractionRow = tuple[str, str, float | None, float | None, int]


@dataclass(frozen=True)
class PointStyle:
    """How one series' points are drawn."""

    color: str
    marker: str


# Target-in-train error sits beside train error for context (evaluation/train_error.py).
STAGES = ("human_level", "train", "target_in_train", "train_dev", "dev", "test")
STAGE_LABELS = {**STAGE_NAMES, "target_in_train": "target in train (context)"}
# Okabe-Ito colours stay distinguishable with the common colour-vision deficiencies; the
# markers differ too, so a greyscale print still tells the stages apart.
STAGE_COLOURS = {
    "human_level": "#000000",
    "train": "#0072B2",
    "target_in_train": "#009E73",
    "train_dev": "#56B4E9",
    "dev": "#E69F00",
    "test": "#D55E00",
}
STAGE_MARKERS = {
    "human_level": "D",
    "train": "o",
    "target_in_train": "P",
    "train_dev": "s",
    "dev": "^",
    "test": "v",
}
CONFIDENCE = 0.95  # whiskers are 95% Wilson intervals, like the intervals in the tables
FIGSIZE = (10, 5)  # inches; at DPI this is 1000 x 500 px
DPI = 100
MAX_LABEL = 40  # longer slice labels are cut with an ellipsis so the axes keep their room
# (40 keeps a pair such as "device x region = scanner-b x south" whole: cut, pairs look alike)
_STYLE: dict[RcKeyType, object] = {
    "font.family": "DejaVu Sans",  # ships with matplotlib: the same glyphs on every machine
    "font.size": 9,
    "text.parse_math": False,  # a slice value such as "$5-$10" is text, not mathtext
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 9,
    "figure.titlesize": 12,
    "figure.titleweight": "bold",
}


def error_by_stage_chart(rows: Sequence[StoredRow], title: str, max_slices: int = 12) -> bytes:
    """PNG of human-level, train, train-dev, dev and test error for overall and top slices."""
    with _style():
        return _png(error_by_stage_figure(rows, title, max_slices))


def slice_error_chart(
    rows: Sequence[StoredRow], split: str = "dev", top: int = 15, min_n: int = 1
) -> bytes:
    """PNG of one split's error per slice of at least `min_n` examples, highest lower
    interval end first, with the overall error as a line."""
    with _style():
        return _png(slice_error_figure(rows, split, top, min_n))


def error_by_stage_figure(rows: Sequence[StoredRow], title: str, max_slices: int = 12) -> Figure:
    """The figure behind `error_by_stage_chart` (DIAGNOSIS_COLUMNS rows), for inspection."""
    from matplotlib.figure import Figure

    slices, total = ranked_by_lower_bound(rows, max_slices, "dev_error", "dev_n")
    overall = overall_row(rows)
    shown = ([overall] if overall else []) + slices
    stages = [s for s in STAGES if any(r.get(f"{s}_error") is not None for r in shown)]
    with _style():
        fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
        ax = fig.add_subplot()
        width = 0.8 / max(len(stages), 1)
        for j, stage in enumerate(stages):
            _draw_stage(ax, shown, stage, (j - (len(stages) - 1) / 2) * width)
        if overall:  # a light band sets the overall group apart from the slices
            ax.axvspan(-0.5, 0.5, color="#eeeeee", zorder=0, linewidth=0)
        labels = [_short(slice_label(r)) for r in shown]
        ax.set_xticks(range(len(shown)), labels, rotation=30, ha="right", rotation_mode="anchor")
        ax.set_xlim(-0.5, max(len(shown), 1) - 0.5)
        _percent_axis(ax.yaxis, ax.set_ylim)
        ax.set_ylabel("error")
        ax.grid(axis="y", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        fig.suptitle(title, x=0.01, ha="left")
        ax.set_title(_stage_subtitle(len(slices), total), loc="left", color="#555555")
        if stages:  # beside the axes, so it never covers a marker or the subtitle
            fig.legend(loc="outside right upper", frameon=False, title="stage")
    return fig


def slice_error_figure(
    rows: Sequence[StoredRow], split: str = "dev", top: int = 15, min_n: int = 1
) -> Figure:
    """The figure behind `slice_error_chart` (SLICE_METRIC_COLUMNS rows), for inspection."""
    from matplotlib.figure import Figure

    in_split = [r for r in rows if r.get("split") == split and r.get("error_rate") is not None]
    # Slices too small to be tested for low performance are too small to chart as weak.
    big_enough = [r for r in in_split if is_overall(r) or (r.get("n") or 0) >= min_n]
    slices, total = ranked_by_lower_bound(big_enough, top)
    left_out = len(in_split) - len(big_enough)
    overall = overall_row(in_split)
    name = STAGE_NAMES.get(split, split)  # 'train-dev', as in the tables
    with _style():
        fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
        ax = fig.add_subplot()
        ys = range(len(slices))
        rates = [100 * r["error_rate"] for r in slices]
        whiskers = _whiskers(rates, [_row_interval(r) for r in slices])
        colour = STAGE_COLOURS.get(split, "#777777")
        ax.barh(ys, rates, xerr=whiskers, color=colour, height=0.7, ecolor="#333333", capsize=2)
        ax.set_yticks(ys, [f"{_short(slice_label(r))} (n={r.get('n') or 0:,})" for r in slices])
        ax.invert_yaxis()  # the slice surely worst on top
        if overall:
            rate = 100 * overall["error_rate"]
            label = f"overall {name} error {rate:.2f}%"
            ax.axvline(
                rate, color="#333333", linestyle="--", linewidth=1.2, label=label, gid="overall"
            )
            ax.legend(loc="lower right", bbox_to_anchor=(1, 1), frameon=False)
        _percent_axis(ax.xaxis, ax.set_xlim)
        ax.set_xlabel(f"{name} error")
        ax.grid(axis="x", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        fig.suptitle(f"{name.capitalize()} error by slice", x=0.01, ha="left")
        subtitle = f"{_top_words(len(slices), total)}, by the low end of the 95% interval"
        if left_out:
            subtitle += f"; {left_out} slice(s) under {min_n} examples left out"
        ax.set_title(subtitle, loc="left", color="#555555")
    return fig


def is_overall(row: StoredRow) -> bool:
    return row.get("slice_column") == OVERALL_COLUMN


def slice_label(row: StoredRow) -> str:
    """'channel = ios', 'age in [45, 65)', or 'overall' for the overall row."""
    if is_overall(row):
        return "overall"
    return reading(str(row.get("slice_column")), str(row.get("slice_value")))


def overall_row(rows: Sequence[StoredRowT]) -> StoredRowT | None:
    return next((r for r in rows if is_overall(r)), None)


def ranked_slices(
    rows: Sequence[StoredRowT], key: str, limit: int | None = None
) -> tuple[list[StoredRowT], int]:
    """Slice rows (never overall) by `key` descending, unknown last, cut to `limit`; and M."""
    slices = [r for r in rows if not is_overall(r)]
    # The label breaks ties so the same rows always give the same order (and the same PNG).
    slices.sort(key=lambda r: (r.get(key) is None, -(r.get(key) or 0.0), slice_label(r)))
    return (slices if limit is None else slices[: max(limit, 0)]), len(slices)


def ranked_by_lower_bound(
    rows: Sequence[StoredRowT], limit: int, rate_key: str = "error_rate", n_key: str = "n"
) -> tuple[list[StoredRowT], int]:
    """Slice rows (never overall) by the lower end of their error interval, highest first,
    cut to `limit`; and how many there were. The error rate alone would put a slice of one
    example at 100% on top: its interval's lower end (21% at 95%) puts it where it belongs."""
    slices = [r for r in rows if not is_overall(r)]

    def lower_end(row: StoredRow) -> float:
        if rate_key == "error_rate" and row.get("ci_low") is not None:
            return float(row["ci_low"])  # as stored in slice_metrics
        interval = rate_interval(row.get(rate_key), row.get(n_key))
        return interval[0] if interval else -1.0  # no count, no evidence: last

    slices.sort(key=lambda r: (-lower_end(r), -(r.get(rate_key) or 0.0), slice_label(r)))
    return slices[: max(limit, 0)], len(slices)


def rate_interval(rate: float | None, n: int | None) -> tuple[float, float] | None:
    """95% Wilson interval for a rate measured on n examples, or None when n is unknown."""
    if rate is None or not n:
        return None
    errors = min(n, max(0, int(rate * n + 0.5)))  # half up, as ErrorRate.errors does
    return wilson_interval(errors, n, CONFIDENCE)


def _draw_stage(ax: Axes, rows: Sequence[StoredRow], stage: str, offset: float) -> None:
    """Markers for one stage across the groups, with whiskers where n is known."""
    points = [
        (i + offset, 100 * row[f"{stage}_error"], rate_interval(row[f"{stage}_error"], n))
        for i, row in enumerate(rows)
        if row.get(f"{stage}_error") is not None
        for n in [row.get(f"{stage}_n")]
    ]
    style = PointStyle(STAGE_COLOURS[stage], STAGE_MARKERS[stage])
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    ax.plot(
        xs,
        ys,
        linestyle="none",
        markersize=6,
        label=STAGE_LABELS[stage],
        gid=stage,
        color=style.color,
        marker=style.marker,
    )
    known = [p for p in points if p[2] is not None]
    if known:
        whiskers = _whiskers([p[1] for p in known], [p[2] for p in known])
        x, y = [p[0] for p in known], [p[1] for p in known]
        ax.errorbar(x, y, yerr=whiskers, fmt="none", ecolor=style.color, capsize=2)


def _row_interval(row: StoredRow) -> tuple[float, float] | None:
    """The row's stored interval, else one computed from its rate and n."""
    if row.get("ci_low") is not None and row.get("ci_high") is not None:
        return row["ci_low"], row["ci_high"]
    return rate_interval(row.get("error_rate"), row.get("n"))


def _whiskers(
    percents: list[float], intervals: list[tuple[float, float] | None]
) -> list[list[float]]:
    """Whisker lengths below and above each value (0 without an interval), never negative."""
    pairs = list(zip(percents, intervals, strict=True))
    below = [max(0.0, p - 100 * iv[0]) if iv else 0.0 for p, iv in pairs]
    above = [max(0.0, 100 * iv[1] - p) if iv else 0.0 for p, iv in pairs]
    return [below, above]


def _percent_axis(axis: Axis, set_limits: Callable[[float, float | None], object]) -> None:
    """Percent ticks on `axis`, whose limits `set_limits` (its Axes' set_xlim or set_ylim)
    sets from 0."""
    from matplotlib.ticker import PercentFormatter

    axis.set_major_formatter(PercentFormatter(xmax=100))
    set_limits(0, None)  # error bars start at 0: a cut axis exaggerates small differences


def _stage_subtitle(shown: int, total: int) -> str:
    ranked = "by the low end of their dev error interval"
    return f"Overall and {_top_words(shown, total)} {ranked}; whiskers: 95% Wilson intervals"


def _top_words(shown: int, total: int) -> str:
    return f"all {total} slices" if shown == total else f"top {shown} of {total} slices"


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "\N{HORIZONTAL ELLIPSIS}"


@contextmanager
def _style() -> Iterator[None]:
    """Fixed fonts and styling, so the same rows give the same bytes on every machine."""
    import matplotlib

    with matplotlib.rc_context(_STYLE), warnings.catch_warnings():
        # A slice value in a script DejaVu Sans lacks (e.g. CJK) is drawn as boxes; the tables
        # show it in full, so a missing glyph must not fail a run that treats warnings as errors.
        warnings.filterwarnings(
            "ignore", message="Glyph .* missing from font", category=UserWarning
        )
        yield


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    # No "Software" tag: the PNG then does not change with the matplotlib version string.
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def reliability_chart(rows: Sequence[StoredRow], title: str) -> bytes:
    """PNG of accuracy against mean confidence per bin, one line per split (CALIBRATION rows)."""
    with _style():
        return _png(reliability_figure(rows, title))


def reliability_figure(rows: Sequence[StoredRow], title: str) -> Figure:
    """The figure behind `reliability_chart`, for inspection."""
    from matplotlib.figure import Figure

    with _style():
        fig = Figure(figsize=(7, 5), dpi=DPI, layout="constrained")
        ax = fig.add_subplot()
        ax.plot([0, 100], [0, 100], color="#999999", linestyle="--", linewidth=1, gid="ideal")
        for split in STAGES[1:]:
            points = [r for r in rows if r["split"] == split]
            if not points:
                continue
            style = PointStyle(STAGE_COLOURS[split], STAGE_MARKERS[split])
            label = f"{STAGE_NAMES[split]} (ECE {100 * points[0]['ece']:.1f} pp)"
            xs = [100 * r["mean_confidence"] for r in points]
            ys = [100 * r["accuracy"] for r in points]
            ax.plot(
                xs,
                ys,
                linewidth=1.2,
                markersize=6,
                label=label,
                gid=split,
                color=style.color,
                marker=style.marker,
            )
        _percent_axis(ax.xaxis, ax.set_xlim)
        _percent_axis(ax.yaxis, ax.set_ylim)
        ax.set_xlim(0, 100)
        ax.set_ylim(0, 100)
        ax.set_xlabel("mean top probability in the bin (confidence)")
        ax.set_ylabel("accuracy in the bin")
        ax.grid(color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        fig.suptitle(title, x=0.01, ha="left")
        ax.set_title(
            "Reliability: on the dashed line, a model saying p is right p of the time",
            loc="left",
            color="#555555",
        )
        ax.legend(loc="upper left", frameon=False)
    return fig


def comparison_chart(
    rows: Sequence[StoredRow], title: str, split: str = "dev", top: int = 12
) -> bytes:
    """PNG of both models' error per slice of one split (MODEL_COMPARISON rows), with 95%
    Wilson intervals; significant slices first, then the largest differences."""
    with _style():
        return _png(comparison_figure(rows, title, split, top))


def comparison_figure(
    rows: Sequence[StoredRow], title: str, split: str = "dev", top: int = 12
) -> Figure:
    """The figure behind `comparison_chart`, for inspection."""
    from matplotlib.figure import Figure

    in_split = [r for r in rows if r["split"] == split]
    overall = overall_row(in_split)
    slices = [r for r in in_split if not is_overall(r)]
    slices.sort(key=lambda r: (r["verdict"] == "no detectable difference", -abs(r["difference"])))
    shown = ([overall] if overall else []) + slices[: max(top, 0)]
    with _style():
        fig = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
        ax = fig.add_subplot()
        ys = range(len(shown))
        for side, offset, colour, marker in (
            ("a", -0.15, "#0072B2", "o"),
            ("b", 0.15, "#D55E00", "s"),
        ):
            rates = [100 * r[f"{side}_error_rate"] for r in shown]
            intervals = [rate_interval(r[f"{side}_error_rate"], r["n"]) for r in shown]
            name = shown[0][f"model_{side}"] if shown else side
            ax.errorbar(
                rates,
                [y + offset for y in ys],
                xerr=_whiskers(rates, intervals),
                fmt=marker,
                color=colour,
                ecolor=colour,
                capsize=2,
                label=f"{'A' if side == 'a' else 'B'}: {name}",
                gid=f"model_{side}",
            )
        labels = [f"{_short(slice_label(r))}{_verdict_mark(r['verdict'])}" for r in shown]
        ax.set_yticks(ys, labels)
        ax.invert_yaxis()
        _percent_axis(ax.xaxis, ax.set_xlim)
        ax.set_xlabel(f"{STAGE_NAMES.get(split, split)} error")
        ax.grid(axis="x", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        fig.suptitle(title, x=0.01, ha="left")
        ax.set_title(
            "95% Wilson intervals; ▼ improved, ▲ regressed (Holm-adjusted McNemar)",
            loc="left",
            color="#555555",
        )
        fig.legend(loc="outside right upper", frameon=False)
    return fig


def _verdict_mark(verdict: str) -> str:
    return {"improved": "  ▼", "regressed": "  ▲"}.get(verdict, "")


def split_fractions_chart(rows: Sequence[FractionRow], title: str) -> bytes:
    """PNG of each split's configured and realised share of its distribution, one panel per
    distribution; `rows` are (distribution, split, configured, realised, n)."""
    with _style():
        return _png(split_fractions_figure(rows, title))


def split_fractions_figure(rows: Sequence[FractionRow], title: str) -> Figure:
    """The figure behind `split_fractions_chart`, for inspection."""
    from matplotlib.figure import Figure

    distributions = list(dict.fromkeys(row[0] for row in rows))
    with _style():
        fig = Figure(figsize=(8, 3.5), dpi=DPI, layout="constrained")
        axes = fig.subplots(1, max(len(distributions), 1), squeeze=False)[0]
        for ax, distribution in zip(axes, distributions, strict=False):
            mine = [row for row in rows if row[0] == distribution]
            xs = range(len(mine))
            for name, column, offset, colour, hatch in (
                ("configured", 2, -0.2, "#BBBBBB", "//"),
                ("realised", 3, 0.2, "#0072B2", ""),
            ):
                heights = [100 * (row[column] or 0) for row in mine]
                bars = ax.bar(
                    [x + offset for x in xs],
                    heights,
                    width=0.4,
                    color=colour,
                    hatch=hatch,
                    edgecolor="#555555",
                    label=name,
                    gid=f"{distribution}_{name}",
                )
                ax.bar_label(bars, fmt="%.0f%%", fontsize=8)
            ax.set_xticks(list(xs), [f"{row[1]}\n(n {row[4]:,})" for row in mine])
            ax.set_ylim(0, 105)
            ax.yaxis.set_major_formatter("{x:.0f}%")
            ax.set_title(f"{distribution} examples", loc="left")
        fig.suptitle(title, x=0.01, ha="left")
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside right upper", frameon=False)
    return fig
