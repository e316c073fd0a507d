"""Leg math against independent references: numpy lstsq, a planted beta, statsmodels."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from quant_assets.strategy import legs as lg


def _cointegrated(n: int, beta: float, seed: int) -> tuple[pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    x = np.cumsum(rng.normal(0, 1, n)) + 50.0
    noise = np.zeros(n)
    for t in range(1, n):
        noise[t] = 0.5 * noise[t - 1] + rng.normal(0, 0.5)
    return pd.Series(2.0 + beta * x + noise), pd.Series(x)


def test_rolling_ols_equals_lstsq_on_every_window() -> None:
    rng = np.random.default_rng(0)
    x = pd.Series(np.cumsum(rng.normal(size=300)))
    y = 0.7 * x + rng.normal(size=300)
    x.iloc[100] = np.nan  # windows containing it are undefined
    fit = lg.rolling_ols(y, x, 40)
    for end in (39, 99, 100, 139, 140, 299):
        win = slice(end - 39, end + 1)
        xs, ys = x.iloc[win].to_numpy(), y.iloc[win].to_numpy()
        if np.isnan(xs).any():
            assert np.isnan(fit["beta"].iloc[end])
            continue
        coef, *_ = np.linalg.lstsq(np.column_stack([np.ones(40), xs]), ys, rcond=None)
        assert fit["alpha"].iloc[end] == pytest.approx(coef[0], abs=1e-9)
        assert fit["beta"].iloc[end] == pytest.approx(coef[1], abs=1e-9)
    assert fit["beta"].iloc[:39].isna().all()


def test_kalman_converges_to_the_true_beta() -> None:
    y, x = _cointegrated(1500, 1.5, seed=1)
    # A near-constant state (tiny delta): the filter is recursive least squares.
    fit = lg.kalman_hedge(y, x, delta=1e-8, obs_var=0.3)
    err = np.abs(fit["beta"] - 1.5)
    assert err.iloc[300:].max() < 0.02
    assert err.iloc[-1] < 0.01
    assert fit["alpha"].notna().all()


def test_kalman_tracks_a_beta_shift_and_uses_only_the_past() -> None:
    y, x = _cointegrated(1200, 1.0, seed=2)
    y.iloc[600:] = y.iloc[600:] + 0.5 * x.iloc[600:]  # beta 1.0 -> 1.5
    fit = lg.kalman_hedge(y, x, delta=1e-4, obs_var=0.3)
    assert abs(fit["beta"].iloc[550] - 1.0) < 0.1
    assert abs(fit["beta"].iloc[-1] - 1.5) < 0.1
    # Filtering: values up to t do not change when later data change.
    y2 = y.copy()
    y2.iloc[900:] += 10.0
    fit2 = lg.kalman_hedge(y2, x, delta=1e-4, obs_var=0.3)
    pd.testing.assert_frame_equal(fit.iloc[:900], fit2.iloc[:900])


def test_engle_granger_detects_planted_pair_and_rejects_random_walks() -> None:
    for seed in range(5):
        y, x = _cointegrated(500, 1.2, seed=seed)
        assert lg.engle_granger(y, x)[1] < 0.01
    rejected = 0
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        a, b = np.cumsum(rng.normal(size=(2, 500)), axis=1)
        rejected += lg.engle_granger(a, b)[1] < 0.05
    # A 5% test on independent walks: expect ~1 false rejection in 20, allow up to 4.
    assert rejected <= 4


def test_rolling_coint_pvalue_uses_trailing_windows() -> None:
    y, x = _cointegrated(400, 1.2, seed=3)
    p = lg.rolling_coint_pvalue(y, x, window=200, every=50)
    assert p.iloc[:199].isna().all()
    assert p.iloc[199] == pytest.approx(lg.engle_granger(y.iloc[:200], x.iloc[:200])[1])
    assert p.iloc[248] == p.iloc[199]  # held until the next test
    assert p.iloc[249] == pytest.approx(lg.engle_granger(y.iloc[50:250], x.iloc[50:250])[1])


def test_fly_weights_fixed_and_vol_weighted() -> None:
    np.testing.assert_allclose(lg.fly_weights_fixed((1, -2, 1)), [0.25, -0.5, 0.25])
    vols = pd.DataFrame({"w1": [0.1, 0.2], "b": [0.1, 0.1], "w2": [0.1, 0.1]})
    w = lg.fly_weights_vol(vols)
    np.testing.assert_allclose(w.iloc[0], [0.25, -0.5, 0.25])
    # Doubling a wing's vol halves its weight: risk contributions 0.5 * sigma_body each.
    raw = np.array([0.25, -1.0, 0.5])
    np.testing.assert_allclose(w.iloc[1], raw / np.abs(raw).sum())
    risk = np.abs(w.iloc[1].to_numpy()) * vols.iloc[1].to_numpy()
    assert risk[0] == pytest.approx(risk[2]) and risk[0] + risk[2] == pytest.approx(risk[1])


def test_pair_weights_hedge_and_gross() -> None:
    wy, wx = lg.pair_weights(np.array([1.5, -0.5]))
    np.testing.assert_allclose(wx / wy, [-1.5, 0.5])
    np.testing.assert_allclose(np.abs(wy) + np.abs(wx), 1.0)


def test_zscore_and_relative_momentum() -> None:
    s = pd.Series(np.arange(30, dtype=float) ** 1.5)
    z = lg.zscore(s, 10)
    w = s.iloc[20:30]
    assert z.iloc[29] == pytest.approx((w.iloc[-1] - w.mean()) / w.std(ddof=1))
    a = pd.Series([100.0, 110.0, 121.0])
    b = pd.Series([100.0, 100.0, 100.0])
    assert lg.relative_momentum(a, b, 2).iloc[2] == pytest.approx(np.log(1.21))
