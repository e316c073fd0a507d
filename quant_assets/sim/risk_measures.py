"""Risk measures on return paths: portfolio paths, VaR/CVaR, drawdowns, fan-chart percentiles.

Conventions used throughout:
- Inputs are daily *log* returns; outputs are *simple* returns (what a P&L is quoted in).
- VaR and CVaR are positive loss fractions. With n outcomes and level a, let
  m = ceil(n (1 - a)): VaR is minus the m-th worst return (empirical quantile, no
  interpolation) and CVaR is minus the mean of the m worst returns.
- Drawdowns are positive fractions of the running peak of wealth, the start (1.0) included.
All functions are vectorised over paths (axis 0) and compute in float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

DEFAULT_LEVELS = (0.95, 0.99)
_PATH_CHUNK = 512  # paths per pass when reducing asset paths, bounds float64 temporaries


def portfolio_log_returns(
    asset_log_returns: np.ndarray,
    weights: np.ndarray | Sequence[float],
    *,
    rebalance: Literal["daily", "buy_and_hold"] = "daily",
) -> np.ndarray:
    """Portfolio log returns from asset log returns (..., n_days, n_assets) -> (..., n_days).

    Weights are fractions of starting wealth; 1 - sum(weights) is cash at zero return.
    "daily" rebalances to the weights every day; "buy_and_hold" lets them drift.
    """
    r = np.asarray(asset_log_returns)
    w = np.asarray(weights, dtype=np.float64)
    if r.shape[-1] != w.shape[0]:
        raise ValueError(f"{w.shape[0]} weights for {r.shape[-1]} assets")
    cash = 1.0 - w.sum()
    if r.ndim == 2:
        return portfolio_log_returns(r[None], w, rebalance=rebalance)[0]

    out = np.empty(r.shape[:-1], dtype=np.float64)
    for a in range(0, r.shape[0], _PATH_CHUNK):
        x = r[a : a + _PATH_CHUNK].astype(np.float64)
        if rebalance == "daily":
            out[a : a + _PATH_CHUNK] = np.log1p(np.expm1(x) @ w)
        elif rebalance == "buy_and_hold":
            wealth = np.exp(np.cumsum(x, axis=-2)) @ w + cash
            log_w = np.log(wealth)
            out[a : a + _PATH_CHUNK] = np.diff(log_w, axis=-1, prepend=0.0)  # start wealth is 1
        else:
            raise ValueError(f"unknown rebalance {rebalance!r}")
    return out


def wealth_paths(log_returns: np.ndarray) -> np.ndarray:
    """Value of 1 invested at the start, at the end of each day (paths, days)."""
    return np.exp(np.cumsum(np.asarray(log_returns, dtype=np.float64), axis=-1))


def terminal_returns(log_returns: np.ndarray) -> np.ndarray:
    """Simple return over the whole horizon, per path."""
    return np.expm1(np.asarray(log_returns, dtype=np.float64).sum(axis=-1))


def _tail_count(n: int, level: float) -> int:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return max(1, int(np.ceil(round(n * (1.0 - level), 9))))


def var_cvar(returns: np.ndarray, levels: Sequence[float] = DEFAULT_LEVELS) -> pd.DataFrame:
    """Empirical VaR and CVaR of a sample of simple returns (index: level; columns var, cvar)."""
    x = np.sort(np.asarray(returns, dtype=np.float64).ravel())
    x = x[~np.isnan(x)]
    if x.size == 0:
        raise ValueError("no returns")
    rows = []
    for level in levels:
        m = _tail_count(x.size, level)
        rows.append((level, -x[m - 1], -x[:m].mean()))
    return pd.DataFrame(rows, columns=["level", "var", "cvar"]).set_index("level")


def historical_var_cvar(
    log_returns: np.ndarray | pd.Series,
    *,
    horizon: int = 1,
    levels: Sequence[float] = DEFAULT_LEVELS,
) -> pd.DataFrame:
    """VaR/CVaR of historical `horizon`-day simple returns (overlapping windows of log returns)."""
    r = np.asarray(log_returns, dtype=np.float64)
    r = r[~np.isnan(r)]
    if horizon < 1 or horizon > r.size:
        raise ValueError(f"horizon must be in 1..{r.size}")
    c = np.r_[0.0, np.cumsum(r)]
    return var_cvar(np.expm1(c[horizon:] - c[:-horizon]), levels)


def path_var_cvar(
    log_returns: np.ndarray, levels: Sequence[float] = DEFAULT_LEVELS
) -> pd.DataFrame:
    """VaR/CVaR of the horizon (all days of the paths) simple return across simulated paths."""
    return var_cvar(terminal_returns(log_returns), levels)


def normal_var_cvar(
    mean: float, std: float, levels: Sequence[float] = DEFAULT_LEVELS, *, lognormal: bool = False
) -> pd.DataFrame:
    """Closed-form VaR/CVaR when the return is N(mean, std^2), or, with lognormal=True, when
    the *log* return is N(mean, std^2) and the loss is on the simple return exp(X) - 1."""
    from scipy.stats import norm  # imported here: scipy.stats takes seconds to import

    rows = []
    for level in levels:
        z = norm.ppf(1.0 - level)
        if lognormal:
            var = -np.expm1(mean + std * z)
            cvar = 1.0 - np.exp(mean + 0.5 * std**2) * norm.cdf(z - std) / (1.0 - level)
        else:
            var = -(mean + std * z)
            cvar = -(mean - std * norm.pdf(z) / (1.0 - level))
        rows.append((level, var, cvar))
    return pd.DataFrame(rows, columns=["level", "var", "cvar"]).set_index("level")


def max_drawdowns(log_returns: np.ndarray) -> np.ndarray:
    """Maximum drawdown of each path, as a positive fraction of the running peak."""
    wealth = wealth_paths(log_returns)
    peak = np.maximum(np.maximum.accumulate(wealth, axis=-1), 1.0)
    return (1.0 - wealth / peak).max(axis=-1)


def drawdown_breach_probability(log_returns: np.ndarray, limit: float) -> float:
    """Share of paths whose maximum drawdown reaches `limit` (e.g. 0.2 for a 20% limit)."""
    return float(np.mean(max_drawdowns(log_returns) >= limit))


def fan_chart(
    log_returns: np.ndarray, percentiles: Sequence[float] = (1, 5, 25, 50, 75, 95, 99)
) -> pd.DataFrame:
    """Percentiles across paths of the cumulative simple return after each day.

    Index: day 1..n_days; columns p1, p5, ... plus mean. Feeds a fan chart directly.
    """
    cum = wealth_paths(log_returns) - 1.0
    q = np.percentile(cum, percentiles, axis=0)
    frame = pd.DataFrame(q.T, columns=[f"p{p:g}" for p in percentiles])
    frame["mean"] = cum.mean(axis=0)
    frame.index = pd.RangeIndex(1, cum.shape[1] + 1, name="day")
    return frame


def risk_summary(
    log_returns: np.ndarray,
    *,
    levels: Sequence[float] = DEFAULT_LEVELS,
    drawdown_limit: float = 0.2,
) -> pd.Series:
    """One row of headline numbers for simulated portfolio paths (paths, days)."""
    term = terminal_returns(log_returns)
    mdd = max_drawdowns(log_returns)
    tail = var_cvar(term, levels)
    out = {
        "n_paths": float(term.size),
        "n_days": float(np.asarray(log_returns).shape[-1]),
        "mean_return": term.mean(),
        "median_return": np.median(term),
        "std_return": term.std(ddof=1) if term.size > 1 else np.nan,
        "prob_loss": float(np.mean(term < 0.0)),
        "median_max_drawdown": np.median(mdd),
        "p95_max_drawdown": np.percentile(mdd, 95),
        f"prob_drawdown_ge_{drawdown_limit:g}": float(np.mean(mdd >= drawdown_limit)),
    }
    for level, row in tail.iterrows():
        out[f"var_{level * 100:g}"] = row["var"]
        out[f"cvar_{level * 100:g}"] = row["cvar"]
    return pd.Series(out)
