"""PostgreSQL specifics: yearly range partitions, placeholders, dates, concurrent replaces."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from quant_assets.schemas.tables import OHLCV_DAILY
from quant_assets.warehouse import connect
from quant_assets.warehouse.postgres_backend import to_pyformat

OHLCV = "market_data.ohlcv_daily"
STARTER = Path(__file__).resolve().parents[3] / "quant_assets" / "starter"


def _bar(symbol: str, day: str) -> dict:
    return {"symbol": symbol, "date": dt.date.fromisoformat(day), "open": 10.0, "high": 11.0, "low": 9.0,
            "close": 10.5, "volume": 1e4, "vwap": None, "source": "sample", "is_sample": True}  # fmt: skip


@pytest.mark.postgres
def test_ohlcv_is_range_partitioned_with_yearly_partitions_made_on_demand(pg_url):
    wh = connect(pg_url)
    try:
        wh.migrate()
        strategy = wh.query(
            "SELECT p.partstrat FROM pg_partitioned_table p WHERE p.partrelid = 'market_data.ohlcv_daily'::regclass"
        )
        assert list(strategy["partstrat"]) == ["r"]
        assert wh.partition_years(OHLCV_DAILY) == []

        rows = pd.DataFrame(
            [_bar("AAPL", "2023-12-29"), _bar("AAPL", "2024-01-02"), _bar("MSFT", "2024-06-28")]
        )
        wh.replace_slice(OHLCV, rows, start=dt.date(2023, 12, 1), end=dt.date(2024, 6, 30))
        children = wh.query(
            "SELECT c.relname AS part, pg_get_expr(c.relpartbound, c.oid) AS bound FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'market_data.ohlcv_daily'::regclass "
            "ORDER BY 1"
        )
        assert list(children["part"]) == ["ohlcv_daily_y2023", "ohlcv_daily_y2024"]
        assert children["bound"].iloc[1] == "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')"
        placed = wh.query(
            "SELECT tableoid::regclass::text AS part, count(*) AS n FROM market_data.ohlcv_daily GROUP BY 1 ORDER BY 1"
        )
        assert list(zip(placed["part"], placed["n"], strict=True)) == [
            ("market_data.ohlcv_daily_y2023", 1),
            ("market_data.ohlcv_daily_y2024", 2),
        ]
        # a second writer (fresh cache) loading into existing partitions creates nothing new
        other = connect(pg_url)
        try:
            other.upsert(OHLCV, pd.DataFrame([_bar("SPY", "2024-03-01")]))
            assert other.partition_years(OHLCV_DAILY) == [2023, 2024]
        finally:
            other.close()
    finally:
        wh.close()


def test_placeholders_translate_outside_quotes_only():
    assert to_pyformat("SELECT * FROM t WHERE a = ? AND b = ANY(?)") == (
        "SELECT * FROM t WHERE a = %s AND b = ANY(%s)"
    )
    assert to_pyformat("SELECT '?', \"q?\", x FROM t WHERE y LIKE 'a%' AND z = $name") == (
        "SELECT '?', \"q?\", x FROM t WHERE y LIKE 'a%%' AND z = %(name)s"
    )
    assert to_pyformat("SELECT 5 % 2 -- why?\n, ?") == "SELECT 5 %% 2 -- why?\n, %s"
    assert to_pyformat("SELECT 'it''s ?'") == "SELECT 'it''s ?'"


@pytest.mark.postgres
def test_query_reads_dates_past_the_nanosecond_range(pg_url):
    # the open vintage end of macro.observations.realtime_end
    with connect(pg_url) as wh:
        got = wh.query(
            "SELECT DATE '9999-12-31' AS open_end, DATE '2024-01-02' AS d, NULL::date AS n"
        )
    assert str(got["open_end"].dtype) == "datetime64[us]"
    assert got["open_end"].iloc[0] == dt.datetime(9999, 12, 31)
    assert got["d"].iloc[0] == pd.Timestamp("2024-01-02")
    assert pd.isna(got["n"].iloc[0])


@pytest.mark.postgres
def test_concurrent_replaces_of_the_same_rows_queue_instead_of_failing(pg_url):
    # Two runs at once each replace the whole universe: without the lock both DELETE the
    # committed rows, then the second INSERT fails on the first's new keys.
    from quant_assets.universe import load_universe

    frames = load_universe(STARTER / "universe.yaml").to_frames()
    rounds, writers = 10, 3
    with connect(pg_url) as wh:
        wh.migrate()
    whs = [connect(pg_url) for _ in range(writers)]
    try:
        barrier = threading.Barrier(writers)

        def write(w) -> None:
            try:
                for _ in range(rounds):
                    barrier.wait(timeout=60)
                    for table, frame in frames.items():
                        w.replace_slice(table, frame, start=None, end=None)
            except Exception:
                barrier.abort()  # release the other writers at once
                raise

        with ThreadPoolExecutor(writers) as pool:
            futures = [pool.submit(write, w) for w in whs]
        errors = [f.exception() for f in futures if f.exception() is not None]
        first = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)]
        assert not errors, first[0] if first else errors[0]
        for table, frame in frames.items():
            assert len(whs[0].query(f"SELECT * FROM {table}")) == len(frame), table
    finally:
        for w in whs:
            w.close()
