"""Sizing rules against hand arithmetic and textbook optima (Kelly, equal risk contribution)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import minimize_scalar

from quant_assets.risk import sizing


def test_fixed_fractional_risks_the_fraction_at_the_stop() -> None:
    # 1% of 100,000 = 1,000 at risk; |50 - 48| = 2 per share -> 500 shares long.
    # Short with the stop at 52: -500. A 20% weight cap: 0.2 x 100,000 / 50 = 400 shares.
    s = sizing.fixed_fractional(100_000.0, 0.01, 50.0, 48.0)
    assert s.size == pytest.approx(500.0) and s.bound[()] == "none"
    assert sizing.fixed_fractional(100_000.0, 0.01, 50.0, 52.0).size == pytest.approx(-500.0)
    capped = sizing.fixed_fractional(100_000.0, 0.01, 50.0, 48.0, max_weight=0.2)
    assert capped.size == pytest.approx(400.0)
    assert capped.raw == pytest.approx(500.0) and capped.bound[()] == "max_weight"
    # The loss at the stop is the risk budget.
    assert s.size * (50.0 - 48.0) == pytest.approx(0.01 * 100_000.0)


def test_atr_units_turtle_rule() -> None:
    # 1% of 1,000,000 = 10,000 risked over 2 x ATR 2.5 = 5 per unit -> 2,000 units.
    atr = pd.Series([2.5, np.nan, 5.0], index=["a", "b", "c"])
    s = sizing.atr_units(1_000_000.0, atr, risk_per_trade=0.01, atr_multiple=2.0)
    np.testing.assert_allclose(s.size.to_numpy(), [2000.0, 0.0, 1000.0])
    # cap at 10% of equity at price 100: 1,000 units binds on "a" only
    c = sizing.atr_units(
        1_000_000.0, atr, risk_per_trade=0.01, atr_multiple=2.0, price=100.0, max_weight=0.1
    )
    np.testing.assert_allclose(c.size.to_numpy(), [1000.0, 0.0, 1000.0])
    assert list(c.bound) == ["max_weight", "none", "none"]


def test_volatility_target_weights_and_cap() -> None:
    # 10% target over 20% realised = 0.5; over 4% = 2.5, capped at 1.5; no vol -> 0.
    vol = pd.Series([0.20, 0.04, np.nan], index=["a", "b", "c"])
    s = sizing.volatility_target(vol, 0.10, max_weight=1.5)
    np.testing.assert_allclose(s.size.to_numpy(), [0.5, 1.5, 0.0])
    reasons = s.reasons()
    assert list(reasons["bound"]) == ["none", "max_weight", "none"]
    assert reasons.loc["b", "raw"] == pytest.approx(2.5)
    assert "capped by max_weight" in s.explain("b")
    # a dates x symbols panel keeps its labels
    panel = pd.DataFrame({"a": [0.1, 0.2], "b": [0.4, 0.05]})
    out = sizing.volatility_target(panel, 0.1, max_weight=1.5, signal=-1.0).size
    np.testing.assert_allclose(out.to_numpy(), [[-1.0, -0.25], [-0.5, -1.5]])
    assert out.columns.tolist() == ["a", "b"]


def test_kelly_continuous_is_the_log_growth_optimum_and_capped() -> None:
    mu, sigma = 0.08, 0.20
    # f* = mu / sigma^2 = 0.08 / 0.04 = 2.0; half Kelly 1.0; with cap 0.8 -> 0.8.
    full = sizing.kelly_continuous(mu, sigma, fraction=1.0, cap=10.0)
    assert full.size == pytest.approx(2.0)
    # independent check: growth g(f) = f mu - f^2 sigma^2 / 2 peaks at f*
    opt = minimize_scalar(
        lambda f: -(f * mu - 0.5 * f * f * sigma**2), bounds=(-10, 10), method="bounded"
    )
    assert opt.x == pytest.approx(2.0, abs=1e-5)
    half = sizing.kelly_continuous(mu, sigma, fraction=0.5, cap=0.8)
    assert half.size == pytest.approx(0.8) and half.bound[()] == "kelly_cap"
    assert half.raw == pytest.approx(1.0)


def test_kelly_never_exceeds_its_cap() -> None:
    rng = np.random.default_rng(1)
    mu = rng.normal(0, 0.5, 5000)
    sigma = rng.uniform(0.01, 1.0, 5000)
    for cap in (0.1, 1.0, 2.0):
        s = sizing.kelly_continuous(mu, sigma, fraction=0.5, cap=cap)
        assert np.all(np.abs(s.size) <= cap + 1e-15)
        lo = sizing.kelly_continuous(mu, sigma, fraction=0.5, cap=cap, long_only=True)
        assert np.all((lo.size >= 0) & (lo.size <= cap + 1e-15))
        b = sizing.kelly_binary(
            rng.uniform(0, 1, 5000), rng.uniform(0.1, 5, 5000), cap=cap, fraction=1.0
        )
        assert np.all((b.size >= 0) & (b.size <= cap + 1e-15))


def test_kelly_binary_textbook_values() -> None:
    # p = 0.6, even odds: f* = 0.6 - 0.4 / 1 = 0.2; half Kelly 0.1.
    assert sizing.kelly_binary(0.6, 1.0, fraction=0.5).size == pytest.approx(0.1)
    # p = 0.55, b = 2: f* = 0.55 - 0.45 / 2 = 0.325 -> capped at 0.25.
    s = sizing.kelly_binary(0.55, 2.0, fraction=1.0, cap=0.25)
    assert s.size == pytest.approx(0.25) and s.bound[()] == "kelly_cap"
    # no edge: p = 0.4 at even odds stakes nothing
    s = sizing.kelly_binary(0.4, 1.0)
    assert s.size == 0.0 and s.bound[()] == "no_edge"
    # independent check: maximise p log(1 + f b) + (1 - p) log(1 - f)
    p, b = 0.55, 2.0
    opt = minimize_scalar(
        lambda f: -(p * np.log1p(f * b) + (1 - p) * np.log1p(-f)),
        bounds=(0, 0.99),
        method="bounded",
    )
    assert opt.x == pytest.approx(0.325, abs=1e-5)


def test_kelly_portfolio_reduces_to_single_asset_kelly_when_uncorrelated() -> None:
    mu = pd.Series([0.05, 0.02], index=["a", "b"])
    cov = pd.DataFrame(np.diag([0.04, 0.01]), index=mu.index, columns=mu.index)
    # mu / sigma^2 = [1.25, 2.0]; half: [0.625, 1.0]; gross 1.625 -> scaled to 1.0
    s = sizing.kelly_portfolio(mu, cov, fraction=0.5, max_gross=10.0)
    np.testing.assert_allclose(s.size.to_numpy(), [0.625, 1.0])
    s = sizing.kelly_portfolio(mu, cov, fraction=0.5, max_gross=1.0)
    np.testing.assert_allclose(s.size.to_numpy(), np.array([0.625, 1.0]) / 1.625)
    assert set(s.bound) == {"max_gross"}


def test_inverse_volatility() -> None:
    # 1/vol = [10, 5, 2.5], sum 17.5
    s = sizing.inverse_volatility(pd.Series([0.1, 0.2, 0.4], index=list("abc")))
    np.testing.assert_allclose(s.size.to_numpy(), np.array([10, 5, 2.5]) / 17.5)


def _random_cov(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, 3))  # three factors plus idiosyncratic variance: full rank
    s = a @ a.T + np.diag(rng.uniform(0.2, 1.0, n))
    corr = s / np.sqrt(np.outer(np.diag(s), np.diag(s)))
    vol = rng.uniform(0.05, 0.6, n)
    names = [f"s{i}" for i in range(n)]
    return pd.DataFrame(corr * np.outer(vol, vol), index=names, columns=names)


@pytest.mark.parametrize("n, seed", [(3, 0), (8, 1), (25, 2)])
def test_risk_parity_contributions_equal(n: int, seed: int) -> None:
    cov = _random_cov(n, seed)
    w = sizing.risk_parity(cov).size
    rc = sizing.risk_contributions(w, cov)
    assert w.sum() == pytest.approx(1.0) and (w > 0).all()
    assert rc.max() - rc.min() < 1e-8
    assert rc.sum() == pytest.approx(1.0, abs=1e-12)


def test_risk_parity_budgets_and_target_vol() -> None:
    cov = _random_cov(4, 3)
    budgets = pd.Series([0.4, 0.3, 0.2, 0.1], index=cov.index)
    w = sizing.risk_parity(cov, budgets=budgets, target_vol=0.1).size
    np.testing.assert_allclose(sizing.risk_contributions(w, cov), budgets, atol=1e-10)
    assert np.sqrt(w @ cov @ w) == pytest.approx(0.1, rel=1e-12)


@pytest.mark.parametrize("rho", [0.0, 0.6, -0.3])
def test_risk_parity_two_assets_closed_form(rho: float) -> None:
    # Two assets: equal risk contributions <=> w1 sigma1 = w2 sigma2 for any correlation,
    # so w_i = (1/sigma_i) / (1/sigma_1 + 1/sigma_2).
    s1, s2 = 0.1, 0.3
    cov = pd.DataFrame(
        [[s1 * s1, rho * s1 * s2], [rho * s1 * s2, s2 * s2]], index=["a", "b"], columns=["a", "b"]
    )
    w = sizing.risk_parity(cov).size
    expected = np.array([1 / s1, 1 / s2]) / (1 / s1 + 1 / s2)
    np.testing.assert_allclose(w.to_numpy(), expected, atol=1e-12)
