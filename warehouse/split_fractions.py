"""Realised split fractions next to the configured ones, and why they differ.

Whole components are hashed, never single examples, so a group stays in one place but the
realised fractions only approach the configured ones. Four things move them, and each is counted:
- components: few or uneven components make the shares lumpy (how much is estimated from the
  effective number of components, the number of equal ones that would be as lumpy);
- groups with both kinds of record: their training examples are held out in train_dev when
  their target examples are in dev or test, which takes training examples from train;
- stickiness: published examples keep the split an earlier version gave them, under the
  fractions, salt and rule of its day, and new examples joining a published component follow it;
- exclusions: examples that would leak are left out.

A split that is off its configured fraction by more than `FRACTION_TOLERANCE` makes the
`splits_follow_configured_fractions` check warn, with the reasons that apply.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb

from warehouse.config import BayeslineConfig
from warehouse.split_manifest import (
    DistributionFractions,
    FractionsReport,
    SplitManifest,
    SplitShare,
)
from warehouse.split_names import DISTRIBUTION_SPLITS, Distribution, SplitName

#: Largest gap, in percentage points (0.05: 5 points), between a split's realised and configured
#: share of its distribution before the check warns. Five points: a team that asks for 30% dev
#: notices 25%, and with 400 equal components hashing alone stays within it about 95% of the time.
FRACTION_TOLERANCE = 0.05
#: Hashing noise below this (one point) is not worth giving as a reason.
MIN_WOBBLE_WORTH_SAYING = 0.01
DIGITS = 4  # fractions are rounded in the manifest: 0.1234 reads as 12.34%

#: Examples of one distribution in one split (None: excluded): all of them, those not where a
#: new component would go today, those held out with their group (NULL sums: None).
SplitOutcome = tuple[SplitName | None, int, int | None, int | None]
#: Components of one distribution: how many, their examples, the sum of their squared sizes.
ComponentSizes = tuple[int, int, int]
#: (distribution, split, configured, realised, n) for every split of each distribution.
FractionRow = tuple[Distribution, SplitName, float, float | None, int]


def measure_split_fractions(
    con: duckdb.DuckDBPyConnection, config: BayeslineConfig
) -> FractionsReport:
    """The manifest's `fractions` section, from the temp table `component_outcomes` that
    publishing builds (one row per component, distribution and split, with the examples
    counted: all, those not where a new component would go today, those held out with their
    group)."""
    counts = con.execute(
        """
        SELECT CASE WHEN is_target THEN 'target' ELSE 'training' END, split, sum(n),
               sum(n) FILTER (off_rule), sum(n) FILTER (held_out_with_group)
        FROM component_outcomes GROUP BY ALL
        """
    ).fetchall()
    sizes = con.execute(
        """
        SELECT CASE WHEN is_target THEN 'target' ELSE 'training' END,
               count(*), sum(n), sum(n * n)
        FROM (SELECT comp, is_target, sum(n) AS n FROM component_outcomes
              WHERE split IS NOT NULL GROUP BY ALL)
        GROUP BY ALL
        """
    ).fetchall()
    configured = {"target": config.splits.target, "training": config.splits.training}

    def report_on(distribution: Distribution) -> DistributionFractions:
        mine: list[SplitOutcome] = [
            (split, n, off, held) for d, split, n, off, held in counts if d == distribution
        ]
        size: ComponentSizes = next(
            ((c, n, sq) for d, c, n, sq in sizes if d == distribution), (0, 0, 0)
        )
        splits = DISTRIBUTION_SPLITS[distribution]
        return _distribution_report(distribution, splits, configured[distribution], mine, size)

    return {
        "tolerance": FRACTION_TOLERANCE,
        "target": report_on("target"),
        "training": report_on("training"),
    }


def _distribution_report(
    distribution: Distribution,
    splits: tuple[SplitName, ...],
    configured: Mapping[SplitName, float],
    counts: list[SplitOutcome],
    size: ComponentSizes,
) -> DistributionFractions:
    published = {split: n for split, n, _, _ in counts if split is not None}
    total = sum(published.values())
    n_components, n_sum, n_squares = size
    effective = n_sum * n_sum / n_squares if n_squares else 0.0
    shares: dict[SplitName, SplitShare] = {
        split: {
            "configured": configured[split],
            "realised": round(published.get(split, 0) / total, DIGITS) if total else None,
            "n": published.get(split, 0),
        }
        for split in splits
    }
    gaps = [
        abs(realised - s["configured"])
        for s in shares.values()
        if (realised := s["realised"]) is not None
    ]
    report: DistributionFractions = {
        "examples": total,
        "splits": shares,
        "largest_gap": round(max(gaps), DIGITS) if gaps else 0.0,
        "within_tolerance": not gaps or max(gaps) <= FRACTION_TOLERANCE,
        "components": n_components,
        "effective_components": round(effective, 1),
        "kept_from_earlier_versions": sum(off or 0 for split, _, off, _ in counts if split),
        "excluded": sum(n for split, n, _, _ in counts if split is None),
        "why": [],
    }
    if distribution == "training":
        report["held_out_with_their_group"] = sum(h or 0 for _, _, _, h in counts)
    wobble = _hashing_wobble(configured, effective)
    if not report["within_tolerance"]:
        report["why"] = _reasons(distribution, report, wobble)
    return report


def _hashing_wobble(configured: Mapping[SplitName, float], effective: float) -> float:
    """About two standard deviations of a split's share when `effective` equal components are
    hashed independently, for the most variable configured fraction."""
    if effective <= 0:
        return 0.0
    return 2 * math.sqrt(max(p * (1 - p) for p in configured.values()) / effective)


def _reasons(distribution: Distribution, report: DistributionFractions, wobble: float) -> list[str]:
    """What moved this distribution's shares off the configured ones, largest first."""
    total = report["examples"]
    found: list[tuple[float, str]] = []
    held_out = report.get("held_out_with_their_group", 0)
    if held_out:
        found.append(
            (
                held_out / total,
                f"{held_out:,} {distribution} examples ({held_out / total:.1%}) share a group or "
                "near-duplicate with target examples in dev or test, so they are held out in "
                "train_dev: trained on, they would leak the group into what the model learns",
            )
        )
    if kept := report["kept_from_earlier_versions"]:
        found.append(
            (
                kept / total,
                f"{kept:,} {distribution} examples ({kept / total:.1%}) stay where an earlier "
                "version put them, or follow the component they joined: published examples "
                "never move, whatever today's fractions, salt or rule",
            )
        )
    if excluded := report["excluded"]:
        share = excluded / (total + excluded)
        found.append(
            (
                share,
                f"{excluded:,} {distribution} examples ({share:.1%}) were excluded rather than "
                "leaked (the manifest's excluded.by_reason says why)",
            )
        )
    if wobble >= MIN_WOBBLE_WORTH_SAYING:
        found.append(
            (
                wobble,
                f"the {total:,} {distribution} examples fall in {report['components']:,} "
                f"components, as lumpy as {report['effective_components']:,.0f} equal ones: "
                f"hashing whole components moves a share by about ±{100 * wobble:.1f} points "
                "by chance (two standard deviations)",
            )
        )
    if not found:
        return ["no cause found: this is unexpected, please report it"]
    return [text for _, text in sorted(found, key=lambda item: -item[0])]


