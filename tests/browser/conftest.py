"""Browser tests: Playwright driving Debian's Chromium against the project's real servers.

Never downloads a browser: Chromium comes from `BAYESLINE_CHROMIUM` or /usr/bin/chromium. Without
it these tests skip with one line saying how to enable them (they fail instead when
BAYESLINE_REQUIRE_BROWSER is set, as in CI).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bayesline.demo import generate_demo_data
from labeling.client import api_token
from labeling.process import ServerState
from labeling.server_settings import LabelStudioSettings
from tests.browser.dagster_pages import materialize_all, open_asset_graph, wait_for_run
from tests.browser.servers import DagsterUI, demo_config, start_dagster_ui, stop_dagster_ui
from tests.conftest import REPO_ROOT

SKIP_MESSAGE = (
    "browser tests skipped: install Debian's chromium (apt-get install chromium) "
    "or set BAYESLINE_CHROMIUM"
)
DEFAULT_CHROMIUM = Path("/usr/bin/chromium")
# Headless in a container: no sandbox (often root), no GPU, and nothing phoning home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}
DOCS_SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"


def chromium_path() -> Path | None:
    """BAYESLINE_CHROMIUM when set, else Debian's /usr/bin/chromium, if it is executable."""
    configured = os.environ.get("BAYESLINE_CHROMIUM")
    path = Path(configured) if configured else DEFAULT_CHROMIUM
    return path if path.is_file() and os.access(path, os.X_OK) else None


@pytest.fixture(scope="package")
def chromium() -> Path:
    path = chromium_path()
    if path is None:
        if os.environ.get("BAYESLINE_REQUIRE_BROWSER"):
            pytest.fail(f"BAYESLINE_REQUIRE_BROWSER is set but {SKIP_MESSAGE.split(': ')[1]}")
        pytest.skip(SKIP_MESSAGE)
    return path


@pytest.fixture(scope="package")
def browser(chromium: Path) -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser, artifacts: Path, request: pytest.FixtureRequest) -> Iterator:
    """A fresh browser context per test; a screenshot of where it stood when a test fails."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    new_page = context.new_page()
    yield new_page
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed and not new_page.is_closed():
        new_page.screenshot(path=artifacts / f"FAILED-{request.node.name}.png")
    context.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Keep each phase's report on the test item, so `page` knows whether the test failed."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(scope="package")
def artifacts() -> Path:
    """Where screenshots go: BAYESLINE_TEST_ARTIFACTS, else test-artifacts/browser (ignored)."""
    configured = os.environ.get("BAYESLINE_TEST_ARTIFACTS")
    folder = Path(configured) if configured else REPO_ROOT / "test-artifacts" / "browser"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="package")
def screenshot(artifacts: Path):
    """Save a screenshot as an artifact; `for_docs` ones also go to docs/screenshots when
    BAYESLINE_SCREENSHOTS_TO_DOCS is set (`make screenshots`)."""

    def take(target, name: str, for_docs: bool = False) -> Path:
        path = artifacts / f"{name}.png"
        target.screenshot(path=path, animations="disabled")  # dialogs fade in
        if for_docs and os.environ.get("BAYESLINE_SCREENSHOTS_TO_DOCS"):
            DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOCS_SCREENSHOTS / path.name)
        return path

    return take


@pytest.fixture(scope="package")
def dagster_ui(
    tmp_path_factory: pytest.TempPathFactory,
    labelstudio: tuple[LabelStudioSettings, ServerState],
) -> Iterator[DagsterUI]:
    """`dagster dev` over the demo data, with the managed Label Studio as its labeling server."""
    settings, state = labelstudio
    root = tmp_path_factory.mktemp("dagster-ui")
    label_studio = {"LABEL_STUDIO_URL": state.url, "LABEL_STUDIO_API_KEY": api_token(settings)}
    ui = start_dagster_ui(root, demo_config(root, f"browser paths {root.name}"), label_studio)
    try:
        yield ui
    finally:
        stop_dagster_ui(ui)


@dataclass(frozen=True)
class UIRun:
    """The whole pipeline, materialised once from the Dagster UI for all the browser tests."""

    run_id: str
    status: str


@pytest.fixture(scope="package")
def ui_run(browser, dagster_ui: DagsterUI, screenshot) -> UIRun:
    """Demo data landed, then "Materialize all" clicked in the asset graph and the run awaited.

    Paths that need a materialised warehouse share this one run, whichever asks first.
    """
    generate_demo_data(dagster_ui.landing, seed=7, n_training=800, n_target=400)
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    try:
        open_asset_graph(page, dagster_ui)
        run_id = materialize_all(page)
        status = wait_for_run(page)
        screenshot(page, "dagster-run")
    finally:
        context.close()
    return UIRun(run_id, status)
