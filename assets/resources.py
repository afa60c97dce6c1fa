"""The one place where Bayesline's Dagster code reads its configuration."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from labeling.client import connect
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
    """The Label Studio that labelers use: the managed one (`bayesline labelstudio start`)
    or another, given by LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY."""

    def settings(self) -> LabelStudioSettings:
        return LabelStudioSettings.from_env()

    def url(self) -> str:
        return os.environ.get("LABEL_STUDIO_URL") or self.settings().url

    def in_use(self) -> bool:
        """Whether labeling is switched on: an external server is configured, or ours runs."""
        return bool(os.environ.get("LABEL_STUDIO_URL")) or status(self.settings()).running

    def not_running_message(self) -> str:
        return (
            "Label Studio is not running, so nothing was sent to or read from it: start it "
            "with `make labelstudio` (or set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY)."
        )

    def connect(self):
        return connect(self.settings())
