"""Batch key checks (DuckDB's keyless raw tables) against pandas' `duplicated`."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from quant_assets.schemas.tables import OHLCV_DAILY, get_table
from quant_assets.warehouse import connect
from quant_assets.warehouse.base import to_arrow
from quant_assets.warehouse.keys import first_duplicate
from quant_assets.warehouse.migrations import create_table_ddl


def _bars(n: int, rng: np.random.Generator) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": rng.choice(["AAPL", "MSFT", "SPY", "QQQ", "X"], n).astype(object),
            "date": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 40, n), "D"),
            "open": 1.0, "high": 1.0, "low": 1.0, "close": 1.0, "volume": 1.0, "vwap": None,
            "source": rng.choice(["sample", "polygon"], n).astype(object),
            "is_sample": True,
        }
    )  # fmt: skip


@pytest.mark.parametrize("seed", range(6))
def test_first_duplicate_agrees_with_pandas(seed):
    rng = np.random.default_rng(seed)
    df = _bars(int(rng.integers(2, 400)), rng)
    key = ["symbol", "date", "source"]
    for frame in (df, df.drop_duplicates(key), df.drop_duplicates(key).sort_values(key)):
        found = first_duplicate(OHLCV_DAILY, to_arrow(OHLCV_DAILY, frame))
        dups = frame[frame.duplicated(key, keep=False)]
        if not len(dups):
            assert found is None
        else:
            assert found is not None
            hit = dups[(dups["symbol"] == found["symbol"]) & (dups["source"] == found["source"])]
            assert (hit["date"].dt.date == found["date"]).sum() >= 2


def test_first_duplicate_handles_text_and_integer_keys():
    table = get_table("execution.order_events")
    assert table.primary_key == ("client_order_id", "seq")
    rows = pa.table({"client_order_id": ["a", "b", "a"], "seq": pa.array([0, 0, 0], pa.int64())})
    assert first_duplicate(table, rows) == {"client_order_id": "a", "seq": 0}
    rows = rows.set_column(1, "seq", pa.array([0, 0, 1], pa.int64()))
    assert first_duplicate(table, rows) is None


def test_migration_drops_the_key_of_an_old_duckdb_warehouse_and_keeps_rows(tmp_path):
    url = f"duckdb:///{tmp_path / 'old.duckdb'}"
    wh = connect(url)
    try:
        wh.migrate()
        # an older warehouse: ohlcv_daily with its PRIMARY KEY, step 0003 not applied yet
        with wh._transaction() as conn:
            conn.execute("DROP TABLE market_data.ohlcv_daily")
            conn.execute(create_table_ddl(OHLCV_DAILY, "duckdb"))
            conn.execute("DELETE FROM ops.schema_migrations WHERE id LIKE '0003%'")
            conn.execute(
                "INSERT INTO market_data.ohlcv_daily VALUES "
                "('AAPL', DATE '2024-01-02', 1, 2, 0.5, 1.5, 10, NULL, 'sample', TRUE)"
            )
        assert wh.migrate() == ["0003_duckdb_unkeyed_raw_tables"]
        keyed = wh.query(
            "SELECT table_name FROM information_schema.table_constraints "
            "WHERE constraint_type = 'PRIMARY KEY' AND table_schema = 'market_data'"
        )
        assert keyed.empty
        got = wh.read_table(OHLCV_DAILY.fqn)
        assert list(got["symbol"]) == ["AAPL"] and got["close"].iloc[0] == 1.5
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # the rebuilt table is not reported as drift
            assert wh.migrate() == []
    finally:
        wh.close()
