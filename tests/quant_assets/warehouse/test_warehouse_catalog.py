"""`read_table(limit=)` and the catalogue helpers, on DuckDB and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from quant_assets.warehouse import connect
from quant_assets.warehouse.catalog import latest_date, table_exists

OHLCV = "market_data.ohlcv_daily"


def _bars(symbols: list[str], dates: pd.DatetimeIndex) -> pd.DataFrame:
    rows = [
        (s, d.date(), 10.0, 11.0, 9.0, 10.5, 1000.0, None, "sample", True)
        for s in symbols
        for d in dates
    ]
    return pd.DataFrame(
        rows,
        columns=[
            "symbol", "date", "open", "high", "low", "close", "volume", "vwap",
            "source", "is_sample",
        ],
    )  # fmt: skip


def test_read_table_limit_keeps_the_first_rows_in_key_order(warehouse):
    warehouse.bulk_load(OHLCV, _bars(["BBB", "AAA"], pd.bdate_range("2024-01-02", "2024-01-12")))
    full = warehouse.read_table(OHLCV)
    first = warehouse.read_table(OHLCV, limit=3)
    pd.testing.assert_frame_equal(first, full.head(3))
    assert list(first["symbol"]) == ["AAA"] * 3
    sliced = warehouse.read_table(
        OHLCV, start=dt.date(2024, 1, 10), where={"symbol": ["BBB"]}, limit=100
    )
    assert len(sliced) == 3 and set(sliced["symbol"]) == {"BBB"}
    assert warehouse.read_table(OHLCV, limit=0).empty
    with pytest.raises(ValueError, match="limit"):
        warehouse.read_table(OHLCV, limit=-1)


def test_catalog_knows_tables_and_their_latest_date(warehouse):
    assert table_exists(warehouse, OHLCV)
    assert not table_exists(warehouse, "derived.fct_features_daily")
    assert latest_date(warehouse, OHLCV) is None
    warehouse.bulk_load(OHLCV, _bars(["AAA"], pd.bdate_range("2024-01-02", "2024-01-05")))
    assert latest_date(warehouse, OHLCV) == dt.date(2024, 1, 5)
    with pytest.raises(ValueError, match=r"schema\.name"):
        table_exists(warehouse, "ohlcv_daily")


def test_latest_date_of_a_table_not_created_yet_is_none(duckdb_url):
    with connect(duckdb_url) as wh:
        assert latest_date(wh, OHLCV) is None