@dataclass(frozen=True)
class FractionsVerdict:
    """The `splits_follow_configured_fractions` check's verdict on one version."""

    passed: bool
    description: str
    remedy: str = ""
    rows: tuple[FractionRow, ...] = ()


def judge_split_fractions(manifest: SplitManifest) -> FractionsVerdict:
    """Warn when a split's realised share of its distribution is off the configured fraction by
    more than the tolerance, saying by how much and why."""
    version, fractions = manifest.version, manifest.fractions
    if fractions is None:
        return FractionsVerdict(
            True,
            f"v{version} was published before realised fractions were recorded; the next "
            "version records them.",
        )
    rows = fraction_rows(fractions)
    off = [d for d in DISTRIBUTION_SPLITS if not fractions[d]["within_tolerance"]]
    tolerance = f"{100 * fractions['tolerance']:g} points"
    if not off:
        return FractionsVerdict(
            True,
            f"v{version}: every split is within {tolerance} of its configured share of its "
            "distribution.",
            rows=rows,
        )
    said = "; ".join(_describe_off(d, fractions[d]) for d in off)
    return FractionsVerdict(
        False,
        f"v{version}: realised shares are off the configured ones by more than {tolerance}: "
        f"{said}.",
        _remedy([fractions[d] for d in off]),
        rows,
    )


def fraction_rows(fractions: FractionsReport) -> tuple[FractionRow, ...]:
    """(distribution, split, configured, realised, n) for every split of each distribution."""
    return tuple(
        (d, split, s["configured"], s["realised"], s["n"])
        for d in DISTRIBUTION_SPLITS
        for split, s in fractions[d]["splits"].items()
    )


def _describe_off(distribution: Distribution, report: DistributionFractions) -> str:
    shares = ", ".join(
        f"{split} {s['realised']:.1%} (configured {s['configured']:.0%})"
        for split, s in report["splits"].items()
    )
    return f"{distribution} {shares}, because {'; '.join(report['why'])}"


def _remedy(reports: list[DistributionFractions]) -> str:
    advice = []
    if any(r.get("held_out_with_their_group") for r in reports):
        advice.append(
            "groups with both kinds of record send their training examples to train only when "
            "their target examples go to train: a larger [splits.target] train fraction trains "
            "on more of them"
        )
    if any(r["kept_from_earlier_versions"] for r in reports):
        advice.append(
            "published examples never move; new components follow the configured fractions, "
            "so the gap narrows as data arrives"
        )
    if any(r["excluded"] for r in reports):
        advice.append("see the excluded examples with `bayesline splits show <version>`")
    if any(r["effective_components"] < 400 for r in reports):
        advice.append(
            "few or uneven components make the shares lumpy: make sure group_column is the "
            "smallest unit that must stay together"
        )
    if not advice:
        return ""
    text = "; ".join(advice)
    return text[0].upper() + text[1:] + "."
