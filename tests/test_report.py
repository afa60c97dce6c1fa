"""The HTML report and its charts: valid PNGs, the right slices, every number, safe escaping."""

from __future__ import annotations

import base64
import html
import io
import re
import subprocess
import sys
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import matplotlib.image
import pytest

from evaluation.charts import (
    error_by_stage_chart,
    error_by_stage_figure,
    slice_error_chart,
    slice_error_figure,
)
from evaluation.diagnosis import REMEDIES, Diagnosis, ErrorRate, diagnose
from evaluation.report import render_report, write_report
from evaluation.stats import wilson_interval
from warehouse.schema import DIAGNOSIS_COLUMNS, LOW_PERFORMING_SLICE_COLUMNS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HOSTILE = "<script>alert('x')</script>"
GENERATED_AT = datetime(2025, 3, 14, 9, 26, 53, tzinfo=UTC)
# (slice column, value, train, train-dev, dev, test error; dev n)
SLICES = [
    ("channel", "ios", 0.07, 0.08, 0.10, 0.11, 900),
    ("channel", "android", 0.09, 0.09, 0.18, 0.17, 700),
    ("channel", "web", 0.08, 0.085, 0.14, 0.15, 400),
    ("language", "fr", 0.085, 0.09, 0.16, 0.165, 500),
    ("language", "en", 0.075, 0.08, 0.11, 0.115, 2000),
]


def overall_diagnosis(*, with_train_dev: bool = True) -> Diagnosis:
    """1% human, 8% train, 8.4% train-dev, 12% dev, 12.3% test: bias, then data mismatch."""
    return diagnose(
        human_level=ErrorRate(0.01),
        train=ErrorRate(0.08, 8000),
        train_dev=ErrorRate(0.084, 2000) if with_train_dev else None,
        dev=ErrorRate(0.12, 2500),
        test=ErrorRate(0.123, 2500),
        human_level_source="expert panel",
    )


def diagnosis_row(column: str, value: str, train, train_dev, dev, test, dev_n, **extra) -> dict:
    row = dict.fromkeys(DIAGNOSIS_COLUMNS)
    row.update(
        model_version="m-1",
        split_version=3,
        slice_column=column,
        slice_value=value,
        human_level_error=0.01 if column == "overall" else None,
        train_error=train,
        train_n=4 * dev_n,
        train_dev_error=train_dev,
        train_dev_n=None if train_dev is None else dev_n,
        dev_error=dev,
        dev_n=dev_n,
        test_error=test,
        test_n=dev_n,
        problems="avoidable_bias,data_mismatch",
        remedies="{}",
        caveats="[]",
    )
    return row | extra


def diagnosis_rows(value: str = "ios") -> list[dict]:
    rows = [diagnosis_row("overall", "all", 0.08, 0.084, 0.12, 0.123, 2500)]
    rows += [diagnosis_row(*s) for s in SLICES]
    rows[1]["slice_value"] = value
    return rows


def slice_metric_rows(value: str = "ios") -> list[dict]:
    rows = [("overall", "all", 0.12, 2500)] + [(c, v, dev, n) for c, v, _, _, dev, _, n in SLICES]
    metrics = []
    for column, slice_value, rate, n in rows:
        errors = round(rate * n)
        low, high = wilson_interval(errors, n)
        metrics.append(
            {
                "model_version": "m-1",
                "split_version": 3,
                "split": "dev",
                "slice_column": column,
                "slice_value": value if slice_value == "ios" else slice_value,
                "n": n,
                "errors": errors,
                "error_rate": rate,
                "ci_low": low,
                "ci_high": high,
            }
        )
    return metrics


def low_performing_rows(value: str = "android") -> list[dict]:
    row = dict.fromkeys(LOW_PERFORMING_SLICE_COLUMNS)
    low, high = wilson_interval(126, 700)
    row.update(
        model_version="m-1",
        split_version=3,
        rank=1,
        slice_column="channel",
        slice_value=value,
        n=700,
        errors=126,
        error_rate=0.18,
        ci_low=low,
        ci_high=high,
        overall_error_rate=0.12,
        gap=0.06,
        errors_removable=42.0,
        p_value=0.00002,
        p_adjusted=0.0001,
    )
    return [row]


