"""Path 3, the labeler: blind tasks in Label Studio, labelled by a person, synced by the sensor."""

from __future__ import annotations

import re
import time
import tomllib

import numpy as np
import pyarrow.parquet as pq
import pytest
from playwright.sync_api import Page, expect

from labeling.client import connect, create_labeler
from labeling.queue import ImageServing, QueuedExample, labeling_interface
from labeling.sync import sync_annotations
from labeling.tasks import ensure_local_storage, ensure_project, push_tasks
from tests.browser.servers import DagsterUI, bayesline_sql, graphql
from tests.image_datasets import image_config_toml, striped_image
from warehouse.config import parse_config
from warehouse.layout import WarehouseLayout

pytestmark = [pytest.mark.browser, pytest.mark.labelstudio, pytest.mark.slow]
LABELER = "labeler@bayesline.test"
PASSWORD = "blind-labeler-42"  # a throwaway account on a temporary server
TASKS_TO_LABEL = 3
SENSOR = "label_studio_annotations_sensor"
SYNC_TIMEOUT_S = 240  # the sensor ticks every 10 s here, then the sync run starts and finishes


def log_in(page: Page, url: str, email: str = LABELER) -> None:
    page.goto(f"{url}/user/login/")
    page.locator("input[name=email]").fill(email)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Recent Projects")).to_be_visible()


def shown_text(page: Page, queued_texts: list[str]) -> str:
    """The queued example whose text the labeling screen shows."""
    shown = [t for t in queued_texts if page.get_by_text(t, exact=True).first.is_visible()]
    assert len(shown) == 1, f"expected one queued text on the screen, found {len(shown)}"
    return shown[0]


def label_tasks(
    page: Page, labels: list[str], queued_texts: list[str], screenshot
) -> list[tuple[str, str]]:
    """In the label stream, choose a label and submit, task after task: (text, label) pairs."""
    page.get_by_role("button", name="Label All Tasks").click()
    done = []
    for number, label in enumerate(labels):
        submit = page.get_by_role("button", name="Submit current annotation")
        expect(submit).to_be_disabled()  # nothing chosen for the person: no prediction pre-filled
        checkboxes = page.get_by_role("checkbox")
        expect(checkboxes.first).to_be_visible()
        assert not any(checkboxes.nth(i).is_checked() for i in range(checkboxes.count()))
        text = shown_text(page, queued_texts)
        # A choice shows its label and its hotkey ("negative[1]").
        page.locator("label").filter(has_text=re.compile(f"^{label}")).first.click()
        if number == 0:
            screenshot(page, "labeling", for_docs=True)
        submit.click()
        expect(page.get_by_text(text, exact=True)).to_have_count(0)
        done.append((text, label))
    return done


def sensor_ticks(ui: DagsterUI) -> list[dict]:
    """The annotation sensor's recent ticks in the daemon, newest first."""
    query = (
        "query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { ... on Sensor { "
        "sensorState { ticks(limit: 10) { status timestamp skipReason runIds } } } } }"
    )
    selector = {
        "repositoryLocationName": "assets.definitions",
        "repositoryName": "__repository__",
        "sensorName": SENSOR,
    }
    return graphql(ui, query, {"s": selector})["sensorOrError"]["sensorState"]["ticks"]


