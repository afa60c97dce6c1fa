"""The one place where Bayesline's Dagster code reads its configuration."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import dagster as dg

from deployment.settings import (
    LABEL_STUDIO_API_KEY_ENV,
    LABEL_STUDIO_URL_ENV,
    label_studio_environment,
)
from labeling.client import connect, labeling_url
from labeling.process import status
from labeling.server_settings import LabelStudioSettings
from warehouse.config import BayeslineConfig, load_config
from warehouse.layout import WarehouseLayout


class BayeslineResource(dg.ConfigurableResource):
    """Where the warehouse lives and which dataset description it follows.

    Unset fields fall back to BAYESLINE_HOME (default ./data) and BAYESLINE_CONFIG (default
    ./bayesline.toml), read when a run starts, not when the code location loads.
    """

    home: str | None = None
    config_path: str | None = None

    def layout(self) -> WarehouseLayout:
        layout = (
            WarehouseLayout(Path(self.home).resolve()) if self.home else WarehouseLayout.from_env()
        )
        return layout.ensure()

    def config(self) -> BayeslineConfig:
        return load_config(self.config_path)


class LabelStudioResource(dg.ConfigurableResource):
    """The Label Studio that labelers use: another server (`url` and `api_key`, from
    LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY) or, without a url, the managed one
    (`bayesline labelstudio start`)."""

    url: str | None = None
    api_key: str | None = None

    @classmethod
    def from_environment(cls) -> LabelStudioResource:
        """Fields set through dg.EnvVar for the variables set now: Dagster reads them when a
        run starts and never shows the key. Variables set later are read at run time."""
        present = label_studio_environment()
        fields = {
            "url": dg.EnvVar(LABEL_STUDIO_URL_ENV) if present.url else None,
            "api_key": dg.EnvVar(LABEL_STUDIO_API_KEY_ENV) if present.api_key else None,
        }
        return cls(**{name: value for name, value in fields.items() if value is not None})

    def settings(self) -> LabelStudioSettings:
        managed = LabelStudioSettings.from_env()
        return replace(
            managed,
            external_url=self.url or managed.external_url,
            api_key=self.api_key or managed.api_key,
        )

    def labeling_url(self) -> str:
        """Where labelers work: the external server's URL, else the managed one's."""
        return labeling_url(self.settings())

    def in_use(self) -> bool:
        """Whether labeling is switched on: an external server is configured, or ours runs."""
        settings = self.settings()
        return labeling_url(settings) != settings.url or status(settings).running

    def not_running_message(self) -> str:
        return (
            "Label Studio is not running, so nothing was sent to or read from it: start it "
            "with `make labelstudio` (or set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY)."
        )

    def connect(self):
        return connect(self.settings())
