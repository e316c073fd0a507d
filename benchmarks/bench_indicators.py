"""Indicator speed: `compute_indicators` on 130 symbols x 20 years of daily bars (~655k rows).

Bars are synthetic random walks (seeded); the cost is per row and per symbol, not per value.

    .venv/bin/python benchmarks/bench_indicators.py
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from quant_assets.strategy.indicators import compute_indicators

N_SYMBOLS, N_DAYS = 130, 252 * 20


def synthetic_bars(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2005-01-03", periods=N_DAYS).date
    close = 50 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, (N_SYMBOLS, N_DAYS)), axis=1))
    spread = np.abs(rng.normal(0, 0.01, (N_SYMBOLS, N_DAYS))) * close
    return pd.DataFrame(
        {
            "symbol": np.repeat([f"S{i:03d}" for i in range(N_SYMBOLS)], N_DAYS),
            "date": np.tile(dates, N_SYMBOLS),
            "open": close.ravel(),
            "high": (close + spread).ravel(),
            "low": (close - spread).ravel(),
            "close": close.ravel(),
            "volume": rng.integers(1e5, 1e7, N_SYMBOLS * N_DAYS).astype(float),
        }
    ).sample(frac=1.0, random_state=1)  # unsorted input, as a warehouse read may return


def main() -> None:
    bars = synthetic_bars()
    compute_indicators(bars.head(1000))  # warm imports
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        out = compute_indicators(bars)
        times.append(time.perf_counter() - t0)
    print(f"{N_SYMBOLS} symbols x {N_DAYS} days = {len(out):,} rows, {out.shape[1]} columns")
    print(f"compute_indicators: best {min(times):.3f} s, median {np.median(times):.3f} s of 3 runs")


if __name__ == "__main__":
    main()
