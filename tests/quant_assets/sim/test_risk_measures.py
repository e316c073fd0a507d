"""Risk measures against hand computations, loops and closed-form normal theory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import integrate
from scipy.stats import norm

from quant_assets.sim.risk_measures import (
    drawdown_breach_probability,
    fan_chart,
    historical_var_cvar,
    max_drawdowns,
    normal_var_cvar,
    path_var_cvar,
    portfolio_log_returns,
    risk_summary,
    terminal_returns,
    var_cvar,
    wealth_paths,
)
from quant_assets.sim.stochastic import CorrelatedGBM


def test_var_cvar_by_hand() -> None:
    # 20 outcomes; the two worst are -10% and -5%
    r = np.array([-0.10, -0.05, -0.02, 0.01, 0.03] + [0.02] * 15)
    out = var_cvar(np.random.default_rng(0).permutation(r), levels=(0.95, 0.90))
    # 95%: ceil(20 * 0.05) = 1 worst outcome; 90%: 2 worst
    assert out.loc[0.95, "var"] == pytest.approx(0.10, abs=1e-15)
    assert out.loc[0.95, "cvar"] == pytest.approx(0.10, abs=1e-15)
    assert out.loc[0.90, "var"] == pytest.approx(0.05, abs=1e-15)
    assert out.loc[0.90, "cvar"] == pytest.approx(0.075, abs=1e-15)


def test_var_cvar_tail_count_has_no_rounding_slip() -> None:
    # 1000 * (1 - 0.95) is 50.000000000000004 in floating point: the tail is still 50
    r = -np.arange(1, 1001) / 1000.0  # losses 0.001 .. 1.000
    out = var_cvar(r, levels=(0.95, 0.99))
    assert out.loc[0.95, "var"] == pytest.approx(0.951, abs=1e-12)  # 50th worst
    assert out.loc[0.95, "cvar"] == pytest.approx(np.mean(np.arange(951, 1001)) / 1000, abs=1e-12)
    assert out.loc[0.99, "var"] == pytest.approx(0.991, abs=1e-12)  # 10th worst


def test_historical_var_cvar_uses_overlapping_horizon_returns() -> None:
    logr = pd.Series(np.random.default_rng(1).normal(0.0003, 0.012, 600))
    got = historical_var_cvar(logr, horizon=5, levels=(0.95,))
    five_day = np.expm1(logr.rolling(5).sum().dropna().to_numpy())  # 596 windows
    worst = np.sort(five_day)[:30]  # ceil(596 * 0.05) = 30
    assert got.loc[0.95, "var"] == pytest.approx(-worst[-1], rel=1e-12)
    assert got.loc[0.95, "cvar"] == pytest.approx(-worst.mean(), rel=1e-12)


def test_normal_formulas_match_numerical_integration() -> None:
    mu, sd, a = 0.001, 0.02, 0.99
    q = norm.ppf(1 - a, mu, sd)
    tail_mean = integrate.quad(lambda x: x * norm.pdf(x, mu, sd), -np.inf, q)[0] / (1 - a)
    tail_mean_simple = integrate.quad(lambda x: np.expm1(x) * norm.pdf(x, mu, sd), -np.inf, q)[
        0
    ] / (1 - a)
    plain = normal_var_cvar(mu, sd, (a,))
    logn = normal_var_cvar(mu, sd, (a,), lognormal=True)
    assert plain.loc[a, "var"] == pytest.approx(-q, rel=1e-12)
    assert plain.loc[a, "cvar"] == pytest.approx(-tail_mean, rel=1e-8)
    assert logn.loc[a, "var"] == pytest.approx(-np.expm1(q), rel=1e-12)
    assert logn.loc[a, "cvar"] == pytest.approx(-tail_mean_simple, rel=1e-8)


def test_gbm_path_var_cvar_match_lognormal_theory() -> None:
    rng = np.random.default_rng(2)
    hist = pd.DataFrame({"X": rng.normal(0.0004, 0.012, 2500)})
    model = CorrelatedGBM().fit(hist)
    n_days = 20
    paths = model.simulate(200_000, n_days, seed=3, dtype=np.float64)[:, :, 0]
    mu, sd = model.mean_.iloc[0] * n_days, np.sqrt(model.cov_.iloc[0, 0] * n_days)
    theory = normal_var_cvar(mu, sd, lognormal=True)
    got = path_var_cvar(paths)
    # SE of the 99% quantile with 200k paths: sqrt(.01 * .99 / 2e5) / density ~ 4.5e-4;
    # of the 99% tail mean similar. Band: 2e-3 absolute (~4 SE) on values of ~0.10-0.14.
    np.testing.assert_allclose(got.to_numpy(), theory.to_numpy(), atol=2e-3)
    assert (got["cvar"] > got["var"]).all()


def test_portfolio_log_returns_daily_and_buy_and_hold() -> None:
    rng = np.random.default_rng(4)
    r = rng.normal(0.0, 0.02, size=(3, 6, 2))
    w = np.array([0.6, 0.3])  # 10% cash
    daily = portfolio_log_returns(r, w)
    for p in range(3):
        for t in range(6):
            simple = 0.6 * (np.exp(r[p, t, 0]) - 1) + 0.3 * (np.exp(r[p, t, 1]) - 1)
            assert daily[p, t] == pytest.approx(np.log(1 + simple), rel=1e-12)

    held = portfolio_log_returns(r, w, rebalance="buy_and_hold")
    value = (
        0.1
        + 0.6 * np.exp(np.cumsum(r[..., 0], axis=1))
        + 0.3 * np.exp(np.cumsum(r[..., 1], axis=1))
    )
    np.testing.assert_allclose(np.exp(np.cumsum(held, axis=1)), value, rtol=1e-12)
    np.testing.assert_allclose(portfolio_log_returns(r[0], w), daily[0], rtol=1e-12)  # 2-D input
    with pytest.raises(ValueError, match="weights"):
        portfolio_log_returns(r, np.ones(3) / 3)


def test_max_drawdown_by_hand_and_against_a_loop() -> None:
    # wealth 1 -> 1.1 -> 0.88 -> 0.99 -> 1.21: worst fall 1.1 -> 0.88 = 20%
    wealth = np.array([1.1, 0.88, 0.99, 1.21])
    logr = np.diff(np.log(np.r_[1.0, wealth]))[None]
    assert max_drawdowns(logr)[0] == pytest.approx(0.2, abs=1e-12)
    # the start counts as a peak: a first-day fall of 10% is a 10% drawdown
    assert max_drawdowns(np.log([[0.9, 1.0]]))[0] == pytest.approx(0.1, abs=1e-12)

    paths = np.random.default_rng(5).normal(0.0, 0.02, size=(50, 100))
    expected = []
    for path in paths:
        peak, value, worst = 1.0, 1.0, 0.0
        for x in path:
            value *= np.exp(x)
            peak = max(peak, value)
            worst = max(worst, 1 - value / peak)
        expected.append(worst)
    np.testing.assert_allclose(max_drawdowns(paths), expected, rtol=1e-12)
    limit = np.median(expected)
    assert drawdown_breach_probability(paths, limit) == np.mean(np.array(expected) >= limit)


def test_fan_chart_and_summary() -> None:
    paths = np.random.default_rng(6).normal(0.0002, 0.01, size=(1000, 30))
    fan = fan_chart(paths, percentiles=(5, 50, 95))
    cum = np.exp(np.cumsum(paths, axis=1)) - 1
    assert list(fan.columns) == ["p5", "p50", "p95", "mean"]
    assert fan.index.tolist() == list(range(1, 31))
    np.testing.assert_allclose(fan["p50"], np.median(cum, axis=0), rtol=1e-12)
    np.testing.assert_allclose(fan["p5"], np.percentile(cum, 5, axis=0), rtol=1e-12)
    np.testing.assert_allclose(wealth_paths(paths)[:, -1] - 1, terminal_returns(paths), atol=1e-15)

    s = risk_summary(paths, drawdown_limit=0.05)
    tail = var_cvar(terminal_returns(paths))
    assert s["var_95"] == tail.loc[0.95, "var"] and s["cvar_99"] == tail.loc[0.99, "cvar"]
    assert s["prob_drawdown_ge_0.05"] == drawdown_breach_probability(paths, 0.05)
    assert s["median_return"] == pytest.approx(fan["p50"].iloc[-1], rel=1e-12)
