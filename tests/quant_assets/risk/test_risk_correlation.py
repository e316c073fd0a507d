"""Rolling correlations against pandas, planted clusters recovered, concentration measures."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from quant_assets.risk import correlation as corr_mod
from quant_assets.risk.sizing import risk_parity


def _blocks(n_per: int = 4, n_blocks: int = 3, n_obs: int = 500, seed: int = 0) -> pd.DataFrame:
    """Returns with one factor per block: within-block correlation ~0.8, across ~0."""
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(n_obs, n_blocks))
    cols = {}
    for b in range(n_blocks):
        for i in range(n_per):
            cols[f"b{b}_{i}"] = 0.01 * (2.0 * f[:, b] + rng.normal(size=n_obs))
    return pd.DataFrame(cols, index=pd.bdate_range("2021-01-01", periods=n_obs))


def test_rolling_correlation_matches_pandas_with_gaps() -> None:
    r = _blocks(n_per=2, n_blocks=2, n_obs=80)
    r.iloc[5:9, 1] = np.nan
    r.iloc[30, 2] = np.nan
    ours = corr_mod.rolling_correlation(r, 20, min_periods=15)
    ref = r.rolling(20, min_periods=15).corr()
    np.testing.assert_allclose(ours.to_numpy(), ref.to_numpy(), atol=1e-10, equal_nan=True)
    assert ours.index.equals(ref.index)
    few = corr_mod.rolling_correlation(r, 20, min_periods=15, dates=r.index[[30, 79]])
    np.testing.assert_allclose(few.to_numpy(), ref.loc[r.index[[30, 79]]].to_numpy(), atol=1e-10)


def test_correlation_distance_values() -> None:
    d = corr_mod.correlation_distance(
        np.array([[1.0, 0.0, -1.0], [0.0, 1.0, 0.5], [-1.0, 0.5, 1.0]])
    )
    np.testing.assert_allclose(d, [[0, np.sqrt(0.5), 1], [np.sqrt(0.5), 0, 0.5], [1, 0.5, 0]])


def test_clusters_recover_planted_blocks() -> None:
    r = _blocks()
    r = r[np.random.default_rng(3).permutation(r.columns)]  # shuffle the names
    cl = corr_mod.correlation_clusters(r.corr(), n_clusters=3)
    planted = r.columns.str.slice(0, 2)
    # same partition: each planted block maps to exactly one label and vice versa
    pairs = set(zip(planted, cl.labels.to_numpy(), strict=True))
    assert len(pairs) == 3 and len({p for p, _ in pairs}) == 3 and len({c for _, c in pairs}) == 3
    # a distance cut between within-block (~0.32) and across-block (~0.7) gives the same
    cut = corr_mod.correlation_clusters(r.corr(), max_distance=0.5)
    assert cut.labels.nunique() == 3
    # leaf order keeps each block contiguous
    order_blocks = [s[:2] for s in cl.order]
    assert sum(a != b for a, b in pairwise(order_blocks)) == 2


def test_effective_number_of_bets_equal_uncorrelated_is_n() -> None:
    n = 7
    w = np.full(n, 1.0 / n)
    cov = 0.04 * np.eye(n)
    assert corr_mod.effective_number_of_bets(w, cov) == pytest.approx(n, rel=1e-12)
    assert corr_mod.weight_concentration(w)["effective_n"] == pytest.approx(n)
    assert corr_mod.weight_concentration(w)["herfindahl"] == pytest.approx(1.0 / n)
    # distinct vols: inverse-vol (= risk parity when uncorrelated) weights give n bets
    vols = np.linspace(0.1, 0.5, n)
    cov = pd.DataFrame(np.diag(vols**2))
    w = risk_parity(cov).size
    assert corr_mod.effective_number_of_bets(w, cov) == pytest.approx(n, rel=1e-9)
    assert corr_mod.risk_concentration(w, cov)["effective_n"] == pytest.approx(n, rel=1e-9)
    # equal weights there are concentrated in the volatile names
    assert corr_mod.effective_number_of_bets(np.full(n, 1 / n), cov) < n - 1


def test_one_common_factor_is_one_bet() -> None:
    cov = 0.04 * np.ones((5, 5))  # perfectly correlated
    assert corr_mod.effective_number_of_bets(np.full(5, 0.2), cov) == pytest.approx(1.0, abs=1e-6)
    assert corr_mod.herfindahl(np.array([1.0, 0, 0])) == 1.0
