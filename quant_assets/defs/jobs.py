"""The jobs of the graph, one per partition grain and cadence.

History (year partitions): `history_job` builds the raw feeds and the whole derived layer
in one run over a range of years (what `quant main` and a history backfill launch);
`listed_close_job` (after the NYSE close) and `overnight_job` (after UTC midnight) refresh
one feed calendar each and rebuild the derived layer behind it in the same run, in the
asset graph's order (docs/PARTITIONS.md says why this is a job, not an eager condition). Models: `ml_job`, one spec
per run. Decisions (session partitions): `decision_job` is the morning chain of a session
(model scores, simulations, strategies, recommendations, orders, SOD report), `eod_job`
its evening report (after syncing the session's fills from the brokers),
`execution_job` the sending of its orders.
"""

from __future__ import annotations

import dagster as dg

from quant_assets.defs.derived.assets import derived_assets
from quant_assets.defs.derived.indicators import technical_indicators
from quant_assets.defs.execution.assets import FILLS_KEY, ORDERS_KEY, POSITIONS_KEY
from quant_assets.defs.ml.assets import ml_job
from quant_assets.defs.ml.session_scores import SESSION_SCORES_KEY
from quant_assets.defs.raw.assets import DAILY_KEYS, LISTED_KEYS, instruments
from quant_assets.defs.reports.assets import EOD_KEY, SOD_KEY
from quant_assets.defs.run_health import RETRY_SAFE_TAGS

RAW = dg.AssetSelection.assets(instruments, *LISTED_KEYS, *DAILY_KEYS)
DERIVED = dg.AssetSelection.assets(*derived_assets, technical_indicators)
DECISION = dg.AssetSelection.keys(
    SESSION_SCORES_KEY, SOD_KEY, ORDERS_KEY
) | dg.AssetSelection.groups("simulation", "strategy")

history_job = dg.define_asset_job(
    "history_job",
    tags=RETRY_SAFE_TAGS,  # idempotent slice replaces: safe to retry after a crash
    selection=RAW | DERIVED,
    description="Raw feeds, dbt models and indicators for a range of years, in one run.",
)
listed_close_job = dg.define_asset_job(
    "listed_close_job",
    tags=RETRY_SAFE_TAGS,  # idempotent slice replaces: safe to retry after a crash
    selection=dg.AssetSelection.assets(instruments, *LISTED_KEYS) | DERIVED,
    description="Listed bars and security events for a year (to the last NYSE close), then "
    "the derived layer of that year.",
)
overnight_job = dg.define_asset_job(
    "overnight_job",
    tags=RETRY_SAFE_TAGS,  # idempotent slice replaces: safe to retry after a crash
    selection=dg.AssetSelection.assets(instruments, *DAILY_KEYS) | DERIVED,
    description="Crypto, events, macro, news and sentiment for a year (to the last UTC day), "
    "then the derived layer of that year.",
)
derived_job = dg.define_asset_job(
    "derived_job",
    tags=RETRY_SAFE_TAGS,  # idempotent slice replaces: safe to retry after a crash
    selection=DERIVED,
    description="The dbt models and indicators for a range of years (incremental by window).",
)
decision_job = dg.define_asset_job(
    "decision_job",
    selection=DECISION,
    description="One session's morning: model scores, simulations, strategies, "
    "recommendations, orders (recorded, not sent) and the SOD report.",
)
eod_job = dg.define_asset_job(
    "eod_job",
    # fills and positions again, synced and reconciled only (nothing is sent after the
    # close): a paper order fills on its session's bar, loaded after the close
    selection=dg.AssetSelection.keys(FILLS_KEY, POSITIONS_KEY, EOD_KEY),
    config={"ops": {"fills_and_positions": {"config": {"send": False}}}},
    description="One session's broker fills synced and positions reconciled, then its EOD "
    "report, once its bars are in the derived layer.",
)
execution_job = dg.define_asset_job(
    "execution_job",
    selection=dg.AssetSelection.assets(FILLS_KEY, POSITIONS_KEY),
    description="Submit a session's new orders once (client ids), sync fills, reconcile.",
)

all_jobs = [
    history_job,
    listed_close_job,
    overnight_job,
    derived_job,
    ml_job,
    decision_job,
    eod_job,
    execution_job,
]
