"""Path 2, the failing quality gate: a landing file that breaks a blocking check, seen in the UI.

It has its own Dagster server and warehouse: a failed gate stays failed (the bad file is
ingested for good), which would block publishing for the other paths.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from bayesline.demo import generate_demo_data
from tests.browser.dagster_pages import (
    materialize_all,
    open_asset,
    open_asset_graph,
    open_checks,
    show_metadata_dialog,
    wait_for_run,
)
from tests.browser.servers import (
    DagsterUI,
    bayesline_sql,
    demo_config,
    start_dagster_ui,
    stop_dagster_ui,
)
from tests.conftest import write_csv

pytestmark = [pytest.mark.browser, pytest.mark.slow]
BROKEN_FILE = "broken_export.csv"
BLOCKING_CHECK = "batches_have_sane_row_counts"


@pytest.fixture(scope="module")
def gate_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterUI]:
    """A server over the demo data plus one export whose every label is outside the label set."""
    root = tmp_path_factory.mktemp("gate-ui")
    ui = start_dagster_ui(root, demo_config(root, "browser gate"))
    try:
        generate_demo_data(ui.landing, seed=7, n_training=400, n_target=200)
        write_csv(
            ui.landing / "web_reviews" / BROKEN_FILE,
            [(f"x{i}", "u1", "maybe", f"odd {i}", "web") for i in range(30)],
            header=["review_id", "user_id", "sentiment", "text", "channel"],
        )
        yield ui
    finally:
        stop_dagster_ui(ui)


def test_a_broken_landing_file_fails_the_gate_in_the_ui_and_publishes_nothing(
    page, gate_ui, screenshot
):
    open_asset_graph(page, gate_ui)
    run_id = materialize_all(page)
    assert wait_for_run(page) == "Failure"
    screenshot(page, "gate-run")

    open_checks(page, gate_ui, "examples")
    page.get_by_text(BLOCKING_CHECK, exact=True).first.click()
    expect(page.get_by_text("This is a blocking asset check.")).to_be_visible()
    expect(page.get_by_text("Failed", exact=True).first).to_be_visible()
    dialog = show_metadata_dialog(page, "failing_examples", kind="JSON")
    expect(dialog).to_contain_text(BROKEN_FILE)
    screenshot(page, "gate-failing-examples")

    open_asset(page, gate_ui, "published_splits")
    # The blocked step shows as a failed materialisation with nothing published behind it.
    run_link = page.get_by_role("link", name=run_id[:8], exact=True)
    expect(run_link).to_be_visible()
    expect(run_link.locator("xpath=..")).to_contain_text("Failed in")
    expect(page.get_by_text("No metadata found")).to_be_visible()
    screenshot(page, "gate-splits-not-materialised")
    assert bayesline_sql(gate_ui, "SELECT count(*) AS n FROM split_versions") == [{"n": 0}]
