"""The qlib-task benchmark computes what its expressions say: its SQL against pandas
rolling windows per instrument (qlib's operators use min_periods=1), to 1e-9 relative."""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quant_assets.schemas.tables import OHLCV_DAILY
from quant_assets.warehouse import connect

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_qlib_dataset.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_qlib_dataset", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _expected(bars: pd.DataFrame) -> pd.DataFrame:
    out = []
    for sym, g in bars.sort_values("date").groupby("symbol"):
        o, h, lo, c, v = (
            g[k].reset_index(drop=True) for k in ("open", "high", "low", "close", "volume")
        )

        def roll(x: pd.Series, n: int):
            return x.rolling(n, min_periods=1)

        f = pd.DataFrame({
            "KMID": (c - o) / o,
            "KLEN": (h - lo) / o,
            "KUP": (h - np.maximum(o, c)) / o,
            "KLOW": (np.minimum(o, c) - lo) / o,
            "ROC5": c.shift(5) / c,
            "ROC20": c.shift(20) / c,
            "MA5": roll(c, 5).mean() / c,
            "MA20": roll(c, 20).mean() / c,
            "STD5": roll(c, 5).std(ddof=1) / c,
            "STD20": roll(c, 20).std(ddof=1) / c,
            "MAX20": roll(h, 20).max() / c,
            "MIN20": roll(lo, 20).min() / c,
            "VMA5": roll(v, 5).mean() / (v + 1e-12),
            "CORR20": roll(c, 20).corr(np.log(v + 1)),
            "label": c.shift(-2) / c.shift(-1) - 1,
        })  # fmt: skip
        f["datetime"] = pd.to_datetime(g["date"].to_numpy())
        f["instrument"] = sym
        out.append(f)
    return pd.concat(out).set_index(["datetime", "instrument"]).sort_index()


def test_sql_features_match_pandas_rolling_formulas(bench, tmp_path):
    start, end = dt.date(2019, 1, 1), dt.date(2019, 12, 31)
    bars = bench.synthetic_bars(6, start, end, seed=3)
    assert list(bars.columns) == OHLCV_DAILY.column_names
    url = f"duckdb:///{tmp_path / 'q.duckdb'}"
    with connect(url) as wh:
        wh.migrate()
        wh.bulk_load(OHLCV_DAILY.fqn, bars)
    got = bench.build_dataset(tmp_path / "q.duckdb", start, end, threads=1)
    want = _expected(bars)
    for frame in (got, want):  # one datetime unit on both sides
        frame.index = frame.index.set_levels(
            frame.index.levels[0].astype("datetime64[ns]"), level=0
        )
    assert list(got.columns) == [*bench.FEATURES, "label"]
    got = got.sort_index()
    assert got.index.equals(want.index)
    for col in want.columns:
        np.testing.assert_allclose(got[col], want[col], rtol=1e-9, atol=1e-12, err_msg=col)
    # warm-up as qlib: partial windows from the first bar, lags/leads NaN where undefined
    first = got.xs("S0000", level="instrument")
    assert np.isnan(first["ROC5"].iloc[4]) and np.isfinite(first["ROC5"].iloc[5])
    assert np.isfinite(first["MA20"].iloc[0]) and np.isnan(first["STD5"].iloc[0])
    assert np.isnan(first["label"].iloc[-2]) and np.isfinite(first["label"].iloc[-3])
