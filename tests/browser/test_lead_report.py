"""Path 4, the lead: the HTML report from `bayesline report`, read in a browser."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.servers import bayesline, bayesline_sql

pytestmark = [pytest.mark.browser, pytest.mark.labelstudio, pytest.mark.slow]
# Report row label -> the `diagnosis` column holding that stage's error.
STAGES = {
    "human-level": "human_level",
    "train": "train",
    "train-dev": "train_dev",
    "dev": "dev",
    "test": "test",
}


def percent(rate: float | None) -> str:
    return "\N{EM DASH}" if rate is None else f"{rate * 100:.2f}%"


def count(n: int | None) -> str:
    return "\N{EM DASH}" if n is None else f"{n:,}"


def overall_table(page: Page) -> dict[str, list[str]]:
    """The report's overall error table: stage -> its cells (error, n, errors, interval)."""
    rows = page.locator("#overall table").first.locator("tbody tr")
    table = {}
    for i in range(rows.count()):
        cells = [c.strip() for c in rows.nth(i).locator("td").all_inner_texts()]
        table[cells[0].lower()] = cells[1:]
    return table


def test_the_report_loads_cleanly_and_matches_the_diagnosis_table(
    page, dagster_ui, ui_run, tmp_path, screenshot
) -> None:
    report = tmp_path / "report.html"
    bayesline(dagster_ui, "report", "--output", str(report))
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("requestfailed", lambda request: problems.append(f"failed: {request.url[:80]}"))

    page.goto(report.as_uri())
    expect(page.get_by_role("heading", name="Overall error")).to_be_visible()
    images = page.locator("img")
    assert images.count() >= 2, "the report should show the stage and the slice charts"
    for i in range(images.count()):
        images.nth(i).scroll_into_view_if_needed()
        loaded = images.nth(i).evaluate("image => image.complete && image.naturalWidth > 0")
        assert loaded, f"chart {i + 1} did not load: {images.nth(i).get_attribute('alt')}"
    assert problems == []
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, "report", for_docs=True)

    meta = page.locator("header .muted").inner_text().strip().splitlines()
    header = re.fullmatch(r"Model (\S+) on split version (\d+)", meta[0])
    assert header, meta
    model, version = header.groups()
    # The built-in baseline says under the header which payload it read.
    assert meta[1:] == ["The built-in baseline, reading the text of text (TF-IDF)."], meta
    rows = bayesline_sql(
        dagster_ui,
        "SELECT * FROM diagnosis WHERE slice_column = 'overall' "
        f"AND model_version = '{model}' AND split_version = {int(version)}",
    )
    assert len(rows) == 1, rows
    shown = overall_table(page)
    # Beside train, for context: the fitted target examples (the demo puts target data in train).
    context = shown.pop("target in train (context)")
    assert context[:2] == [
        percent(rows[0]["target_in_train_error"]),
        count(rows[0]["target_in_train_n"]),
    ]
    assert set(shown) == set(STAGES)
    for label, stage in STAGES.items():
        assert shown[label][0] == percent(rows[0][f"{stage}_error"]), label
        if stage != "human_level":
            assert shown[label][1] == count(rows[0][f"{stage}_n"]), label
    train_note = page.locator("#train-measured-on").inner_text()
    assert train_note == f"Train error: on {rows[0]['train_measured_on']}."
