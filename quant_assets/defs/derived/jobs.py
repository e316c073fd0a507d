"""Jobs of the derived layer, in build order: unpartitioned dbt models, then the daily ones."""

import dagster as dg

from quant_assets.defs.derived.assets import derived_base, derived_incremental, derived_research
from quant_assets.defs.derived.indicators import technical_indicators
from quant_assets.defs.raw.partitions import daily_partitions

derived_base_job = dg.define_asset_job(
    "derived_base_job",
    selection=dg.AssetSelection.assets(derived_base),
    description="Staging views, intermediate models and unpartitioned marts (dbt build).",
)
derived_daily_job = dg.define_asset_job(
    "derived_daily_job",
    selection=dg.AssetSelection.assets(derived_incremental, technical_indicators),
    partitions_def=daily_partitions,
    description="Incremental marts and technical indicators for a day or a range (one run).",
)
derived_research_job = dg.define_asset_job(
    "derived_research_job",
    selection=dg.AssetSelection.assets(derived_research),
    description="Research marts fed by the incremental ones (event windows).",
)

derived_jobs = [derived_base_job, derived_daily_job, derived_research_job]
