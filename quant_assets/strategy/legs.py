"""Multi-leg math: hedge ratios, cointegration, spread z-scores, fly and switch measures.

Every series here at date t uses observations up to t only (trailing windows, a forward
Kalman filter), so signals built on them carry no look-ahead. Prices go in as levels;
pairs and flies work on log prices, so a hedge ratio is an elasticity and spread moves
are in return units.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def rolling_ols(y: pd.Series, x: pd.Series, window: int) -> pd.DataFrame:
    """Trailing OLS of y on [1, x] over `window` bars: columns alpha, beta.

    beta = cov(x, y) / var(x), alpha = mean(y) - beta mean(x) on each window (the normal
    equations of the least-squares fit); NaN until a window holds `window` complete pairs.
    """
    if window < 3:
        raise ValueError("window must be at least 3")
    both = pd.concat([y, x], axis=1).astype(np.float64)
    both = both.where(both.notna().all(axis=1))  # a pair counts only when both sides exist
    yy, xx = both.iloc[:, 0], both.iloc[:, 1]
    roll_x, roll_y = xx.rolling(window, min_periods=window), yy.rolling(window, min_periods=window)
    var_x = roll_x.var(ddof=0)
    cov = roll_x.cov(yy, ddof=0)
    beta = (cov / var_x).where(var_x > 0)
    alpha = roll_y.mean() - beta * roll_x.mean()
    return pd.DataFrame({"alpha": alpha, "beta": beta}, index=y.index)


def kalman_hedge(
    y: pd.Series,
    x: pd.Series,
    *,
    delta: float = 1e-5,
    obs_var: float = 1e-4,
    initial_var: float = 1.0,
) -> pd.DataFrame:
    """Time-varying hedge by a Kalman filter: y_t = alpha_t + beta_t x_t + e_t.

    State (beta, alpha) follows a random walk with covariance delta / (1 - delta) * I
    (Chan, "Algorithmic Trading", ch. 3); e_t ~ N(0, obs_var). Columns: alpha, beta (the
    filtered state after observing t), innovation (y_t minus its forecast from t-1) and
    innovation_std (its predicted standard deviation). Missing observations only predict.
    Written out in scalars: a 2x2 filter in numpy calls would be ten times slower.
    """
    if not 0.0 < delta < 1.0:
        raise ValueError("delta must be in (0, 1)")
    if obs_var <= 0 or initial_var <= 0:
        raise ValueError("obs_var and initial_var must be positive")
    ys = y.to_numpy(np.float64)
    xs = x.reindex(y.index).to_numpy(np.float64)
    n = len(ys)
    q = delta / (1.0 - delta)
    b, a = 0.0, 0.0
    p11, p12, p22 = initial_var, 0.0, initial_var  # covariance of (beta, alpha)
    out = np.full((n, 4), np.nan)
    for t in range(n):
        p11 += q
        p22 += q
        yt, xt = ys[t], xs[t]
        if not (np.isfinite(yt) and np.isfinite(xt)):
            out[t, :2] = b, a
            continue
        # Observation row h = (x_t, 1): forecast, innovation and its variance.
        e = yt - (b * xt + a)
        ph1 = p11 * xt + p12  # (P h)_beta
        ph2 = p12 * xt + p22  # (P h)_alpha
        s = xt * ph1 + ph2 + obs_var
        k1, k2 = ph1 / s, ph2 / s
        b += k1 * e
        a += k2 * e
        p11, p12, p22 = p11 - k1 * ph1, p12 - k1 * ph2, p22 - k2 * ph2
        out[t] = b, a, e, np.sqrt(s)
    return pd.DataFrame(
        out, index=y.index, columns=["beta", "alpha", "innovation", "innovation_std"]
    )


def engle_granger(y: pd.Series | np.ndarray, x: pd.Series | np.ndarray) -> tuple[float, float]:
    """Engle-Granger cointegration test of y on x (statsmodels `coint`): (t-stat, p-value).

    A small p-value rejects "no cointegration": the residual of y on x is stationary.
    """
    from statsmodels.tsa.stattools import coint  # imported here: statsmodels loads scipy.stats

    yv, xv = np.asarray(y, np.float64), np.asarray(x, np.float64)
    ok = np.isfinite(yv) & np.isfinite(xv)
    tstat, pvalue, _ = coint(yv[ok], xv[ok], trend="c", autolag="aic")
    return float(tstat), float(pvalue)


def rolling_coint_pvalue(y: pd.Series, x: pd.Series, window: int, every: int) -> pd.Series:
    """Engle-Granger p-value on the trailing `window` bars, re-tested every `every` bars
    and held in between (each test uses bars up to its own date only)."""
    out = pd.Series(np.nan, index=y.index, name="coint_pvalue")
    yv, xv = y.to_numpy(np.float64), x.reindex(y.index).to_numpy(np.float64)
    for end in range(window, len(yv) + 1, every):
        ys, xs = yv[end - window : end], xv[end - window : end]
        if np.isfinite(ys).sum() >= window * 0.9 and np.isfinite(xs).sum() >= window * 0.9:
            out.iloc[end - 1] = engle_granger(ys, xs)[1]
    first = window - 1
    held = out.ffill()
    held.iloc[:first] = np.nan
    return held


def zscore(series: pd.Series, window: int) -> pd.Series:
    """(x - trailing mean) / trailing std (sample, ddof=1) over `window` bars."""
    r = series.rolling(window, min_periods=window)
    sd = r.std(ddof=1)
    return ((series - r.mean()) / sd.where(sd > 0)).rename(series.name)


def pair_weights(beta: pd.Series | float) -> tuple[pd.Series | float, pd.Series | float]:
    """Leg weights of one unit of a long spread (long y, short beta x), gross 1.

    In log prices the hedge ratio is the x exposure per unit of y exposure, so weights
    are 1 : -beta scaled by 1 / (1 + |beta|) to keep gross exposure at 1.
    """
    scale = 1.0 / (1.0 + np.abs(beta))
    return scale, -beta * scale


def fly_weights_fixed(weights: tuple[float, float, float]) -> np.ndarray:
    """Normalise fixed fly weights (wing, body, wing) to gross 1: 1/-2/1 -> .25/-.5/.25."""
    w = np.asarray(weights, dtype=np.float64)
    return w / np.abs(w).sum()


def fly_weights_vol(vols: pd.DataFrame) -> pd.DataFrame:
    """Volatility-weighted fly (columns wing1, body, wing2 of trailing vols), gross 1.

    Body -1; each wing 0.5 sigma_body / sigma_wing, so each wing carries half the body's
    volatility and the wings together offset it. Equal vols give .25/-.5/.25.
    """
    v = vols.astype(np.float64).where(vols > 0)
    body = v.iloc[:, 1]
    raw = pd.DataFrame(
        {
            vols.columns[0]: 0.5 * body / v.iloc[:, 0],
            vols.columns[1]: -1.0,
            vols.columns[2]: 0.5 * body / v.iloc[:, 2],
        },
        index=vols.index,
    )
    raw = raw.where(v.notna().all(axis=1))
    return raw.div(raw.abs().sum(axis=1), axis=0)


def trailing_vol(close: pd.Series | pd.DataFrame, window: int) -> pd.Series | pd.DataFrame:
    """Sample std of daily log returns over the trailing `window` bars (not annualised)."""
    return np.log(close).diff().rolling(window, min_periods=window).std(ddof=1)


def relative_momentum(a: pd.Series, b: pd.Series, lookback: int) -> pd.Series:
    """log(a_t / a_{t-n}) - log(b_t / b_{t-n}): positive when a outran b over n bars."""
    la, lb = np.log(a.astype(np.float64)), np.log(b.astype(np.float64))
    return (la - la.shift(lookback)) - (lb - lb.shift(lookback))
