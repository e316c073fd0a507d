"""Value at risk and expected shortfall of a portfolio: historical, normal, Monte Carlo.

Conventions (those of `sim.risk_measures`, which does the arithmetic here):
- Inputs are simple returns per period; VaR and CVaR are positive loss fractions.
- Historical, n returns, level a (e.g. 0.95): m = ceil(n (1 - a)); VaR = minus the m-th
  worst return, i.e. -quantile(r, 1 - a) with numpy's method="inverted_cdf" (no
  interpolation); CVaR = minus the mean of the m worst returns (= -mean(r | r <= -VaR)
  when there are no ties at the cut).
- Normal: VaR = -(mu + sigma z_{1-a}), CVaR = -mu + sigma phi(z_{1-a}) / (1 - a), with the
  sample mean and the sample standard deviation (ddof=1).
- Monte Carlo: the historical estimator applied to simulated horizon returns.
Portfolio returns from weights are sum_i w_i r_i per period (weights held constant, i.e.
rebalanced each period); the rest of the weight sits in cash at zero return.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from quant_assets.sim import risk_measures as rm
from quant_assets.sim.stochastic import StochasticModel, simulate_portfolio

LEVELS = rm.DEFAULT_LEVELS


def portfolio_returns(weights: pd.Series, returns: pd.DataFrame) -> pd.Series:
    """sum_i w_i r_i per row, over the weights' symbols; rows with a missing return drop."""
    r = returns[list(weights.index)].dropna(how="any")
    return pd.Series(r.to_numpy() @ weights.to_numpy(dtype=np.float64), index=r.index)


def _tidy(frame: pd.DataFrame, method: str) -> pd.DataFrame:
    out = frame.copy()
    out.insert(0, "method", method)
    return out


def historical_var(
    returns: pd.Series | np.ndarray, levels: Sequence[float] = LEVELS
) -> pd.DataFrame:
    """Empirical VaR/CVaR (index level; columns method, var, cvar)."""
    return _tidy(rm.var_cvar(np.asarray(returns, dtype=np.float64), levels), "historical")


def normal_var(
    returns: pd.Series | np.ndarray | None = None,
    levels: Sequence[float] = LEVELS,
    *,
    mean: float | None = None,
    std: float | None = None,
    horizon: int = 1,
) -> pd.DataFrame:
    """Normal-theory VaR/CVaR from a sample's mean and std (or given `mean`, `std`).

    `horizon` scales to h periods with i.i.d. returns: mean x h, std x sqrt(h).
    """
    if mean is None or std is None:
        r = np.asarray(returns, dtype=np.float64)
        r = r[np.isfinite(r)]
        mean = float(r.mean()) if mean is None else mean
        std = float(r.std(ddof=1)) if std is None else std
    return _tidy(rm.normal_var_cvar(mean * horizon, std * np.sqrt(horizon), levels), "normal")


def portfolio_var(
    weights: pd.Series,
    returns: pd.DataFrame,
    levels: Sequence[float] = LEVELS,
    *,
    horizon: int = 1,
) -> pd.DataFrame:
    """Historical and normal VaR/CVaR of the portfolio over `horizon` periods.

    Historical: overlapping `horizon`-period compounded returns of the daily-rebalanced
    portfolio; normal: mean w'mu and std sqrt(w' Sigma w) of one period, scaled by
    horizon and sqrt(horizon).
    """
    r = returns[list(weights.index)].dropna(how="any")
    w = weights.to_numpy(dtype=np.float64)
    port = r.to_numpy() @ w
    hist = rm.historical_var_cvar(np.log1p(port), horizon=horizon, levels=levels)
    mu = float(r.mean().to_numpy() @ w)
    sigma = float(np.sqrt(w @ r.cov().to_numpy() @ w))
    return pd.concat(
        [_tidy(hist, "historical"), normal_var(levels=levels, mean=mu, std=sigma, horizon=horizon)]
    )


def monte_carlo_var(
    model: StochasticModel,
    weights: pd.Series,
    *,
    n_paths: int = 10_000,
    horizon: int = 1,
    seed: int = 0,
    levels: Sequence[float] = LEVELS,
) -> pd.DataFrame:
    """VaR/CVaR of the `horizon`-day return across paths of a fitted `sim.stochastic` model
    (daily-rebalanced weights; the model's log returns compounded over the horizon)."""
    paths = simulate_portfolio(model, weights, n_paths, horizon, seed, dtype=np.float64)
    return _tidy(rm.path_var_cvar(paths, levels), "monte_carlo")


def component_var(weights: pd.Series, returns: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Each position's share of portfolio VaR and CVaR (Euler allocation); rows sum to the
    portfolio's numbers exactly.

    normal_var_i = w_i (-mu_i + z sigma_ip / sigma_p), z = -z_{1-a}, sigma_ip = (Sigma w)_i;
    historical_cvar_i = -mean of w_i r_i over the m worst portfolio periods.
    """
    from scipy.stats import norm  # imported here: scipy.stats takes seconds to import

    r = returns[list(weights.index)].dropna(how="any")
    w = weights.to_numpy(dtype=np.float64)
    x = r.to_numpy()
    port = x @ w
    m = max(1, int(np.ceil(round(port.size * (1.0 - level), 9))))  # sim.risk_measures' m
    worst = np.argsort(port, kind="stable")[:m]
    hist_cvar = -(x[worst] * w).mean(axis=0)
    cov = r.cov().to_numpy()
    sigma_p = np.sqrt(w @ cov @ w)
    z = -norm.ppf(1.0 - level)
    pdf = norm.pdf(norm.ppf(1.0 - level)) / (1.0 - level)
    mu = r.mean().to_numpy()
    beta = (cov @ w) / sigma_p
    return pd.DataFrame(
        {
            "normal_var": w * (-mu + z * beta),
            "normal_cvar": w * (-mu + pdf * beta),
            "historical_cvar": hist_cvar,
        },
        index=weights.index,
    )
