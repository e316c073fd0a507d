"""Volatility estimates the sizing and stop rules read: ATR and realised volatility.

Both are trailing: the value on bar t uses bars up to and including t, so a rule that
decides at the close of t may use it; a rule that acts at the open of t must use t-1
(`shift(1)` or the `lag` argument).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PERIODS_PER_YEAR = 252


def true_range(high: np.ndarray, low: np.ndarray, close: np.ndarray) -> np.ndarray:
    """max(high - low, |high - prev close|, |low - prev close|); NaN on the first bar,
    as TA-Lib (which has no previous close there)."""
    h, lo, c = (np.asarray(a, dtype=np.float64) for a in (high, low, close))
    prev = np.full_like(c, np.nan)
    prev[1:] = c[:-1]
    tr = np.fmax(h - lo, np.fmax(np.abs(h - prev), np.abs(lo - prev)))
    tr[0] = np.nan
    return tr


def atr(
    high: np.ndarray, low: np.ndarray, close: np.ndarray, window: int = 14, *, lag: int = 0
) -> np.ndarray:
    """Wilder's average true range along axis 0, vectorised over columns.

    Seeded with the mean of the first `window` true ranges (bars 1..window), then
    atr_t = atr_{t-1} + (tr_t - atr_{t-1}) / window: TA-Lib's ATR. NaN during the warm-up;
    a NaN bar after it carries the previous value. `lag=1` shifts it one bar (for fills at
    the open that may only know yesterday's ATR).
    """
    tr = true_range(high, low, close)
    one_d = tr.ndim == 1
    tr = tr[:, None] if one_d else tr
    out = np.full_like(tr, np.nan)
    if tr.shape[0] > window:
        prev = np.nanmean(tr[1 : window + 1], axis=0)
        out[window] = prev
        for t in range(window + 1, tr.shape[0]):
            x = tr[t]
            prev = np.where(np.isfinite(x), prev + (x - prev) / window, prev)
            out[t] = prev
    if lag:
        out = np.vstack([np.full((lag, out.shape[1]), np.nan), out[:-lag]])
    return out[:, 0] if one_d else out


def realised_volatility(
    returns: pd.DataFrame | pd.Series,
    window: int = 20,
    *,
    halflife: float | None = None,
    periods_per_year: int = PERIODS_PER_YEAR,
    min_periods: int | None = None,
) -> pd.DataFrame | pd.Series:
    """Annualised trailing volatility of simple returns: rolling sample std (ddof=1) over
    `window` bars, or an exponentially weighted std with `halflife` bars when given."""
    if halflife is not None:
        vol = returns.ewm(halflife=halflife, min_periods=min_periods or window).std()
    else:
        vol = returns.rolling(window, min_periods=min_periods or window).std()
    return vol * np.sqrt(periods_per_year)
