"""The one place where Bayesline's Dagster code reads its configuration."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from warehouse.config import BayeslineConfig, load_config
from warehouse.layout import WarehouseLayout


class BayeslineResource(dg.ConfigurableResource):
    """Where the warehouse lives and which dataset description it follows."""

    home: str = "data"
    config_path: str = "bayesline.toml"

    @classmethod
    def from_env(cls) -> BayeslineResource:
        """Defaults that run on a laptop, overridden by BAYESLINE_HOME and BAYESLINE_CONFIG."""
        return cls(
            home=str(Path(os.environ.get("BAYESLINE_HOME", "data")).resolve()),
            config_path=str(Path(os.environ.get("BAYESLINE_CONFIG", "bayesline.toml")).resolve()),
        )

    def layout(self) -> WarehouseLayout:
        return WarehouseLayout(Path(self.home).resolve()).ensure()

    def config(self) -> BayeslineConfig:
        return load_config(self.config_path)
