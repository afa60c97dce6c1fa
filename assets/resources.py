"""The one place where Bayesline's Dagster code reads its configuration."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

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
