"""The data card's chart: examples per split, stacked by source (target sources hatched).

matplotlib is imported inside the function and drawn by Agg through the object API, as in
evaluation/charts.py: no GUI backend, no global figure registry.
"""

from __future__ import annotations

import io

from handoff.card_facts import CardFacts
from warehouse.split_names import SPLITS

DPI = 100
# Okabe-Ito colours, distinguishable with the common colour-vision deficiencies.
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")


def split_sizes_chart(facts: CardFacts) -> bytes:
    """A PNG: one bar per split, one segment per source."""
    from matplotlib.figure import Figure

    target = {r["source"] for r in facts.sources if r["distribution"] == "target"}
    counts: dict[tuple[str, str], int] = {}
    for row in facts.counts:
        key = (row["split"], row["source"])
        counts[key] = counts.get(key, 0) + row["n"]
    fig = Figure(figsize=(7, 3.5), dpi=DPI)
    ax = fig.subplots()
    bottoms = [0] * len(SPLITS)
    for i, source in enumerate(r["source"] for r in facts.sources):
        heights = [counts.get((split, source), 0) for split in SPLITS]
        label = f"{source} (target)" if source in target else source
        ax.bar(
            SPLITS,
            heights,
            bottom=bottoms,
            label=label,
            color=COLOURS[i % len(COLOURS)],
            hatch="//" if source in target else None,
            edgecolor="white",
        )
        bottoms = [b + h for b, h in zip(bottoms, heights, strict=True)]
    ax.set_ylabel("examples")
    ax.set_title(f"{facts.manifest['dataset']} v{facts.version}: examples per split and source")
    ax.spines[["top", "right"]].set_visible(False)
    ax.legend(frameon=False, fontsize=8)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight")
    return buffer.getvalue()
