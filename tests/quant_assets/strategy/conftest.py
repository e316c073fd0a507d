"""Synthetic market for strategy tests: OHLC bars plus trailing features, all seeded.

Features are computed here from trailing windows only (so they carry no look-ahead):
zscore_20 (population std, as the mart), mom_21/mom_126 (total return over n bars),
vol_20 (annualised), sma_20/sma_50, tr_rsi_14 and tr_atr_14 (TA-Lib via compute_indicators),
sent_score_ma_5d (a noisy series). XLE/XOP are planted as a cointegrated pair.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_assets.sim.historical import Prices
from quant_assets.strategy.indicators import compute_indicators

SYMBOLS = ["SPY", "QQQ", "IWM", "GLD", "XLE", "XOP", "BTC", "NVDA", "AAPL", "MSFT", "AMZN", "META"]


def make_ohlcv(n_bars: int = 700, seed: int = 7, symbols: list[str] | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    symbols = SYMBOLS if symbols is None else [*SYMBOLS, *(s for s in symbols if s not in SYMBOLS)]
    dates = pd.bdate_range("2020-01-01", periods=n_bars)
    m = len(symbols)
    market = rng.normal(0.0003, 0.01, n_bars)
    rets = 0.8 * market[:, None] + rng.normal(0.0002, 0.012, (n_bars, m))
    logp = np.log(100.0) + np.cumsum(rets, axis=0)
    # XOP = 1.3 * XLE + stationary AR(1) noise: a cointegrated pair in log prices.
    i_xle, i_xop = symbols.index("XLE"), symbols.index("XOP")
    ar = np.zeros(n_bars)
    for t in range(1, n_bars):
        ar[t] = 0.9 * ar[t - 1] + rng.normal(0, 0.01)
    logp[:, i_xop] = 0.2 + 1.3 * logp[:, i_xle] + ar
    close = np.exp(logp)
    gap = np.exp(rng.normal(0, 0.003, close.shape))
    open_ = np.vstack([close[:1], close[:-1]]) * gap
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0, 0.005, close.shape)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0, 0.005, close.shape)))
    volume = rng.integers(1_000, 10_000, close.shape).astype(float)
    frames = []
    for j, s in enumerate(symbols):
        frames.append(
            pd.DataFrame(
                {
                    "symbol": s,
                    "date": dates,
                    "open": open_[:, j],
                    "high": high[:, j],
                    "low": low[:, j],
                    "close": close[:, j],
                    "volume": volume[:, j],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def make_features(ohlcv: pd.DataFrame, seed: int = 11) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = []
    for _, g in ohlcv.groupby("symbol", sort=False):
        g = g.sort_values("date")
        c = g["close"]
        r20 = c.rolling(20, min_periods=20)
        f = pd.DataFrame({"symbol": g["symbol"], "date": g["date"], "close": c})
        f["zscore_20"] = (c - r20.mean()) / r20.std(ddof=0)
        f["mom_21"] = c / c.shift(21) - 1
        f["mom_63"] = c / c.shift(63) - 1
        f["mom_126"] = c / c.shift(126) - 1
        f["sma_200"] = c.rolling(200, min_periods=200).mean()
        f["vol_20"] = np.log(c).diff().rolling(20, min_periods=20).std() * np.sqrt(252)
        f["sent_score_ma_5d"] = (
            pd.Series(rng.normal(0, 0.3, len(g)), index=g.index).rolling(5).mean()
        )
        out.append(f)
    feats = pd.concat(out, ignore_index=True)
    # No splits or dividends here, so the total-return bars are the bars and the mart's
    # price-scale sma_20/50 equal TA-Lib's tr_sma_20/50.
    cols = ["tr_rsi_14", "tr_atr_14", "tr_sma_20", "tr_sma_50"]
    ind = compute_indicators(ohlcv)[["symbol", "date", *cols]].astype(
        dict.fromkeys(cols, "float64")
    )
    ind = ind.rename(columns={"tr_sma_20": "sma_20", "tr_sma_50": "sma_50"})
    return feats.merge(ind, on=["symbol", "date"], how="left")


@pytest.fixture(scope="session")
def ohlcv() -> pd.DataFrame:
    return make_ohlcv()


@pytest.fixture(scope="session")
def features(ohlcv: pd.DataFrame) -> pd.DataFrame:
    return make_features(ohlcv)


@pytest.fixture(scope="session")
def prices(ohlcv: pd.DataFrame) -> Prices:
    return Prices.from_long(ohlcv)


@pytest.fixture(scope="session")
def feature_builder():
    """make_features, for tests that rebuild features from perturbed bars."""
    return make_features


@pytest.fixture(scope="session")
def library_market() -> tuple[pd.DataFrame, pd.DataFrame, Prices]:
    """Synthetic bars and features for every symbol the strategy library trades."""
    from quant_assets.strategy.config import load_library, resolve_symbols
    from quant_assets.universe import load_universe

    universe = load_universe()
    symbols = sorted(
        {
            s
            for spec in load_library(universe=universe).values()
            for s in resolve_symbols(spec, universe)
        }
    )
    bars = make_ohlcv(n_bars=600, seed=21, symbols=symbols)
    return bars, make_features(bars), Prices.from_long(bars)
