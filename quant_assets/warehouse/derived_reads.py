"""Reads of dbt-built tables that Python steps consume (the dbt models own their SQL)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from quant_assets.warehouse.base import Warehouse

_TR_BARS_SQL = """
    select b.symbol, b.date, b.open, b.high, b.low, b.close, b.volume, r.tr_index
    from derived.stg_market_data__ohlcv_bars as b
    join derived.fct_returns_daily as r on r.symbol = b.symbol and r.date = b.date
    where b.date between ? and ?
    order by b.symbol, b.date
"""


def total_return_bars(wh: Warehouse, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Preferred-source bars with the point-in-time total-return index, start..end inclusive."""
    return wh.query(_TR_BARS_SQL, [start, end])
