"""Asset checks on the raw bars: OHLC sanity, duplicate keys, gaps and freshness."""

import datetime as dt

import dagster as dg
import pandas as pd

from quant_assets.calendars import CRYPTO_CALENDAR, previous_session
from quant_assets.defs.resources import WarehouseResource
from quant_assets.universe import load_universe
from quant_assets.warehouse import quality
from quant_assets.warehouse.quality import count_gaps

OHLCV = dg.AssetKey(["market_data", "ohlcv_daily"])
CRYPTO_OHLCV = dg.AssetKey(["market_data", "crypto_ohlcv_daily"])
GAP_WINDOW_DAYS = 90


@dg.asset_check(
    asset=OHLCV,
    description="No bar breaks high >= max(o,c), low <= min(o,c), low > 0, volume >= 0.",
)
def ohlc_sanity(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.session() as wh:
        bad = quality.ohlc_violations(wh)
    return dg.AssetCheckResult(passed=bad == 0, metadata={"violations": bad})


@dg.asset_check(asset=OHLCV, description="(symbol, date, source) is unique.")
def no_duplicate_bars(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.session() as wh:
        dups = quality.duplicate_keys(wh)
    return dg.AssetCheckResult(passed=dups == 0, metadata={"duplicate_keys": dups})


def _gap_check(warehouse: WarehouseResource, crypto: bool) -> dg.AssetCheckResult:
    """Missing sessions of one calendar's symbols over the 90 days before its newest bar."""
    with warehouse.session() as wh:
        latest = quality.latest_date(wh, "market_data.ohlcv_daily")
        if latest is None:
            return dg.AssetCheckResult(passed=False, metadata={"reason": "no bars loaded"})
        present = quality.bar_dates(wh, latest - dt.timedelta(days=GAP_WINDOW_DAYS), latest)
    calendars = {i.symbol: i.calendar for i in load_universe().instruments}
    mine = present["symbol"].map(calendars).eq(CRYPTO_CALENDAR) == crypto
    present = present[mine]
    if present.empty:
        return dg.AssetCheckResult(passed=False, metadata={"reason": "no bars of this calendar"})
    end = pd.to_datetime(present["date"]).max().date()
    missing = count_gaps(present, end - dt.timedelta(days=GAP_WINDOW_DAYS), end)
    total = int(missing.sum())
    worst = missing.sort_values(ascending=False).head(5)
    return dg.AssetCheckResult(
        passed=total == 0,
        metadata={
            "missing_bars": total,
            "through": end.isoformat(),
            "worst": {k: int(v) for k, v in worst.items() if v},
        },
    )


@dg.asset_check(
    asset=OHLCV,
    description="Every listed symbol has a bar on every NYSE session in the 90 days before the "
    "newest listed bar, from its first bar there.",
)
def no_calendar_gaps(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    return _gap_check(warehouse, crypto=False)


@dg.asset_check(
    asset=CRYPTO_OHLCV,
    name="no_calendar_gaps",
    description="Every crypto asset has a bar on every UTC day in the 90 days before the "
    "newest crypto bar, from its first bar there.",
)
def crypto_no_calendar_gaps(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    return _gap_check(warehouse, crypto=True)


@dg.asset_check(
    asset=OHLCV,
    description="The newest listed bar is no older than the last NYSE session the run loaded "
    "through (its quant/through day, else the last completed session).",
)
def bars_fresh(
    context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource
) -> dg.AssetCheckResult:
    from quant_assets.defs.raw.assets import run_through

    with warehouse.session() as wh:
        latest = quality.latest_date(wh, "market_data.ohlcv_daily")
    # a run through a past day (a backfill, `quant main --through`) is fresh as of that day
    expected = previous_session("NYSE", run_through(context, "NYSE") + dt.timedelta(days=1))
    passed = latest is not None and latest >= expected
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"latest_bar": str(latest), "expected_at_least": str(expected)},
    )


raw_checks = [ohlc_sanity, no_duplicate_bars, no_calendar_gaps, crypto_no_calendar_gaps, bars_fresh]
