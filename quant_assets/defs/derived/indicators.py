"""The technical-indicators asset: TA-Lib indicators per symbol into derived.technical_indicators."""

import dagster as dg

from quant_assets.defs.partitions import history_partitions
from quant_assets.defs.raw.assets import load_metadata, partition_dates, range_label
from quant_assets.defs.resources import WarehouseResource
from quant_assets.ingest import load_indicators


@dg.asset(
    key=["derived", "technical_indicators"],
    group_name="derived",
    partitions_def=history_partitions,
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=[
        dg.AssetKey(["derived", "fct_returns_daily"]),
        dg.AssetKey(["derived", "stg_market_data__ohlcv_bars"]),
    ],
    kinds={"python", "talib"},
)
def technical_indicators(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    """SMA, EMA, RSI, MACD, Bollinger, ATR, ADX, OBV, Stochastic, CCI, Williams %R and MFI with
    TA-Lib's conventions, on point-in-time total-return bars; rows of the partition window."""
    start, end = partition_dates(context)
    with warehouse.session() as wh:
        result = load_indicators(wh, start, end, partition_key=range_label(context))
    return dg.MaterializeResult(metadata=load_metadata(result, "derived", start, end))
