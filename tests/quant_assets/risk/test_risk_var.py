"""VaR/CVaR against hand counts, the normal-theory formula and a Monte Carlo closed form."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from quant_assets.risk import var
from quant_assets.sim.risk_measures import normal_var_cvar
from quant_assets.sim.stochastic import CorrelatedGBM

R10 = np.array([0.03, -0.05, 0.01, -0.02, 0.05, 0.0, -0.03, 0.04, -0.01, 0.02])


def test_historical_var_cvar_by_hand() -> None:
    out = var.historical_var(R10, levels=(0.8, 0.9))
    # level 0.8: m = ceil(10 x 0.2) = 2 worst: -0.05, -0.03 -> VaR 0.03, CVaR 0.04
    assert out.loc[0.8, "var"] == pytest.approx(0.03) and out.loc[0.8, "cvar"] == pytest.approx(
        0.04
    )
    # level 0.9: m = 1 -> both 0.05
    assert out.loc[0.9, "var"] == pytest.approx(0.05) and out.loc[0.9, "cvar"] == pytest.approx(
        0.05
    )
    # the stated quantile convention
    assert out.loc[0.8, "var"] == pytest.approx(-np.quantile(R10, 0.2, method="inverted_cdf"))
    q = np.quantile(R10, 0.2, method="inverted_cdf")
    tail = R10[np.less_equal(R10, q)]
    assert out.loc[0.8, "cvar"] == pytest.approx(-tail.mean())


def test_normal_var_matches_the_formula() -> None:
    # mu = 0.001, sigma = 0.02: VaR95 = -(mu - 1.6448536 sigma) = 0.031897;
    # CVaR95 = -mu + sigma phi(1.6448536) / 0.05 = -0.001 + 0.02 x 2.0627128 = 0.040254
    out = var.normal_var(levels=(0.95,), mean=0.001, std=0.02)
    assert out.loc[0.95, "var"] == pytest.approx(-0.001 + 0.02 * 1.6448536, abs=1e-8)
    assert out.loc[0.95, "cvar"] == pytest.approx(-0.001 + 0.02 * 2.0627128, abs=1e-8)
    # from a sample: its mean and ddof=1 std; 10-day horizon scales mean x10, std x sqrt(10)
    s = var.normal_var(R10, levels=(0.99,), horizon=10)
    m, sd = R10.mean() * 10, R10.std(ddof=1) * np.sqrt(10)
    assert s.loc[0.99, "var"] == pytest.approx(-(m + sd * norm.ppf(0.01)), rel=1e-12)


def test_historical_converges_to_normal_on_a_large_normal_sample() -> None:
    # 400k N(0, 0.01^2) draws: sampling error of the 95% quantile is ~0.15% of it; 1% tolerance.
    r = np.random.default_rng(0).normal(0.0, 0.01, 400_000)
    h = var.historical_var(r, levels=(0.95, 0.99))
    n = var.normal_var(r, levels=(0.95, 0.99))
    np.testing.assert_allclose(h[["var", "cvar"]], n[["var", "cvar"]], rtol=0.01)


def _panel(seed: int = 2, n: int = 750) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cov = np.array([[0.0004, 0.0001], [0.0001, 0.0009]])
    x = rng.multivariate_normal([0.0005, 0.0002], cov, n)
    return pd.DataFrame(x, columns=["a", "b"], index=pd.bdate_range("2020-01-01", periods=n))


def test_portfolio_var_from_weights() -> None:
    r = _panel()
    w = pd.Series({"a": 0.6, "b": 0.3})  # 10% cash
    out = var.portfolio_var(w, r, levels=(0.95,))
    port = r.to_numpy() @ w.to_numpy()
    hist = out[out["method"] == "historical"]
    assert hist.loc[0.95, "var"] == pytest.approx(
        var.historical_var(port, (0.95,)).loc[0.95, "var"], rel=1e-9
    )
    # normal: sigma_p = sqrt(w' S w) by hand from the sample covariance
    s = r.cov().to_numpy()
    sigma = np.sqrt(0.36 * s[0, 0] + 0.09 * s[1, 1] + 2 * 0.18 * s[0, 1])
    mu = 0.6 * r["a"].mean() + 0.3 * r["b"].mean()
    normal = out[out["method"] == "normal"]
    assert normal.loc[0.95, "var"] == pytest.approx(-(mu - 1.6448536270 * sigma), rel=1e-9)


def test_component_var_sums_to_the_portfolio() -> None:
    r = _panel(4)
    w = pd.Series({"a": 0.7, "b": -0.2})
    comp = var.component_var(w, r, 0.95)
    port = r.to_numpy() @ w.to_numpy()
    norm_total = var.normal_var(port, levels=(0.95,))
    hist_total = var.historical_var(port, levels=(0.95,))
    assert comp["normal_var"].sum() == pytest.approx(norm_total.loc[0.95, "var"], rel=1e-10)
    assert comp["normal_cvar"].sum() == pytest.approx(norm_total.loc[0.95, "cvar"], rel=1e-10)
    assert comp["historical_cvar"].sum() == pytest.approx(hist_total.loc[0.95, "cvar"], rel=1e-12)


def test_monte_carlo_var_matches_lognormal_closed_form() -> None:
    # One asset, GBM with daily log return N(m, s^2): the 1-day simple return exp(X) - 1
    # has VaR = -expm1(m + s z) (sim.risk_measures' lognormal formula). 40k paths:
    # sampling error of VaR95 is ~0.6% of it; tolerance 3%.
    rng = np.random.default_rng(5)
    hist = pd.DataFrame({"x": rng.normal(0.0003, 0.015, 2000)})
    model = CorrelatedGBM().fit(hist)
    w = pd.Series({"x": 1.0})
    mc = var.monte_carlo_var(model, w, n_paths=40_000, horizon=1, seed=1, levels=(0.95, 0.99))
    m, s = float(model.mean_.iloc[0]), float(np.sqrt(model.cov_.iloc[0, 0]))
    exact = normal_var_cvar(m, s, (0.95, 0.99), lognormal=True)
    np.testing.assert_allclose(mc[["var", "cvar"]], exact[["var", "cvar"]], rtol=0.03)
    assert (mc["method"] == "monte_carlo").all()
