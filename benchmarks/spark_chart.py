"""A chart of the spark group: split assignment and slice metrics on DuckDB and on Spark
(local[2]), in seconds, for every run size measured. Written beside the table in BENCHMARKS.md.

    python -m benchmarks.spark_chart
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.suite import RESULTS_DIR

CHART_PATH = Path(__file__).resolve().parents[1] / "docs" / "spark-vs-duckdb.png"
#: (what is measured, the DuckDB stage, the Spark stage).
PAIRS = (
    ("split assignment", "split_assignment_duckdb", "split_assignment_spark"),
    ("slice metrics", "slice_metrics_duckdb", "slice_metrics_spark"),
)
COLOURS = {"DuckDB": "#0072B2", "Spark, local[2]": "#E69F00"}  # Okabe-Ito


def spark_runs(results_dir: Path = RESULTS_DIR) -> dict[int, dict[str, dict]]:
    """rows -> stage -> its measurement, for every results file where the whole group ran."""
    wanted = {stage for _, *stages in PAIRS for stage in stages}
    runs: dict[int, dict[str, dict]] = {}
    for results in sorted(results_dir.glob("bench-*.json")):
        report = json.loads(results.read_text())
        stages = {s["stage"]: s for s in report["stages"] if s["stage"] in wanted}
        if set(stages) == wanted and not any("failed" in s for s in stages.values()):
            runs[report["rows"]] = stages
    return dict(sorted(runs.items()))


def write_spark_chart(results_dir: Path = RESULTS_DIR, out: Path = CHART_PATH) -> Path | None:
    """Draw the chart to `out`; None when no results file has the whole group."""
    runs = spark_runs(results_dir)
    if not runs:
        return None
    from matplotlib.figure import Figure  # imported here: only this command needs it

    figure = Figure(figsize=(8, 3.8), dpi=100, layout="constrained")
    figure.suptitle("The same work on DuckDB and on Spark (one machine, 2 cores)")
    axes = figure.subplots()
    labels = [f"{what}\n{rows:,} rows" for rows in runs for what, _, _ in PAIRS]
    width = 0.38
    for k, (engine, colour) in enumerate(COLOURS.items()):
        seconds = [run[pair[1 + k]]["seconds"] for run in runs.values() for pair in PAIRS]
        positions = [i + (k - 0.5) * width for i in range(len(labels))]
        bars = axes.bar(positions, seconds, width, label=engine, color=colour)
        axes.bar_label(bars, fmt="{:,.1f} s")
    axes.set_xticks(range(len(labels)), labels)
    axes.set_ylabel("seconds (Spark's include starting its JVM)")
    axes.spines[["top", "right"]].set_visible(False)
    axes.legend(frameon=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    return out


if __name__ == "__main__":
    print(write_spark_chart() or "no results with the spark group yet")
