"""PostgreSQL panel read (symbols packed per COPY row, on two sessions) against DuckDB, exact."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from quant_assets.warehouse import connect
from quant_assets.warehouse import postgres_backend as pg
from quant_assets.warehouse.base import PANEL_FIELDS
from quant_assets.warehouse.errors import AmbiguousPanelError

OHLCV = "market_data.ohlcv_daily"
DATES = pd.bdate_range("2023-12-01", "2024-02-29")  # two yearly partitions
SYMBOLS = [f"S{k:02d}" for k in range(12)]
ALL_FIELDS = [*PANEL_FIELDS, "vwap"]


def stored_bars() -> pd.DataFrame:
    """Bars with gaps, null vwaps, a symbol outside most ranges and a second source."""
    rng = np.random.default_rng(7)
    idx = pd.MultiIndex.from_product([SYMBOLS, DATES], names=["symbol", "date"])
    df = idx.to_frame(index=False)
    n = len(df)
    df["close"] = 100 * np.exp(rng.normal(0, 0.02, n))
    df["open"] = df["close"] * np.exp(rng.normal(0, 0.01, n))
    df["high"] = np.maximum(df["open"], df["close"]) * 1.01
    df["low"] = np.minimum(df["open"], df["close"]) * 0.99
    df["volume"] = rng.integers(1_000, 1_000_000, n).astype(float)
    df["vwap"] = np.where(rng.random(n) < 0.2, np.nan, df["close"])  # NULL in the table
    df["source"], df["is_sample"] = "sample", True
    df = df[rng.random(n) > 0.1]  # missing bars
    df = df[(df["symbol"] != "S11") | (df["date"] < "2023-12-08")]  # bars in the first week only
    other = df[(df["symbol"] == "S03") & (df["date"] == "2024-01-10")].assign(source="polygon")
    return pd.concat([df, other], ignore_index=True).assign(date=lambda d: d["date"].dt.date)


@pytest.fixture
def both(pg_url, duckdb_url):
    """(DuckDB, read-only PostgreSQL) warehouses holding the same bars."""
    rows = stored_bars()
    opened = []
    for url in (duckdb_url, pg_url):
        wh = connect(url)
        opened.append(wh)
        wh.migrate()
        wh.bulk_load(OHLCV, rows)
    reader = connect(pg_url, read_only=True)
    yield opened[0], reader
    reader.close()
    for wh in opened:
        wh.close()


def assert_same_panel(got, want):
    assert got.symbols == want.symbols and got.shape == want.shape
    np.testing.assert_array_equal(got.dates, want.dates)
    assert got.dates.dtype == want.dates.dtype and list(got.fields) == list(want.fields)
    for f, values in want.fields.items():
        assert got.fields[f].dtype == values.dtype
        np.testing.assert_array_equal(got.fields[f], values)  # NaN matches NaN


@pytest.mark.postgres
@pytest.mark.parametrize(
    "symbols, start, end, kwargs",
    [
        (SYMBOLS, "2023-12-01", "2024-02-29", {"fields": ALL_FIELDS, "source": "sample"}),
        (SYMBOLS[::-1], "2023-12-15", "2024-01-09", {}),  # before the duplicate bar
        (
            ["S05", "NOPE", "S00", "S05", "S11", "S02"],
            "2023-12-05",
            "2024-02-01",
            {"fields": ["close", "vwap"], "source": "sample"},
        ),
        (["S04"], "2024-01-01", "2024-02-29", {"dtype": np.float32}),
        (["S11", "S10"], "2024-01-01", "2024-01-31", {}),  # S11 has no bar in range
        (["NOPE", "ALSO_NOPE"], "2023-12-01", "2024-02-29", {}),
        (SYMBOLS, "2030-01-01", "2030-12-31", {}),  # no bar in range
        (SYMBOLS, "2024-02-01", "2024-01-01", {}),  # start after end
    ],
)
def test_postgres_panel_equals_duckdb(both, monkeypatch, symbols, start, end, kwargs):
    duck, pgwh = both
    offsets = []
    real = pg._read_panel_copy
    monkeypatch.setattr(pg, "_read_panel_copy", lambda c, f, o: offsets.append(o) or real(c, f, o))
    start, end = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    want = duck.read_panel_arrays(symbols, start, end, **kwargs)
    assert_same_panel(pgwh.read_panel_arrays(symbols, start, end, **kwargs), want)
    pd.testing.assert_frame_equal(
        pgwh.read_panel(symbols, start, end, **{k: v for k, v in kwargs.items() if k != "dtype"}),
        duck.read_panel(symbols, start, end, **{k: v for k, v in kwargs.items() if k != "dtype"}),
    )
    if start <= end:  # one session per half of the (deduplicated) symbols
        assert sorted(set(offsets)) == ([0, len(set(symbols)) // 2] if len(symbols) > 1 else [0])


@pytest.mark.postgres
def test_postgres_panel_refuses_two_sources_like_duckdb(both):
    for wh in both:
        with pytest.raises(AmbiguousPanelError, match="source="):
            wh.read_panel_arrays(SYMBOLS, dt.date(2024, 1, 1), dt.date(2024, 1, 31))
    polygon = [w.read_panel_arrays(SYMBOLS, DATES[0], DATES[-1], source="polygon") for w in both]
    assert polygon[1].shape == (1, len(SYMBOLS))
    assert_same_panel(polygon[1], polygon[0])


@pytest.mark.postgres
def test_a_busy_pool_reads_the_panel_on_one_session(both, monkeypatch):
    duck, pgwh = both
    sessions = []
    real = pg.PostgresWarehouse._snapshot_sessions
    monkeypatch.setattr(
        pg.PostgresWarehouse,
        "_snapshot_sessions",
        lambda self, *a: sessions.append(real(self, *a)) or sessions[-1],
    )
    want = duck.read_panel_arrays(SYMBOLS, DATES[0], DATES[-1], source="sample")
    held = [pgwh._pool.getconn() for _ in range(pgwh._pool.max_size - 1)]
    try:
        got = pgwh.read_panel_arrays(SYMBOLS, DATES[0], DATES[-1], source="sample")
    finally:
        for conn in held:
            pgwh._pool.putconn(conn)
    assert sessions == [[]]  # no second session within the wait: all symbols on the first
    assert_same_panel(got, want)


@pytest.mark.postgres
def test_panel_sessions_share_one_snapshot(both, pg_url, monkeypatch):
    """A write committed between the two sessions' starts is seen by neither."""
    _, pgwh = both
    writer = connect(pg_url)
    late = stored_bars().iloc[[0]].assign(symbol="S11", date=dt.date(2024, 3, 1))
    real = pg.PostgresWarehouse._snapshot_sessions

    def write_between(self, *args):
        sessions = real(self, *args)
        assert len(sessions) == 1
        writer.upsert(OHLCV, late)  # committed before either session runs its COPY
        return sessions

    monkeypatch.setattr(pg.PostgresWarehouse, "_snapshot_sessions", write_between)
    end = dt.date(2024, 3, 1)
    try:
        panel = pgwh.read_panel_arrays(SYMBOLS, DATES[0], end, source="sample")
        assert panel.dates[-1] == np.datetime64(DATES[-1])  # S11 is in the second half
        monkeypatch.undo()
        again = pgwh.read_panel_arrays(SYMBOLS, DATES[0], end, source="sample")
        assert again.dates[-1] == np.datetime64("2024-03-01")
    finally:
        writer.close()
