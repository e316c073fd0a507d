"""Derived layer: the dbt project as Dagster assets (group `derived`)."""

from quant_assets.defs.derived.assets import derived_assets
from quant_assets.defs.derived.resources import dbt_resource

__all__ = ["dbt_resource", "derived_assets"]
