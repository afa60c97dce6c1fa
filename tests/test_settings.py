"""Environment variables are read through deployment/settings.py; Dagster resources get them
through dg.EnvVar, resolved when a run starts."""

import dagster as dg

from assets.resources import LabelStudioResource


def test_an_external_label_studio_reaches_the_resource_through_env_vars(
    isolated_environment, monkeypatch
):
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://labels.example:8080")
    monkeypatch.setenv("LABEL_STUDIO_API_KEY", "key-from-env")
    resource = LabelStudioResource.from_environment()
    assert isinstance(resource.url, dg.EnvVar) and isinstance(resource.api_key, dg.EnvVar)
    monkeypatch.setenv("LABEL_STUDIO_URL", "http://labels.example:9090")  # read at run start
    seen = {}

    @dg.asset
    def probe(labelstudio: LabelStudioResource) -> None:
        settings = labelstudio.settings()
        seen.update(url=labelstudio.labeling_url(), key=settings.api_key, on=labelstudio.in_use())

    assert dg.materialize([probe], resources={"labelstudio": resource}).success
    assert seen == {"url": "http://labels.example:9090", "key": "key-from-env", "on": True}


def test_without_env_vars_the_resource_uses_the_managed_server(isolated_environment, monkeypatch):
    for name in ("LABEL_STUDIO_URL", "LABEL_STUDIO_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BAYESLINE_LABELSTUDIO_PORT", "18089")
    resource = LabelStudioResource.from_environment()
    assert resource.url is None and resource.api_key is None
    assert resource.labeling_url() == "http://127.0.0.1:18089"
    assert not resource.in_use()  # no managed server runs in this home
