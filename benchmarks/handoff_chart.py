"""A chart of the handoff group: peak memory while streaming the train split next to loading
it whole, against the split's size as Arrow, for every run size measured. Written beside the
table in BENCHMARKS.md.

    python -m benchmarks.handoff_chart
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.suite import RESULTS_DIR
from warehouse.storage import DEFAULT_MEMORY_LIMIT

CHART_PATH = Path(__file__).resolve().parents[1] / "docs" / "handoff-memory.png"
STAGES = ("load_split_whole", "stream_split_batches")
# (label, stage, measurement) per bar; Okabe-Ito colours.
BARS = (
    ("train split as Arrow", "load_split_whole", "split_arrow_mib", "#999999"),
    ("peak RSS, loaded whole", "load_split_whole", "peak_rss_mib", "#E69F00"),
    ("peak RSS, streamed", "stream_split_batches", "peak_rss_mib", "#0072B2"),
)


def handoff_runs(results_dir: Path = RESULTS_DIR) -> dict[int, dict[str, dict]]:
    """rows -> stage -> its measurement, for every results file holding both stages."""
    runs: dict[int, dict[str, dict]] = {}
    for results in sorted(results_dir.glob("bench-*.json")):
        report = json.loads(results.read_text())
        stages = {s["stage"]: s for s in report["stages"] if s["stage"] in STAGES}
        if set(stages) == set(STAGES) and all("peak_rss_mib" in s for s in stages.values()):
            runs[report["rows"]] = stages
    return dict(sorted(runs.items()))


def write_handoff_chart(results_dir: Path = RESULTS_DIR, out: Path = CHART_PATH) -> Path | None:
    """Draw the chart to `out`; None when no results file has both stages."""
    runs = handoff_runs(results_dir)
    if not runs:
        return None
    from matplotlib.figure import Figure  # imported here: only this command needs it

    figure = Figure(figsize=(8, 3.8), dpi=100, layout="constrained")
    figure.suptitle("Reading a split version's train split: streamed or loaded whole")
    axes = figure.subplots()
    width = 0.26
    for k, (label, stage, measure, colour) in enumerate(BARS):
        values = [run[stage][measure] for run in runs.values()]
        positions = [i + (k - 1) * width for i in range(len(runs))]
        bars = axes.bar(positions, values, width, label=label, color=colour)
        axes.bar_label(bars, fmt="{:,.0f}")
    # The cap DuckDB works under: the streamed split need not fit in it.
    cap_mib = int(DEFAULT_MEMORY_LIMIT.removesuffix("MB"))
    axes.axhline(cap_mib, color="#000000", linestyle="--", linewidth=1)
    axes.text(
        0.01,
        cap_mib,
        f"DuckDB's default memory cap ({DEFAULT_MEMORY_LIMIT})",
        transform=axes.get_yaxis_transform(),  # x in axes fractions, y in MiB
        va="bottom",
    )
    axes.set_xticks(range(len(runs)), [f"{rows:,} rows" for rows in runs])
    axes.set_ylabel("MiB")
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(frameon=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    return out


if __name__ == "__main__":
    print(write_handoff_chart() or "no results with the handoff group yet")
