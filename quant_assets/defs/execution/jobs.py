"""The job the execution sensor launches: send one day's orders, then fills and positions."""

from __future__ import annotations

import dagster as dg

from quant_assets.defs.execution.assets import FILLS_KEY, POSITIONS_KEY
from quant_assets.defs.raw.partitions import daily_partitions

execution_job = dg.define_asset_job(
    "execution_job",
    selection=dg.AssetSelection.assets(FILLS_KEY, POSITIONS_KEY),
    partitions_def=daily_partitions,
    description="Submit the day's new orders once (client ids), sync fills, reconcile positions.",
)

execution_jobs = [execution_job]
