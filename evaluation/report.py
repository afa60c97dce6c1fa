"""One self-contained HTML report: what to work on next, overall and per data slice.

Everything is inline (CSS, charts as base64 PNG data URIs), so the file opens offline, can be
mailed or attached to a run, and makes no network requests. Every data value is escaped.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from evaluation.calibration import BINS, ece_by_split
from evaluation.charts import (
    CONFIDENCE,
    comparison_chart,
    error_by_stage_chart,
    overall_row,
    ranked_slices,
    reliability_chart,
    slice_error_chart,
    slice_label,
)
from evaluation.comparison import verdict_words
from evaluation.diagnosis import GAP_NAMES, MINUS, STAGE_NAMES, Diagnosis
from evaluation.distribution_shift import mismatch_line
from evaluation.findings import in_reading_order, is_finding, reading_label
from evaluation.learning_curve_chart import learning_curve_chart
from evaluation.learning_curves import FORECAST_SUMMARY_HEADER, forecast_summary, variance_line
from evaluation.rows_stored import FetchedRow, StoredRow
from evaluation.shift_chart import shift_chart
from evaluation.shift_tables import FEATURE_HEADER, SLICE_HEADER, feature_cells, slice_cells
from evaluation.thumbnails import SliceThumbnails
from warehouse.storage import write_bytes_atomically

if TYPE_CHECKING:
    from evaluation.diagnosis import ErrorRate

DASH = "\N{EM DASH}"  # a value that was not measured
EN_DASH = "\N{EN DASH}"
LEVEL = f"{CONFIDENCE * 100:g}%"
CSS = """
:root { --ink: #1f2328; --muted: #59636e; --line: #d8dee4; --head: #f6f8fa;
  --bad: #b42318; --bad-bg: #fef3f2; --ok: #1a7f37; --ok-bg: #effaf1; }
body { margin: 0; color: var(--ink); font: 14px/1.5 system-ui, -apple-system, "Segoe UI",
  Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 24px 28px 40px; }
h1 { font-size: 22px; margin: 0 0 2px; } h3 { font-size: 14px; margin: 12px 0 2px; }
h2 { font-size: 17px; margin: 28px 0 8px; padding-bottom: 4px;
  border-bottom: 1px solid var(--line); }
ul { margin: 2px 0 6px; padding-left: 22px; }
.muted, .note, .no { color: var(--muted); } .note { font-size: 12px; margin: 4px 0; }
.verdict { border-left: 4px solid var(--bad); background: var(--bad-bg); padding: 10px 16px;
  border-radius: 4px; margin-top: 16px; }
.verdict.clear { border-color: var(--ok); background: var(--ok-bg); }
.headline { font-size: 19px; font-weight: 650; margin: 0 0 4px; }
.caveats { margin-top: 10px; font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; margin: 6px 0;
  font-variant-numeric: tabular-nums; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
th { background: var(--head); font-weight: 600; white-space: nowrap; }
.num { text-align: right; white-space: nowrap; } .mid { text-align: center; }
tr.material td { background: var(--bad-bg); } tr.overall td { font-weight: 600; }
tr.nested td { color: var(--muted); } tr.nested td:nth-child(2) { padding-left: 22px; }
.yes { color: var(--bad); font-weight: 700; }
.chip { display: inline-block; padding: 0 7px; margin: 1px 2px 1px 0; border-radius: 10px;
  background: var(--bad-bg); color: var(--bad); border: 1px solid #fecdca; font-size: 12px; }
img { max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
footer { margin-top: 32px; padding-top: 8px; border-top: 1px solid var(--line);
  font-size: 12px; color: var(--muted); }
figure.thumb { display: inline-block; margin: 0 10px 10px 0; text-align: center;
  font-size: 12px; } figure.thumb img { width: 64px; image-rendering: pixelated; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
"""


class _Html(str):
    """Markup built here from escaped parts: table cells insert it as is."""


#: A table row's cells (text, or _Html inserted as is).
Cells = list[str]
#: A table row: its cells, or (its cells, its CSS class).
TableRow = Cells | tuple[Cells, str]
#: (its summary row, its MODEL_COMPARISON rows): this model's stored comparison with the champion.
VersusChampion = tuple[StoredRow, Sequence[StoredRow]]
#: (LEARNING_CURVE rows, LEARNING_CURVE_FORECAST rows).
LearningCurveRows = tuple[Sequence[StoredRow], Sequence[StoredRow]]
#: (a DISTRIBUTION_SHIFT row, SLICE_SHIFT rows, SHIFT_FEATURE rows).
DistributionShiftRows = tuple[FetchedRow, list[FetchedRow], list[FetchedRow]]


def render_report(
    *,
    title: str,
    model_version: str,
    split_version: int,
    diagnosis_rows: Sequence[StoredRow],
    low_performing_rows: Sequence[StoredRow],
    slice_metric_rows: Sequence[StoredRow],
    overall: Diagnosis | None,
    generated_at: datetime,
    calibration_rows: list[FetchedRow] | None = None,
    versus_champion: VersusChampion | None = None,
    min_slice_size: int = 1,
    learning_curves: LearningCurveRows | None = None,
    distribution_shift: DistributionShiftRows | None = None,
    model_note: str | None = None,
    worst_slice_images: SliceThumbnails | None = None,
) -> str:
    """The whole report as one HTML document (rows follow warehouse.schema); the dev error
    chart leaves out slices under `min_slice_size` examples, as the slice tests do.
    `learning_curves` is (LEARNING_CURVE_COLUMNS rows, LEARNING_CURVE_FORECAST_COLUMNS rows);
    `distribution_shift` is (a DISTRIBUTION_SHIFT row, SLICE_SHIFT rows, SHIFT_FEATURE rows)."""
    points, forecasts = learning_curves or ([], [])
    mismatch = mismatch_line(*distribution_shift[:2]) if distribution_shift else None
    meta = f"Model <code>{_e(model_version)}</code> on split version {_e(split_version)}"
    if model_note:  # e.g. which payload the built-in baseline read
        meta += f"<br><span id='model-note'>{_e(model_note)}</span>"
    sections = [
        f"<header><h1>{_e(title)}</h1><div class='muted'>{meta}</div></header>",
        _verdict(overall, variance_line(forecasts), mismatch),
        _overall_section(overall),
        _stage_chart_section(diagnosis_rows),
        _low_performing_section(low_performing_rows, slice_metric_rows, min_slice_size),
        _worst_slice_images_section(worst_slice_images),
        _slice_diagnosis_section(diagnosis_rows),
        _calibration_section(calibration_rows or []),
        _versus_champion_section(versus_champion),
        _learning_curves_section(points, forecasts),
        _distribution_shift_section(distribution_shift),
        _rule_section(overall),
        _footer(model_version, split_version, generated_at),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
        + "\n".join(sections)
        + "\n</main>\n</body>\n</html>\n"
    )


def write_report(html_text: str, path: Path) -> Path:
    """Write the report atomically: readers see the old file or the new one, never half."""
    return write_bytes_atomically(Path(path), html_text.encode("utf-8"))


def headline(overall: Diagnosis) -> str:
    """'Work on: avoidable bias, then data mismatch', or that nothing stands out."""
    if not overall.gaps:
        return "No gap can be measured from these predictions yet: see what to register below."
    if not overall.problems:
        return "No material gap: nothing stands out to work on next."
    return "Work on: " + ", then ".join(GAP_NAMES[k].lower() for k in overall.problems)


def _verdict(
    overall: Diagnosis | None, more_data: str | None = None, mismatch: str | None = None
) -> str:
    if overall is None:
        return _section("verdict", "Verdict", "<p class='muted'>No overall diagnosis yet.</p>")
    parts = [f"<p class='headline'>{_e(headline(overall))}</p>", _coverage(overall)]
    human = overall.errors.get("human_level")
    if human is not None:
        parts.append(
            f"<p class='muted'>Human-level error {_pct(human.rate)} (source: "
            f"{_e(overall.human_level_source)}) stands in for Bayes error.</p>"
        )
    for rank, key in enumerate(overall.problems, start=1):
        gap = overall.gap(key)
        parts.append(f"<h3>{rank}. {_e(gap.label if gap else GAP_NAMES[key])}</h3>")
        parts.append(_list(overall.remedies.get(key, [])))
        if key == "variance" and more_data:  # the learning curves' forecast for this gap
            parts.append(f"<p id='more-data'>{_e(more_data)}</p>")
        if key == "data_mismatch" and mismatch:  # the mismatch explainer's specific remedy
            parts.append(f"<p id='mismatch'>{_e(mismatch)}</p>")
    if overall.caveats:
        parts.append(f"<div class='caveats'><strong>Caveats</strong>{_list(overall.caveats)}</div>")
    kind = "verdict" if overall.problems else "verdict clear"
    return f"<section id='verdict' class='{kind}'>{''.join(parts)}</section>"


def _coverage(overall: Diagnosis) -> str:
    """Which splits the model was predicted on, and what more predictions would assess."""
    measured = ", ".join(STAGE_NAMES[s] for s in overall.stages_measured)
    text = f"<p class='muted' id='coverage'>Predictions on: {_e(measured)}."
    if overall.not_assessed:
        todo = "; ".join(overall.not_assessed.values())
        text += f" Not assessed: {_e(todo)}."
    text += "</p>"
    if overall.train_measured_on:
        text += (
            f"<p class='muted' id='train-measured-on'>Train error: on "
            f"{_e(overall.train_measured_on)}.</p>"
        )
    return text


def _overall_section(overall: Diagnosis | None) -> str:
    if overall is None:
        return ""
    errors: list[TableRow] = [
        [STAGE_NAMES[stage], *_error_cells(overall.errors.get(stage))] for stage in STAGE_NAMES
    ]
    if overall.target_in_train is not None:  # beside train, for context: no gap uses it
        errors.insert(2, ["target in train (context)", *_error_cells(overall.target_in_train)])
    error_table = _table(["Stage", "Error", "n", "Errors", f"{LEVEL} interval"], "lrrrr", errors)
    level = f"{overall.interval_level * 100:g}%"
    gap_rows: list[TableRow] = [
        (
            [gap.label, _pp(gap.value), _pp_interval(gap.interval), _mark(gap.material), gap.why],
            "material" if gap.material else "",
        )
        for gap in overall.gaps
    ]
    gap_rows += [
        ([GAP_NAMES[key], DASH, DASH, DASH, f"Not assessed: {todo}."], "")
        for key, todo in overall.not_assessed.items()
    ]
    gap_table = _table(["Gap", "Value", f"{level} interval", "Material", "Why"], "lrrcl", gap_rows)
    note = (
        f"Gaps in percentage points. Gap intervals are two-sided {level}: their lower end is "
        "the one-sided bound the decision rule tests."
    )
    body = f"{error_table}<h3>Gaps</h3>{gap_table}<p class='note'>{_e(note)}</p>"
    return _section("overall", "Overall error", body)


def _error_cells(error: ErrorRate | None) -> Cells:
    if error is None:
        return [DASH] * 4
    interval = error.interval(CONFIDENCE)
    return [_pct(error.rate), _count(error.n), _count(error.errors), _interval(interval)]


def _stage_chart_section(rows: Sequence[StoredRow]) -> str:
    if not rows:
        return _section("stages", "Error by stage", "<p class='muted'>No diagnosis rows.</p>")
    png = error_by_stage_chart(rows, "Error by stage: overall and the weakest slices on dev")
    alt = "Human-level, train, train-dev, dev and test error for overall and the worst slices"
    return _section("stages", "Error by stage", _figure(png, alt))


def _low_performing_section(
    rows: Sequence[StoredRow], slice_metric_rows: Sequence[StoredRow], min_slice_size: int
) -> str:
    headers = ["Rank", "Slice", "n", "Error", f"{LEVEL} interval", "Gap", "Errors removable"]
    table_rows: list[TableRow] = [
        (
            [
                _count(r.get("rank")) if is_finding(r) else "",
                reading_label(r),
                _count(r.get("n")),
                _pct(r.get("error_rate")),
                _interval(None if r.get("ci_low") is None else (r["ci_low"], r["ci_high"])),
                _pp(r.get("gap")),
                DASH if r.get("errors_removable") is None else f"{r['errors_removable']:,.1f}",
                _p(r.get("p_adjusted")),
            ],
            "" if is_finding(r) else "nested",
        )
        for r in in_reading_order(rows)
    ]
    if table_rows:
        body = _table([*headers, "p adjusted"], "rlrrrrrr", table_rows)
        body += (
            "<p class='note'>Dev slices significantly worse than overall dev error (Holm-"
            "adjusted one-sided test), ranked by errors removable: gap &times; n, the dev errors "
            "gone if the slice did as well as overall.</p>"
        )
        nested = sum(1 for r in rows if not is_finding(r))
        if nested:
            body += (
                f"<p class='note'>{nested} pair(s) marked &#8627; are weak only as their parent "
                "(the finding above) is: not significantly worse than it, so not findings of "
                "their own, and not queued for labeling.</p>"
            )
    else:
        body = "<p class='muted'>No dev slice is significantly worse than overall dev error.</p>"
    if any(r.get("split") == "dev" for r in slice_metric_rows):
        alt = "Dev error per slice, ranked by the lower end of the 95% interval, with the overall"
        body += _figure(slice_error_chart(slice_metric_rows, "dev", min_n=min_slice_size), alt)
    return _section("low-performing", "Low-performing slices", body)


def _worst_slice_images_section(shown: SliceThumbnails | None) -> str:
    if shown is None or not shown.thumbnails:
        return ""
    figures = "".join(
        f"<figure class='thumb'><img src='data:image/png;base64,"
        f"{base64.b64encode(t.png).decode()}' alt='{_e(t.example_id)}'>"
        f"<figcaption>{_e(t.example_id)}: {_e(t.label)}, predicted {_e(t.predicted_label)}"
        "</figcaption></figure>"
        for t in shown.thumbnails
    )
    heading = f"Examples of the worst slice: {shown.slice_label}"
    note = "<p class='muted'>Dev images of the top-ranked slice, its errors first.</p>"
    return _section("worst-slice-images", heading, note + f"<div>{figures}</div>")


def _slice_diagnosis_section(rows: Sequence[StoredRow]) -> str:
    if not rows:
        return ""
    overall = overall_row(rows)
    ordered = ([overall] if overall else []) + ranked_slices(rows, "dev_error")[0]
    headers = ["Slice", *(n.capitalize() for n in STAGE_NAMES.values()), "Dev n", "Problems"]
    table_rows: list[TableRow] = [
        (
            [
                slice_label(r),
                *(_pct(r.get(f"{stage}_error")) for stage in STAGE_NAMES),
                _count(r.get("dev_n")),
                _chips(r.get("problems")),
            ],
            "overall" if r is overall else "",
        )
        for r in ordered
    ]
    body = _table(headers, "lrrrrrrl", table_rows)
    body += "<p class='note'>Slices ordered by dev error, overall first.</p>"
    return _section("slices", "Diagnosis per slice", body)


def _calibration_section(rows: list[FetchedRow]) -> str:
    if not rows:
        return ""
    table = _table(
        ["Split", "n", "Expected calibration error"],
        "lrr",
        [
            [STAGE_NAMES[split], _count(n), _pp(ece).lstrip("+")]
            for split, n, ece in ece_by_split(rows)
        ],
    )
    note = (
        f"<p class='note'>Top-label calibration over {BINS} equal-width confidence bins: ECE is "
        "the n-weighted mean gap between a bin's accuracy and its mean top probability.</p>"
    )
    alt = "Accuracy against mean confidence per bin, per split, with the ideal diagonal"
    body = table + note + _figure(reliability_chart(rows, "Calibration by split"), alt)
    return _section("calibration", "Calibration", body)


def _versus_champion_section(versus: VersusChampion | None) -> str:
    """The stored comparison of this model (B) with the champion (A), significant rows first."""
    if versus is None:
        return ""
    summary, rows = versus
    champion = f"{summary['model_a']} (v{summary['split_version_a']})"
    left_out = json.loads(summary["left_out"] or "{}")
    parts = [
        f"<p class='headline'>{_e(summary['verdict'].capitalize())} on dev and test against "
        f"the champion {_e(champion)}</p>",
        f"<p class='muted'>{summary['n_compared']:,} examples predicted by both were compared"
        + "".join(f"; left out {n:,}: {_e(reason)}" for reason, n in left_out.items())
        + ".</p>",
    ]
    headers = ["Split", "Slice", "n", "Champion", "This model", "Difference", f"{LEVEL} interval"]
    table_rows: list[TableRow] = [
        (
            [
                r["split"],
                slice_label(r),
                _count(r["n"]),
                _pct(r["a_error_rate"]),
                _pct(r["b_error_rate"]),
                _pp(r["difference"]),
                _pp_interval((r["ci_low"], r["ci_high"])),
                _p(r["p_adjusted"]),
                verdict_words(r),
            ],
            "material" if r["verdict"] == "regressed" else "",
        )
        for r in rows[:20]
    ]
    parts.append(_table([*headers, "p (Holm)", "Verdict"], "llrrrrrrl", table_rows))
    parts.append(
        "<p class='note'>Paired on the same examples: exact McNemar p-values, Holm-adjusted "
        "across every split and slice; intervals are Bonett&ndash;Price for paired proportions. "
        "A difference that is not significant is no detectable difference, never a win or a "
        "loss.</p>"
    )
    alt = "Dev error per slice of the champion and this model, with 95% intervals"
    parts.append(_figure(comparison_chart(rows, f"Dev error against the champion {champion}"), alt))
    return _section("versus-champion", "Versus champion", "".join(parts))


def _learning_curves_section(points: Sequence[StoredRow], forecasts: Sequence[StoredRow]) -> str:
    if not forecasts:
        return ""
    first = forecasts[0]
    # A tuple means (cells, class): each row's cells as a list.
    rows: list[TableRow] = [list(cells) for cells in forecast_summary(forecasts)]
    table = _table(list(FORECAST_SUMMARY_HEADER), "llrrrrl", rows)
    note = (
        f"<p class='note'>{_e(first['learner'])} retrained on nested parts of train of split "
        f"version {_e(first['split_version'])}, each fitted as error(n) = c + a·n^-b. "
        "More examples are of the same mix as train; intervals are 95% (group bootstrap of "
        "the evaluation sets and the fit).</p>"
    )
    title = f"Learning curves: {first['model_version']}"
    alt = "Train, train-dev and dev error against training-set size on a log axis, with fits"
    body = table + note + _figure(learning_curve_chart(points, forecasts, title), alt)
    return _section("learning-curves", "What more data buys", body)


def _distribution_shift_section(shift: DistributionShiftRows | None) -> str:
    if not shift:
        return ""
    summary, slices, features = shift
    parts = [
        f"<p class='headline'>{_e(mismatch_line(summary, slices))}</p>",
        _table(list(SLICE_HEADER), "lrrrrrc", [list(c) for c in slice_cells(slices)]),
        "<p class='note'>Training data: train and train-dev examples of the training "
        "distribution; target: dev. Coverage is training's share over the target's; a value "
        "is under-covered when its column's mix differs (chi-square, Holm-adjusted across "
        "columns) and training holds less than half the target's share of it.</p>",
        "<h3>What tells them apart</h3>",
        _table(list(FEATURE_HEADER), "lllrrr", [list(c) for c in feature_cells(features)]),
        f"<p class='note'>A logistic regression on the baseline's n-grams and the slice "
        f"values, {summary['folds']}-fold cross-validated by group on "
        f"{summary['n_training']:,} train-dev and {summary['n_target']:,} dev examples; the "
        "AUC interval is a 95% group bootstrap. The gap is split by reweighting train-dev "
        f"with the classifier's odds (clipped at {summary['max_weight']:g}). The "
        "target_like_examples table ranks train's examples by how target-like they "
        "are.</p>",
    ]
    alt = "Slice shares in training and target data, and the mismatch gap split in two"
    parts.append(_figure(shift_chart(summary, slices, "Training vs target"), alt))
    return _section("distribution-shift", "Training vs target data", "".join(parts))


def _rule_section(overall: Diagnosis | None) -> str:
    if overall is None:
        return ""
    return _section("rule", "Decision rule", f"<p>{_e(overall.rule)}</p>")


def _footer(model_version: str, split_version: int, generated_at: datetime) -> str:
    when = generated_at.isoformat(sep=" ", timespec="seconds")
    return (
        f"<footer>Model version <code>{_e(model_version)}</code> · split version "
        f"{_e(split_version)} · generated {_e(when)} · Bayesline</footer>"
    )


def _section(anchor: str, heading: str, body: str) -> str:
    return f"<section id='{anchor}'><h2>{_e(heading)}</h2>{body}</section>"


def _table(headers: list[str], align: str, rows: Sequence[TableRow]) -> str:
    """A table; `align` has one letter per column (l, r, c); rows are cells or (cells, class)."""
    classes = {"l": "", "r": " class='num'", "c": " class='mid'"}
    head = "".join(f"<th{classes[a]}>{_e(h)}</th>" for h, a in zip(headers, align, strict=True))
    lines = []
    for row in rows:
        cells, row_class = row if isinstance(row, tuple) else (row, "")
        tds = "".join(f"<td{classes[a]}>{_cell(c)}</td>" for c, a in zip(cells, align, strict=True))
        lines.append(f"<tr class='{row_class}'>{tds}</tr>" if row_class else f"<tr>{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(lines)}</tbody></table>"


def _figure(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f"<figure><img src='data:image/png;base64,{data}' alt='{_e(alt)}'></figure>"


def _list(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{_e(item)}</li>" for item in items) + "</ul>"


def _chips(problems: str | None) -> _Html:
    keys = [k.strip() for k in (problems or "").split(",") if k.strip()]
    if not keys:
        return _Html("<span class='no'>none</span>")
    return _Html("".join(f"<span class='chip'>{_e(GAP_NAMES.get(k, k))}</span>" for k in keys))


def _mark(material: bool) -> _Html:
    return _Html("<span class='yes'>✓</span>" if material else "<span class='no'>✗</span>")


def _cell(value: object) -> str:
    return value if isinstance(value, _Html) else _e(value)


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _pct(rate: float | None) -> str:
    return DASH if rate is None else f"{rate * 100:.2f}%"


def _interval(interval: tuple[float, float] | None) -> str:
    return DASH if interval is None else f"{_pct(interval[0])} {EN_DASH} {_pct(interval[1])}"


def _pp(gap: float | None) -> str:
    """A gap in percentage points with its sign, e.g. '+7.00 pp'."""
    return DASH if gap is None else f"{gap * 100:+.2f} pp".replace("-", MINUS)


def _pp_interval(interval: tuple[float, float] | None) -> str:
    return DASH if interval is None else f"{_pp(interval[0])} to {_pp(interval[1])}"


def _count(n: int | None) -> str:
    return DASH if n is None else f"{n:,}"


def _p(p: float | None) -> str:
    if p is None:
        return DASH
    return "< 0.001" if p < 0.001 else f"{p:.3f}"