def report(value: str = "ios", **changes) -> str:
    """A report on the realistic rows, with the slice 'channel = ios' renamed to `value`."""
    # Keywords given to the call replace those bound here.
    realistic = partial(
        render_report,
        title="Sentiment model m-1",
        model_version="m-1",
        split_version=3,
        diagnosis_rows=diagnosis_rows(value),
        low_performing_rows=low_performing_rows(),
        slice_metric_rows=slice_metric_rows(value),
        overall=overall_diagnosis(),
        generated_at=GENERATED_AT,
    )
    return realistic(**changes)


@pytest.fixture(scope="module")
def html_text() -> str:
    return report()


def section(html_text: str, anchor: str) -> str:
    match = re.search(rf"<section id='{anchor}'.*?</section>", html_text, re.S)
    assert match, f"no section {anchor!r}"
    return match.group(0)


def table_row(html_text: str, anchor: str, first_cell: str) -> str:
    """The first row of the section whose first cell starts with `first_cell`."""
    pattern = rf"<tr[^>]*><td>{re.escape(first_cell)}[^<]*</td>.*?</tr>"
    match = re.search(pattern, section(html_text, anchor))
    assert match, f"no row {first_cell!r} in {anchor!r}"
    return match.group(0)


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) of a PNG, decoded by matplotlib."""
    assert png.startswith(PNG_MAGIC)
    pixels = matplotlib.image.imread(io.BytesIO(png), format="png")
    return pixels.shape[1], pixels.shape[0]


def tick_labels(labels) -> list[str]:
    return [label.get_text() for label in labels]


# --- charts ----------------------------------------------------------------------------------


def test_error_by_stage_chart_is_a_1000_by_500_png():
    assert png_size(error_by_stage_chart(diagnosis_rows(), "Errors")) == (1000, 500)


def test_error_by_stage_chart_shows_overall_then_the_top_slices_by_dev_error():
    figure = error_by_stage_figure(diagnosis_rows(), "Errors", max_slices=3)
    labels = tick_labels(figure.axes[0].get_xticklabels())
    assert labels == ["overall", "channel = android", "language = fr", "channel = web"]
    assert "top 3 of 5 slices" in figure.axes[0].get_title(loc="left")


def test_error_by_stage_chart_puts_a_one_example_slice_after_the_real_weak_ones():
    # device = odd: 1 of 3 dev examples wrong, 33%, the highest dev error of all; but the
    # lower end of its 95% interval is 6.1%, under android (15.3%), fr (13.0%), web (10.9%).
    rows = [*diagnosis_rows(), diagnosis_row("device", "odd", 0.0, None, 1 / 3, None, 3)]
    figure = error_by_stage_figure(rows, "Errors", max_slices=3)
    assert tick_labels(figure.axes[0].get_xticklabels()) == [
        "overall",
        "channel = android",
        "language = fr",
        "channel = web",
    ]
    assert "by the low end of their dev error interval" in figure.axes[0].get_title(loc="left")


def test_error_by_stage_chart_with_room_for_every_slice_says_all_slices():
    figure = error_by_stage_figure(diagnosis_rows(), "Errors", max_slices=12)
    assert len(figure.axes[0].get_xticks()) == 6
    assert "all 5 slices" in figure.axes[0].get_title(loc="left")


def test_error_by_stage_chart_does_not_draw_missing_values():
    rows = diagnosis_rows()
    for row in rows:
        row["train_dev_error"] = row["train_dev_n"] = None
    rows[2]["test_error"] = None
    axes = error_by_stage_figure(rows, "Errors").axes[0]
    lines = [line for line in axes.get_lines() if line.get_gid()]  # not the whisker caps
    markers = {line.get_gid(): len(line.get_xdata()) for line in lines}
    assert markers == {"human_level": 1, "train": 6, "dev": 6, "test": 5}


def test_error_by_stage_chart_draws_target_in_train_error_where_the_diagnosis_has_it():
    rows = diagnosis_rows()
    rows[0] |= {"target_in_train_error": 0.2, "target_in_train_n": 150}
    axes = error_by_stage_figure(rows, "Errors").axes[0]
    [line] = [line for line in axes.get_lines() if line.get_gid() == "target_in_train"]
    assert list(line.get_ydata()) == [pytest.approx(20.0)]
    assert line.get_label() == "target in train (context)"


def test_the_same_rows_give_the_same_chart_bytes():
    first, second = (error_by_stage_chart(diagnosis_rows(), "E") for _ in range(2))
    assert first == second
    assert b"Software" not in first  # no version string that would change the bytes


def test_slice_error_chart_draws_the_worst_slices_of_the_split_and_the_overall_line():
    rows = [*slice_metric_rows(), {**slice_metric_rows()[1], "split": "test", "error_rate": 0.9}]
    axes = slice_error_figure(rows, "dev", top=2).axes[0]
    assert tick_labels(axes.get_yticklabels()) == [
        "channel = android (n=700)",
        "language = fr (n=500)",
    ]
    [line] = [line for line in axes.get_lines() if line.get_gid() == "overall"]
    assert list(line.get_xdata()) == [12.0, 12.0]  # the overall dev error, in percent
    assert png_size(slice_error_chart(rows, "dev", top=2)) == (1000, 500)


def dev_slice(value: str, errors: int, n: int) -> dict:
    low, high = wilson_interval(errors, n)
    return {**slice_metric_rows()[1], "slice_column": "device", "slice_value": value, "n": n,
            "errors": errors, "error_rate": errors / n, "ci_low": low, "ci_high": high}  # fmt: skip


def test_the_slice_chart_ranks_by_the_low_end_of_the_interval_not_the_error_rate():
    # Error rates: one 100% (1 of 1), d 35%, a 30%, b 25%. Lower ends of the 95% Wilson
    # intervals: d 26.4%, a 21.9%, b 21.0%, one 20.7%: the single example goes last.
    rows = [
        slice_metric_rows()[0],  # overall
        dev_slice("a", 30, 100),
        dev_slice("b", 100, 400),
        dev_slice("one", 1, 1),
        dev_slice("d", 35, 100),
    ]
    axes = slice_error_figure(rows, "dev").axes[0]
    assert tick_labels(axes.get_yticklabels()) == [
        "device = d (n=100)",
        "device = a (n=100)",
        "device = b (n=400)",
        "device = one (n=1)",
    ]
    # Below min_slice_size it is not drawn at all, and the subtitle says so.
    axes = slice_error_figure(rows, "dev", min_n=30).axes[0]
    assert "device = one (n=1)" not in tick_labels(axes.get_yticklabels())
    assert "1 slice(s) under 30 examples left out" in axes.get_title(loc="left")


def test_slice_labels_with_dollar_signs_are_drawn_as_text_not_math():
    rows = slice_metric_rows(value=r"$\frac{price$")
    assert slice_error_chart(rows).startswith(PNG_MAGIC)


def test_slice_values_in_scripts_the_chart_font_lacks_do_not_raise_warnings():
    rows = diagnosis_rows(value="日本語")
    assert error_by_stage_chart(rows, "Errors").startswith(PNG_MAGIC)


def test_importing_the_report_does_not_import_matplotlib():
    code = "import sys, evaluation.report; print('matplotlib' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


# --- report ----------------------------------------------------------------------------------


def test_report_headline_names_the_material_problems_in_order(html_text):
    assert "Work on: avoidable bias, then data mismatch" in section(html_text, "verdict")


def test_report_lists_the_remedies_and_the_human_level_source(html_text):
    verdict = section(html_text, "verdict")
    for remedy in REMEDIES["avoidable_bias"] + REMEDIES["data_mismatch"]:
        assert html.escape(remedy) in verdict
    assert REMEDIES["variance"][0] not in verdict  # variance is not material here
    assert "source: expert panel" in verdict


def test_report_overall_table_shows_every_error_and_interval_in_percent(html_text):
    table = section(html_text, "overall")
    for stage, rate, n in [("train", 0.08, 8000), ("dev", 0.12, 2500), ("test", 0.123, 2500)]:
        low, high = wilson_interval(round(rate * n), n)
        assert f"{rate * 100:.2f}%" in table, stage
        assert f"{low * 100:.2f}% \N{EN DASH} {high * 100:.2f}%" in table, stage
    for text in ["1.00%", "8.40%", "8,000", "2,000", "2,500"]:
        assert text in table


def test_report_gaps_table_marks_material_gaps_with_a_tick_and_others_with_a_cross(html_text):
    bias = table_row(html_text, "overall", "Avoidable bias")
    mismatch = table_row(html_text, "overall", "Data mismatch")
    assert "✓" in bias and "+7.00 pp" in bias and "class='material'" in bias
    assert "✓" in mismatch and "+3.60 pp" in mismatch
    for name in ["Variance", "Overfitting to dev"]:
        row = table_row(html_text, "overall", name)
        assert "✗" in row and "✓" not in row and "material" not in row


def test_report_lists_low_performing_slices_with_their_statistics(html_text):
    table = section(html_text, "low-performing")
    for text in ["channel = android", "700", "18.00%", "+6.00 pp", "42.0", "&lt; 0.001"]:
        assert text in table


def test_report_has_one_diagnosis_row_per_slice(html_text):
    table = section(html_text, "slices")
    assert table.count("<tr") == 1 + 1 + len(SLICES)  # header, overall, slices
    assert table.count("Avoidable bias") == 1 + len(SLICES)


def test_report_embeds_both_charts_as_png_with_alt_text(html_text):
    images = re.findall(r"<img src='data:image/png;base64,([^']+)' alt='([^']+)'>", html_text)
    assert len(images) == 2
    for data, alt in images:
        assert png_size(base64.b64decode(data, validate=True)) == (1000, 500)
        assert alt.strip()


def test_report_is_self_contained(html_text):
    lowered = html_text.lower()
    for external in ["http://", "https://", "<script", "<link", "@import", "url("]:
        assert external not in lowered


def test_report_escapes_hostile_slice_values_and_titles():
    hostile = report(value=HOSTILE, title=HOSTILE, model_version=HOSTILE)
    hostile += render_report(
        title="t",
        model_version="m",
        split_version=1,
        diagnosis_rows=[],
        low_performing_rows=low_performing_rows(HOSTILE),
        slice_metric_rows=[],
        overall=None,
        generated_at=GENERATED_AT,
    )
    assert "<script" not in hostile
    assert hostile.count("&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;") >= 4


def test_report_without_train_dev_shows_a_dash_and_carries_on():
    html_text = report(overall=overall_diagnosis(with_train_dev=False))
    assert table_row(html_text, "overall", "train-dev").count("\N{EM DASH}") == 4
    assert "No train-dev error" in section(html_text, "verdict")


def test_report_without_an_overall_diagnosis_or_slices_still_renders():
    html_text = report(overall=None, diagnosis_rows=[], low_performing_rows=[])
    assert "No overall diagnosis yet" in html_text
    assert "Work on:" not in html_text and "<img" in html_text  # the slice chart remains
    assert "No dev slice is significantly worse" in html_text


def test_report_footer_names_model_split_and_generation_time(html_text):
    footer = re.search(r"<footer>.*?</footer>", html_text).group(0)
    assert "m-1" in footer and "split version 3" in footer
    assert "2025-03-14 09:26:53+00:00" in footer


def test_write_report_replaces_the_file_and_leaves_no_temporary_file(tmp_path: Path):
    path = tmp_path / "reports" / "report.html"
    assert write_report("old", path) == path
    assert write_report("<p>new ✓</p>", path) == path
    assert path.read_text(encoding="utf-8") == "<p>new ✓</p>"
    assert [p.name for p in path.parent.iterdir()] == ["report.html"]


def test_a_failed_write_keeps_the_old_report_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    path = write_report("old", tmp_path / "report.html")

    def disk_full(fd: int) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("deployment.atomic_files.os.fsync", disk_full)  # the one atomic write
    with pytest.raises(OSError, match="disk full"):
        write_report("new", path)
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
