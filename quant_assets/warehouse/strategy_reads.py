"""Reads of the derived layer for strategies, simulations and reports (dbt owns the models).

Column names come from the contracts (`schemas.features`, `schemas.tables`), never from
input; values always travel as bind parameters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd

from quant_assets.schemas.features import INDICATOR_COLUMNS, MART_COLUMNS
from quant_assets.warehouse.base import Warehouse, qident

# The two tables share no column name: the mart's sma_* are in price units, the
# indicators' tr_* in total-return units (a test checks the names are disjoint).
_FEATURES_SQL = (
    "select f.symbol, f.date, "
    + ", ".join(f"f.{qident(c)}" for c in MART_COLUMNS)
    + ", "
    + ", ".join(f"t.{qident(c)}" for c in INDICATOR_COLUMNS)
    + " from derived.fct_features_daily as f"
    " left join derived.technical_indicators as t on t.symbol = f.symbol and t.date = f.date"
    " where f.date between ? and ? and f.symbol = any(?)"
    " order by f.symbol, f.date"
)

_BARS_SQL = """
    select b.symbol, b.date, b.open, b.high, b.low, b.close, b.volume, r.tr_index
    from derived.stg_market_data__ohlcv_bars as b
    join derived.fct_returns_daily as r on r.symbol = b.symbol and r.date = b.date
    where b.date between ? and ? and b.symbol = any(?)
    order by b.symbol, b.date
"""

_RETURNS_SQL = """
    select symbol, date, ret_simple, ret_log
    from derived.fct_returns_daily
    where date between ? and ? and symbol = any(?) and ret_simple is not null
    order by symbol, date
"""

_ALL_RETURNS_SQL = """
    select symbol, date, ret_simple, ret_log
    from derived.fct_returns_daily
    where date between ? and ? and ret_simple is not null
    order by symbol, date
"""


def latest_feature_date(wh: Warehouse, before: dt.date | None = None) -> dt.date | None:
    """The last bar date of derived.fct_features_daily, strictly before `before` when given
    (None when there is none)."""
    if before is None:
        frame = wh.query("select max(date) as d from derived.fct_features_daily")
    else:
        frame = wh.query(
            "select max(date) as d from derived.fct_features_daily where date < ?", [before]
        )
    if frame.empty or pd.isna(frame["d"].iloc[0]):
        return None
    return pd.Timestamp(frame["d"].iloc[0]).date()


def features_panel(
    wh: Warehouse, symbols: Sequence[str], start: dt.date, end: dt.date
) -> pd.DataFrame:
    """fct_features_daily joined with technical_indicators: one row per (symbol, date)."""
    return wh.query(_FEATURES_SQL, [start, end, list(symbols)])


def bars_with_tr_index(
    wh: Warehouse, symbols: Sequence[str], start: dt.date, end: dt.date
) -> pd.DataFrame:
    """Preferred-source unadjusted bars with the point-in-time total-return index."""
    return wh.query(_BARS_SQL, [start, end, list(symbols)])


def daily_returns(
    wh: Warehouse, symbols: Sequence[str] | None, start: dt.date, end: dt.date
) -> pd.DataFrame:
    """Long frame symbol, date, ret_simple, ret_log from fct_returns_daily (all symbols if None)."""
    if symbols is None:
        return wh.query(_ALL_RETURNS_SQL, [start, end])
    return wh.query(_RETURNS_SQL, [start, end, list(symbols)])
