"""qlib's data-layer task on the warehouse: a 14-feature dataset from daily OHLCV of 800
stocks, 2007-2020, computed by DuckDB SQL with no cache of any kind.

qlib (README, "Performance of Qlib Data Server") builds "a dataset (14 features/factors)
from the basic OHLCV daily data of a stock market (800 stocks each day from 2007 to 2020)":
147.0 s on 1 CPU without caches (Qlib -E -D), 7.4 s with expression and dataset caches
(+E +D), 8.8 s on 64 CPUs without caches. qlib does not publish its 14 expressions, so this
script uses 14 Alpha158-style factors written below in qlib's expression syntax.

Data: synthetic GBM bars (seeded) for 800 symbols on NYSE weekdays, loaded into
market_data.ohlcv_daily of a fresh DuckDB warehouse through the warehouse API. Timed: the
SQL from the raw table to a pandas frame indexed (datetime, instrument), as qlib's
D.features returns, on all cores and on one thread (qlib's 1-CPU column).

    .venv/bin/python benchmarks/bench_qlib_dataset.py [--stocks 800] [--repeat 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from quant_assets.schemas.tables import OHLCV_DAILY
from quant_assets.warehouse import connect

# name -> (qlib expression, DuckDB SQL over window w (partition by symbol order by date))
FEATURES: dict[str, tuple[str, str]] = {
    "KMID": ("($close-$open)/$open", "(close - open) / open"),
    "KLEN": ("($high-$low)/$open", "(high - low) / open"),
    "KUP": ("($high-Greater($open,$close))/$open", "(high - greatest(open, close)) / open"),
    "KLOW": ("(Less($open,$close)-$low)/$open", "(least(open, close) - low) / open"),
    "ROC5": ("Ref($close,5)/$close", "lag(close, 5) over w / close"),
    "ROC20": ("Ref($close,20)/$close", "lag(close, 20) over w / close"),
    "MA5": ("Mean($close,5)/$close", "avg(close) over w5 / close"),
    "MA20": ("Mean($close,20)/$close", "avg(close) over w20 / close"),
    "STD5": ("Std($close,5)/$close", "stddev_samp(close) over w5 / close"),
    "STD20": ("Std($close,20)/$close", "stddev_samp(close) over w20 / close"),
    "MAX20": ("Max($high,20)/$close", "max(high) over w20 / close"),
    "MIN20": ("Min($low,20)/$close", "min(low) over w20 / close"),
    "VMA5": ("Mean($volume,5)/($volume+1e-12)", "avg(volume) over w5 / (volume + 1e-12)"),
    "CORR20": ("Corr($close,Log($volume+1),20)", "corr(close, ln(volume + 1)) over w20"),
}
LABEL = ("Ref($close,-2)/Ref($close,-1)-1", "lead(close, 2) over w / lead(close, 1) over w - 1")

SQL = f"""
select date as datetime, symbol as instrument,
       {", ".join(f"{sql} as {name}" for name, (_, sql) in FEATURES.items())},
       {LABEL[1]} as label
from market_data.ohlcv_daily
where date between ? and ?
window w as (partition by symbol order by date),
       w5 as (partition by symbol order by date rows between 4 preceding and current row),
       w20 as (partition by symbol order by date rows between 19 preceding and current row)
order by date, symbol
"""


def synthetic_bars(n_stocks: int, start: dt.date, end: dt.date, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = pd.bdate_range(start, end)
    n = len(days)
    r = rng.normal(0.0003, 0.02, (n, n_stocks))
    close = 50 * np.exp(np.cumsum(r, axis=0))
    open_ = close * np.exp(rng.normal(0, 0.005, (n, n_stocks)))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, (n, n_stocks)))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, (n, n_stocks)))
    volume = rng.lognormal(13, 0.5, (n, n_stocks)).round()
    frame = pd.DataFrame({
        "symbol": np.tile([f"S{i:04d}" for i in range(n_stocks)], n),
        "date": np.repeat(days.date, n_stocks),
        "open": open_.ravel(), "high": high.ravel(), "low": low.ravel(), "close": close.ravel(),
        "volume": volume.ravel(), "vwap": ((high + low + close) / 3).ravel(),
        "source": "sample", "is_sample": True,
    })  # fmt: skip
    return frame[OHLCV_DAILY.column_names]


def build_dataset(path: Path, start: dt.date, end: dt.date, threads: int | None) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        return con.execute(SQL, [start, end]).df().set_index(["datetime", "instrument"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stocks", type=int, default=800)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    start, end = dt.date(2007, 1, 1), dt.date(2020, 12, 31)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "qlib_bench.duckdb"
        t0 = time.perf_counter()
        bars = synthetic_bars(args.stocks, start, end)
        gen_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        wh = connect(f"duckdb:///{path}")
        wh.migrate()
        wh.bulk_load(OHLCV_DAILY.fqn, bars)
        wh.close()
        load_s = time.perf_counter() - t0
        print(f"{args.stocks} stocks x {bars.date.nunique()} days = {len(bars):,} bars; "
              f"generated {gen_s:.1f} s, loaded into the warehouse {load_s:.1f} s")  # fmt: skip

        rows = []
        for label, threads in (("all cores", None), ("1 thread", 1)):
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                ds = build_dataset(path, start, end, threads)
                times.append(time.perf_counter() - t0)
            rows.append({"run": f"warehouse DuckDB SQL, {label}, no cache", "seconds_median": np.median(times),
                         "seconds_min": min(times), "rows": len(ds), "features": ds.shape[1] - 1})  # fmt: skip
        rows += [
            {"run": "qlib -E -D (1 CPU, reported)", "seconds_median": 147.0},
            {"run": "qlib +E +D (1 CPU, reported)", "seconds_median": 7.4},
            {"run": "qlib -E -D (64 CPU, reported)", "seconds_median": 8.8},
        ]
        print(pd.DataFrame(rows).set_index("run").round(2).to_string())
        print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        print("\nfeatures (qlib expression -> output column):")
        for name, (expr, _) in FEATURES.items():
            print(f"  {name:7s} {expr}")
        print(f"  label   {LABEL[0]}")
        print("\nsample:\n", ds.dropna().head(3).T.round(4).to_string())


if __name__ == "__main__":
    main()