def wait_for(condition, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(2)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def by_labeler(ui: DagsterUI) -> list[dict]:
    return bayesline_sql(
        ui,
        "SELECT h.annotation_id, h.example_id, h.label, h.simulated, e.text, "
        "q.example_id IS NOT NULL AS queued "
        "FROM human_annotations h JOIN examples e USING (example_id) "
        "LEFT JOIN labeling_queue q USING (example_id) "
        f"WHERE h.annotator = '{LABELER}' ORDER BY h.annotation_id",
    )


def test_a_labeler_labels_blind_tasks_and_the_sensor_syncs_them_once(
    page, dagster_ui, ui_run, labelstudio, screenshot
):
    settings, state = labelstudio
    create_labeler(settings, LABELER, PASSWORD)
    queued = bayesline_sql(
        dagster_ui, "SELECT e.text FROM labeling_queue JOIN examples e USING (example_id)"
    )
    assert len(queued) >= TASKS_TO_LABEL, "the UI run queued too few tasks"

    log_in(page, state.url)
    page.get_by_text(f"browser paths {dagster_ui.home.parent.name}").first.click()
    expect(page.get_by_text("Predictions: 0")).to_be_visible()  # no model output reaches people
    for gold in ("sentiment", "label", "gold_label", "predicted_label"):
        expect(page.get_by_text(gold, exact=True)).to_have_count(0)
    screenshot(page, "labeling-project")
    labels = ["negative", "positive", "negative"][:TASKS_TO_LABEL]
    labelled = label_tasks(page, labels, [r["text"] for r in queued], screenshot)

    synced = wait_for(
        lambda: len(rows := by_labeler(dagster_ui)) == TASKS_TO_LABEL and rows,
        SYNC_TIMEOUT_S,
        "the sensor's sync run to store the annotations",
    )
    assert sorted((r["text"], r["label"]) for r in synced) == sorted(labelled)
    assert all(r["queued"] and not r["simulated"] for r in synced)

    # The sensor settles: a later tick finds nothing new. (A tick that saw the last submission
    # after the first sync began may request one more sync; that one must add nothing.)
    stored_at = time.time()
    wait_for(
        lambda: [
            t
            for t in sensor_ticks(dagster_ui)
            if t["timestamp"] > stored_at and "no new annotations" in (t["skipReason"] or "")
        ],
        2 * SYNC_TIMEOUT_S,
        "the annotation sensor to tick with nothing new",
    )
    assert by_labeler(dagster_ui) == synced
    total = bayesline_sql(
        dagster_ui,
        "SELECT count(*) AS n, count(DISTINCT annotation_id) AS distinct_ids "
        "FROM human_annotations",
    )
    assert total[0]["n"] == total[0]["distinct_ids"]


IMAGE_LABELER = "image-labeler@bayesline.test"
LOAD_TIMEOUT_MS = 60_000
SIDE = 96  # pixels: the image task's width, which the labeler's browser must decode


def test_a_labeler_sees_an_image_task_blind_and_the_annotation_syncs(
    page, labelstudio, tmp_path, screenshot
):
    """An image task through local-files storage: the picture loads, nothing gives the answer
    away, and the submitted label is what the sync stores."""
    settings, state = labelstudio
    create_labeler(settings, IMAGE_LABELER, PASSWORD)
    folder = settings.document_root / "images" / tmp_path.name
    folder.mkdir(parents=True)
    striped_image("rows", 10.0, np.random.default_rng(1)).resize((SIDE, SIDE)).save(
        folder / "shot 1.png"
    )
    config = parse_config(tomllib.loads(image_config_toml()))
    example = QueuedExample(
        "shot-1",
        "dev",
        "camera",
        "cam-b",
        1.0,
        {"image_path": f"images/{tmp_path.name}/shot 1.png"},
    )
    title = f"image tasks {tmp_path.name}"
    with connect(settings) as client:
        project_id = ensure_project(client, title, labeling_interface(config), overlap=1)
        try:
            ensure_local_storage(client, project_id, folder)
            images = ImageServing(settings.document_root, config.dataset.image_columns)
            push_tasks(client, project_id, [example], 1, images=images)

            page.context.clear_cookies()
            log_in(page, state.url, IMAGE_LABELER)
            page.get_by_text(title).first.click()
            # A new project's data manager can take a while to load on a busy machine.
            expect(page.get_by_text("Predictions: 0")).to_be_visible(timeout=LOAD_TIMEOUT_MS)
            for gold in ("pattern", "gold_label", "predicted_label"):
                expect(page.get_by_text(gold, exact=True)).to_have_count(0)
            page.get_by_role("button", name="Label All Tasks").click()
            submit = page.get_by_role("button", name="Submit current annotation")
            expect(submit).to_be_disabled(timeout=LOAD_TIMEOUT_MS)  # no prediction pre-fills
            # The task's image (96 pixels wide, as written) has loaded: served, decoded, shown.
            page.wait_for_function(
                f"() => [...document.images].some(i => i.complete && i.naturalWidth === {SIDE})",
                timeout=LOAD_TIMEOUT_MS,
            )
            screenshot(page, "labeling-image")
            page.locator("label").filter(has_text=re.compile("^rows")).first.click()
            submit.click()

            synced = wait_for(
                lambda: (
                    (r := sync_annotations(client, project_id, WarehouseLayout(tmp_path)))
                    and r.new_rows
                    and r
                ),
                60,
                "the submitted annotation to reach the sync",
            )
            assert synced.new_rows == 1
            (row,) = pq.read_table(synced.path).to_pylist()
            assert (row["example_id"], row["label"], row["annotator"]) == (
                "shot-1",
                "rows",
                IMAGE_LABELER,
            )
        finally:
            client.projects.delete(project_id)
