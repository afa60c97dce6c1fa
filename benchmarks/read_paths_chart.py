"""A chart of the read_paths group: DuckDB's reader next to the line parser, wall time and
peak memory, for every run size measured. Written beside the table in BENCHMARKS.md.

    python -m benchmarks.read_paths_chart
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.suite import RESULTS_DIR

CHART_PATH = Path(__file__).resolve().parents[1] / "docs" / "read-paths.png"
PATHS = {"ingest_duckdb_path": "DuckDB's reader", "ingest_line_parser": "line parser"}
COLOURS = {"ingest_duckdb_path": "#0072B2", "ingest_line_parser": "#E69F00"}  # Okabe-Ito


def read_path_runs(results_dir: Path = RESULTS_DIR) -> dict[int, dict[str, dict]]:
    """rows -> stage -> its measurement, for every results file holding both read paths."""
    runs: dict[int, dict[str, dict]] = {}
    for results in sorted(results_dir.glob("bench-*.json")):
        report = json.loads(results.read_text())
        stages = {s["stage"]: s for s in report["stages"] if s["stage"] in PATHS}
        if set(stages) == set(PATHS) and all("seconds" in s for s in stages.values()):
            runs[report["rows"]] = stages
    return dict(sorted(runs.items()))


def write_read_paths_chart(results_dir: Path = RESULTS_DIR, out: Path = CHART_PATH) -> Path | None:
    """Draw the chart to `out`; None when no results file has both read paths."""
    runs = read_path_runs(results_dir)
    if not runs:
        return None
    from matplotlib.figure import Figure  # imported here: only this command needs it

    figure = Figure(figsize=(9, 3.6), dpi=100, layout="constrained")
    figure.suptitle("Ingesting one CSV file: the two read paths on the same rows")
    sizes = [f"{rows:,} rows" for rows in runs]
    width = 0.38
    for axes, measure, label in zip(
        figure.subplots(1, 2),
        ("seconds", "peak_rss_mib"),
        ("wall time (s)", "peak memory (MiB)"),
        strict=True,
    ):
        for k, stage in enumerate(PATHS):
            values = [run[stage][measure] for run in runs.values()]
            positions = [i + (k - 0.5) * width for i in range(len(runs))]
            bars = axes.bar(positions, values, width, label=PATHS[stage], color=COLOURS[stage])
            axes.bar_label(bars, fmt="{:,.0f}" if measure == "peak_rss_mib" else "{:,.1f}")
        axes.set_xticks(range(len(runs)), sizes)
        axes.set_ylabel(label)
        axes.spines[["top", "right"]].set_visible(False)
    handles, labels = axes.get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=2, frameon=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    return out


if __name__ == "__main__":
    print(write_read_paths_chart() or "no results with both read paths yet")
