"""Correlation structure and concentration: rolling correlations, clusters, effective bets.

Diversification is overstated by a name count when names move together; these functions
say how many independent bets a book really holds and which names form one bet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, leaves_list, linkage
from scipy.spatial.distance import squareform

from quant_assets.risk.sizing import risk_contributions


def _window_corr(x: np.ndarray, min_periods: int) -> np.ndarray:
    """Pairwise-complete Pearson correlation of the columns of x (rows with NaN skipped per
    pair), as pandas' DataFrame.corr(): sums over rows where both columns are present."""
    m = np.isfinite(x).astype(np.float64)
    v = np.where(m > 0, x, 0.0)
    n = m.T @ m
    sx = v.T @ m  # sum of x_i over rows where j is present
    sxx = (v * v).T @ m
    sxy = v.T @ v
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = sxy - sx * sx.T / n
        var_i = sxx - sx * sx / n
        corr = cov / np.sqrt(var_i * var_i.T)
    corr[n < min_periods] = np.nan
    return np.clip(corr, -1.0, 1.0)


def rolling_correlation(
    returns: pd.DataFrame,
    window: int,
    *,
    min_periods: int | None = None,
    dates: Sequence | None = None,
    step: int = 1,
) -> pd.DataFrame:
    """Correlation matrices over trailing windows of `window` rows ending at each date.

    Layout as pandas' `returns.rolling(window).corr()`: a (date, symbol) x symbol frame.
    A full panel costs dates x N^2 floats, so pass `dates` or `step` (every step-th row)
    for large universes. Each matrix uses rows up to its date only.
    """
    x = returns.to_numpy(dtype=np.float64)
    mp = window if min_periods is None else min_periods
    if dates is not None:
        ends = returns.index.get_indexer(pd.Index(dates))
        if np.any(ends < 0):
            raise KeyError("dates not in the returns index")
    else:
        ends = np.arange(len(returns))[::-1][::step][::-1]
    cols = returns.columns
    blocks = [_window_corr(x[max(0, e - window + 1) : e + 1], mp) for e in ends]
    values = np.concatenate(blocks) if blocks else np.zeros((0, len(cols)))
    index = pd.MultiIndex.from_product([returns.index[ends], cols])
    return pd.DataFrame(values, index=index, columns=cols)


def correlation_distance(corr: pd.DataFrame | np.ndarray) -> np.ndarray:
    """d = sqrt((1 - rho) / 2): a metric in [0, 1] (0 identical, 1 perfectly opposite)."""
    c = np.clip(np.asarray(corr, dtype=np.float64), -1.0, 1.0)
    d = np.sqrt(0.5 * (1.0 - c))
    np.fill_diagonal(d, 0.0)
    return d


@dataclass(frozen=True)
class Clusters:
    """Cluster label per symbol, the scipy linkage matrix and the dendrogram leaf order
    (which puts correlated names next to each other for a heat map)."""

    labels: pd.Series
    linkage: np.ndarray
    order: list[str]


def correlation_clusters(
    corr: pd.DataFrame,
    *,
    n_clusters: int | None = None,
    max_distance: float | None = None,
    method: str = "average",
) -> Clusters:
    """Hierarchical clusters on correlation distance (scipy `linkage`, average linkage by
    default). Cut into `n_clusters` groups, or wherever merges exceed `max_distance`."""
    if (n_clusters is None) == (max_distance is None):
        raise ValueError("give exactly one of n_clusters, max_distance")
    d = squareform(correlation_distance(corr), checks=False)
    z = linkage(d, method=method)
    if n_clusters is not None:
        labels = fcluster(z, t=n_clusters, criterion="maxclust")
    else:
        labels = fcluster(z, t=max_distance, criterion="distance")
    names = list(corr.index)
    return Clusters(
        pd.Series(labels, index=corr.index, name="cluster"),
        z,
        [names[i] for i in leaves_list(z)],
    )


def herfindahl(shares: pd.Series | np.ndarray) -> float:
    """Herfindahl index sum(p_i^2) of p_i = |x_i| / sum |x|: 1/N when equal, 1 when one name.

    For risk contributions, negative contributions (hedges) count by their size, so the
    index measures how concentrated risk-taking is, not net risk.
    """
    a = np.abs(np.asarray(shares, dtype=np.float64))
    p = a / a.sum()
    return float(p @ p)


def weight_concentration(weights: pd.Series | np.ndarray) -> dict[str, float]:
    """Herfindahl of weights and its inverse, the effective number of names 1 / sum(p_i^2)."""
    h = herfindahl(weights)
    return {"herfindahl": h, "effective_n": 1.0 / h}


def risk_concentration(
    weights: pd.Series | np.ndarray, cov: pd.DataFrame | np.ndarray
) -> dict[str, float]:
    """Herfindahl of Euler risk contributions and its inverse."""
    h = herfindahl(risk_contributions(weights, cov))
    return {"herfindahl": h, "effective_n": 1.0 / h}


def effective_number_of_bets(
    weights: pd.Series | np.ndarray, cov: pd.DataFrame | np.ndarray
) -> float:
    """Meucci's (2009) effective number of bets on principal components (not the
    minimum-torsion version): p_k = (e_k'w)^2 lambda_k / (w' cov w), the share of variance
    from component k, and ENB = exp(-sum p_k log p_k). N uncorrelated equal-risk bets
    give N; one common factor gives 1. Components are eigenvectors of cov, so with
    repeated eigenvalues the split within a repeated eigenspace is numpy's choice."""
    w = np.asarray(weights, dtype=np.float64)
    lam, vec = np.linalg.eigh(np.asarray(cov, dtype=np.float64))
    lam = np.clip(lam, 0.0, None)
    p = (vec.T @ w) ** 2 * lam
    p = p / p.sum()
    p = p[p > 0]
    return float(np.exp(-(p * np.log(p)).sum()))
