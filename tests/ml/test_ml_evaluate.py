"""Evaluation metrics against statsmodels / scipy / scikit-learn, and the score backtest."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from ml.evaluate import (
    auc_null_sd,
    backtest_scores,
    calibration,
    classification_metrics,
    daily_ic,
    ic_stats,
    newey_west_se,
    quantile_weights,
)


def test_newey_west_matches_statsmodels():
    import statsmodels.api as sm

    rng = np.random.default_rng(0)
    e = rng.standard_normal(600)
    x = 0.1 + np.convolve(e, np.ones(5) / 5, mode="same")  # MA(4)-like overlap
    for lags in (0, 4):
        res = sm.OLS(x, np.ones_like(x)).fit(
            cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": False}
        )
        np.testing.assert_allclose(newey_west_se(x, lags), res.bse[0], rtol=1e-10)


def test_daily_ic_is_the_mean_of_per_date_correlations():
    rng = np.random.default_rng(1)
    dates = np.repeat(pd.bdate_range("2021-01-01", periods=40), 12)
    score = rng.standard_normal(len(dates))
    frame = pd.DataFrame(
        {"date": dates, "score": score, "fwd_ret": 0.3 * score + rng.standard_normal(len(dates))}
    )
    ic = daily_ic(frame, method="spearman")
    ref = frame.groupby("date").apply(
        lambda g: spearmanr(g["score"], g["fwd_ret"])[0], include_groups=False
    )
    np.testing.assert_allclose(ic.to_numpy(), ref.to_numpy(), rtol=1e-12)
    st = ic_stats(ic, horizon=1)
    np.testing.assert_allclose(
        st.t_stat, ref.mean() / (ref.std(ddof=0) / np.sqrt(len(ref))), rtol=1e-12
    )
    assert st.ci_low < st.mean < st.ci_high


def test_classification_metrics_match_scikit_learn():
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import brier_score_loss, roc_auc_score

    rng = np.random.default_rng(2)
    p = rng.uniform(0.01, 0.99, 5000)
    y = (rng.uniform(size=5000) < p).astype(float)  # calibrated by construction
    m = classification_metrics(y, p)
    assert m["auc"] == pytest.approx(roc_auc_score(y, p), rel=1e-12)
    assert m["brier"] == pytest.approx(brier_score_loss(y, p), rel=1e-12)
    cal = calibration(y, p, n_bins=10)
    frac, mean_pred = calibration_curve(y, p, n_bins=10, strategy="uniform")
    np.testing.assert_allclose(cal["frac_pos"], frac, rtol=1e-12)
    np.testing.assert_allclose(cal["mean_pred"], mean_pred, rtol=1e-12)
    assert m["ece"] < 0.03  # calibrated forecasts: small expected calibration error
    # AUC z: scipy's Mann-Whitney U, normal approximation without tie correction (no ties)
    from scipy.stats import mannwhitneyu

    u = mannwhitneyu(p[y == 1], p[y == 0], method="asymptotic", use_continuity=False)
    n1, n0 = int(y.sum()), int(len(y) - y.sum())
    z_scipy = (u.statistic - n1 * n0 / 2) / np.sqrt(n1 * n0 * (n1 + n0 + 1) / 12)
    assert m["auc_z"] == pytest.approx(z_scipy, rel=1e-9)
    noise = classification_metrics(y, rng.uniform(size=5000))
    assert abs(noise["auc_z"]) < 4  # an uninformative score stays within the null


def test_auc_null_sd_matches_simulation():
    rng = np.random.default_rng(3)
    from sklearn.metrics import roc_auc_score

    aucs = [roc_auc_score(rng.integers(0, 2, 400), rng.standard_normal(400)) for _ in range(400)]
    assert np.std(aucs) == pytest.approx(auc_null_sd(200, 200), rel=0.15)


def test_quantile_weights_long_top_short_bottom():
    dates = pd.bdate_range("2021-01-04", periods=2)
    scores = pd.DataFrame(
        {
            "date": np.repeat(dates, 10),
            "symbol": [f"S{i}" for i in range(10)] * 2,
            "score": list(range(10)) + list(range(10))[::-1],
        }
    )
    w = quantile_weights(scores, quantile=0.2)
    np.testing.assert_allclose(w.loc[dates[0], ["S8", "S9"]], 0.25)
    np.testing.assert_allclose(w.loc[dates[0], ["S0", "S1"]], -0.25)
    np.testing.assert_allclose(w.loc[dates[1], ["S0", "S1"]], 0.25)
    assert w.abs().sum(axis=1).tolist() == [1.0, 1.0] and w.sum(axis=1).abs().max() < 1e-12


def test_backtest_of_a_perfect_score_earns_and_a_reversed_one_loses():
    rng = np.random.default_rng(4)
    n, k = 250, 20
    dates = pd.bdate_range("2021-01-04", periods=n)
    ret = 0.01 * rng.standard_normal((n, k))
    close = 100 * np.exp(np.cumsum(ret, axis=0))
    bars = pd.DataFrame(
        {
            "date": np.repeat(dates, k),
            "symbol": [f"S{i}" for i in range(k)] * n,
            "close": close.ravel(),
            "open": close.ravel(),
            "high": close.ravel(),
            "low": close.ravel(),
        }
    )
    # decided at close t, filled at open t+1 (= close t here), so the score must know t+1->t+2
    future = np.vstack([ret[2:], np.zeros((2, k))])
    scores = bars[["date", "symbol"]].assign(score=future.ravel())
    good = backtest_scores(scores, bars)
    bad = backtest_scores(scores.assign(score=-scores["score"]), bars)
    assert good.stats["total_return"] > 0.5 and bad.stats["total_return"] < -0.3
