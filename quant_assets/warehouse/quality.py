"""Data-quality queries behind the raw asset checks (counts of rule breaches), and the
count of calendar gaps in the bars they read.

Only the warehouse speaks SQL; these read through `Warehouse.query` with parameters and
standard SQL that both backends accept.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from quant_assets.calendars import sessions
from quant_assets.schemas.tables import get_table
from quant_assets.universe import load_universe
from quant_assets.warehouse import Warehouse


def ohlc_violations(wh: Warehouse) -> int:
    """Bars breaking high >= max(open, close), low <= min(open, close), low > 0, volume >= 0."""
    sql = """
        select count(*) as n from market_data.ohlcv_daily
        where high < open or high < close or low > open or low > close
            or low <= 0 or volume < 0
    """
    return _count(wh, sql)


def duplicate_keys(wh: Warehouse) -> int:
    """(symbol, date, source) keys that appear more than once."""
    sql = """
        select count(*) as n from (
            select symbol, date, source from market_data.ohlcv_daily
            group by symbol, date, source having count(*) > 1) d
    """
    return _count(wh, sql)


def bar_dates(wh: Warehouse, start: dt.date, end: dt.date) -> pd.DataFrame:
    """Distinct (symbol, date) pairs in a window, for gap checks against a calendar."""
    return wh.read_table(
        "market_data.ohlcv_daily", start=start, end=end, columns=["symbol", "date"]
    ).drop_duplicates()


def latest_date(wh: Warehouse, table: str) -> dt.date | None:
    """The newest value of a table's date column, or None when it is empty."""
    spec = get_table(table)
    if spec.date_column is None:
        raise ValueError(f"table {table} has no date column")
    # Identifiers come only from the contract, never from input.
    frame = wh.query(f"select max({spec.date_column}) as d from {spec.fqn}", {})
    value = frame["d"].iloc[0] if len(frame) else None
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def _count(wh: Warehouse, sql: str) -> int:
    return int(wh.query(sql, {})["n"].iloc[0])


def count_gaps(present: pd.DataFrame, start: dt.date, end: dt.date) -> pd.Series:
    """Missing sessions per listed symbol, counted from the symbol's first bar in the window."""
    calendars = {i.symbol: i.calendar for i in load_universe().instruments}
    out = {}
    for symbol, rows in present.groupby("symbol"):
        calendar = calendars.get(symbol)
        if calendar is None:
            continue
        dates = pd.DatetimeIndex(pd.to_datetime(rows["date"]))
        expected = sessions(calendar, start, end)
        expected = expected[expected >= dates.min()]
        out[symbol] = len(expected.difference(dates))
    return pd.Series(out, dtype="int64")
