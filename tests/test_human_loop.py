"""The whole loop through Dagster against a real Label Studio: ingest, split, predict, find
slices, queue, annotate (simulated annotators), sync, baselines, diagnosis."""

import pytest

from assets.run import materialize_pipeline
from bayesline.demo import generate_demo_data
from bayesline.runner import ensure_dagster_home
from labeling.client import api_token
from tests.conftest import REPO_ROOT
from warehouse.catalog import open_reader
from warehouse.config import load_config

pytestmark = [pytest.mark.slow, pytest.mark.labelstudio]
#: Tasks in the overall sample; each simulated annotation is one request to Label Studio.
OVERALL_CAP = 30


@pytest.fixture
def loop_config(tmp_path, monkeypatch):
    text = (REPO_ROOT / "bayesline.toml").read_text()
    text = text.replace(
        'project_title = "Bayesline demo: human-level baseline"',
        f'project_title = "loop test {tmp_path.name}"',
    )
    text = text.replace("per_slice_cap = 40", "per_slice_cap = 15")
    text = text.replace("overall_cap = 120", f"overall_cap = {OVERALL_CAP}")
    path = tmp_path / "loop.toml"
    path.write_text(text)
    monkeypatch.setenv("BAYESLINE_CONFIG", str(path))
    return load_config(path)


def counts(layout, config):
    with open_reader(layout, config) as con:
        return con.execute(
            "SELECT (SELECT count(*) FROM labeling_queue), "
            "(SELECT count(*) FROM human_annotations), "
            "(SELECT count(*) FILTER (NOT simulated) FROM human_annotations)"
        ).fetchone()


def test_the_whole_loop_gives_the_diagnosis_a_human_level_from_label_studio(
    layout, labelstudio, loop_config, monkeypatch
):
    settings, state = labelstudio
    monkeypatch.setenv("LABEL_STUDIO_URL", state.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", api_token(settings))
    ensure_dagster_home(layout)
    generate_demo_data(layout.landing, seed=11, n_training=800, n_target=400)

    first = materialize_pipeline()
    assert first.success, [e for e in first.events if not e.ok]
    queued, annotations, by_people = counts(layout, loop_config)
    # the overall sample, three simulated annotators each
    assert queued >= OVERALL_CAP and annotations == OVERALL_CAP * 3
    assert by_people == 0  # every simulated annotation is marked so
    with open_reader(layout, loop_config) as con:
        human = con.execute(
            "SELECT human_level_source, human_level_error FROM diagnosis "
            "WHERE slice_column = 'overall'"
        ).fetchone()
        baseline = con.execute(
            "SELECT consensus_error, n_examples FROM human_baselines WHERE slice_column = 'overall'"
        ).fetchone()
    assert human == ("human_baselines (simulated)", baseline[0])
    assert baseline[1] == OVERALL_CAP

    again = materialize_pipeline()
    assert again.success
    assert counts(layout, loop_config) == (queued, annotations, 0)  # nothing queued or synced twice


def test_the_annotation_sensor_waits_out_an_outage_then_requests_a_sync(
    layout, labelstudio, loop_config, monkeypatch
):
    import dagster as dg

    from assets.definitions import defs
    from labeling.client import connect
    from labeling.process import start, stop
    from labeling.tasks import find_project

    settings, state = labelstudio
    monkeypatch.setenv("LABEL_STUDIO_URL", state.url)
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", api_token(settings))
    sensor = defs.resolve_sensor_def("label_studio_annotations_sensor")
    with dg.DagsterInstance.ephemeral() as instance:

        def tick():
            return sensor(
                dg.build_sensor_context(instance=instance, resources=dict(defs.resources))
            )

        quiet = tick()
        assert isinstance(quiet, dg.SkipReason) and "no new annotations" in quiet.skip_message
        stop(settings)
        try:
            down = tick()
        finally:
            start(settings)
        assert isinstance(down, dg.SkipReason) and "unreachable" in down.skip_message
        with connect(settings) as client:
            project_id = find_project(client, loop_config.labeling.project_title)
            imported = client.projects.import_tasks(
                project_id,
                request=[{"data": {"text": "fine", "example_id": "sensor-e1"}}],
                return_task_ids=True,
            )
            client.annotations.create(
                id=imported.task_ids[0],
                result=[
                    {
                        "from_name": "label",
                        "to_name": "text",
                        "type": "choices",
                        "value": {"choices": ["positive"]},
                    }
                ],
            )
        assert isinstance(tick(), dg.RunRequest)
