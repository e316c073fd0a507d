"""Stochastic models: calibration reproduces the data, simulation reproduces the calibration.

Panels are built here from known parameters with numpy. Monte Carlo bands are stated per
test as multiples of the estimator's standard error (SE) for the number of draws used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from arch import arch_model
from scipy.stats import kurtosis

from quant_assets.sim.risk_measures import portfolio_log_returns
from quant_assets.sim.stochastic import (
    PATH_BLOCK,
    CorrelatedGBM,
    GARCHModel,
    MarkovRegimeModel,
    MertonJumpDiffusion,
    StationaryBootstrap,
    simulate_portfolio,
)

CORR = np.array(
    [[1.0, 0.6, 0.3, -0.2], [0.6, 1.0, 0.4, 0.0], [0.3, 0.4, 1.0, 0.1], [-0.2, 0.0, 0.1, 1.0]]
)
VOLS = np.array([0.010, 0.015, 0.020, 0.008])
MEANS = np.array([0.0004, 0.0002, -0.0001, 0.0003])
SYMBOLS = ["AAA", "BBB", "CCC", "DDD"]


def frame(x: np.ndarray) -> pd.DataFrame:
    idx = pd.bdate_range("2010-01-01", periods=len(x), name="date")
    return pd.DataFrame(x, index=idx, columns=SYMBOLS[: x.shape[1]])


def pooled(paths: np.ndarray) -> np.ndarray:
    return paths.reshape(-1, paths.shape[-1]).astype(np.float64)


@pytest.fixture(scope="module")
def normal_panel() -> pd.DataFrame:
    rng = np.random.default_rng(11)
    cov = CORR * np.outer(VOLS, VOLS)
    return frame(rng.multivariate_normal(MEANS, cov, size=3000))


@pytest.fixture(scope="module")
def fat_panel() -> pd.DataFrame:
    """Multivariate Student t (4 dof) scaled to VOLS: correlated and fat-tailed."""
    rng = np.random.default_rng(12)
    z = rng.multivariate_normal(np.zeros(4), CORR, size=3000)
    w = np.sqrt(rng.chisquare(4, size=(3000, 1)) / 4)
    return frame(MEANS + z / w * VOLS / np.sqrt(2.0))  # t4 variance is 2


# ------------------------------------------------------------------------------- GBM


def test_gbm_calibration_is_the_sample_mean_and_covariance(normal_panel: pd.DataFrame) -> None:
    m = CorrelatedGBM().fit(normal_panel)
    x = normal_panel.to_numpy()
    np.testing.assert_allclose(m.mean_.to_numpy(), x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(m.cov_.to_numpy(), np.cov(x, rowvar=False, ddof=1), rtol=1e-12)
    assert m.symbols == SYMBOLS


def test_gbm_paths_reproduce_mean_vol_and_correlation(normal_panel: pd.DataFrame) -> None:
    m = CorrelatedGBM().fit(normal_panel)
    sim = pooled(m.simulate(4000, 250, seed=1, dtype=np.float64))  # 1e6 draws per asset
    n = len(sim)
    sd = np.sqrt(np.diag(m.cov_))
    # mean: 5 SE (SE = sd/sqrt(n)); vol: 1% (SE ~ 0.07%); correlation: 0.01 abs (SE <= 0.001)
    assert np.all(np.abs(sim.mean(axis=0) - m.mean_.to_numpy()) < 5 * sd / np.sqrt(n))
    np.testing.assert_allclose(sim.std(axis=0, ddof=1), sd, rtol=0.01)
    np.testing.assert_allclose(
        np.corrcoef(sim, rowvar=False), normal_panel.corr().to_numpy(), atol=0.01
    )
    assert np.all(np.abs(kurtosis(sim, axis=0)) < 0.05)  # Gaussian: no excess kurtosis


# ------------------------------------------------------------------------- bootstrap


def test_bootstrap_keeps_moments_cross_correlation_and_fat_tails(fat_panel: pd.DataFrame) -> None:
    m = StationaryBootstrap(mean_block=10).fit(fat_panel)
    sim = pooled(m.simulate(2000, 250, seed=2, dtype=np.float64))
    hist = fat_panel.to_numpy()
    sd = hist.std(axis=0, ddof=1)
    # the history's 3,000 rows are resampled 500,000 times: mean within 5 SE of the history's
    assert np.all(np.abs(sim.mean(axis=0) - hist.mean(axis=0)) < 5 * sd / np.sqrt(len(hist)))
    np.testing.assert_allclose(sim.std(axis=0), sd, rtol=0.03)
    np.testing.assert_allclose(
        np.corrcoef(sim, rowvar=False), fat_panel.corr().to_numpy(), atol=0.03
    )
    hist_kurt, sim_kurt = kurtosis(hist, axis=0), kurtosis(sim, axis=0)
    assert np.all(sim_kurt > 1.0)  # fat tails kept (normal: 0 excess)
    np.testing.assert_allclose(sim_kurt, hist_kurt, rtol=0.3)


def test_bootstrap_blocks_have_the_requested_mean_length(fat_panel: pd.DataFrame) -> None:
    m = StationaryBootstrap(mean_block=8).fit(fat_panel)
    idx = m.indices(np.random.default_rng(3), 2000, 250)
    assert idx.min() >= 0 and idx.max() < len(fat_panel)
    continues = idx[:, 1:] == (idx[:, :-1] + 1) % len(fat_panel)
    # a new block starts with probability 1/8 (+ 1/3000 chance a restart looks continuous)
    assert abs((1.0 - continues.mean()) - 1.0 / 8) < 0.003  # SE = 0.0005
    assert np.any(idx[:, :-1][continues] == len(fat_panel) - 1)  # wraps around the end


# ------------------------------------------------------------------------------ jumps


@pytest.fixture(scope="module")
def jump_data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(13)
    n = 4000
    x = rng.multivariate_normal(MEANS[:3], CORR[:3, :3] * 0.01**2, size=n)
    jumps = rng.random((n, 3)) < 0.02
    x += np.where(jumps, rng.normal(-0.06, 0.02, size=(n, 3)), 0.0)
    return frame(x), jumps


@pytest.fixture(scope="module")
def jump_panel(jump_data) -> pd.DataFrame:
    return jump_data[0]


def test_jump_calibration_finds_the_jumps(jump_data) -> None:
    panel, true_jumps = jump_data
    m = MertonJumpDiffusion().fit(panel)
    found = m.jump_days_.to_numpy()
    # the 3.5-sd threshold misses jumps within ~0.035 of the mean (~11% of N(-0.06, 0.02)
    # jumps) and flags ~0.05% of diffusion days (~2 of 4,000)
    recall = (found & true_jumps).sum(axis=0) / true_jumps.sum(axis=0)
    precision = (found & true_jumps).sum(axis=0) / found.sum(axis=0)
    assert np.all(recall > 0.75) and np.all(precision > 0.9)
    np.testing.assert_allclose(m.intensity_.to_numpy(), true_jumps.mean(axis=0), rtol=0.25)
    # jump sizes are the flagged returns net of the non-jump mean; missed small jumps push
    # their mean away from 0, hence a band around the true -0.06
    x = panel.to_numpy()
    for a in range(3):
        sizes = x[found[:, a], a] - x[~found[:, a], a].mean()
        np.testing.assert_allclose(m.jump_mean_.iloc[a], sizes.mean(), rtol=1e-12)
        np.testing.assert_allclose(m.jump_std_.iloc[a], sizes.std(ddof=1), rtol=1e-12)
    np.testing.assert_allclose(m.jump_mean_.to_numpy(), -0.06, atol=0.012)
    np.testing.assert_allclose(np.sqrt(np.diag(m.diffusion_cov_)), 0.01, rtol=0.1)
    quiet_corr = m.diffusion_cov_.to_numpy() / np.outer(*[np.sqrt(np.diag(m.diffusion_cov_))] * 2)
    np.testing.assert_allclose(quiet_corr, CORR[:3, :3], atol=0.06)


def test_jump_paths_reproduce_moments_and_fat_tails(jump_panel: pd.DataFrame) -> None:
    m = MertonJumpDiffusion().fit(jump_panel)
    sim = pooled(m.simulate(4000, 250, seed=4, dtype=np.float64))
    hist = jump_panel.to_numpy()
    sd = hist.std(axis=0, ddof=1)
    # mean and variance are matched by construction of the calibration; bands ~5 SE
    assert np.all(np.abs(sim.mean(axis=0) - hist.mean(axis=0)) < 5 * sd / np.sqrt(len(sim)))
    np.testing.assert_allclose(sim.std(axis=0), sd, rtol=0.02)
    # fat tails (normal: 0 excess). Jump sizes are fitted as one normal, so the tails are
    # of the right order but not the exact shape: within a factor 2 of the data's.
    sim_kurt, hist_kurt = kurtosis(sim, axis=0), kurtosis(hist, axis=0)
    assert np.all(sim_kurt > 3.0)
    assert np.all((sim_kurt > 0.5 * hist_kurt) & (sim_kurt < 2.0 * hist_kurt))


# ------------------------------------------------------------------------------ GARCH

GARCH_TRUE = {"omega": 2e-6, "alpha": 0.08, "beta": 0.90}


@pytest.fixture(scope="module")
def garch_panel() -> pd.DataFrame:
    rng = np.random.default_rng(14)
    n, corr = 3000, CORR[:3, :3]
    z = rng.multivariate_normal(np.zeros(3), corr, size=n + 500)
    s2 = np.full(3, GARCH_TRUE["omega"] / (1 - GARCH_TRUE["alpha"] - GARCH_TRUE["beta"]))
    out = np.empty_like(z)
    for t in range(len(z)):
        out[t] = np.sqrt(s2) * z[t]
        s2 = GARCH_TRUE["omega"] + GARCH_TRUE["alpha"] * out[t] ** 2 + GARCH_TRUE["beta"] * s2
    return frame(out[500:] + MEANS[:3])


@pytest.fixture(scope="module")
def garch(garch_panel: pd.DataFrame) -> GARCHModel:
    return GARCHModel(start="unconditional").fit(garch_panel)


def test_garch_fit_agrees_with_arch(garch: GARCHModel, garch_panel: pd.DataFrame) -> None:
    for sym in garch_panel.columns:
        ref = arch_model(100 * garch_panel[sym], mean="Constant", vol="GARCH", p=1, q=1).fit(
            disp="off"
        )
        got = garch.params_.loc[sym]
        np.testing.assert_allclose(got["mu"] * 100, ref.params["mu"], rtol=1e-6)
        np.testing.assert_allclose(got["omega"] * 1e4, ref.params["omega"], rtol=1e-6)
        np.testing.assert_allclose(got["alpha"], ref.params["alpha[1]"], rtol=1e-6)
        np.testing.assert_allclose(got["beta"], ref.params["beta[1]"], rtol=1e-6)
    # and the fit recovers the generating parameters (3,000 days: loose bands)
    # (sanity bands: the SE of beta from 3,000 days is ~0.02-0.03)
    np.testing.assert_allclose(garch.params_["alpha"], GARCH_TRUE["alpha"], atol=0.04)
    np.testing.assert_allclose(garch.params_["beta"], GARCH_TRUE["beta"], atol=0.08)


def test_garch_fit_result_fields_match_arch_on_sp500() -> None:
    """Log-likelihood, AIC/BIC, standard errors and conditional volatility on real returns
    (arch's bundled S&P 500, 2011-2018), in return units."""
    from arch.data import sp500

    close = sp500.load()["Adj Close"]
    r = close.pct_change().dropna().loc["2011":]
    panel = pd.DataFrame({"SPX": r, "SPX_half": 0.5 * r.to_numpy()}, index=r.index)
    m = GARCHModel().fit(panel)
    ref = arch_model(100 * r, mean="Constant", vol="GARCH", p=1, q=1).fit(disp="off")
    n = ref.nobs
    assert m.nobs_["SPX"] == n == len(r)
    assert m.loglikelihood_["SPX"] == pytest.approx(ref.loglikelihood + n * np.log(100), rel=1e-9)
    assert m.aic_["SPX"] == pytest.approx(ref.aic - 2 * n * np.log(100), rel=1e-9)
    assert m.bic_["SPX"] == pytest.approx(ref.bic - 2 * n * np.log(100), rel=1e-9)
    se = m.std_errors_.loc["SPX"]
    np.testing.assert_allclose(
        [se["mu"] * 100, se["omega"] * 1e4, se["alpha"], se["beta"]],
        ref.std_err[["mu", "omega", "alpha[1]", "beta[1]"]].to_numpy(),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        m.conditional_volatility_["SPX"].to_numpy() * 100,
        ref.conditional_volatility.to_numpy(),
        rtol=1e-6,
    )
    # The return-unit log-likelihood is the Gaussian one of the reported path, by formula.
    p, sig = m.params_.loc["SPX"], m.conditional_volatility_["SPX"].to_numpy()
    eps = r.to_numpy() - p["mu"]
    llf = -0.5 * np.sum(np.log(2 * np.pi) + 2 * np.log(sig) + (eps / sig) ** 2)
    assert m.loglikelihood_["SPX"] == pytest.approx(llf, rel=1e-9)
    # Halving the returns halves the volatility; the likelihood gains n x log(2).
    np.testing.assert_allclose(
        m.conditional_volatility_["SPX_half"], 0.5 * m.conditional_volatility_["SPX"], rtol=1e-4
    )
    assert m.loglikelihood_["SPX_half"] - m.loglikelihood_["SPX"] == pytest.approx(
        n * np.log(2), rel=1e-6
    )


def test_garch_paths_have_the_unconditional_variance(garch: GARCHModel) -> None:
    sim = pooled(garch.simulate(4000, 250, seed=5, dtype=np.float64))
    p = garch.params_
    uncond = p["omega"] / (1 - p["alpha"] - p["beta"])
    np.testing.assert_allclose(garch.unconditional_variance_, uncond, rtol=1e-12)
    # relative SE of the variance ~1% here (kurtosis ~4.4, squared-return autocorrelation)
    np.testing.assert_allclose(sim.var(axis=0), uncond.to_numpy(), rtol=0.03)
    # volatility clustering fattens tails: theory 3(1-(a+b)^2)/(1-(a+b)^2-2a^2) - 3; the
    # sample kurtosis of 250-day paths is biased low, hence the band [0.5, 1.2] x theory
    a, pers = p["alpha"].to_numpy(), (p["alpha"] + p["beta"]).to_numpy()
    theory = 3 * (1 - pers**2) / (1 - pers**2 - 2 * a**2) - 3
    sim_kurt = kurtosis(sim, axis=0)
    assert np.all(sim_kurt > 0.3)
    assert np.all((sim_kurt > 0.5 * theory) & (sim_kurt < 1.2 * theory))
    np.testing.assert_allclose(
        np.corrcoef(sim, rowvar=False), garch.residual_corr_.to_numpy(), atol=0.05
    )


def test_garch_starts_from_the_next_day_variance(garch_panel: pd.DataFrame) -> None:
    m = GARCHModel(start="last", innovations="bootstrap").fit(garch_panel)
    first_day = m.simulate(8000, 2, seed=6, dtype=np.float64)[:, 0, :]
    # the one-step forecast, recomputed from the fitted arch model's own conditional variance
    p = m.params_
    eps = garch_panel.iloc[-1].to_numpy() - p["mu"].to_numpy()
    last_z = m.std_resid_.iloc[-1].to_numpy()  # eps_T / sigma_T
    sigma2_t = (eps / last_z) ** 2
    expected = p["omega"] + p["alpha"] * eps**2 + p["beta"] * sigma2_t
    np.testing.assert_allclose(m.next_variance_, expected, rtol=1e-8)
    # bootstrap residuals have variance ~1: day-one variance within 8% (SE ~2-3% for 8,000 paths)
    np.testing.assert_allclose(first_day.var(axis=0), expected.to_numpy(), rtol=0.08)


# ---------------------------------------------------------------------------- regimes

TRANSITION = np.array([[0.98, 0.02], [0.05, 0.95]])
REGIME_VOL = (0.008, 0.025)
REGIME_CORR = (np.full((4, 4), 0.2) + 0.8 * np.eye(4), np.full((4, 4), 0.8) + 0.2 * np.eye(4))


@pytest.fixture(scope="module")
def regime_data() -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(15)
    n = 3000
    states = np.zeros(n, dtype=int)
    for t in range(1, n):
        states[t] = int(rng.random() < TRANSITION[states[t - 1], 1])
    x = np.empty((n, 4))
    for r in (0, 1):
        rows = states == r
        cov = REGIME_CORR[r] * REGIME_VOL[r] ** 2
        x[rows] = (0.0006, -0.0015)[r] + rng.multivariate_normal(np.zeros(4), cov, size=rows.sum())
    return frame(x), states


def test_regime_model_recovers_two_regimes(regime_data) -> None:
    panel, states = regime_data
    m = MarkovRegimeModel(start="stationary").fit(panel)
    assigned = m.regime_probabilities_.to_numpy().argmax(axis=1)
    assert np.mean(assigned == states) > 0.95
    np.testing.assert_allclose(m.transition_.to_numpy(), TRANSITION, atol=0.02)
    for r in (0, 1):
        np.testing.assert_allclose(np.sqrt(np.diag(m.covs_[r])), REGIME_VOL[r], rtol=0.08)
        sd = np.sqrt(np.diag(m.covs_[r]))
        np.testing.assert_allclose(m.covs_[r] / np.outer(sd, sd), REGIME_CORR[r], atol=0.08)

    regimes = m.simulate_regimes(np.random.default_rng(0), 2000, 250)
    np.testing.assert_allclose(
        np.bincount(regimes.ravel()) / regimes.size, m.stationary_, atol=0.02
    )
    stay = regimes[:, 1:][regimes[:, :-1] == 0] == 0
    assert abs(stay.mean() - m.transition_.iloc[0, 0]) < 0.003

    sim = pooled(m.simulate(2000, 250, seed=7, dtype=np.float64))
    pi = m.stationary_.to_numpy()
    mix_var = (
        sum(pi[r] * (np.diag(m.covs_[r]) + m.means_.iloc[r] ** 2) for r in (0, 1))
        - (pi @ m.means_.to_numpy()) ** 2
    )
    np.testing.assert_allclose(sim.var(axis=0), mix_var, rtol=0.06)


# --------------------------------------------------------------------- reproducibility


@pytest.fixture(scope="module")
def fitted_models(fat_panel: pd.DataFrame) -> dict[str, object]:
    panel = fat_panel.iloc[:800, :3]
    return {
        "gbm": CorrelatedGBM().fit(panel),
        "bootstrap": StationaryBootstrap(5).fit(panel),
        "merton": MertonJumpDiffusion().fit(panel),
        "garch": GARCHModel().fit(panel),
        "regime": MarkovRegimeModel().fit(panel),
    }


@pytest.mark.parametrize("name", ["gbm", "bootstrap", "merton", "garch", "regime"])
def test_same_seed_same_paths_whatever_the_chunking(name: str, fitted_models) -> None:
    model = fitted_models[name]
    n_paths = PATH_BLOCK * 2 + 37  # spans three random streams
    full = model.simulate(n_paths, 15, seed=42)
    assert full.shape == (n_paths, 15, 3) and full.dtype == np.float32
    assert np.isfinite(full).all()
    np.testing.assert_array_equal(model.simulate(n_paths, 15, seed=42), full)
    for chunk in (100, PATH_BLOCK, 300, 10_000):
        np.testing.assert_array_equal(model.simulate(n_paths, 15, seed=42, chunk_size=chunk), full)
        parts = list(model.simulate_chunks(n_paths, 15, seed=42, chunk_size=chunk))
        assert max(len(p) for p in parts) <= chunk
        np.testing.assert_array_equal(np.concatenate(parts), full)
    assert not np.array_equal(model.simulate(n_paths, 15, seed=43), full)
    as64 = model.simulate(50, 15, seed=42, dtype=np.float64)
    assert as64.dtype == np.float64 and np.isfinite(as64).all()


def test_simulate_portfolio_streams_the_same_paths(fitted_models) -> None:
    model = fitted_models["gbm"]
    w = np.array([0.5, 0.3, 0.2])
    streamed = simulate_portfolio(model, w, 700, 30, seed=9, chunk_size=128)
    direct = portfolio_log_returns(model.simulate(700, 30, seed=9), w)
    np.testing.assert_allclose(streamed, direct, rtol=1e-12)
    by_name = simulate_portfolio(
        model, pd.Series({"CCC": 0.2, "AAA": 0.5, "BBB": 0.3}), 700, 30, seed=9
    )
    np.testing.assert_allclose(by_name, direct, rtol=1e-12)


def test_fit_drops_incomplete_rows_and_unfitted_model_refuses(normal_panel: pd.DataFrame) -> None:
    holey = normal_panel.copy()
    holey.iloc[::10, 1] = np.nan
    m = CorrelatedGBM().fit(holey)
    np.testing.assert_allclose(m.mean_.to_numpy(), holey.dropna().mean().to_numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError, match="not fitted"):
        CorrelatedGBM().simulate(10, 10, seed=1)
    with pytest.raises(ValueError, match="complete rows"):
        CorrelatedGBM().fit(normal_panel.iloc[:10])
