"""Path 1, the engineer: the asset graph, "Materialize all", and the new split version."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.dagster_pages import (
    GROUPS,
    expand_sidebar_groups,
    metadata_table,
    metadata_value,
    open_asset,
    open_asset_graph,
    open_checks,
    show_metadata_dialog,
)
from tests.browser.servers import bayesline_sql

pytestmark = [pytest.mark.browser, pytest.mark.labelstudio, pytest.mark.slow]

# Spelled out, not read from the definitions: a renamed asset or check must fail here.
ASSETS = {
    "warehouse": ("examples", "rejected_rows"),
    "splits": ("published_splits",),
    "evaluation": (
        "baseline_predictions",
        "landed_predictions",
        "slice_metrics",
        "low_performing_slices",
        "diagnosis",
    ),
    "labeling": ("labeling_queue", "human_annotations", "human_baselines", "label_review"),
}
CHECKS = {
    "examples": (
        "examples_match_schema",
        "examples_have_required_values",
        "examples_labels_in_label_set",
        "examples_have_unique_ids",
        "batches_have_sane_row_counts",
        "examples_have_no_cross_source_duplicates",
        "label_balance_is_stable_across_batches",
    ),
    "published_splits": ("splits_are_leakage_free", "splits_follow_configured_fractions"),
}
SPLITS = ("train", "train_dev", "dev", "test")


def test_the_asset_graph_lists_every_asset_and_every_check(page, dagster_ui, ui_run, screenshot):
    open_asset_graph(page, dagster_ui)
    assert set(GROUPS) == set(ASSETS)
    expand_sidebar_groups(page)
    for asset in (a for assets in ASSETS.values() for a in assets):
        expect(page.get_by_title(asset, exact=True).first).to_be_visible()
    page.get_by_role("button", name="Hide navigation").click()
    screenshot(page, "asset-graph", for_docs=True)
    for asset, checks in CHECKS.items():
        heading = open_checks(page, dagster_ui, asset)
        expect(heading).to_have_text(f"Checks ({len(checks)})")
        for check in checks:
            expect(page.get_by_text(check, exact=True).first).to_be_attached()
        screenshot(page, f"{asset}-checks", for_docs=asset == "examples")


def test_materialize_all_publishes_a_version_the_ui_and_sql_agree_on(
    page, dagster_ui, ui_run, screenshot
):
    assert ui_run.status == "Success", f"run {ui_run.run_id} ended {ui_run.status}"
    open_asset(page, dagster_ui, "published_splits")
    version = int(metadata_value(page, "version"))
    assert metadata_value(page, "new_version") == "true"
    shown = {split: int(metadata_value(page, f"n_{split}")) for split in SPLITS}
    by_source_label = metadata_table(page, "counts_by_split_source_label")
    screenshot(page, "published-splits")

    newest = bayesline_sql(dagster_ui, "SELECT * FROM split_versions ORDER BY version DESC LIMIT 1")
    assert newest[0]["version"] == version
    assert shown == {split: newest[0][f"n_{split}"] for split in SPLITS}
    counted = bayesline_sql(
        dagster_ui,
        "SELECT split, source, label, count(*) AS n FROM splits "
        f"WHERE version = {version} GROUP BY ALL ORDER BY ALL",
    )
    assert sorted(by_source_label) == sorted(
        [r["split"], r["source"], r["label"], str(r["n"])] for r in counted
    )


def test_the_diagnosis_materialisation_shows_its_table_and_chart(
    page, dagster_ui, ui_run, screenshot
):
    open_asset(page, dagster_ui, "diagnosis")
    assert metadata_value(page, "split_version") == str(
        bayesline_sql(dagster_ui, "SELECT max(version) AS v FROM split_versions")[0]["v"]
    )
    dialog = show_metadata_dialog(page, "diagnosis")
    expect(dialog.get_by_role("cell", name="overall = all")).to_be_visible()
    screenshot(page, "diagnosis-metadata", for_docs=True)
    dialog.get_by_role("button", name="Close").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    chart = show_metadata_dialog(page, "chart").get_by_role("img", name="error by stage")
    expect(chart).to_be_visible()
    assert chart.evaluate("image => image.complete && image.naturalWidth > 0")
