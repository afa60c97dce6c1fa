"""What a person does in the Dagster UI, as Playwright steps: roles and visible text only."""

from __future__ import annotations

import re
from urllib.parse import quote

from playwright.sync_api import Locator, Page, expect

from tests.browser.servers import DagsterUI

GROUPS = ("warehouse", "splits", "evaluation", "labeling")
RUN_TIMEOUT_MS = 240_000
_TERMINAL = re.compile(r"^(Success|Failure|Canceled)$")


def open_asset_graph(page: Page, ui: DagsterUI) -> None:
    """The global lineage with every group expanded."""
    expanded = ",".join(f"global@global:{group}" for group in GROUPS)
    page.goto(f"{ui.url}/asset-groups?expanded={quote(expanded)}")
    expect(page.get_by_role("button", name="Materialize all")).to_be_enabled(timeout=60_000)


def materialize_all(page: Page) -> str:
    """Click "Materialize all" on the page, follow the toast to the run; its id."""
    page.get_by_role("button", name="Materialize all").click()
    toast = page.get_by_text(re.compile(r"^Launched run [0-9a-f]{8}$"))
    expect(toast).to_be_visible()
    page.get_by_role("link", name="View").first.click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]{36}"))
    return page.url.rsplit("/runs/", 1)[1].split("?")[0]


def wait_for_run(page: Page) -> str:
    """Wait on the run page until the run ends; its status as the page shows it."""
    status = page.get_by_text(_TERMINAL).first
    status.wait_for(timeout=RUN_TIMEOUT_MS)
    return status.inner_text()


def open_asset(page: Page, ui: DagsterUI, asset: str, view: str | None = None) -> None:
    page.goto(f"{ui.url}/assets/{asset}" + (f"?view={view}" if view else ""))
    expect(
        page.get_by_role("heading", name=asset).or_(page.get_by_text(asset).first)
    ).to_be_visible()


def metadata_row(page: Page, key: str) -> Locator:
    """The row of the asset's latest materialisation metadata table with this key."""
    first_cell = page.locator("td:first-child", has_text=re.compile(f"^{re.escape(key)}$"))
    return page.locator("tr", has=first_cell).first


def _value_cell(page: Page, key: str) -> Locator:
    # The row's own cells only: a Markdown value nests a table with cells of its own.
    return metadata_row(page, key).locator(":scope > td").last


def metadata_value(page: Page, key: str) -> str:
    return _value_cell(page, key).inner_text().strip()


def metadata_table(page: Page, key: str) -> list[list[str]]:
    """A Markdown table shown in a metadata value, as rows of cell texts (header excluded)."""
    rows = _value_cell(page, key).locator("tbody tr")
    expect(rows.first).to_be_visible()
    return [
        [cell.strip() for cell in rows.nth(i).locator("td").all_inner_texts()]
        for i in range(rows.count())
    ]


def show_metadata_dialog(page: Page, key: str, kind: str = "Markdown") -> Locator:
    """Open a long metadata value ("[Show Markdown]", "[Show JSON]"); the dialog showing it."""
    metadata_row(page, key).get_by_text(f"[Show {kind}]").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    return dialog


def expand_sidebar_groups(page: Page) -> None:
    """Unfold every group in the graph's sidebar tree, which then lists the assets in full."""
    for group in GROUPS:
        row = page.locator("button:has([aria-label='asset_group'])", has_text=group)
        toggle = row.locator("xpath=../../..").locator("button:has([aria-label='arrow_drop_down'])")
        toggle.first.click()


def open_checks(page: Page, ui: DagsterUI, asset: str) -> Locator:
    """The asset's Checks tab, once its list has loaded; the list's heading."""
    open_asset(page, ui, asset, "checks")
    heading = page.get_by_text(re.compile(r"^Checks \(\d+\)$"))
    expect(heading).to_be_visible(timeout=60_000)
    return heading
