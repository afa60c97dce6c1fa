"""The mismatch explainer's chart: the slice values whose share differs most between training
and target data (under-covered ones marked), and the dev - train-dev gap split into the part
the shift in mix explains and the residual, with 95% intervals. Built like the other charts
(evaluation/charts.py: object API, fixed style, deterministic PNG)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from evaluation.charts import DPI, STAGE_COLOURS, _png, _short, _style
from evaluation.diagnosis import MINUS
from evaluation.rows_stored import StoredRow
from warehouse.slice_bins import slice_label

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MAX_VALUES = 12  # slice values drawn; the table holds them all
TRAINING_COLOUR = STAGE_COLOURS["train_dev"]
TARGET_COLOUR = STAGE_COLOURS["dev"]


def shift_chart(summary: StoredRow, slices: Sequence[StoredRow], title: str) -> bytes:
    """PNG of the shares and of the gap's parts (DISTRIBUTION_SHIFT and SLICE_SHIFT rows)."""
    from matplotlib.figure import Figure

    with _style():
        fig = Figure(figsize=(12, 5), dpi=DPI, layout="constrained")
        shares, gap = fig.subplots(1, 2, width_ratios=(3, 2))
        _shares(shares, slices)
        _gap(gap, summary)
        auc = f"domain classifier AUC {summary['auc']:.2f} ({summary['auc_low']:.2f} to "
        auc += f"{summary['auc_high']:.2f})"
        fig.suptitle(f"{title}: {auc}", x=0.01, ha="left")
        return _png(fig)


def _shares(ax: Axes, slices: Sequence[StoredRow]) -> None:
    ranked = sorted(
        slices,
        key=lambda r: (-abs(r["share_target"] - r["share_training"]), r["slice_column"]),
    )[:MAX_VALUES][::-1]
    labels = [
        _short(
            ("▲ " if r["under_covered"] else "") + slice_label(r["slice_column"], r["slice_value"])
        )
        for r in ranked
    ]
    ys = range(len(ranked))
    height = 0.38
    ax.barh(
        [y + height / 2 for y in ys],
        [100 * r["share_training"] for r in ranked],
        height,
        color=TRAINING_COLOUR,
        label="training (train + train-dev)",
    )
    ax.barh(
        [y - height / 2 for y in ys],
        [100 * r["share_target"] for r in ranked],
        height,
        color=TARGET_COLOUR,
        label="target (dev)",
    )
    ax.set_yticks(list(ys), labels)
    ax.set_xlabel("share of examples (%)")
    ax.set_title("Slice values whose share differs most (▲ under-covered)", loc="left")
    ax.legend(loc="center right", frameon=False)
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)


def _gap(ax: Axes, summary: StoredRow) -> None:
    parts = [(f"gap:\ndev {MINUS} train-dev", "gap"), ("explained\nby the mix", "explained")]
    parts.append(("residual", "residual"))
    if summary.get("gap") is None:
        ax.text(0.5, 0.5, "no train-dev and dev predictions:\nthe gap is not split", ha="center")
        ax.set_axis_off()
        return
    keys = [key for _, key in parts]
    values = [100 * summary[key] for key in keys]
    below = [max(0.0, 100 * (summary[key] - summary[f"{key}_low"])) for key in keys]
    above = [max(0.0, 100 * (summary[f"{key}_high"] - summary[key])) for key in keys]
    colours = ["#999999", "#009E73", "#D55E00"]
    ax.bar(range(3), values, yerr=[below, above], capsize=4, color=colours)
    ax.axhline(0, color="#555555", linewidth=0.8)
    ax.set_xticks(range(3), [name for name, _ in parts])
    ax.set_ylabel("percentage points")
    ess = summary.get("effective_sample_size")
    note = "" if ess is None else f"\nweighted train-dev rests on ~{ess:,.0f} examples"
    ax.set_title(f"The mismatch gap, split (95% intervals){note}", loc="left")
    ax.grid(axis="y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
